"""The TCP layer's state stays bounded however many flows a capture has."""

from __future__ import annotations

from droidcap.capture import CaptureNote, FlowOpened, Record, StreamData, StreamEnd, TcpReassembler
from tests.capture.capwriter import ACK, FIN, SYN, Conversation


def flows(count: int, *, close: bool) -> list[bytes]:
    """``count`` connections from distinct client ports: SYN, SYN-ACK, one data segment each
    way, and FIN both ways if ``close``."""
    packets = []
    for i in range(count):
        conv = Conversation(client=("10.0.0.1", 10000 + i), server=("10.0.0.2", 1935))
        packets += [*conv.handshake(), conv.segment(True, b"c%d" % i), conv.segment(False, b"s%d" % i)]
        if close:
            packets += [conv.segment(True, flags=FIN | ACK), conv.segment(False, flags=FIN | ACK),
                        conv.segment(True)]
    return packets


def feed(tcp: TcpReassembler, packets: list[bytes]) -> list:
    out = []
    for n, ip in enumerate(packets, start=1):
        out += tcp.feed(Record(frame=n, time=float(n), linktype=101, data=ip, orig_len=len(ip)))
    return out + tcp.finish()


def test_open_flows_beyond_the_bound_end_early_least_recent_first():
    tcp = TcpReassembler(max_flows=100)
    events = feed(tcp, flows(1000, close=False))
    evicted = [e for e in events if isinstance(e, StreamEnd) and e.reason == "evicted"]
    assert len(evicted) >= 2 * 800  # both directions of (nearly) every flow beyond the bound
    assert evicted[0].flow == 0  # the least recently active go first
    notes = [e for e in events if isinstance(e, CaptureNote)]
    assert len(notes) == 1 and "more than 100 TCP flows" in notes[0].message
    # every byte of every flow was still delivered, and every direction ended exactly once
    data = [e for e in events if isinstance(e, StreamData)]
    assert len(data) == 2000
    ends = [(e.flow, e.dir) for e in events if isinstance(e, StreamEnd)]
    assert len(ends) == len(set(ends)) == 2000
    assert len(tcp._halves) <= 4 * 100  # white box: open and remembered flows, two halves each


def test_ended_flows_are_forgotten_beyond_the_bound():
    tcp = TcpReassembler(max_flows=50)
    events = feed(tcp, flows(500, close=True))
    assert [e.reason for e in events if isinstance(e, StreamEnd)] == ["fin"] * 1000
    assert not [e for e in events if isinstance(e, CaptureNote)]
    assert len(tcp._halves) <= 2 * 50 + 2


def test_an_evicted_flow_that_speaks_again_is_a_new_flow():
    """Its later segments are not dropped as strays of an ended flow: they open a new flow
    (without SYN, as a mid-connection start), so nothing it sends is lost silently."""
    convs = [Conversation(client=("10.0.0.1", 20000 + i), server=("10.0.0.2", 1935)) for i in range(3)]
    packets = []
    for conv in convs:  # the third flow evicts the first (max_flows=2)
        packets += [*conv.handshake(), conv.segment(True, b"hello")]
    packets += [convs[0].segment(True, b"again"), convs[0].segment(False, b"answer")]
    events = feed(TcpReassembler(max_flows=2), packets)
    assert [e.reason for e in events if isinstance(e, StreamEnd) and e.flow == 0] == ["evicted"] * 2
    reopened = [e for e in events if isinstance(e, FlowOpened) and e.flow == 3]
    assert reopened and not reopened[0].syn_seen
    assert [e.data for e in events if isinstance(e, StreamData) and e.flow == 3] == [b"again", b"answer"]
