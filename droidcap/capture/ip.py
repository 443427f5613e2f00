"""IPv4 and IPv6: find the TCP segment inside an IP packet.

:func:`locate_tcp` answers one question per frame — where does the TCP header start, where does the
IP payload end, and between which addresses — without building objects, because it runs once per
captured packet.

IP fragments are noted and skipped, not reassembled: TCP stacks avoid fragmentation (MSS and path
MTU discovery), so a fragmented TCP segment is rare and the TCP layer reports its bytes as a
``StreamGap`` like any other segment the capture lacks.  That keeps this layer stateless.
"""

from __future__ import annotations

from struct import Struct

_TCP = 6
# byte 0 version/IHL, 2-3 total length, 6-7 flags + fragment offset, 9 protocol
_V4 = Struct("!BxH2xHxB")
_V6_PAYLOAD_LEN = Struct("!H")
# IPv6 extension headers we walk through; each starts with next-header and a length byte.
_HOP_BY_HOP, _ROUTING, _FRAGMENT, _AH, _DEST_OPTS = 0, 43, 44, 51, 60
_EXTENSIONS = frozenset((_HOP_BY_HOP, _ROUTING, _FRAGMENT, _AH, _DEST_OPTS))

TcpLocation = tuple[bytes, int, int]
"""(source + destination address bytes, offset of the TCP header, offset where the IP payload
ends — possibly beyond the captured bytes, or -1 when the header does not say, as with TSO/GSO
packets captured before segmentation whose length field is 0)."""


def locate_tcp(data: bytes, off: int) -> TcpLocation | str | None:
    """Where the TCP segment of the IP packet at ``data[off:]`` is.

    Returns None for a well-formed packet that is not TCP (UDP, ICMP...), and a short message for
    one the capture layer must skip and say so (malformed, cut short by the snaplen, fragment).
    """
    if len(data) >= off + 20:
        vihl, total, frag, proto = _V4.unpack_from(data, off)
        if vihl == 0x45 and proto == _TCP and not frag & 0x3FFF and total >= 20:
            return data[off + 12 : off + 20], off + 20, off + total  # the common case, inline
    elif len(data) <= off:
        return "IP header missing (frame cut short)"
    version = data[off] >> 4
    if version == 4:
        return _ipv4(data, off)
    if version == 6:
        return _ipv6(data, off)
    return f"IP version {version} is neither 4 nor 6"


def _ipv4(data: bytes, off: int) -> TcpLocation | str | None:
    if len(data) < off + 20:
        return "IPv4 header cut short by the snaplen"
    vihl, total, frag, proto = _V4.unpack_from(data, off)
    if proto != _TCP:
        return None
    ihl = (vihl & 0x0F) << 2
    if ihl < 20:
        return f"IPv4 header length {ihl} is below the minimum of 20"
    if frag & 0x3FFF:  # more-fragments flag or a non-zero offset
        return "IPv4 fragment skipped (droidcap does not reassemble IP fragments)"
    if total == 0:
        end = -1
    elif total < ihl:
        return f"IPv4 total length {total} is shorter than its header ({ihl})"
    else:
        end = off + total
    return data[off + 12 : off + 20], off + ihl, end


def _ipv6(data: bytes, off: int) -> TcpLocation | str | None:
    found = _ipv6_upper(data, off)
    if not isinstance(found, tuple):
        return found
    nh, pos, end = found
    if nh != _TCP:
        return None  # UDP, ICMPv6, no-next-header, ESP...: not TCP
    return data[off + 8 : off + 40], pos, end


IpPayload = tuple[int, int, int, bytes]
"""(protocol or next header, offset of the payload, offset where it ends — -1 when the header
does not say —, source + destination address bytes)."""


def ip_payload(data: bytes, off: int) -> IpPayload | str | None:
    """The upper-layer payload of the IP packet at ``data[off:]``, whatever its protocol — what
    a tunnel inside it needs (:mod:`droidcap.capture.tunnels`).  A message for a packet the
    capture layer must skip and say so, as :func:`locate_tcp`; None when it is not IPv4 or IPv6."""
    if len(data) <= off:
        return "IP header missing (frame cut short)"
    version = data[off] >> 4
    if version == 4:
        if len(data) < off + 20:
            return "IPv4 header cut short by the snaplen"
        vihl, total, frag, proto = _V4.unpack_from(data, off)
        ihl = (vihl & 0x0F) << 2
        if ihl < 20 or (total and total < ihl):
            return f"IPv4 header length {ihl} does not fit (total length {total})"
        if frag & 0x3FFF:
            return "IPv4 fragment skipped (droidcap does not reassemble IP fragments)"
        return proto, off + ihl, off + total if total else -1, data[off + 12 : off + 20]
    if version == 6:
        found = _ipv6_upper(data, off)
        if not isinstance(found, tuple):
            return found
        nh, pos, end = found
        return nh, pos, end, data[off + 8 : off + 40]
    return None


def _ipv6_upper(data: bytes, off: int) -> tuple[int, int, int] | str:
    """Walk the extension headers of the IPv6 packet at ``off``: (upper-layer next header, its
    offset, end of the payload or -1)."""
    if len(data) < off + 40:
        return "IPv6 header cut short by the snaplen"
    payload_len = _V6_PAYLOAD_LEN.unpack_from(data, off + 4)[0]
    # A zero payload length means a jumbogram or a TSO/GSO packet; the captured length decides.
    end = off + 40 + payload_len if payload_len else -1
    nh = data[off + 6]
    pos = off + 40
    while nh != _TCP:
        if nh in _EXTENSIONS:
            if len(data) < pos + 8:
                return "IPv6 extension headers cut short by the snaplen"
            if nh == _FRAGMENT:
                if (data[pos + 2] << 8 | data[pos + 3]) & 0xFFF9:  # offset or more-fragments
                    return "IPv6 fragment skipped (droidcap does not reassemble IP fragments)"
                size = 8
            elif nh == _AH:
                size = (data[pos + 1] + 2) << 2
            else:
                size = (data[pos + 1] + 1) << 3
            nh = data[pos]
            pos += size
            if end >= 0 and pos > end:
                return "IPv6 extension headers run past the payload length"
        else:
            break
    return nh, pos, end
