"""The indexing loop the TUI's worker thread runs, with no Textual in it.

:func:`feed` decodes a capture (a file, a stream, a growing file) through the same library call a
script uses (:func:`droidcap.decode.iter_item_batches`) and hands each read's items to ``post``.
``post`` is the only way out: the UI thread owns the index.  ``room`` bounds how far the decoder
may run ahead of the UI (batches posted but not yet taken), so a slow screen never makes the
queue between them hold the capture.

With a :class:`~droidcap.tui.chunkmap.CheckpointBook` the decoder's checkpoints go into it as walk
checkpoints (the TCP position from this feed's own reassembler), so the Hex pane can re-read a
message deep inside a long connection from the checkpoint before it.
"""

from __future__ import annotations

import io
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from droidcap.capture.events import CaptureNote, Direction
from droidcap.capture.tcp import TcpReassembler
from droidcap.decode import iter_item_batches
from droidcap.errors import DroidcapError
from droidcap.pipeline import Connection, PipelineItem
from droidcap.rtmp.decoder import DecoderCheckpoint
from droidcap.tui.chunkmap import CheckpointBook, direction_key, from_decoder
from droidcap.tui.model import without_payload

MAX_BATCHES_AHEAD = 8
_POLL = 0.1  # seconds a read of standard input waits before it checks for a quit


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSource:
    """What to inspect: a path (``follow``: it may still grow) or an already open binary stream
    (``spool``: a file it is copied to as it is read, so the Hex pane has bytes to re-read)."""

    label: str  # how the screen names it
    path: Path | None = None
    stream: BinaryIO | None = None
    follow: bool = False
    spool: Path | None = None

    @property
    def file(self) -> Path | None:
        """The file holding the capture (or what of it has been read), if there is one."""
        return self.path if self.path is not None else self.spool

    @property
    def growing(self) -> bool:
        """True if :attr:`file` may still grow while it is inspected."""
        return self.follow or self.path is None


class _Tee(io.RawIOBase):
    """A stream whose reads are also appended to a file (the spool of standard input).  If the
    copy cannot be written (a full disk), reading goes on and :meth:`take_error` says why."""

    def __init__(self, stream: BinaryIO, path: Path, cancelled: Callable[[], bool]) -> None:
        self._read = getattr(stream, "read1", stream.read)
        self._copy: BinaryIO | None = path.open("ab")
        self._error: str | None = None
        self._cancelled = cancelled
        try:
            self._fd: int | None = stream.fileno()
        except (OSError, ValueError):  # io.UnsupportedOperation is both: not a real file
            self._fd = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Wait for data a tenth of a second at a time, so that quitting is not held up by a
        pipe whose writer is silent (an idle ``adb exec-out tcpdump``): then it reads as the end."""
        if self._fd is None:
            data: bytes = self._read(len(buffer))
        else:  # the descriptor itself: nothing has read the stream before, nothing sits in its buffer
            while not select.select([self._fd], [], [], _POLL)[0]:
                if self._cancelled():
                    return 0
            data = os.read(self._fd, len(buffer))
        n = len(data)
        buffer[:n] = data
        if n and self._copy is not None:
            try:
                self._copy.write(data)
                self._copy.flush()  # the Hex pane's walks read it while it grows
            except OSError as err:
                self._error = (f"the copy of standard input for the Hex pane stopped "
                               f"({err.strerror or err}); later messages have no chunk bytes")
                self._copy.close()
                self._copy = None
        return n

    def take_error(self) -> CaptureNote | None:
        """A note of why the copy stopped, once."""
        error, self._error = self._error, None
        return None if error is None else CaptureNote(frame=None, message=error)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        super().close()


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    items: list[PipelineItem]
    position: int | None = None  # bytes of the file read so far (None: a stream)
    size: int | None = None  # the file's size when indexing started (None: a stream)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """Indexing ended; ``error`` is the one-line reason if the capture could not be read whole."""

    error: str | None = None


def feed(source: CaptureSource, post: Callable[[Batch | Finished], None],
         cancelled: Callable[[], bool], room: threading.Semaphore, *,
         poll_interval: float = 0.05, book: CheckpointBook | None = None) -> None:
    """Decode ``source`` and post its items a read at a time, then :class:`Finished`; add the
    decoder's checkpoints to ``book``."""
    try:
        if source.stream is not None:
            if source.spool is None:
                _feed(source.stream, None, source.follow, post, cancelled, room, poll_interval, book)
            else:
                tee = _Tee(source.stream, source.spool, cancelled)
                with io.BufferedReader(tee) as stream:
                    _feed(stream, None, source.follow, post, cancelled, room, poll_interval, book,
                          tee.take_error)
        elif source.path is not None:
            with open(source.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                _feed(file, size, source.follow, post, cancelled, room, poll_interval, book)
        else:
            raise ValueError("a CaptureSource needs a path or a stream")
    except DroidcapError as err:
        post(Finished(error=str(err)))
        return
    except IsADirectoryError:
        post(Finished(error=f"{source.label} is a directory; give a .pcap or .pcapng file"))
        return
    except FileNotFoundError:
        post(Finished(error=f"no such file: {source.label}"))
        return
    except OSError as err:
        post(Finished(error=f"cannot read {source.label}: {err.strerror or err}"))
        return
    if not cancelled():
        post(Finished())


def _feed(file: BinaryIO, size: int | None, follow: bool,
          post: Callable[[Batch | Finished], None], cancelled: Callable[[], bool],
          room: threading.Semaphore, poll_interval: float, book: CheckpointBook | None,
          spool_note: Callable[[], CaptureNote | None] = lambda: None) -> None:
    tell = file.tell if size is not None else None
    tcp = TcpReassembler()

    def checkpoint(connection: Connection, tcp_dir: Direction, rtmp_dir: Direction,
                   point: DecoderCheckpoint) -> None:
        start = tcp.stream_start(connection.flow, tcp_dir)
        if start is not None and book is not None:
            key = direction_key(connection.client, connection.server, connection.opened_frame, rtmp_dir)
            book.add(key, from_decoder(point, start))

    for decoded in iter_item_batches(file, follow=follow, stop=cancelled, poll_interval=poll_interval,
                                   reassembler=tcp, on_checkpoint=None if book is None else checkpoint):
        if cancelled():
            return
        items = [without_payload(item) for item in decoded]
        note = spool_note()
        if note is not None:
            items.append(note)
        if items:
            while not room.acquire(timeout=0.1):  # the UI is behind: wait for it
                if cancelled():
                    return
            post(Batch(items=items, position=None if tell is None else tell(), size=size))
