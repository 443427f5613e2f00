"""TCP health of a capture's flows, read from the TCP headers of its records.

Standard library only, sans-IO.  The reassembler (droidcap.capture.tcp) delivers bytes and gaps and
deliberately forgets what it dropped; the questions "how often did a side resend" and "did a
receiver close its window" need the headers themselves, so :class:`TcpHealthTracker` is fed the
same raw records (:data:`droidcap.capture.pcap.RawRecord` tuples) alongside it.

Per direction (a 4-tuple), bounded: at most :data:`MAX_DIRECTIONS` directions (past that new ones
are not tracked, and :attr:`TcpHealthTracker.untracked` counts them) and :data:`MAX_HOLES` holes
each.

- Retransmission: a segment with payload whose bytes all lie before the highest byte already
  seen and fill no hole (a resend of bytes the capture has).  One that fills a hole is counted as
  ``out_of_order`` instead.
- Zero window: a segment (not SYN, not RST) advertising a receive window of 0.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from struct import Struct
from typing import Any

from droidcap.capture.events import CaptureNote, Endpoint
from droidcap.capture.ip import locate_tcp
from droidcap.capture.links import LINK_LAYERS
from droidcap.capture.pcap import RawRecord

MAX_DIRECTIONS = 20_000
MAX_HOLES = 64
MAX_LISTED = 100

_TCP = Struct("!HHIIHH")  # ports, seq, ack, offset + flags, window
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_SYN, _RST = 0x02, 0x04

FlowKey = tuple[bytes, int, int]  # source + destination address bytes, source port, destination port


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """The TCP header fields of one record."""

    key: FlowKey
    seq: int
    ack: int
    flags: int
    window: int
    payload: int  # payload bytes on the wire


def segment_of(record: RawRecord) -> Segment | None:
    """The TCP segment a raw record carries, or None (not TCP, not a link type droidcap reads,
    too short)."""
    _frame, _time, linktype, data, orig_len, _interface = record
    layer = LINK_LAYERS.get(linktype)
    if layer is None:
        return None
    off = layer.ip_offset(data)
    if off < 0:
        return None
    where = locate_tcp(data, off)
    if type(where) is not tuple:
        return None
    addrs, t, ip_end = where
    if len(data) < t + 16:
        return None
    sport, dport, seq, ack, offflags, window = _TCP.unpack_from(data, t)
    if ip_end < 0:
        ip_end = orig_len
    start = t + ((offflags >> 10) & 0x3C)
    return Segment(key=(addrs, sport, dport), seq=seq, ack=ack, flags=offflags & 0x3F,
                   window=window, payload=max(0, ip_end - start))


def key_of(source: Endpoint, destination: Endpoint) -> FlowKey:
    """The :data:`FlowKey` of the direction from ``source`` to ``destination``."""
    return (ipaddress.ip_address(source[0]).packed + ipaddress.ip_address(destination[0]).packed,
            source[1], destination[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpEvent:
    kind: str  # "retransmission", "out_of_order", "zero_window"
    frame: int
    time: float
    size: int  # payload bytes (0 for a zero window)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "frame": self.frame, "time": self.time, "size": self.size}


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectionHealth:
    packets: int
    payload_bytes: int
    retransmissions: int
    retransmitted_bytes: int
    out_of_order: int
    zero_windows: int
    events: tuple[TcpEvent, ...]  # the first MAX_LISTED


@dataclass(slots=True)
class _Dir:
    packets: int = 0
    payload: int = 0
    end: int | None = None  # one past the highest byte seen
    holes: list[list[int]] = field(default_factory=list)  # [start, end) not seen yet, below ``end``
    retrans: int = 0
    retrans_bytes: int = 0
    ooo: int = 0
    zero: int = 0
    events: list[TcpEvent] = field(default_factory=list)

    def note(self, kind: str, frame: int, time: float, size: int) -> None:
        if len(self.events) < MAX_LISTED:
            self.events.append(TcpEvent(kind=kind, frame=frame, time=time, size=size))


def _before(a: int, b: int) -> bool:
    """``a`` comes before ``b`` in sequence space."""
    return a != b and (b - a) & _MASK < _HALF


class TcpHealthTracker:
    """Feed raw records with :meth:`feed_raw`; :meth:`direction` gives one direction's figures."""

    def __init__(self) -> None:
        self._dirs: dict[FlowKey, _Dir] = {}
        self.untracked = 0

    def feed_raw(self, items: Iterable[RawRecord | CaptureNote]) -> None:
        for item in items:
            if type(item) is not tuple:
                continue
            seg = segment_of(item)
            if seg is not None:
                self._segment(seg, item[0], item[1])

    def _segment(self, seg: Segment, frame: int, time: float) -> None:
        d = self._dirs.get(seg.key)
        if d is None:
            if len(self._dirs) >= MAX_DIRECTIONS:
                self.untracked += 1
                return
            d = self._dirs[seg.key] = _Dir()
        d.packets += 1
        d.payload += seg.payload
        if seg.window == 0 and not seg.flags & (_SYN | _RST):
            d.zero += 1
            d.note("zero_window", frame, time, 0)
        size = seg.payload
        seq = (seg.seq + 1) & _MASK if seg.flags & _SYN else seg.seq
        if seg.flags & _SYN:
            d.end = seq
            d.holes.clear()
            return
        if not size:
            return
        end = (seq + size) & _MASK
        top = d.end
        if top is None or not _before(seq, top):  # new bytes, perhaps past a hole
            if top is not None and _before(top, seq) and len(d.holes) < MAX_HOLES:
                d.holes.append([top, seq])
            d.end = end
            return
        if _before(top, end):  # starts below the top, runs past it
            d.end = end
            end = top
        if self._fill(d, seq, end):
            d.ooo += 1
            d.note("out_of_order", frame, time, size)
        else:
            d.retrans += 1
            d.retrans_bytes += size
            d.note("retransmission", frame, time, size)

    @staticmethod
    def _fill(d: _Dir, seq: int, end: int) -> bool:
        """Take [seq, end) out of the holes; True if it filled any."""
        filled = False
        kept: list[list[int]] = []
        for start, stop in d.holes:
            if _before(seq, stop) and _before(start, end):
                filled = True
                if _before(start, seq):
                    kept.append([start, seq])
                if _before(end, stop):
                    kept.append([end, stop])
            else:
                kept.append([start, stop])
        d.holes = kept
        return filled

    def direction(self, key: FlowKey) -> DirectionHealth:
        d = self._dirs.get(key) or _Dir()
        return DirectionHealth(packets=d.packets, payload_bytes=d.payload, retransmissions=d.retrans,
                               retransmitted_bytes=d.retrans_bytes, out_of_order=d.ooo,
                               zero_windows=d.zero, events=tuple(d.events))
