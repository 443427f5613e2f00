"""The ``droidcap inspect`` application: built by :func:`create_app`, used by the CLI and the tests.

The app owns the :class:`~droidcap.tui.model.CaptureIndex`.  A thread worker decodes the capture
(:func:`droidcap.tui.feed.feed`) and posts each read's items as a :class:`ItemsDecoded` message;
only the UI thread adds them to the index, so widgets never see it change under them, and the
screen is up before the first byte is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from droidcap.tui.chunkmap import CheckpointBook
from droidcap.tui.feed import MAX_BATCHES_AHEAD, Batch, CaptureSource, Finished, feed
from droidcap.tui.model import CaptureIndex
from droidcap.tui.screens.bad_input import BadInputScreen
from droidcap.tui.screens.main import MainScreen

EMBEDDED_CAPTURE = Path(__file__).resolve().parents[1] / "data" / "demo.pcap"
LEAVE_ON = (signal.SIGTERM, signal.SIGHUP)
FREEZE_EVERY = 20_000  # rows indexed between two gc.freeze() calls


class ItemsDecoded(Message):
    """The worker decoded one more read of the capture."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class IndexFinished(Message):
    def __init__(self, finished: Finished) -> None:
        super().__init__()
        self.finished = finished


class InspectApp(App[None]):
    """Steps through the RTMP sessions of one capture."""

    CSS_PATH = "inspect.tcss"
    TITLE = "droidcap inspect"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(self, source: CaptureSource) -> None:
        super().__init__()
        self.source = source
        self.index = CaptureIndex()
        self.failed: str | None = None  # why the capture cannot be shown (bad-input screen)
        self._stop = threading.Event()
        self._room = threading.Semaphore(MAX_BATCHES_AHEAD)
        self._frozen_rows = 0  # rows of the index when the collector last froze what is alive
        self.book = CheckpointBook()  # the decoder's checkpoints, for the Hex pane's walks
        self.main = MainScreen(self.index, source, self.book)

    def on_mount(self) -> None:
        # kill / a closed terminal: leave as q does, so that the terminal is restored and the copy
        # of standard input deleted (Textual handles neither signal itself)
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in LEAVE_ON:
                loop.add_signal_handler(signum, self.exit, None, 128 + signum)
        self.push_screen(self.main)
        self.run_worker(self._index_capture, thread=True, exclusive=True, group="index",
                        description=f"indexing {self.source.label}")

    def _index_capture(self) -> None:
        def post(out: Batch | Finished) -> None:
            self.post_message(ItemsDecoded(out) if isinstance(out, Batch) else IndexFinished(out))

        feed(self.source, post, self._stop.is_set, self._room, book=self.book)

    def on_items_decoded(self, message: ItemsDecoded) -> None:
        self._room.release()
        self.index.add(message.batch.items)
        if len(self.index) - self._frozen_rows >= FREEZE_EVERY:
            self._freeze()
        self.main.index_grew(message.batch)

    def _freeze(self) -> None:
        """Move every object alive now, the index's rows among them, out of the collector's
        reach: they live as long as the app, and a full collection walking a million of them
        took ~0.5 s, every few keystrokes (the rows are freed by reference counting all the
        same; only cyclic garbage alive at this moment is kept)."""
        gc.freeze()
        self._frozen_rows = len(self.index)

    def on_index_finished(self, message: IndexFinished) -> None:
        index = self.index
        index.done = True
        self._freeze()
        error = message.finished.error
        if not index.connections:
            self.fail(error or "no RTMP found in the capture (no TCP flow decodes as RTMP, on any "
                               "port); check that it holds the phone's RTMP traffic")
            return
        index.error = error
        self.main.index_done()

    def fail(self, message: str) -> None:
        """Show why the capture cannot be inspected; quitting then exits non-zero."""
        self.failed = message
        self.push_screen(BadInputScreen(self.source.label, message))

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit(return_code=1 if self.failed else 0)

    def on_unmount(self) -> None:
        self._stop.set()
        self.discard_spool()
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in LEAVE_ON:
                loop.remove_signal_handler(signum)

    def discard_spool(self) -> None:
        """Delete the copy of standard input (the app is over; idempotent)."""
        if self.source.spool is not None:
            with contextlib.suppress(OSError):
                self.source.spool.unlink()


def create_app(capture: str | os.PathLike[str] | BinaryIO | None = None, *,
               follow: bool = False, label: str | None = None) -> InspectApp:
    """The inspect app on a capture path, an open binary stream (``-`` in the CLI), or, with
    None, the sample capture shipped in the package."""
    if capture is None:
        return InspectApp(CaptureSource(label=label or f"sample capture {EMBEDDED_CAPTURE.name}",
                                        path=EMBEDDED_CAPTURE))
    if isinstance(capture, (str, os.PathLike)):
        path = Path(capture)
        return InspectApp(CaptureSource(label=label or str(path), path=path, follow=follow))
    # standard input is copied to a file as it is read, for the Hex pane (deleted on exit)
    fd, spool = tempfile.mkstemp(prefix="droidcap-stdin-", suffix=".pcap")
    os.close(fd)
    return InspectApp(CaptureSource(label=label or "standard input", stream=capture, spool=Path(spool)))
