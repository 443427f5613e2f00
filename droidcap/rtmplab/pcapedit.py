"""Read, edit and write classic pcap files (standard library only) to make damaged captures.

``tc netem`` is not available on the lab machines, so loss, reordering and duplication are made
the honest way a decoder would meet them after the fact: by removing, swapping or copying TCP
segments of a real capture.  Every edit returns a description (which original frames, which TCP
bytes) that goes into the capture manifest, so tests know exactly what is missing or repeated.

Only what the lab produces is supported: little- or big-endian pcap (µs or ns), link types
Ethernet (1), Linux SLL (113) and SLL2 (276), IPv4 and IPv6 without extension headers.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from droidcap.rtmplab.errors import LabError

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


class PcapEditError(LabError):
    """The file is not a classic pcap this module can edit, or an edit cannot be applied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapRecord:
    """One packet record; ``frame`` is its 1-based number in the file it was read from."""

    frame: int
    ts_sec: int
    ts_frac: int
    orig_len: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Pcap:
    endian: str
    nanosecond: bool
    header: bytes
    linktype: int
    records: tuple[PcapRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpSegment:
    """The TCP facts of one record (addresses as printable strings)."""

    frame: int
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    flags: int
    payload_len: int

    @property
    def flow(self) -> tuple[str, int, str, int]:
        return (self.src, self.sport, self.dst, self.dport)


def read_pcap(path: Path) -> Pcap:
    data = Path(path).read_bytes()
    if len(data) < 24 or data[:4] not in _MAGICS:
        raise PcapEditError(f"{path} is not a classic pcap file")
    endian, nano = _MAGICS[data[:4]]
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    rec_hdr = struct.Struct(endian + "IIII")
    records = []
    pos, frame = 24, 0
    while pos + 16 <= len(data):
        ts_sec, ts_frac, incl, orig = rec_hdr.unpack_from(data, pos)
        if pos + 16 + incl > len(data):
            raise PcapEditError(f"{path}: record {frame + 1} truncated")
        frame += 1
        records.append(PcapRecord(frame=frame, ts_sec=ts_sec, ts_frac=ts_frac, orig_len=orig,
                                  data=data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return Pcap(endian=endian, nanosecond=nano, header=data[:24], linktype=linktype, records=tuple(records))


def write_pcap(path: Path, pcap: Pcap) -> None:
    rec_hdr = struct.Struct(pcap.endian + "IIII")
    parts = [pcap.header]
    for r in pcap.records:
        parts.append(rec_hdr.pack(r.ts_sec, r.ts_frac, len(r.data), r.orig_len))
        parts.append(r.data)
    Path(path).write_bytes(b"".join(parts))


def _ip_offset(linktype: int, data: bytes) -> tuple[int, int] | None:
    """(offset of the IP header, ethertype) or None for non-IP frames."""
    if linktype == 1:
        ethertype, off = struct.unpack_from(">H", data, 12)[0], 14
        while ethertype == 0x8100:
            ethertype, off = struct.unpack_from(">H", data, off + 2)[0], off + 4
        return off, ethertype
    if linktype == 113:
        return 16, struct.unpack_from(">H", data, 14)[0]
    if linktype == 276:
        return 20, struct.unpack_from(">H", data, 0)[0]
    raise PcapEditError(f"link type {linktype} is not supported by pcapedit")


def tcp_segment(pcap: Pcap, record: PcapRecord) -> TcpSegment | None:
    """Parse the IP/TCP headers of ``record``; None if it is not TCP."""
    d = record.data
    loc = _ip_offset(pcap.linktype, d)
    if loc is None:
        return None
    off, ethertype = loc
    if ethertype == 0x0800:
        ihl = (d[off] & 0x0F) * 4
        if d[off + 9] != 6:
            return None
        total = struct.unpack_from(">H", d, off + 2)[0]
        src, dst = str(ipaddress.IPv4Address(d[off + 12:off + 16])), str(ipaddress.IPv4Address(d[off + 16:off + 20]))
        tcp, ip_end = off + ihl, off + total
    elif ethertype == 0x86DD:
        if d[off + 6] != 6:
            return None
        plen = struct.unpack_from(">H", d, off + 4)[0]
        src, dst = str(ipaddress.IPv6Address(d[off + 8:off + 24])), str(ipaddress.IPv6Address(d[off + 24:off + 40]))
        tcp, ip_end = off + 40, off + 40 + plen
    else:
        return None
    sport, dport, seq = struct.unpack_from(">HHI", d, tcp)
    doff = (d[tcp + 12] >> 4) * 4
    flags = d[tcp + 13]
    return TcpSegment(frame=record.frame, src=src, dst=dst, sport=sport, dport=dport, seq=seq,
                      flags=flags, payload_len=ip_end - tcp - doff)


def tcp_segments(pcap: Pcap) -> list[TcpSegment]:
    return [s for r in pcap.records if (s := tcp_segment(pcap, r)) is not None]


def drop_frames(pcap: Pcap, frames: set[int]) -> Pcap:
    """A copy without the records whose original frame numbers are in ``frames``."""
    missing = frames - {r.frame for r in pcap.records}
    if missing:
        raise PcapEditError(f"no such frames: {sorted(missing)}")
    return replace(pcap, records=tuple(r for r in pcap.records if r.frame not in frames))


def swap_frames(pcap: Pcap, a: int, b: int) -> Pcap:
    """A copy with the records of frames ``a`` and ``b`` exchanged (timestamps stay in place,
    so the file remains time-ordered, as a capture of reordered packets would be)."""
    recs = list(pcap.records)
    ia = next(i for i, r in enumerate(recs) if r.frame == a)
    ib = next(i for i, r in enumerate(recs) if r.frame == b)
    ra, rb = recs[ia], recs[ib]
    recs[ia] = replace(rb, ts_sec=ra.ts_sec, ts_frac=ra.ts_frac)
    recs[ib] = replace(ra, ts_sec=rb.ts_sec, ts_frac=rb.ts_frac)
    return replace(pcap, records=tuple(recs))


def duplicate_frame(pcap: Pcap, frame: int, *, after: int | None = None) -> Pcap:
    """A copy where frame ``frame`` appears a second time right after frame ``after`` (default:
    right after itself) — a retransmission of bytes already seen."""
    recs = list(pcap.records)
    src = next(r for r in recs if r.frame == frame)
    at = next(i for i, r in enumerate(recs) if r.frame == (frame if after is None else after))
    recs.insert(at + 1, replace(src, ts_sec=recs[at].ts_sec, ts_frac=recs[at].ts_frac))
    return replace(pcap, records=tuple(recs))
