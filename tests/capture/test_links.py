"""Link layers: every supported type carries the same TCP conversation to the same streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from droidcap.capture import LINK_LAYERS, CaptureNote, FlowOpened, Record, TcpReassembler
from droidcap.errors import UnsupportedLinkTypeError
from tests.capture.capwriter import ACK, FIN, Conversation, ethernet, loop, null, sll, sll2
from tests.capture.helpers import C2S, S2C, ends, feed_all, stream


def conversation(v6: bool = False) -> list[bytes]:
    conv = Conversation(client=("fd00::1", 40000), server=("fd00::2", 1935)) if v6 else Conversation()
    return [*conv.handshake(), conv.segment(True, b"hello"), conv.segment(False, b"world!"),
            conv.segment(True, flags=FIN | ACK), conv.segment(False, flags=FIN | ACK),
            conv.segment(True)]


def raw(ip: bytes) -> bytes:
    return ip


WRAPPERS: list[tuple[int, Callable[[bytes], bytes]]] = [
    (1, ethernet),
    (1, lambda ip: ethernet(ip, vlans=[0x8100])),
    (1, lambda ip: ethernet(ip, vlans=[0x88A8, 0x8100])),  # QinQ
    (1, lambda ip: ethernet(ip, vlans=[0x9100, 0x8100])),
    (113, sll),
    (276, sll2),
    (101, raw),
    (12, raw),
    (14, raw),
    (0, null),
    (0, lambda ip: null(ip, order=">")),
    (108, loop),
]


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize(("linktype", "wrap"), WRAPPERS)
def test_link_types_carry_the_conversation(linktype: int, wrap: Callable[[bytes], bytes], v6: bool) -> None:
    events = feed_all([wrap(ip) for ip in conversation(v6)], linktype=linktype)
    assert stream(events, C2S) == [b"hello"]
    assert stream(events, S2C) == [b"world!"]
    assert ends(events) == [(0, C2S, "fin"), (0, S2C, "fin")]


@pytest.mark.parametrize(("linktype", "v6"), [(228, False), (229, True)])
def test_ipv4_and_ipv6_link_types(linktype: int, v6: bool) -> None:
    events = feed_all(conversation(v6), linktype=linktype)
    assert stream(events, C2S) == [b"hello"]


def test_ethernet_padding_is_not_payload() -> None:
    conv = Conversation()
    frames = [ethernet(ip, pad_to=60) for ip in [*conv.handshake(), conv.segment(True, b"x")]]
    assert len(frames[-1]) == 60
    assert stream(feed_all(frames, linktype=1), C2S) == [b"x"]


def test_non_ip_frames_are_ignored_quietly() -> None:
    conv = Conversation()
    arp = ethernet(bytes(28), ethertype=0x0806)
    vlan_arp = ethernet(bytes(28), vlans=[0x8100], ethertype=0x0806)
    runt = b"\x00" * 10
    frames = [arp, vlan_arp, runt, *[ethernet(ip) for ip in conv.handshake()]]
    events = feed_all(frames, linktype=1)
    assert stream(events, C2S) == [] and len(events) == 3  # FlowOpened and two StreamEnd


def test_unknown_link_type_names_it() -> None:
    tcp = TcpReassembler()
    record = Record(frame=1, time=0.0, linktype=147, data=b"x", orig_len=1)
    with pytest.raises(UnsupportedLinkTypeError) as info:
        tcp.feed(record)
    message = str(info.value)
    assert message.startswith("capture uses link type 147 (USER0), which droidcap cannot decode")
    assert "1 (ETHERNET)" in message and "276 (LINUX_SLL2)" in message and "\n" not in message


def test_unknown_link_type_on_a_pcapng_interface_says_which() -> None:
    record = Record(frame=1, time=0.0, linktype=201, data=b"x", orig_len=1, interface=2)
    with pytest.raises(UnsupportedLinkTypeError, match=r"^interface 2 of the capture uses link type 201 \("):
        TcpReassembler().feed(record)


def test_the_table_holds_every_required_link_type() -> None:
    assert {0, 1, 12, 14, 101, 108, 113, 228, 229, 276} <= set(LINK_LAYERS)


def test_unsupported_interface_after_a_supported_one_is_skipped_with_one_note() -> None:
    conv = Conversation()
    ips = [*conv.handshake(), conv.segment(True, b"data")]
    tcp = TcpReassembler()
    records = [Record(frame=1, time=1.0, linktype=1, data=ethernet(ips[0]), orig_len=99),
               Record(frame=2, time=2.0, linktype=201, data=b"bt", orig_len=2, interface=1),
               Record(frame=3, time=3.0, linktype=1, data=ethernet(ips[1]), orig_len=99),
               Record(frame=4, time=4.0, linktype=201, data=b"bt", orig_len=2, interface=1),
               Record(frame=5, time=5.0, linktype=1, data=ethernet(ips[2]), orig_len=99),
               Record(frame=6, time=6.0, linktype=1, data=ethernet(ips[3]), orig_len=99)]
    events = [e for r in records for e in tcp.feed(r)]
    skipped = [e for e in events if isinstance(e, CaptureNote)]
    assert len(skipped) == 1 and skipped[0].frame == 2
    assert skipped[0].message.startswith("records skipped: interface 1 of the capture uses link type 201")
    assert stream(events, C2S) == [b"data"]


def _odd_ipv4_packets() -> list[bytes]:
    """IPv4 packets that look like the common case at first glance but are not: options, a
    fragment, a zero (TSO) or too-small total length, a non-TCP protocol, TCP options."""
    from tests.capture.capwriter import ipv4, tcp

    conv = Conversation()
    packets = [*conv.handshake(), conv.segment(True, b"plain")]
    seq = conv.seq[True]
    segment = tcp(40000, 1935, seq, conv.seq[False], payload=b"opts")
    packets.append(ipv4("10.0.0.1", "10.0.0.2", segment, options=b"\x01\x01\x01\x00"))
    seq += 4
    packets.append(ipv4("10.0.0.1", "10.0.0.2", tcp(40000, 1935, seq, payload=b"frag"), frag=0x2000))
    packets.append(ipv4("10.0.0.1", "10.0.0.2", tcp(40000, 1935, seq, payload=b"tso!"), total_length=0))
    seq += 4
    packets.append(ipv4("10.0.0.1", "10.0.0.2", tcp(40000, 1935, seq, payload=b"x"), total_length=39))
    packets.append(ipv4("10.0.0.1", "10.0.0.2", b"\x00" * 28, proto=17))
    packets.append(ipv4("10.0.0.1", "10.0.0.2",
                        tcp(40000, 1935, seq, payload=b"tcpopt", options=b"\x01\x01\x01\x01")))
    return packets


@pytest.mark.parametrize(("linktype", "wrap"), [(1, ethernet), (113, sll), (276, sll2)])
def test_one_call_header_path_agrees_with_the_general_path(
    linktype: int, wrap: Callable[[bytes], bytes]
) -> None:
    """Ethernet and SLL/SLL2 frames of plain IPv4/TCP are read with one struct call; VLAN-tagged
    Ethernet and raw IP take the general path.  Both must give the same events and notes."""
    packets = _odd_ipv4_packets()
    fast = feed_all([wrap(p) for p in packets], linktype=linktype)
    general = feed_all([ethernet(p, vlans=[0x8100]) for p in packets], linktype=1)
    # the one difference: the tagged flow says how it travelled
    opened = [e for e in general if isinstance(e, FlowOpened)]
    assert opened and all(e.outer == ("vlan 100",) for e in opened)
    assert fast == [replace(e, outer=()) if isinstance(e, FlowOpened) else e for e in general]
    assert stream(fast, C2S) == [b"plainoptstso!tcpopt"]
    assert [(n.frame, n.message) for n in fast if isinstance(n, CaptureNote)] == [
        (6, "IPv4 fragment skipped (droidcap does not reassemble IP fragments)"),
        (8, "TCP header length does not fit its packet"),
    ]
