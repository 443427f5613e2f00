"""Decode a capture into RTMP items and session summaries: the library behind ``droidcap decode``.

This is the one place that wires the layers together (capture → pipeline → session), so the CLI,
the TUI and scripts all decode the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from droidcap.capture.events import CaptureNote
from droidcap.capture.files import iter_flow_batches
from droidcap.capture.tcp import TcpReassembler
from droidcap.errors import CaptureFormatError, NoRtmpError, NoSuchConnectionError
from droidcap.pipeline import CheckpointHandler, DecodedEvent, PipelineItem, RtmpExtractor
from droidcap.render.records import event_record, matches
from droidcap.render.table import TableRenderer
from droidcap.session import MAX_TRACKED_CONNECTIONS, ConnectionSummary, SessionTracker

FORMATS = ("table", "json", "ndjson")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeFilter:
    """Which items to print; the session summary always sees everything."""

    conn: int | None = None
    types: frozenset[str] | None = None  # resolved by render.records.resolve_types

    def wants(self, item: DecodedEvent) -> bool:
        if self.conn is not None and item.connection.conn != self.conn:
            return False
        return self.types is None or matches(item, self.types)


def iter_items(source: str | Path | BinaryIO, *, follow: bool = False,
               max_message_size: int = 16 * 1024 * 1024) -> Iterator[PipelineItem]:
    """Every pipeline item of a capture file, a binary stream, or (``follow``) a growing file."""
    extractor = RtmpExtractor(max_message_size=max_message_size)
    feed_batch = extractor.feed_batch
    try:
        for batch in iter_flow_batches(source, follow=follow):
            yield from feed_batch(batch)
    except CaptureFormatError:
        yield from extractor.finish()  # decode up to the damage, then report it
        raise
    yield from extractor.finish()


def iter_item_batches(source: str | Path | BinaryIO, *, follow: bool = False,
                      max_message_size: int = 16 * 1024 * 1024,
                      stop: Callable[[], bool] | None = None,
                      poll_interval: float = 0.2,
                      reassembler: TcpReassembler | None = None,
                      on_checkpoint: CheckpointHandler | None = None) -> Iterator[list[PipelineItem]]:
    """:func:`iter_items` one list per block of input read (possibly empty), for a consumer that
    must see each read complete even when it completes nothing (the TUI's indexing worker
    flushes to the screen then).  ``stop``/``poll_interval`` as the capture layer's follow takes
    them: following ends at the current end of the file once ``stop()`` is true.

    ``reassembler``: the TCP reassembler to use (its :meth:`~TcpReassembler.stream_start` names
    the TCP position of a decoder checkpoint); ``on_checkpoint``: see
    :class:`~droidcap.pipeline.RtmpExtractor`."""
    extractor = RtmpExtractor(max_message_size=max_message_size, on_checkpoint=on_checkpoint)
    feed_batch = extractor.feed_batch
    try:
        for batch in iter_flow_batches(source, follow=follow, stop=stop, poll_interval=poll_interval,
                                       reassembler=reassembler):
            yield feed_batch(batch)
    except CaptureFormatError:
        yield extractor.finish()
        raise
    yield extractor.finish()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeReport:
    summaries: list[ConnectionSummary]
    notes: list[CaptureNote]
    events_written: int


def decode_to(out: TextIO, items: Iterator[PipelineItem], *, fmt: str = "table",
              selection: DecodeFilter = DecodeFilter(),
              on_note: Callable[[CaptureNote], None] | None = None) -> DecodeReport:
    """Render ``items`` to ``out`` in ``fmt``.

    Raises NoRtmpError if no RTMP connection was found, and NoSuchConnectionError if
    ``selection.conn`` is past the last connection decoded — in both cases before the table or the JSON
    document is written, so a failed decode leaves no half document behind (ndjson has written
    nothing either: no connection, no items).  A capture damaged part-way
    (:class:`CaptureFormatError` from ``items``) is rendered up to the damage, table and JSON
    document complete, and the error raised after that."""
    tracker = SessionTracker()
    notes: list[CaptureNote] = []
    table = TableRenderer() if fmt == "table" else None
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    written = 0
    write = out.write
    track = tracker.feed
    wants = None if selection == DecodeFilter() else selection.wants
    damage: CaptureFormatError | None = None
    try:
        for item in items:
            track(item)
            if type(item) is DecodedEvent:
                if wants is not None and not wants(item):
                    continue
                if table is not None:
                    table.feed(item)
                elif fmt == "ndjson":
                    write(dumps(event_record(item)))
                    write("\n")
                else:
                    write(",\n" if written else '{"events":[')
                    write(dumps(event_record(item)))
                written += 1
            elif type(item) is CaptureNote:
                if len(notes) < 1000:
                    notes.append(item)
                if on_note is not None:
                    on_note(item)
    except CaptureFormatError as err:  # damaged part-way: render what came before, then say so
        damage = err
        notes.append(CaptureNote(frame=None, message=str(err)))
    if tracker.untracked:
        note = CaptureNote(frame=None, message=(
            f"more than {MAX_TRACKED_CONNECTIONS} RTMP connections: the summary covers the first "
            f"{MAX_TRACKED_CONNECTIONS}, {tracker.untracked} more were decoded (see --format ndjson)"
        ))
        notes.append(note)
        if on_note is not None:
            on_note(note)
    found = tracker.summaries()
    if not found:
        if damage is not None:
            raise damage
        raise NoRtmpError("no RTMP found in the capture (no TCP flow decodes as RTMP, on any port)")
    summaries = found if selection.conn is None else [s for s in found if s.conn == selection.conn]
    decoded = len(found) + tracker.untracked  # connections are numbered from 0 as found
    if selection.conn is not None and selection.conn >= decoded:
        raise NoSuchConnectionError(
            f"no connection {selection.conn} in the capture; it has {_count(decoded)}, "
            f"numbered from 0"
        )
    if table is not None:
        table.write(out, summaries)
    elif fmt == "json":
        if not written:
            write('{"events":[')
        write('],\n"connections":')
        write(dumps([s.to_json() for s in summaries]))
        write(',\n"notes":')
        write(dumps([{"frame": n.frame, "message": n.message} for n in notes]))
        write("}\n")
    if damage is not None:
        raise damage
    return DecodeReport(summaries=summaries, notes=notes, events_written=written)


def _count(n: int) -> str:
    return "1 connection" if n == 1 else f"{n} connections"
