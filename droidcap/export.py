"""Export one connection of a capture: its media as FLV, its packets as pcap, its messages as
ndjson — the library behind ``droidcap export``.

Each export streams (bounded memory, whatever the capture's size) and writes to ``OUT.partial``
first, renamed to ``OUT`` only when complete: a failed export leaves no half file.  FLV and pcap
read the capture twice: first to find the connection (and, for FLV, which tracks and metadata the
file will hold), then to write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO, cast

from droidcap.analysis.flv import FlvPlan, FlvReport, FlvWriter
from droidcap.analysis.transport import key_of, segment_of
from droidcap.capture import pcapwrite
from droidcap.capture.events import CaptureNote, Direction, Record
from droidcap.capture.files import iter_records
from droidcap.decode import DecodeFilter, decode_to, iter_items
from droidcap.errors import (
    DroidcapError,
    NoMediaError,
    NoRtmpError,
    NoSuchConnectionError,
)
from droidcap.pipeline import Connection, ConnectionEnded, ConnectionFound, DecodedEvent
from droidcap.rtmp.events import Gap, Message
from droidcap.session import SessionTracker


@contextmanager
def _atomic(out: Path, mode: str) -> Iterator[IO[Any]]:
    partial = out.with_name(out.name + ".partial")
    try:
        with open(partial, mode) as file:
            yield file
        os.replace(partial, out)
    finally:
        if partial.exists():
            partial.unlink()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    connection: Connection
    role: str
    end_frame: int
    plans: dict[Direction, FlvPlan]


def _find(source: Path, conn: int) -> _Found:
    """First pass: connection ``conn``, its role, where it ended, and an FLV plan per direction."""
    session = SessionTracker()
    connection: Connection | None = None
    end_frame = 0
    plans = {Direction.C2S: FlvPlan(), Direction.S2C: FlvPlan()}
    found = 0
    for item in iter_items(source):
        if isinstance(item, CaptureNote):
            continue
        if isinstance(item, ConnectionFound):
            found += 1
        if item.connection.conn != conn:
            continue
        session.feed(item)
        if isinstance(item, ConnectionFound):
            connection = item.connection
        elif isinstance(item, ConnectionEnded):
            end_frame = max(end_frame, item.frame)
        elif isinstance(item.event, Message):
            plans[item.dir].feed(item.event)
    if not found:
        raise NoRtmpError("no RTMP found in the capture (no TCP flow decodes as RTMP, on any port)")
    if connection is None:
        raise NoSuchConnectionError(
            f"no connection {conn} in the capture; it has {found} connection{'s' if found != 1 else ''}, "
            "numbered from 0")
    summaries = session.summaries()
    role = summaries[0].role if summaries else "unknown"
    return _Found(connection=connection, role=role, end_frame=end_frame, plans=plans)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlvExport:
    path: Path
    direction: str  # whose media: "c2s" (what a publisher sent) or "s2c" (what a player received)
    report: FlvReport
    left_out: tuple[str, ...]  # tracks without a sequence header in the capture, not in the file


def export_flv(source: Path, conn: int, out: Path) -> FlvExport:
    """Write connection ``conn``'s metadata, audio and video to ``out`` as FLV: for a player what
    it received, for a publisher what it sent.  NoMediaError if it carried no audio or video."""
    found = _find(source, conn)
    if found.role == "player":
        direction = Direction.S2C
    elif found.role == "publisher":
        direction = Direction.C2S
    else:
        direction = Direction.S2C if found.plans[Direction.S2C].has_media else Direction.C2S
    plan = found.plans[direction]
    if not plan.has_media:
        if plan.unconfigured:
            raise NoMediaError(
                f"connection {conn} ({found.role}) has {' and '.join(plan.unconfigured)} but no sequence "
                "header in the capture (it starts mid-connection): nothing decodable to export as FLV "
                "(try --ndjson or --pcap)")
        raise NoMediaError(f"connection {conn} ({found.role}) carries no audio or video; nothing to "
                           "export as FLV (try --ndjson or --pcap)")
    writer = FlvWriter(plan=plan)
    with _atomic(out, "wb") as file:
        write = file.write
        write(writer.start())
        for item in iter_items(source):
            if type(item) is not DecodedEvent or item.connection.conn != conn or item.dir is not direction:
                continue
            ev = item.event
            if type(ev) is Message:
                chunk = writer.feed(ev)
                if chunk:
                    write(chunk)
            elif type(ev) is Gap:
                writer.gap()
    return FlvExport(path=out, direction=direction.value, report=writer.report(),
                     left_out=plan.unconfigured)


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapExport:
    path: Path
    packets: int


def export_pcap(source: Path, conn: int, out: Path) -> PcapExport:
    """Write the packets of connection ``conn``'s TCP flow (both directions) to ``out``, as
    captured: from its first record until a new SYN reuses its addresses and ports after it
    ended.  The records keep their times, captured bytes and original lengths."""
    found = _find(source, conn)
    c = found.connection
    keys = {key_of(c.client, c.server), key_of(c.server, c.client)}
    packets = 0
    linktype: int | None = None
    with _atomic(out, "wb") as file:
        for rec in iter_records(source):
            if not isinstance(rec, Record) or rec.frame < c.opened_frame:
                continue
            seg = segment_of((rec.frame, rec.time, rec.linktype, rec.data, rec.orig_len, rec.interface))
            if seg is None or seg.key not in keys:
                continue
            if rec.frame > found.end_frame > 0 and seg.flags & 0x12 == 0x02:
                break  # a new connection on the same addresses and ports
            if linktype is None:
                linktype = rec.linktype
                file.write(pcapwrite.file_header(linktype))
            elif rec.linktype != linktype:
                raise DroidcapError(
                    f"connection {conn} was captured on interfaces of different link types "
                    f"({linktype} and {rec.linktype}); a pcap file holds one")
            file.write(pcapwrite.record(rec.time, rec.data, rec.orig_len))
            packets += 1
    return PcapExport(path=out, packets=packets)


@dataclass(frozen=True, slots=True, kw_only=True)
class NdjsonExport:
    path: Path
    records: int


def export_ndjson(source: Path, conn: int, out: Path) -> NdjsonExport:
    """Write connection ``conn``'s decoded items to ``out`` as ndjson (docs/ndjson.md)."""
    with _atomic(out, "w") as file:
        report = decode_to(cast(TextIO, file), iter_items(source), fmt="ndjson",
                           selection=DecodeFilter(conn=conn))
    return NdjsonExport(path=out, records=report.events_written)
