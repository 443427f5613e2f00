"""Summarise a capture's stream health: the library behind ``droidcap summary``.

Wires the layers once, like :mod:`droidcap.decode`: the capture's records go to the TCP
reassembler (and from there through the RTMP pipeline to the :class:`SummaryBuilder`) and, the
same records, to the :class:`TcpHealthTracker` that reads their TCP headers — one pass, streaming.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from droidcap.analysis.findings import Thresholds
from droidcap.analysis.summary import CaptureSummary, SummaryBuilder
from droidcap.analysis.transport import TcpHealthTracker
from droidcap.capture.events import CaptureNote
from droidcap.capture.files import iter_flow_batches
from droidcap.capture.pcap import RawRecord
from droidcap.capture.tcp import Output, TcpReassembler
from droidcap.errors import CaptureFormatError, NoRtmpError, NoSuchConnectionError
from droidcap.pipeline import ConnectionFound, PipelineItem, RtmpExtractor


class _TappedReassembler(TcpReassembler):
    """The reassembler, with every batch of records also shown to a TCP header tracker."""

    def __init__(self, tracker: TcpHealthTracker) -> None:
        super().__init__()
        self._tracker = tracker

    def feed_raw(self, items: Iterable[RawRecord | CaptureNote]) -> Output:
        batch = items if isinstance(items, list) else list(items)
        self._tracker.feed_raw(batch)
        return super().feed_raw(batch)


def _items(source: str | Path | BinaryIO, tcp: TcpHealthTracker, max_message_size: int,
           damage: list[CaptureFormatError]) -> Iterator[PipelineItem]:
    """The pipeline's items; a capture damaged part-way ends them, with a note, and the error in
    ``damage`` (raised by the caller if nothing decoded before it)."""
    extractor = RtmpExtractor(max_message_size=max_message_size)
    try:
        for batch in iter_flow_batches(source, reassembler=_TappedReassembler(tcp)):
            yield from extractor.feed_batch(batch)
    except CaptureFormatError as err:
        damage.append(err)
        yield from extractor.finish()
        yield CaptureNote(frame=None, message=str(err))  # summarise up to the damage, and say so
        return
    yield from extractor.finish()


def summarise(source: str | Path | BinaryIO, *, thresholds: Thresholds | None = None,
              conn: int | None = None, max_message_size: int = 16 * 1024 * 1024) -> CaptureSummary:
    """The health summary of every RTMP connection in ``source`` (or only connection ``conn``).

    Raises NoRtmpError when the capture holds no RTMP, NoSuchConnectionError when ``conn`` is not
    one of its connections."""
    tcp = TcpHealthTracker()
    builder = SummaryBuilder(thresholds=thresholds, only=conn)
    found = 0
    damage: list[CaptureFormatError] = []
    for item in _items(source, tcp, max_message_size, damage):
        if isinstance(item, ConnectionFound):
            found += 1
        builder.feed(item)
    summary = builder.result(tcp)
    if not found:
        if damage:
            raise damage[0]
        raise NoRtmpError("no RTMP found in the capture (no TCP flow decodes as RTMP, on any port)")
    if conn is not None and summary.connection(conn) is None:
        raise NoSuchConnectionError(
            f"no connection {conn} in the capture; it has {found} "
            f"connection{'s' if found != 1 else ''}, numbered from 0")
    return summary
