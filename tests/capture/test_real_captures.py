"""Real captures, checked against tshark's own TCP reassembly."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.capture import CaptureNote, FlowOpened, iter_flow_events
from tests.capture.capwriter import Conversation, Pkt, ethernet, pcap
from tests.capture.tshark import coverage, follow, ours, stream_count

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "wireshark_rtmp_sample.cap"
CAPTURES = sorted((DATA / "captures").glob("*.pcap*"))


def test_wireshark_sample_streams() -> None:
    events = list(iter_flow_events(SAMPLE))
    assert not [e for e in events if isinstance(e, CaptureNote)]
    (flow,) = [e for e in events if isinstance(e, FlowOpened)]
    assert (flow.client, flow.server, flow.syn_seen) == (("192.168.43.1", 1177), ("192.168.43.128", 1935), True)
    (streams,) = ours(events)  # type: ignore[arg-type]
    # tshark -r wireshark_rtmp_sample.cap -q -z follow,tcp,raw,0: 3452 bytes client → server,
    # 3496 bytes server → client, no gaps.
    assert [sum(map(len, s)) for s in streams.values()] == [3452, 3496]  # type: ignore[arg-type]
    assert streams[flow.client][0][:1] == b"\x03"  # RTMP C0: version 3


def test_wireshark_sample_matches_tshark_byte_for_byte() -> None:
    events = list(iter_flow_events(SAMPLE))
    assert ours(events) == follow(SAMPLE, 1)  # type: ignore[arg-type]


def lossy_capture(path: Path) -> Path:
    conv = Conversation()
    hs = conv.handshake()
    segs = [conv.segment(True, bytes([65 + n]) * (300 + n)) for n in range(12)]
    reply = conv.segment(False, b"reply")
    # Swapped, retransmitted, overlapping, late, and lost (7 and 10).
    overlap = conv.segment(True, b"B" * 200 + b"C" * 100, seq=conv.client_isn + 1 + 300 + 101)
    order = [*hs, segs[0], segs[2], segs[1], segs[1], overlap, segs[3], segs[5], segs[6], reply,
             segs[4], segs[8], segs[9], segs[11]]
    path.write_bytes(pcap([Pkt(n * 0.01, ethernet(ip)) for n, ip in enumerate(order)]))
    return path


def check_coverage(path: Path, events: list) -> None:
    """Delivered bytes = bytes captured at least once; delivered + gaps = the sequence span."""
    flows = ours(events)
    expected = coverage(path)
    for n, flow in enumerate(flows):
        for sender, parts in flow.items():
            data = sum(len(p) for p in parts if isinstance(p, bytes))
            gaps = sum(p for p in parts if isinstance(p, int))
            assert (data, data + gaps) == expected.get((n, sender), (0, 0)), (n, sender)


def test_lossy_capture_against_tshark_segments(tmp_path: Path) -> None:
    path = lossy_capture(tmp_path / "lossy.pcap")
    events = list(iter_flow_events(path))
    check_coverage(path, events)
    client = ours(events)[0][("10.0.0.1", 40000)]
    assert [p for p in client if isinstance(p, int)] == [300 + 7, 300 + 10]


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_real_capture_matches_tshark(path: Path) -> None:
    events = list(iter_flow_events(path))
    flows = ours(events)  # type: ignore[arg-type]
    assert len(flows) == stream_count(path)
    check_coverage(path, events)
    # Where neither side saw a hole, the bytes must be tshark's, byte for byte.
    for mine, theirs in zip(flows, follow(path, len(flows))):
        for sender, parts in mine.items():
            if all(isinstance(p, bytes) for p in [*parts, *theirs[sender]]):
                assert parts == theirs[sender], sender
