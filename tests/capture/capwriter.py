"""A small pcap/pcapng writer and packet builder for tests (standard library only).

It writes exactly what the formats specify, independently of droidcap's reader, so a test input
says in one line what it is: ``pcap([...], linktype=1, nanosecond=True, order=">")``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# -- packets ----------------------------------------------------------------------------------


def tcp(sport: int, dport: int, seq: int, ack: int = 0, flags: int = ACK, payload: bytes = b"",
        options: bytes = b"") -> bytes:
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         offset << 4, flags, 65535, 0, 0)
    return header + options + payload


def ipv4(src: str, dst: str, payload: bytes, *, proto: int = 6, options: bytes = b"",
         frag: int = 0, total_length: int | None = None) -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload) if total_length is None else total_length
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234, frag, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header + options + payload


def ipv6(src: str, dst: str, payload: bytes, *, nh: int = 6,
         ext: Sequence[tuple[int, bytes]] = ()) -> bytes:
    """``ext``: (header type, body after its next-header byte) pairs, innermost last."""
    chain = b""
    types = [t for t, _ in ext] + [nh]
    for (_type, body), following in zip(ext, types[1:], strict=True):
        chain += bytes([following]) + body
    first = types[0]
    return (struct.pack("!IHBB", 0x60000000, len(chain) + len(payload), first, 64)
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + chain + payload)


def ext_opts(n_units: int = 0) -> bytes:
    """Body of a hop-by-hop/routing/dest-opts header of (n_units + 1) * 8 bytes."""
    return bytes([n_units]) + bytes(6 + 8 * n_units)


def ext_fragment(offset: int = 0, more: bool = False) -> bytes:
    return b"\x00" + struct.pack("!HI", (offset << 3) | int(more), 0xABCD)


def ethernet(ip: bytes, *, vlans: Sequence[int] = (), ethertype: int | None = None,
             pad_to: int = 0) -> bytes:
    """``vlans``: TPIDs of the tags, outermost first (0x8100, 0x88A8...)."""
    if ethertype is None:
        ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    for vid, tpid in enumerate(vlans, start=100):
        frame += struct.pack("!HH", tpid, vid)
    frame += struct.pack("!H", ethertype) + ip
    return frame + bytes(max(0, pad_to - len(frame)))


def sll(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", proto) + ip


def sll2(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", proto, 0, 3, 1, 0, 6, b"\x02" * 6 + b"\0\0") + ip


def null(ip: bytes, *, order: str = "<") -> bytes:
    family = 24 if ip[0] >> 4 == 6 else 2
    return struct.pack(order + "I", family) + ip


def loop(ip: bytes) -> bytes:
    family = 24 if ip[0] >> 4 == 6 else 2
    return struct.pack("!I", family) + ip


# -- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pkt:
    """One record to write: time in seconds, captured bytes, and the wire length (default: same)."""

    time: float
    data: bytes
    orig_len: int | None = None


def pcap(records: Iterable[Pkt], *, linktype: int = 1, nanosecond: bool = False, order: str = "<",
         snaplen: int = 262144) -> bytes:
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    per_second = 10**9 if nanosecond else 10**6
    for pkt in records:
        units = round(pkt.time * per_second)
        sec, frac = divmod(units, per_second)
        orig = len(pkt.data) if pkt.orig_len is None else pkt.orig_len
        out.append(struct.pack(order + "IIII", sec, frac, len(pkt.data), orig) + pkt.data)
    return b"".join(out)


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


class Pcapng:
    """Builds a pcapng byte string block by block, in one byte order."""

    def __init__(self, order: str = "<") -> None:
        self.order = order
        self.parts: list[bytes] = []
        self.resolutions: list[int] = []  # timestamp units per second, per interface

    def block(self, btype: int, body: bytes) -> Pcapng:
        body = _pad(body)
        length = 12 + len(body)
        self.parts.append(struct.pack(self.order + "II", btype, length) + body
                          + struct.pack(self.order + "I", length))
        return self

    def shb(self) -> Pcapng:
        self.resolutions = []
        return self.block(0x0A0D0D0A, struct.pack(self.order + "IHHq", 0x1A2B3C4D, 1, 0, -1))

    def idb(self, linktype: int, *, snaplen: int = 0, tsresol: int | None = None,
            tsoffset: int | None = None) -> Pcapng:
        opts = b""
        if tsresol is not None:
            opts += struct.pack(self.order + "HH", 9, 1) + _pad(bytes([tsresol]))
        if tsoffset is not None:
            opts += struct.pack(self.order + "HHq", 14, 8, tsoffset)
        if opts:
            opts += struct.pack(self.order + "HH", 0, 0)
        exp = 6 if tsresol is None else tsresol & 0x7F
        self.resolutions.append(2**exp if tsresol is not None and tsresol & 0x80 else 10**exp)
        return self.block(1, struct.pack(self.order + "HHI", linktype, 0, snaplen) + opts)

    def epb(self, iface: int, time: float, data: bytes, orig_len: int | None = None) -> Pcapng:
        units = round(time * self.resolutions[iface])
        orig = len(data) if orig_len is None else orig_len
        return self.block(6, struct.pack(self.order + "IIIII", iface, units >> 32, units & 0xFFFFFFFF,
                                         len(data), orig) + data)

    def spb(self, data: bytes, orig_len: int | None = None) -> Pcapng:
        orig = len(data) if orig_len is None else orig_len
        return self.block(3, struct.pack(self.order + "I", orig) + data)

    def pb(self, iface: int, time: float, data: bytes) -> Pcapng:
        units = round(time * self.resolutions[iface])
        return self.block(2, struct.pack(self.order + "HHIIII", iface, 0, units >> 32,
                                         units & 0xFFFFFFFF, len(data), len(data)) + data)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


# -- conversations ----------------------------------------------------------------------------


@dataclass
class Conversation:
    """Builds the segments of one TCP connection with correct sequence numbers."""

    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 1935)
    client_isn: int = 1000
    server_isn: int = 5000

    def __post_init__(self) -> None:
        self.seq = {True: self.client_isn, False: self.server_isn}
        self.v6 = ":" in self.client[0]

    def segment(self, from_client: bool, payload: bytes = b"", flags: int = ACK, *,
                seq: int | None = None, ack: int | None = None) -> bytes:
        """The IP packet of the next segment of one side (``seq`` overrides, without advancing).

        It acknowledges everything the other side has sent so far, unless ``ack`` says otherwise.
        """
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        use = self.seq[from_client] if seq is None else seq
        acked = self.seq[not from_client] if ack is None else ack
        segment = tcp(src[1], dst[1], use, acked, flags, payload)
        if seq is None:
            self.seq[from_client] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        build = ipv6 if self.v6 else ipv4
        return build(src[0], dst[0], segment)

    def handshake(self) -> list[bytes]:
        return [self.segment(True, flags=SYN), self.segment(False, flags=SYN | ACK),
                self.segment(True)]
