"""Link layers: strip a captured frame down to where its IP header starts.

Dispatch is a table, :data:`LINK_LAYERS`, keyed by LINKTYPE_* value; a new link type plugs in with
:func:`register` and nothing below it changes.  Each entry maps a frame to the offset of its IPv4
or IPv6 header, or -1 when the frame carries something else (ARP, LLDP, a netlink message...):
those frames are not errors, just not ours.  The IP layer checks the version nibble itself, so a
link layer that cannot tell IPv4 from IPv6 (raw, loopback) only has to say where IP begins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from droidcap.capture.tunnels import ip_after_ethertype
from droidcap.errors import UnsupportedLinkTypeError

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
# Address families in a loopback header: AF_INET is 2 everywhere; AF_INET6 differs by OS
# (Linux 10, the BSDs 24, FreeBSD 28, macOS/iOS 30).
_AF_INET = 2
_AF_INET6 = frozenset((10, 24, 28, 30))


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkLayer:
    """One supported link type: its name (for messages) and its IP-offset function.

    ``ethertype_at``/``ip_at``: for link layers whose header has a fixed size and an EtherType
    field at a fixed place (Ethernet without VLAN tags, Linux SLL and SLL2), where those are.  The
    TCP layer reads link, IPv4 and TCP headers of such frames with one ``struct`` call and falls
    back to :attr:`ip_offset` for everything else (VLAN tags, IPv6, IP options).
    """

    linktype: int
    name: str
    ip_offset: Callable[[bytes], int]
    ethertype_at: int | None = None
    ip_at: int | None = None


LINK_LAYERS: dict[int, LinkLayer] = {}

# Names of link types droidcap does not decode, so the error names what the capture actually is.
_OTHER_NAMES = {
    6: "IEEE802_5",
    9: "PPP",
    105: "IEEE802_11",
    127: "IEEE802_11_RADIOTAP",
    187: "BLUETOOTH_HCI_H4",
    189: "USB_LINUX",
    192: "PPI",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    249: "NFLOG",
    253: "NETLINK",
    **{147 + n: f"USER{n}" for n in range(16)},
}


def register(
    linktype: int, name: str, *, ethertype_at: int | None = None, ip_at: int | None = None
) -> Callable[[Callable[[bytes], int]], Callable[[bytes], int]]:
    """Decorator: make ``fn`` the IP-offset function of ``linktype``."""

    def add(fn: Callable[[bytes], int]) -> Callable[[bytes], int]:
        LINK_LAYERS[linktype] = LinkLayer(
            linktype=linktype, name=name, ip_offset=fn, ethertype_at=ethertype_at, ip_at=ip_at
        )
        return fn

    return add


def link_name(linktype: int) -> str:
    """The LINKTYPE_* name without its prefix, or "unknown"."""
    layer = LINK_LAYERS.get(linktype)
    if layer is not None:
        return layer.name
    return _OTHER_NAMES.get(linktype, "unknown")


def unsupported(linktype: int, interface: int = 0) -> UnsupportedLinkTypeError:
    """The error for a record whose link type is not in the table (one line, names the type)."""
    where = f"interface {interface} of the capture" if interface else "capture"
    supported = ", ".join(f"{lt} ({layer.name})" for lt, layer in sorted(LINK_LAYERS.items()))
    return UnsupportedLinkTypeError(
        f"{where} uses link type {linktype} ({link_name(linktype)}), which droidcap cannot decode; "
        f"supported: {supported}"
    )


def _after_ethertype(data: bytes, etype: int, off: int) -> int:
    """Where the IP header is that ``etype`` (read just before ``off``) leads to: here for IPv4
    and IPv6, else through VLAN tags, MPLS, PPPoE and other link-level encapsulations
    (:mod:`droidcap.capture.tunnels`)."""
    if etype == _ETHERTYPE_IPV4 or etype == _ETHERTYPE_IPV6:
        return off
    return ip_after_ethertype(data, etype, off)


@register(1, "ETHERNET", ethertype_at=12, ip_at=14)
def _ethernet(data: bytes) -> int:
    if len(data) < 14:
        return -1
    etype = (data[12] << 8) | data[13]
    if etype == _ETHERTYPE_IPV4:  # the common case, without the VLAN loop
        return 14
    return _after_ethertype(data, etype, 14)


@register(113, "LINUX_SLL", ethertype_at=14, ip_at=16)
def _linux_sll(data: bytes) -> int:
    # 16 bytes: packet type, ARPHRD type, address length, 8 address bytes, protocol (big-endian).
    if len(data) < 16:
        return -1
    return _after_ethertype(data, (data[14] << 8) | data[15], 16)


@register(276, "LINUX_SLL2", ethertype_at=0, ip_at=20)
def _linux_sll2(data: bytes) -> int:
    # 20 bytes, protocol first: protocol, reserved, interface index, ARPHRD type, packet type,
    # address length, 8 address bytes.
    if len(data) < 20:
        return -1
    return _after_ethertype(data, (data[0] << 8) | data[1], 20)


def _raw(data: bytes) -> int:
    return 0


# DLT_RAW is 101 in files; 12 and 14 are the raw-IP DLT values some BSDs write unmapped.
for _linktype, _name in ((101, "RAW"), (12, "RAW"), (14, "RAW"), (228, "IPV4"), (229, "IPV6")):
    register(_linktype, _name)(_raw)
del _linktype, _name


@register(0, "NULL")
def _null(data: bytes) -> int:
    # 4-byte address family in the *capturing host's* byte order, which the file does not record:
    # accept it either way round (the values are small, so the two readings cannot collide).
    if len(data) < 4:
        return -1
    le = int.from_bytes(data[:4], "little")
    family = le if le < 0x10000 else int.from_bytes(data[:4], "big")
    return 4 if family == _AF_INET or family in _AF_INET6 else -1


@register(108, "LOOP")
def _loop(data: bytes) -> int:
    # OpenBSD loopback: the same 4-byte family, always big-endian.
    if len(data) < 4:
        return -1
    family = int.from_bytes(data[:4], "big")
    return 4 if family == _AF_INET or family in _AF_INET6 else -1
