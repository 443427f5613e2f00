"""Encapsulations: find the innermost IP packet of a frame that carries its traffic in tunnels.

Captures taken in a mobile core or a data centre carry the phone's packets inside GTP-U, VXLAN,
GRE, IP-in-IP, 6in4/4in6, MPLS label stacks or PPPoE sessions, often under QinQ VLAN tags, nested
in any order.  Each encapsulation is one small handler in one of three tables, looked up by what
the layer outside it says comes next:

- :data:`ETHERTYPES` (an EtherType, also a GRE protocol type): VLAN tags, MPLS, PPPoE session,
  transparent Ethernet bridging (an Ethernet frame, as gretap and VXLAN carry);
- :data:`IP_PROTOCOLS` (an IPv4 protocol / IPv6 next header): IPv4-in-IP (4), IPv6-in-IP (41,
  6in4/6in6), GRE (47), UDP (17, which looks up :data:`UDP_PORTS`);
- :data:`UDP_PORTS` (a destination, else source, port): GTP-U (2152), VXLAN (4789).

A handler takes the frame, the offset where its header starts (and, below IP, where the IP
payload ends) and returns the offset of what it carries — an IP header (the IP layer reads the
version nibble) — or -1 when it carries something else.  With a ``path`` list it also appends
a short description of itself ("vlan 100", "gtp-u teid 0x1", "ipv4 192.0.2.1 > 192.0.2.2"),
which the capture layer asks for once per flow, when it opens: flows are keyed and reported by
the innermost IP/TCP, and this path says how they travelled.

Standard library only; stateless.  Plain captures never come here: an Ethernet/SLL frame with
IPv4 or IPv6 directly inside, or an IP packet that is TCP, is handled before the tables are
consulted, so the hot path of :class:`~droidcap.capture.tcp.TcpReassembler` is unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from droidcap.capture.ip import TcpLocation, ip_payload, locate_tcp

Path = list[str] | None
"""Where a handler describes itself, or None (the per-packet case: offsets only)."""

EtherHandler = Callable[[bytes, int, Path, int], int]
"""(frame, offset after the EtherType, path, depth) → offset of the IP header, or -1."""
PayloadHandler = Callable[[bytes, int, int, Path, int], int]
"""(frame, offset of the header, offset where the IP payload ends, path, depth) → offset of the
IP header it carries, or -1."""

MAX_DEPTH = 16
"""Encapsulations nested deeper than this are not followed (a frame built to loop or recurse)."""

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPES: dict[int, EtherHandler] = {}
IP_PROTOCOLS: dict[int, PayloadHandler] = {}
UDP_PORTS: dict[int, PayloadHandler] = {}


def register_ethertype(*ethertypes: int) -> Callable[[EtherHandler], EtherHandler]:
    def add(fn: EtherHandler) -> EtherHandler:
        for ethertype in ethertypes:
            ETHERTYPES[ethertype] = fn
        return fn

    return add


def register_ip_protocol(*protocols: int) -> Callable[[PayloadHandler], PayloadHandler]:
    def add(fn: PayloadHandler) -> PayloadHandler:
        for protocol in protocols:
            IP_PROTOCOLS[protocol] = fn
        return fn

    return add


def register_udp_port(*ports: int) -> Callable[[PayloadHandler], PayloadHandler]:
    def add(fn: PayloadHandler) -> PayloadHandler:
        for port in ports:
            UDP_PORTS[port] = fn
        return fn

    return add


# -- the walk ---------------------------------------------------------------------------------


def ip_after_ethertype(data: bytes, ethertype: int, off: int, path: Path = None, depth: int = 0) -> int:
    """The offset of the IP header that ``ethertype`` at ``off`` leads to, through any stack of
    link-level encapsulations; -1 if it leads elsewhere (ARP, LLDP, ...)."""
    if ethertype == ETHERTYPE_IPV4 or ethertype == ETHERTYPE_IPV6:
        return off
    handler = ETHERTYPES.get(ethertype)
    if handler is None or depth >= MAX_DEPTH:
        return -1
    return handler(data, off, path, depth + 1)


def locate_tunnelled(data: bytes, off: int, path: Path = None, depth: int = 0) -> TcpLocation | str | None:
    """The TCP segment inside the tunnel(s) that the IP packet at ``off`` carries, as
    :func:`~droidcap.capture.ip.locate_tcp` answers for a plain one; None when the packet is no
    tunnel droidcap knows, or its innermost packet is not TCP."""
    while depth < MAX_DEPTH:
        found = ip_payload(data, off)
        if not isinstance(found, tuple):
            return found
        protocol, start, end, addrs = found
        handler = IP_PROTOCOLS.get(protocol)
        if handler is None:
            return None
        if path is not None:
            path.append(_ip_text(addrs))
        inner = handler(data, start, end, path, depth + 1)
        if inner < 0:
            return None
        where = locate_tcp(data, inner)
        if where is not None:
            return where
        off, depth = inner, depth + 1
    return f"more than {MAX_DEPTH} nested encapsulations"


def describe(ethertype_at: int | None, ip_at: int | None, ip_offset: Callable[[bytes], int],
             data: bytes) -> tuple[str, ...]:
    """The encapsulations around a frame's innermost IP packet, outermost first (empty for a
    plain frame).  Link layers with an EtherType at a fixed place give ``ethertype_at``/``ip_at``;
    for the others the IP header is where ``ip_offset`` says."""
    path: list[str] = []
    if ethertype_at is not None and ip_at is not None and len(data) >= ethertype_at + 2:
        ethertype = (data[ethertype_at] << 8) | data[ethertype_at + 1]
        off = ip_after_ethertype(data, ethertype, ip_at, path)
    else:
        off = ip_offset(data)
    if off >= 0 and locate_tcp(data, off) is None:
        locate_tunnelled(data, off, path)
    return tuple(path)


def _ip_text(addrs: bytes) -> str:
    n = len(addrs) // 2
    version = "ipv4" if n == 4 else "ipv6"
    return f"{version} {ipaddress.ip_address(addrs[:n])} > {ipaddress.ip_address(addrs[n:])}"


def _ip_version_at(data: bytes, off: int) -> int:
    """``off`` if an IPv4 or IPv6 header starts there (by its version nibble), else -1."""
    if len(data) > off and data[off] >> 4 in (4, 6):
        return off
    return -1


# -- link-level encapsulations ----------------------------------------------------------------


@register_ethertype(0x8100, 0x88A8, 0x9100)
def _vlan(data: bytes, off: int, path: Path, depth: int) -> int:
    """802.1Q / 802.1ad (QinQ) tag: 2 bytes of priority and VLAN id, then the next EtherType
    (0x9100 is the pre-standard QinQ tag some switches still use)."""
    if len(data) < off + 4:
        return -1
    if path is not None:
        path.append(f"vlan {((data[off] << 8) | data[off + 1]) & 0x0FFF}")
    return ip_after_ethertype(data, (data[off + 2] << 8) | data[off + 3], off + 4, path, depth)


@register_ethertype(0x6558)
def _ethernet(data: bytes, off: int, path: Path, depth: int) -> int:
    """An Ethernet frame (transparent Ethernet bridging: gretap, VXLAN, MPLS pseudowires)."""
    if len(data) < off + 14:
        return -1
    if path is not None:
        path.append("ethernet")
    return ip_after_ethertype(data, (data[off + 12] << 8) | data[off + 13], off + 14, path, depth)


@register_ethertype(0x8847, 0x8848)
def _mpls(data: bytes, off: int, path: Path, depth: int) -> int:
    """An MPLS label stack (unicast 0x8847, multicast 0x8848): 4-byte entries up to the one with
    the bottom-of-stack bit.  What follows carries no type: IPv4 or IPv6 by its version nibble,
    or — first nibble 0, the pseudowire control word (RFC 4385) — an Ethernet frame after it."""
    labels = []
    while True:
        if len(data) < off + 4:
            return -1
        entry = int.from_bytes(data[off : off + 4], "big")
        labels.append(entry >> 12)
        off += 4
        if entry & 0x100:  # bottom of stack
            break
    if path is not None:
        path.append("mpls " + "/".join(str(label) for label in labels))
    if len(data) <= off:
        return -1
    nibble = data[off] >> 4
    if nibble in (4, 6):
        return off
    if nibble == 0:
        return _ethernet(data, off + 4, path, depth + 1)
    return -1


_PPP_IP = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}


@register_ethertype(0x8864)
def _pppoe_session(data: bytes, off: int, path: Path, depth: int) -> int:
    """A PPPoE session frame: version/type 0x11, code 0, session id, length, then the PPP
    protocol (IPv4 0x0021, IPv6 0x0057; LCP and the rest are not IP)."""
    if len(data) < off + 8 or data[off] != 0x11 or data[off + 1] != 0:
        return -1
    if path is not None:
        path.append(f"pppoe session 0x{(data[off + 2] << 8) | data[off + 3]:04x}")
    ethertype = _PPP_IP.get((data[off + 6] << 8) | data[off + 7])
    return -1 if ethertype is None else ip_after_ethertype(data, ethertype, off + 8, path, depth)


# -- encapsulations in IP -----------------------------------------------------------------------


@register_ip_protocol(4, 41)
def _ip_in_ip(data: bytes, off: int, end: int, path: Path, depth: int) -> int:
    """IPv4 (4) or IPv6 (41) right inside IP: ipip, 6in4 (sit), 4in6, 6in6."""
    return _ip_version_at(data, off)


_GRE_CHECKSUM, _GRE_ROUTING, _GRE_KEY, _GRE_SEQUENCE = 0x8000, 0x4000, 0x2000, 0x1000


@register_ip_protocol(47)
def _gre(data: bytes, off: int, end: int, path: Path, depth: int) -> int:
    """GRE (RFC 2784/2890): flags and version, protocol type, then the optional checksum, key and
    sequence number words; version 0 only (1 is PPTP's)."""
    if len(data) < off + 4:
        return -1
    flags = (data[off] << 8) | data[off + 1]
    if flags & 0x0007 or flags & _GRE_ROUTING:
        return -1
    protocol = (data[off + 2] << 8) | data[off + 3]
    start = off + 4
    options = []
    if flags & _GRE_CHECKSUM:
        start += 4
    if flags & _GRE_KEY:
        if path is not None and len(data) >= start + 4:
            options.append(f"key {int.from_bytes(data[start : start + 4], 'big')}")
        start += 4
    if flags & _GRE_SEQUENCE:
        if path is not None and len(data) >= start + 4:
            options.append(f"seq {int.from_bytes(data[start : start + 4], 'big')}")
        start += 4
    if path is not None:
        path.append(" ".join(["gre", *options]))
    return ip_after_ethertype(data, protocol, start, path, depth)


@register_ip_protocol(17)
def _udp(data: bytes, off: int, end: int, path: Path, depth: int) -> int:
    """UDP: the tunnel is named by the destination port, else the source port."""
    if len(data) < off + 8:
        return -1
    source = (data[off] << 8) | data[off + 1]
    destination = (data[off + 2] << 8) | data[off + 3]
    handler = UDP_PORTS.get(destination) or UDP_PORTS.get(source)
    if handler is None:
        return -1
    if path is not None:
        path.append(f"udp {source} > {destination}")
    return handler(data, off + 8, end, path, depth)


# -- encapsulations in UDP ----------------------------------------------------------------------


_GTP_GPDU = 0xFF


@register_udp_port(2152)
def _gtp_u(data: bytes, off: int, end: int, path: Path, depth: int) -> int:
    """GTP-U version 1 (3GPP TS 29.281), a G-PDU: the 8-byte header; when any of the E, S, PN
    flags is set, sequence number, N-PDU number and next extension header type; then each
    extension header (a length in 4-byte units, its content, the next type in its last byte)."""
    if len(data) < off + 8:
        return -1
    flags = data[off]
    if flags >> 5 != 1 or not flags & 0x10 or data[off + 1] != _GTP_GPDU:
        return -1  # not version 1, GTP' (PT 0), or a signalling message (echo, error indication)
    teid = int.from_bytes(data[off + 4 : off + 8], "big")
    start = off + 8
    if flags & 0x07:
        if len(data) < start + 4:
            return -1
        next_type = data[start + 3]
        start += 4
        while next_type:
            if len(data) <= start or data[start] == 0:
                return -1
            size = data[start] * 4
            if len(data) < start + size:
                return -1
            next_type = data[start + size - 1]
            start += size
    if path is not None:
        path.append(f"gtp-u teid 0x{teid:x}")
    return _ip_version_at(data, start)


@register_udp_port(4789)
def _vxlan(data: bytes, off: int, end: int, path: Path, depth: int) -> int:
    """VXLAN (RFC 7348): 8 bytes with the I flag and a 24-bit VNI, then an Ethernet frame."""
    if len(data) < off + 8 or not data[off] & 0x08:
        return -1
    if path is not None:
        path.append(f"vxlan vni {int.from_bytes(data[off + 4 : off + 7], 'big')}")
    return _ethernet_quiet(data, off + 8, path, depth + 1)


def _ethernet_quiet(data: bytes, off: int, path: Path, depth: int) -> int:
    """An Ethernet frame that a tunnel always carries (VXLAN): not worth a word in the path."""
    if len(data) < off + 14:
        return -1
    return ip_after_ethertype(data, (data[off + 12] << 8) | data[off + 13], off + 14, path, depth)
