"""TCP reassembly: order, loss, overlap, ends, wraparound, snaplen, bounded buffering."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.capture import (
    Direction,
    FlowOpened,
    Record,
    StreamData,
    StreamEnd,
    StreamGap,
    TcpReassembler,
)
from droidcap.capture.tcp import stream_data
from tests.capture.capwriter import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    Conversation,
    ext_fragment,
    ext_opts,
    ipv4,
    ipv6,
    tcp,
)
from tests.capture.helpers import C2S, S2C, ends, feed_all, notes, stream

DATA = bytes(range(256)) * 40  # 10240 bytes
UDP = ipv4("10.9.9.9", "10.9.9.8", b"other traffic", proto=17)  # a record that is not TCP


def opened(events: list) -> list[FlowOpened]:
    return [e for e in events if isinstance(e, FlowOpened)]


def chunks(conv: Conversation, data: bytes, size: int, from_client: bool = True) -> list[bytes]:
    return [conv.segment(from_client, data[i : i + size], ACK | PSH) for i in range(0, len(data), size)]


def test_fast_stream_data_is_a_real_stream_data() -> None:
    fast = stream_data(3, Direction.S2C, b"abc", 7, 1.5)
    real = StreamData(flow=3, dir=Direction.S2C, data=b"abc", frame=7, time=1.5)
    assert type(fast) is StreamData and fast == real and hash(fast) == hash(real)
    assert repr(fast) == repr(real)
    # every field is set (a field added to StreamData later must be added to stream_data too)
    assert all(getattr(fast, name) == getattr(real, name) for name in StreamData.__slots__)
    assert StreamData.__slots__ == ("flow", "dir", "data", "frame", "time")


# -- ordinary conversations ---------------------------------------------------------------------


def test_in_order_conversation() -> None:
    conv = Conversation()
    frames = [*conv.handshake(), *chunks(conv, DATA, 1448), conv.segment(False, b"ok"),
              conv.segment(True, flags=FIN | ACK), conv.segment(False, flags=FIN | ACK),
              conv.segment(True)]
    events = feed_all(frames)
    assert opened(events) == [FlowOpened(flow=0, client=("10.0.0.1", 40000),
                                         server=("10.0.0.2", 1935), syn_seen=True, frame=1, time=1.0)]
    assert stream(events, C2S) == [DATA] and stream(events, S2C) == [b"ok"]
    assert ends(events) == [(0, C2S, "fin"), (0, S2C, "fin")]
    fin_end = [e for e in events if isinstance(e, StreamEnd)][0]
    assert (fin_end.frame, fin_end.time) == (len(frames) - 2, float(len(frames) - 2))


def test_each_chunk_carries_its_own_frame() -> None:
    conv = Conversation()
    events = feed_all([*conv.handshake(), conv.segment(True, b"a"), conv.segment(True, b"b")])
    assert [(e.data, e.frame, e.time) for e in events if isinstance(e, StreamData)] == [
        (b"a", 4, 4.0), (b"b", 5, 5.0)]


def test_flows_are_numbered_in_order_of_first_appearance_including_ipv6() -> None:
    a = Conversation(client=("10.0.0.1", 1), server=("10.0.0.2", 2))
    b = Conversation(client=("2001:db8::1", 3), server=("2001:db8::2", 4))
    frames = [a.segment(True, b"x"), *b.handshake(), a.segment(False, b"y"), b.segment(True, b"z")]
    events = feed_all(frames)
    flows = opened(events)
    assert [(f.flow, f.client, f.server, f.syn_seen) for f in flows] == [
        (0, ("10.0.0.1", 1), ("10.0.0.2", 2), False),
        (1, ("2001:db8::1", 3), ("2001:db8::2", 4), True)]
    assert stream(events, C2S, flow=0) == [b"x"] and stream(events, S2C, flow=0) == [b"y"]
    assert stream(events, C2S, flow=1) == [b"z"]
    assert ends(events) == [(0, C2S, "eof"), (0, S2C, "eof"), (1, C2S, "eof"), (1, S2C, "eof")]


# -- retransmission, overlap, order -----------------------------------------------------------


def test_retransmission_is_dropped() -> None:
    conv = Conversation()
    syn = conv.handshake()[0]
    first = conv.segment(True, b"hello")
    events = feed_all([syn, first, first, conv.segment(True, b" world"), first])
    assert stream(events, C2S) == [b"hello world"]


def test_partial_overlap_keeps_only_new_bytes() -> None:
    conv = Conversation()
    hs = conv.handshake()
    base = conv.seq[True]
    frames = [*hs, conv.segment(True, b"0123456789", seq=base), conv.segment(True, b"56789ABCDE", seq=base + 5),
              conv.segment(True, b"CDEFGH", seq=base + 12)]
    events = feed_all(frames)
    assert stream(events, C2S) == [b"0123456789ABCDEFGH"]


def test_out_of_order_segments_are_ordered() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:4000], 1000)
    events = feed_all([*hs, segs[2], segs[1], segs[3], segs[0]])
    assert stream(events, C2S) == [DATA[:4000]]
    # each chunk keeps the frame that carried it
    assert [e.frame for e in events if isinstance(e, StreamData)] == [7, 5, 4, 6]


def test_overlapping_held_segments() -> None:
    conv = Conversation()
    hs = conv.handshake()
    base = conv.seq[True]
    frames = [*hs, conv.segment(True, DATA[10:30], seq=base + 10), conv.segment(True, DATA[20:40], seq=base + 20),
              conv.segment(True, DATA[15:25], seq=base + 15), conv.segment(True, DATA[0:12], seq=base)]
    assert stream(feed_all(frames), C2S) == [DATA[:40]]


# -- loss -------------------------------------------------------------------------------------


def test_gap_has_the_exact_size_and_is_never_filled() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:3000], 1000)
    events = feed_all([*hs, segs[0], segs[2]])
    assert stream(events, C2S) == [DATA[:1000], 1000, DATA[2000:3000]]
    gap = next(e for e in events if isinstance(e, StreamGap))
    assert gap.frame == 5  # the record with which the stream resumes


def test_hole_acknowledged_by_the_peer_is_given_up_after_the_grace() -> None:
    """The receiver ACKs bytes the capture never showed: no retransmission will come."""
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:5000], 1000)
    ack_all = conv.segment(False)
    # records n happen at n seconds (feed_all); grace 2.5 s: the ACK is record 6, so the hole is
    # given up when record 9 (at 9 s) arrives, not before.
    events = feed_all([*hs, segs[0], segs[2], ack_all, segs[3], UDP, segs[4]], ack_grace=2.5)
    gap = next(e for e in events if isinstance(e, StreamGap))
    assert (gap.size, gap.frame) == (1000, 5)  # reported with the record where the stream resumes
    assert [type(e).__name__ for e in events][:5] == ["FlowOpened", "StreamData", "StreamGap",
                                                      "StreamData", "StreamData"]
    assert [e.frame for e in events if isinstance(e, StreamData)] == [4, 5, 7, 9]
    assert stream(events, C2S) == [DATA[:1000], 1000, DATA[2000:5000]]


def test_segment_captured_after_its_ack_within_the_grace_is_not_lost() -> None:
    """Capture order is not always wire order: data may show up just after the ACK for it."""
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:3000], 1000)
    ack_all = conv.segment(False)
    events = feed_all([*hs, segs[0], segs[2], ack_all, UDP, segs[1]], ack_grace=2.5)
    assert stream(events, C2S) == [DATA[:3000]]


def test_ack_inside_a_hole_gives_up_only_the_acknowledged_part() -> None:
    conv = Conversation()
    hs = conv.handshake()
    base = conv.seq[True]
    segs = chunks(conv, DATA[:3000], 1000)
    partial_ack = conv.segment(False, ack=base + 1400)
    late = conv.segment(True, DATA[1400:2000], seq=base + 1400)
    events = feed_all([*hs, segs[0], segs[2], partial_ack, UDP, late], ack_grace=0.5)
    assert stream(events, C2S) == [DATA[:1000], 400, DATA[1400:3000]]


def test_gap_before_fin_is_sized_by_the_fin() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:300], 100)
    fin = conv.segment(True, flags=FIN | ACK)
    events = feed_all([*hs, segs[0], fin])
    assert stream(events, C2S) == [DATA[:100], 200]
    assert ends(events)[0] == (0, C2S, "fin")


def test_missing_syn_first_sender_is_client() -> None:
    conv = Conversation()
    conv.handshake()
    frames = [conv.segment(False, b"from server"), conv.segment(True, b"from client")]
    events = feed_all(frames)
    (flow,) = opened(events)
    assert (flow.client, flow.server, flow.syn_seen) == (("10.0.0.2", 1935), ("10.0.0.1", 40000), False)
    assert stream(events, C2S) == [b"from server"] and stream(events, S2C) == [b"from client"]


def test_syn_ack_first_identifies_the_client() -> None:
    conv = Conversation()
    _syn, syn_ack, ack = conv.handshake()
    events = feed_all([syn_ack, ack, conv.segment(True, b"c"), conv.segment(False, b"s")])
    (flow,) = opened(events)
    assert (flow.client, flow.syn_seen) == (("10.0.0.1", 40000), True)
    assert stream(events, C2S) == [b"c"] and stream(events, S2C) == [b"s"]


def test_pure_ack_before_any_data_does_not_start_the_stream() -> None:
    conv = Conversation()
    conv.handshake()
    early_ack = conv.segment(True)
    events = feed_all([early_ack, conv.segment(False, b"x"), conv.segment(True, b"y")])
    assert stream(events, C2S) == [b"y"] and stream(events, S2C) == [b"x"]


# -- ends ---------------------------------------------------------------------------------------


def test_rst_ends_both_directions() -> None:
    conv = Conversation()
    frames = [*conv.handshake(), conv.segment(True, b"data"), conv.segment(False, flags=RST | ACK),
              conv.segment(True, b"late")]
    events = feed_all(frames)
    assert ends(events) == [(0, S2C, "rst"), (0, C2S, "rst")]
    assert stream(events, C2S) == [b"data"]


def test_rst_after_fin_still_ends_the_other_direction() -> None:
    conv = Conversation()
    frames = [*conv.handshake(), conv.segment(True, flags=FIN | ACK), conv.segment(True, flags=RST | ACK)]
    assert ends(feed_all(frames)) == [(0, C2S, "fin"), (0, S2C, "rst")]


def test_connection_refused() -> None:
    conv = Conversation()
    frames = [conv.segment(True, flags=SYN), conv.segment(False, flags=RST | ACK)]
    events = feed_all(frames)
    assert len(opened(events)) == 1 and ends(events) == [(0, S2C, "rst"), (0, C2S, "rst")]


def test_out_of_order_fin_waits_for_the_data_before_it() -> None:
    conv = Conversation()
    hs = conv.handshake()
    data = conv.segment(True, b"last words")
    fin = conv.segment(True, flags=FIN | ACK)
    events = feed_all([*hs, fin, data])
    assert stream(events, C2S) == [b"last words"] and ends(events)[0] == (0, C2S, "fin")


def test_segments_after_fin_and_final_ack_do_not_open_a_flow() -> None:
    conv = Conversation()
    frames = [*conv.handshake(), conv.segment(True, flags=FIN | ACK), conv.segment(False, flags=FIN | ACK),
              conv.segment(True), conv.segment(True, b"junk", seq=conv.seq[True] + 10)]
    events = feed_all(frames)
    assert len(opened(events)) == 1 and stream(events, C2S) == []


def test_port_reuse_with_a_new_syn_is_a_new_flow() -> None:
    first = Conversation()
    frames = [*first.handshake(), first.segment(True, b"one"), first.segment(True, flags=FIN | ACK),
              first.segment(False, flags=FIN | ACK), first.segment(True)]
    second = Conversation(client_isn=777777, server_isn=888888)
    frames += [*second.handshake(), second.segment(True, b"two")]
    events = feed_all(frames)
    assert [f.flow for f in opened(events)] == [0, 1]
    assert stream(events, C2S, 0) == [b"one"] and stream(events, C2S, 1) == [b"two"]


def test_port_reuse_without_a_captured_close() -> None:
    first = Conversation()
    second = Conversation(client_isn=99)
    frames = [*first.handshake(), first.segment(True, b"one"), *second.handshake(), second.segment(True, b"two")]
    events = feed_all(frames)
    assert ends(events) == [(0, C2S, "eof"), (0, S2C, "eof"), (1, C2S, "eof"), (1, S2C, "eof")]
    assert stream(events, C2S, 1) == [b"two"]


# -- sequence numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("isn", [2**32 - 1, 2**32 - 700, 2**31 - 5])
def test_sequence_wraparound(isn: int) -> None:
    conv = Conversation(client_isn=isn)
    hs = conv.handshake()
    segs = chunks(conv, DATA[:5000], 500)
    events = feed_all([*hs, *segs[:3], segs[4], segs[3], *segs[5:], segs[1]])
    assert stream(events, C2S) == [DATA[:5000]]


def test_wraparound_without_syn() -> None:
    conv = Conversation(client_isn=2**32 - 300)
    conv.handshake()
    events = feed_all(chunks(conv, DATA[:1000], 200))
    assert stream(events, C2S) == [DATA[:1000]]


def test_syn_with_data() -> None:
    conv = Conversation()
    events = feed_all([conv.segment(True, b"fast open", flags=SYN), conv.segment(True, b"!")])
    assert stream(events, C2S) == [b"fast open!"]


# -- snaplen ----------------------------------------------------------------------------------


def test_snapped_payload_becomes_a_gap() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:3000], 1000)
    tcp_events = TcpReassembler()
    out = []
    for n, frame in enumerate([*hs, segs[0], segs[1][:40 + 300], segs[2]], start=1):
        out.extend(tcp_events.feed(Record(frame=n, time=0.0, linktype=101, data=frame, orig_len=len(frame) + 700)))
    out.extend(tcp_events.finish())
    assert stream(out, C2S) == [DATA[:1300], 700, DATA[2000:3000]]
    gap = next(e for e in out if isinstance(e, StreamGap))
    assert gap.frame == 5  # reported with the snapped record, not later


def test_snapped_out_of_order_segment() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA[:3000], 1000)
    events = feed_all([*hs, segs[0], segs[2], (segs[1][:40 + 10], 1040)])
    assert stream(events, C2S) == [DATA[:1010], 990, DATA[2000:3000]]
    gap = next(e for e in events if isinstance(e, StreamGap))
    assert gap.frame == 6  # at once, with the snapped record


def test_ip_length_beyond_the_wire_length_is_not_a_gap() -> None:
    """A record that says it is complete wins over an IP total length that claims more."""
    conv = Conversation()
    hs = conv.handshake()
    seg = bytearray(conv.segment(True, b"abc"))
    seg[2:4] = struct.pack("!H", 1000)
    assert stream(feed_all([*hs, bytes(seg)]), C2S) == [b"abc"]


def test_header_cut_by_snaplen_is_noted() -> None:
    conv = Conversation()
    hs = conv.handshake()
    seg = conv.segment(True, b"x" * 100)
    events = feed_all([*hs, seg[:30], ipv4("10.0.0.1", "10.0.0.2", b"")[:12]])
    assert notes(events) == ["TCP header cut short by the snaplen", "IPv4 header cut short by the snaplen"]


# -- bounded memory -----------------------------------------------------------------------------


def test_out_of_order_buffer_is_bounded_per_direction() -> None:
    conv = Conversation()
    hs = conv.handshake()
    segs = chunks(conv, DATA, 1000)  # 11 segments; the first is lost
    reasm = TcpReassembler(max_buffered=3000)
    out = []
    for n, frame in enumerate([*hs, *segs[1:]], start=1):
        out.extend(reasm.feed(Record(frame=n, time=0.0, linktype=101, data=frame, orig_len=len(frame))))
        assert max((h.held_bytes for h in reasm._halves.values()), default=0) <= 3000
    # The hole was declared a gap as soon as 4000 bytes waited, then everything flowed.
    assert stream(out, C2S) == [1000, DATA[1000:]]
    assert not any(isinstance(e, StreamEnd) for e in out)


def test_out_of_order_buffer_is_bounded_over_all_flows() -> None:
    frames: list[bytes] = []
    for n in range(5):
        conv = Conversation(client=("10.0.0.1", 1000 + n))
        frames += conv.handshake()
        frames += chunks(conv, DATA[:3000], 1000)[1:]  # each flow loses its first segment
    events = feed_all(frames, max_buffered=10**6, max_buffered_total=5000)
    gaps = [e for e in events if isinstance(e, StreamGap)]
    assert all(g.size == 1000 for g in gaps) and len(gaps) == 5
    assert [stream(events, C2S, flow=n) for n in range(5)] == [[1000, DATA[1000:3000]]] * 5


# -- IP variants --------------------------------------------------------------------------------


def test_ipv4_options_and_fragments() -> None:
    seg = tcp(40000, 1935, 1, 0, SYN)
    data = tcp(40000, 1935, 2, 0, ACK, b"opts")
    frames = [
        ipv4("10.0.0.1", "10.0.0.2", seg, options=b"\x01\x01\x01\x00"),
        ipv4("10.0.0.1", "10.0.0.2", data, options=b"\x94\x04\x00\x00" * 2),  # router alert x2
        ipv4("10.0.0.1", "10.0.0.2", tcp(40000, 1935, 6, 0, ACK, b"frag"), frag=0x2000),  # MF
        ipv4("10.0.0.1", "10.0.0.2", b"tail", frag=100),  # non-first fragment
        ipv4("10.0.0.1", "10.0.0.2", b"udp", proto=17),
        ipv4("10.0.0.1", "10.0.0.2", tcp(40000, 1935, 10, 0, ACK, b"after")),
    ]
    events = feed_all(frames)
    assert stream(events, C2S) == [b"opts", 4, b"after"]
    assert notes(events) == ["IPv4 fragment skipped (droidcap does not reassemble IP fragments)"] * 2


def test_ipv4_total_length_zero_means_captured_length() -> None:
    # TSO/GSO: Linux captures oversize segments before the NIC splits them, total length 0.
    big = tcp(40000, 1935, 1, 0, ACK, DATA)
    events = feed_all([ipv4("10.0.0.1", "10.0.0.2", big, total_length=0)])
    assert stream(events, C2S) == [DATA]


@pytest.mark.parametrize("ext", [
    [(0, ext_opts())],
    [(0, ext_opts(1)), (43, ext_opts()), (60, ext_opts(2))],
    [(60, ext_opts()), (44, ext_fragment())],  # an atomic fragment header: not a fragment
])
def test_ipv6_extension_headers(ext: list[tuple[int, bytes]]) -> None:
    syn = ipv6("fe80::1", "fe80::2", tcp(1, 2, 10, 0, SYN), ext=ext)
    data = ipv6("fe80::1", "fe80::2", tcp(1, 2, 11, 0, ACK, b"v6 data"), ext=ext)
    events = feed_all([syn, data])
    assert stream(events, C2S) == [b"v6 data"] and opened(events)[0].client == ("fe80::1", 1)


def test_ipv6_fragments_and_non_tcp() -> None:
    frames = [
        ipv6("::1", "::2", tcp(1, 2, 10, 0, ACK, b"frag"), ext=[(44, ext_fragment(more=True))]),
        ipv6("::1", "::2", b"rest", ext=[(44, ext_fragment(offset=100))]),
        ipv6("::1", "::2", b"\x00" * 8, nh=17),
        ipv6("::1", "::2", b"", nh=59),
        ipv6("::1", "::2", tcp(1, 2, 10, 0, ACK, b"frag"), ext=[(0, ext_opts())])[:45],
    ]
    events = feed_all(frames)
    assert notes(events) == ["IPv6 fragment skipped (droidcap does not reassemble IP fragments)"] * 2 + [
        "IPv6 extension headers cut short by the snaplen"]
    assert opened(events) == []


def test_malformed_ip_headers_are_noted() -> None:
    bad_ihl = bytearray(ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, 3)))
    bad_ihl[0] = 0x43
    short_total = bytearray(ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, 3)))
    short_total[2:4] = struct.pack("!H", 10)
    bad_offset = bytearray(ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, 3)))
    bad_offset[20 + 12] = 0x20  # TCP data offset 2 words
    events = feed_all([bytes(bad_ihl), bytes(short_total), bytes(bad_offset), b"\x50" + bytes(30)])
    assert notes(events) == [
        "IPv4 header length 12 is below the minimum of 20",
        "IPv4 total length 10 is shorter than its header (20)",
        "TCP header length does not fit its packet",
        "IP version 5 is neither 4 nor 6",
    ]


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=25),
    isn=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_any_delivery_order_within_the_bound_gives_the_same_stream(
    sizes: list[int], isn: int, data: st.DataObject
) -> None:
    conv = Conversation(client_isn=isn)
    hs = conv.handshake()
    payload = DATA[: sum(sizes)]
    base = conv.seq[True]
    segs, pos = [], 0
    for size in sizes:
        segs.append(conv.segment(True, payload[pos : pos + size], seq=base + pos))
        pos += size
    # Retransmissions and re-segmented overlaps mixed in, then any order.
    extra = data.draw(st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(1, 900)), max_size=8))
    for start, length in extra:
        segs.append(conv.segment(True, payload[start : start + length], seq=base + start))
    order = data.draw(st.permutations(segs))
    bound = len(payload) + sum(length for _, length in extra)  # all of it may wait
    events = feed_all([*hs, *order], max_buffered=bound)
    assert stream(events, C2S) == [payload]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), isn=st.integers(0, 2**32 - 1))
def test_whatever_arrives_every_delivered_byte_is_true_and_every_direction_ends_once(
    data: st.DataObject, isn: int
) -> None:
    """Random segments of one true byte stream — any order, loss, overlap, snaplen, stray ACKs,
    FIN or RST anywhere — never yield a wrong byte, a wrong offset, or a missing/double end."""
    truth = DATA[:3000]
    conv = Conversation(client_isn=isn)
    hs = conv.handshake()
    base = isn + 1
    frames: list[bytes | tuple[bytes, int]] = list(hs[: data.draw(st.integers(1, 3))])
    for _ in range(data.draw(st.integers(0, 30))):
        kind = data.draw(st.sampled_from(["data", "data", "data", "ack", "fin", "rst"]))
        if kind == "data":
            start = data.draw(st.integers(0, len(truth) - 1))
            length = data.draw(st.integers(1, 600))
            seg = conv.segment(True, truth[start : start + length], seq=base + start)
            keep = data.draw(st.one_of(st.none(), st.integers(40, len(seg))))
            frames.append(seg if keep is None else (seg[:keep], len(seg)))
        elif kind == "ack":
            frames.append(conv.segment(False, ack=base + data.draw(st.integers(-100, len(truth) + 100))))
        elif kind == "fin":
            frames.append(conv.segment(True, flags=FIN | ACK, seq=base + data.draw(st.integers(0, len(truth)))))
        else:
            frames.append(conv.segment(data.draw(st.booleans()), flags=RST | ACK))
    events = feed_all(frames, max_buffered=data.draw(st.sampled_from([500, 5000, 10**6])),
                      ack_grace=data.draw(st.sampled_from([0.0, 2.0, 100.0])))
    ended: set[tuple[int, Direction]] = set()
    offset = 0
    for event in events:
        key = (getattr(event, "flow", -1), getattr(event, "dir", None))
        assert key not in ended, "an event after the direction's StreamEnd"
        if isinstance(event, StreamEnd):
            ended.add(key)  # type: ignore[arg-type]
        elif isinstance(event, StreamData) and event.dir is C2S:
            assert event.data and event.data == truth[offset : offset + len(event.data)]
            offset += len(event.data)
        elif isinstance(event, StreamGap) and event.dir is C2S:
            assert event.size > 0
            offset += event.size
    flows = {e.flow for e in events if isinstance(e, FlowOpened)}
    assert ended == {(f, d) for f in flows for d in (C2S, S2C)}


def test_a_fin_after_lost_bytes_ends_at_its_own_record_not_the_capture_end() -> None:
    """The FIN was captured but bytes before it never were: the direction ends at the FIN's
    record when the capture ends, so a connection's ``closed`` is its own FIN."""
    conv = Conversation()
    handshake = conv.handshake()
    conv.segment(True, b"x" * 100)  # never captured
    fin = conv.segment(True, flags=FIN | ACK, ack=conv.seq[False])
    later = [UDP] * 5  # the capture goes on without this connection
    events = feed_all([*handshake, fin, *later])
    (c2s_end,) = [e for e in events if isinstance(e, StreamEnd) and e.dir is C2S]
    assert (c2s_end.reason, c2s_end.frame, c2s_end.time) == ("fin", 4, 4.0)
    (gap,) = [e for e in events if isinstance(e, StreamGap)]
    assert (gap.size, gap.frame) == (100, 4)
    (s2c_end,) = [e for e in events if isinstance(e, StreamEnd) and e.dir is S2C]
    assert (s2c_end.reason, s2c_end.frame) == ("eof", 9)
