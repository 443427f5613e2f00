"""The IO driver: the one module of the capture layer that opens files.

It reads a capture file, standard input or a pipe in large blocks, or follows a file that is still
being written, and feeds the sans-IO :class:`~droidcap.capture.reader.CaptureReader` and
:class:`~droidcap.capture.tcp.TcpReassembler`.

Following: at the current end of a growing file the driver sleeps ``poll_interval`` and reads
again, so a record the writer has only half written is simply completed by a later read.  It stops
when ``stop()`` returns True or nothing new arrived for ``idle_timeout`` seconds; only then is the
end of input final, and a partial last record becomes a :class:`CaptureNote`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypedDict, Unpack

from droidcap.capture.events import CaptureNote, FlowEvent, Record
from droidcap.capture.reader import CaptureReader
from droidcap.capture.tcp import TcpReassembler
from droidcap.errors import CaptureFormatError

Source = str | os.PathLike[str] | BinaryIO
"""A path, "-" for standard input, or a binary file object (file, pipe, socket file)."""

BLOCK_SIZE = 1024 * 1024


def iter_records(
    source: Source,
    *,
    follow: bool = False,
    poll_interval: float = 0.2,
    idle_timeout: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Record | CaptureNote]:
    """The records of a capture, as they become complete.  See the module doc for ``follow``."""
    reader = CaptureReader()
    for _ in _read_blocks(source, reader, follow, poll_interval, idle_timeout, stop):
        yield from reader.events()


class FlowOptions(TypedDict, total=False):
    """The keyword options of :func:`iter_flow_events`, as :func:`iter_flow_batches` takes them."""

    follow: bool
    poll_interval: float
    idle_timeout: float | None
    stop: Callable[[], bool] | None
    reassembler: TcpReassembler | None


def iter_flow_events(source: Source, **options: Unpack[FlowOptions]) -> Iterator[FlowEvent | CaptureNote]:
    """Reassembled TCP flow events of a capture, ending with the ``finish()`` of every open flow.

    Notes of the reader (skipped blocks, a truncated end) and of the TCP layer (fragments,
    malformed headers) come in capture order between the flow events.  Options as
    :func:`iter_flow_batches`; pass a ``reassembler`` to change its bounds
    (``TcpReassembler(max_buffered=..., ack_grace=...)``).
    """
    for batch in iter_flow_batches(source, **options):
        yield from batch


def iter_flow_batches(
    source: Source,
    *,
    follow: bool = False,
    poll_interval: float = 0.2,
    idle_timeout: float | None = None,
    stop: Callable[[], bool] | None = None,
    reassembler: TcpReassembler | None = None,
) -> Iterator[list[FlowEvent | CaptureNote]]:
    """:func:`iter_flow_events` a block of input at a time (one list per read, possibly empty):
    for consumers that handle a batch faster than its events one by one.

    A corrupt record raises :class:`~droidcap.errors.CaptureFormatError` after the events of every
    record before it, and after the ``finish()`` of the flows still open."""
    reader = CaptureReader()
    tcp = TcpReassembler() if reassembler is None else reassembler
    try:
        for _ in _read_blocks(source, reader, follow, poll_interval, idle_timeout, stop):
            yield tcp.feed_raw(reader.read_raw())
    except CaptureFormatError:
        yield tcp.finish()  # the flows end where the damage starts; what came before still counts
        raise
    yield tcp.finish()


def _read_blocks(
    source: Source,
    reader: CaptureReader,
    follow: bool,
    poll_interval: float,
    idle_timeout: float | None,
    stop: Callable[[], bool] | None,
) -> Iterator[None]:
    """Feed ``reader`` block by block, yielding after each so the caller can take the events.

    The last yield comes after ``receive_eof()``.
    """
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            yield from _pump(sys.stdin.buffer, reader, follow, poll_interval, idle_timeout, stop)
            return
        with open(source, "rb") as file:
            yield from _pump(file, reader, follow, poll_interval, idle_timeout, stop)
        return
    yield from _pump(source, reader, follow, poll_interval, idle_timeout, stop)


def _pump(
    file: BinaryIO,
    reader: CaptureReader,
    follow: bool,
    poll_interval: float,
    idle_timeout: float | None,
    stop: Callable[[], bool] | None,
) -> Iterator[None]:
    # read1 returns what a pipe has now instead of blocking until a whole block has arrived.
    read = getattr(file, "read1", file.read)
    # A pipe's empty read is its real end; only a regular file can still grow.
    follow = follow and file.seekable()
    last_data = time.monotonic()
    while True:
        block = read(BLOCK_SIZE)
        if block:
            reader.receive_data(block)
            last_data = time.monotonic()
            yield
            continue
        # End of what exists now.  Without follow, that is the end; when following, ``stop`` and
        # ``idle_timeout`` are checked here, at the current end, so nothing written before is lost.
        if not follow or (stop is not None and stop()):
            break
        if idle_timeout is not None and time.monotonic() - last_data >= idle_timeout:
            break
        time.sleep(poll_interval)
    reader.receive_eof()
    yield
