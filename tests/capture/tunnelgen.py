"""Re-encapsulate a real capture in tunnels, byte by byte, to test the tunnel decoders.

Each record of an Ethernet capture keeps its frame number and time; its IP packet is wrapped in
the headers one encapsulation writes (built here from the specifications, independently of
droidcap's parsers), so a decode of the result must give exactly the items of the original.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from droidcap.rtmplab.pcapedit import Pcap, read_pcap, write_pcap
from tests.capture.capwriter import ipv4, ipv6

Wrap = Callable[[bytes], bytes]  # an IP packet → what carries it, down to an EtherType payload

OUTER4 = ("192.0.2.1", "192.0.2.2")  # documentation addresses: never on any wire
OUTER6 = ("2001:db8::1", "2001:db8::2")


def ether(ethertype: int, payload: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x0b" + b"\x02\x00\x00\x00\x00\x0a" + struct.pack("!H", ethertype) + payload


def ip_ethertype(ip: bytes) -> int:
    return 0x86DD if ip[0] >> 4 == 6 else 0x0800


def vlan(vid: int, ethertype: int, payload: bytes) -> bytes:
    """One VLAN tag (its TPID is the EtherType before it) and what follows it."""
    return struct.pack("!HH", vid, ethertype) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def gtp_u(teid: int, ip: bytes, *, sequence: int | None = None,
          extensions: tuple[tuple[int, bytes], ...] = ()) -> bytes:
    """A G-PDU; ``extensions``: (type, content) pairs, each padded to a multiple of 4 bytes with
    its length byte and next-type byte."""
    flags = 0x30  # version 1, protocol type GTP
    tail = b""
    if sequence is not None or extensions:
        flags |= 0x02 if sequence is not None else 0
        flags |= 0x04 if extensions else 0
        tail = struct.pack("!HBB", sequence or 0, 0, extensions[0][0] if extensions else 0)
        for n, (_type, content) in enumerate(extensions):
            following = extensions[n + 1][0] if n + 1 < len(extensions) else 0
            body = content + bytes(-(len(content) + 2) % 4)
            tail += bytes([(len(body) + 2) // 4]) + body + bytes([following])
    body = tail + ip
    return struct.pack("!BBHI", flags, 0xFF, len(body), teid) + body


def vxlan(vni: int, frame: bytes) -> bytes:
    return struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8) + frame


def gre(protocol: int, payload: bytes, *, key: int | None = None, sequence: int | None = None,
        checksum: bool = False) -> bytes:
    flags = (0x8000 if checksum else 0) | (0x2000 if key is not None else 0) | (0x1000 if sequence is not None else 0)
    out = struct.pack("!HH", flags, protocol)
    if checksum:
        out += b"\0\0\0\0"  # checksum and reserved (droidcap does not verify it)
    if key is not None:
        out += struct.pack("!I", key)
    if sequence is not None:
        out += struct.pack("!I", sequence)
    return out + payload


def mpls(labels: tuple[int, ...], payload: bytes) -> bytes:
    out = b""
    for n, label in enumerate(labels):
        bottom = 0x100 if n == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | bottom | 64)
    return out + payload


def pppoe(session: int, ip: bytes) -> bytes:
    protocol = 0x0057 if ip[0] >> 4 == 6 else 0x0021
    return struct.pack("!BBHHH", 0x11, 0, session, len(ip) + 2, protocol) + ip


# -- the encapsulations the tests use: IP packet → Ethernet frame ---------------------------------


def in_gtp_u(ip: bytes) -> bytes:
    """QinQ (S-tag 100, C-tag 200) > IPv4 > UDP 2152 > GTP-U with a sequence number and two
    extension headers (a PDU session container, then a made-up 8-byte one)."""
    gtp = gtp_u(0x1234, ip, sequence=7, extensions=((0x85, b"\x00\x09"), (0x40, b"\xaa" * 6)))
    outer = ipv4(*OUTER4, udp(2152, 2152, gtp), proto=17)
    return ether(0x88A8, vlan(100, 0x8100, vlan(200, 0x0800, outer)))


def in_vxlan(ip: bytes) -> bytes:
    """IPv6 > UDP 4789 > VXLAN VNI 42 > Ethernet > the packet."""
    inner = ether(ip_ethertype(ip), ip)
    return ether(0x86DD, ipv6(*OUTER6, udp(49152, 4789, vxlan(42, inner)), nh=17))


def in_gretap(ip: bytes) -> bytes:
    """IPv4 > GRE with key and sequence > transparent Ethernet bridging > VLAN 300 > the packet."""
    inner = ether(0x8100, vlan(300, ip_ethertype(ip), ip))
    return ether(0x0800, ipv4(*OUTER4, gre(0x6558, inner, key=99, sequence=5, checksum=True), proto=47))


def in_ipip(ip: bytes) -> bytes:
    return ether(0x0800, ipv4(*OUTER4, ip, proto=4))


def in_4in6(ip: bytes) -> bytes:
    return ether(0x86DD, ipv6(*OUTER6, ip, nh=4))


def in_6in4(ip: bytes) -> bytes:
    return ether(0x0800, ipv4(*OUTER4, ip, proto=41))


def in_mpls(ip: bytes) -> bytes:
    """An MPLS stack of three labels, IP right after the bottom one."""
    return ether(0x8847, mpls((16, 17, 1000), ip))


def in_pppoe(ip: bytes) -> bytes:
    return ether(0x8864, pppoe(0x2A, ip))


def in_nested(ip: bytes) -> bytes:
    """In an order no single tunnel gives: QinQ > PPPoE > IPv4 > GRE (key) > MPLS > pseudowire
    control word > Ethernet > IPv6 > UDP 2152 > GTP-U > the packet."""
    gtp = ipv6(*OUTER6, udp(2152, 2152, gtp_u(0xBEEF, ip)), nh=17)
    pseudowire = b"\0\0\0\0" + ether(0x86DD, gtp)
    tunnel = ipv4("198.51.100.1", "198.51.100.2", gre(0x8847, mpls((500, 501), pseudowire), key=7), proto=47)
    return ether(0x88A8, vlan(10, 0x8100, vlan(20, 0x8864, pppoe(0x11, tunnel))))


def rewrap(src: Path, dst: Path, wrap: Wrap) -> Path:
    """``dst``: every record of the Ethernet capture ``src`` with its IP packet wrapped."""
    pcap = read_pcap(src)
    assert pcap.linktype == 1
    records = []
    for record in pcap.records:
        frame = record.data
        assert (frame[12] << 8 | frame[13]) in (0x0800, 0x86DD), "plain Ethernet/IP expected"
        new = wrap(frame[14:])
        records.append(type(record)(frame=record.frame, ts_sec=record.ts_sec, ts_frac=record.ts_frac,
                                    orig_len=len(new), data=new))
    write_pcap(dst, Pcap(endian=pcap.endian, nanosecond=pcap.nanosecond, header=pcap.header,
                         linktype=1, records=tuple(records)))
    return dst
