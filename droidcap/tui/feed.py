"""The indexing loop the TUI's worker thread runs, with no Textual in it.

:func:`feed` decodes a capture (a file, a stream, a growing file) through the same library call a
script uses (:func:`droidcap.decode.iter_item_batches`) and hands each read's items to ``post``.
``post`` is the only way out: the UI thread owns the index.  ``room`` bounds how far the decoder
may run ahead of the UI (batches posted but not yet taken), so a slow screen never makes the
queue between them hold the capture.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from droidcap.decode import iter_item_batches
from droidcap.errors import DroidcapError
from droidcap.pipeline import PipelineItem

MAX_BATCHES_AHEAD = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSource:
    """What to inspect: a path (``follow``: it may still grow) or an already open binary stream."""

    label: str  # how the screen names it
    path: Path | None = None
    stream: BinaryIO | None = None
    follow: bool = False


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
         poll_interval: float = 0.05) -> None:
    """Decode ``source`` and post its items a read at a time, then :class:`Finished`."""
    try:
        if source.stream is not None:
            _feed(source.stream, None, source.follow, post, cancelled, room, poll_interval)
        elif source.path is not None:
            with open(source.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                _feed(file, size, source.follow, post, cancelled, room, poll_interval)
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
          room: threading.Semaphore, poll_interval: float) -> None:
    tell = file.tell if size is not None else None
    for items in iter_item_batches(file, follow=follow, stop=cancelled, poll_interval=poll_interval):
        if cancelled():
            return
        if items:
            while not room.acquire(timeout=0.1):  # the UI is behind: wait for it
                if cancelled():
                    return
            post(Batch(items=items, position=None if tell is None else tell(), size=size))
