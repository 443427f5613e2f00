"""Real captures, checked against tshark's own TCP reassembly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from droidcap.capture import CaptureNote, FlowOpened, iter_flow_events
from tests.capture.capwriter import Conversation, Pkt, ethernet, pcap
from tests.capture.tshark import coverage, follow, ours, stream_count

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "wireshark_rtmp_sample.cap"
CAPTURES = sorted((DATA / "captures").glob("*.pcap*"))
OURS = Path(__file__).resolve().parent / "data"  # see its README.md
LO = OURS / "nginx_ffmpeg_lo_head.pcapng"
SNAPPED = OURS / "nginx_ffmpeg_any_snap200_ns_head.pcapng"


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


def test_real_nginx_ffmpeg_capture_matches_tshark() -> None:
    events = list(iter_flow_events(LO))
    assert not [e for e in events if isinstance(e, CaptureNote)]
    flows = ours(events)  # type: ignore[arg-type]
    assert len(flows) == stream_count(LO) == 1  # the publisher; the player came later
    check_coverage(LO, events)
    assert flows == follow(LO, 1)


def test_real_snapped_sll2_capture_delivers_true_bytes_and_exact_gaps() -> None:
    """Taken at the same time as LO with -i any -s 200: every delivered byte is LO's byte at the
    same stream offset, and gaps cover exactly what the snaplen cut."""
    full = ours(list(iter_flow_events(LO)))  # type: ignore[arg-type]
    events = list(iter_flow_events(SNAPPED))
    check_coverage(SNAPPED, events, snapped=True)
    cut = ours(events)  # type: ignore[arg-type]
    assert [list(f) for f in cut] == [list(f) for f in full]
    gaps = 0
    for flow_full, flow_cut in zip(full, cut, strict=True):
        for sender, parts in flow_cut.items():
            (reference,) = flow_full[sender] or [b""]
            offset = 0
            for part in parts:
                if isinstance(part, int):
                    offset += part
                    gaps += 1
                else:
                    assert part == reference[offset : offset + len(part)]
                    offset += len(part)
            assert offset == len(reference)
    assert gaps > 50


def lossy_capture(path: Path) -> Path:
    conv = Conversation()
    hs = conv.handshake()
    segs = [conv.segment(True, bytes([65 + n]) * (300 + n)) for n in range(4)]
    acked = conv.seq[True]
    segs += [conv.segment(True, bytes([65 + n]) * (300 + n)) for n in range(4, 12)]
    reply = conv.segment(False, b"reply", ack=acked)  # the receiver has segments 0-3
    # Swapped, retransmitted, overlapping, late, and lost (7 and 10).
    overlap = conv.segment(True, b"B" * 200 + b"C" * 100, seq=conv.client_isn + 1 + 300 + 101)
    order = [*hs, segs[0], segs[2], segs[1], segs[1], overlap, segs[3], segs[5], segs[6], reply,
             segs[4], segs[8], segs[9], segs[11]]
    path.write_bytes(pcap([Pkt(n * 0.01, ethernet(ip)) for n, ip in enumerate(order)]))
    return path


def check_coverage(path: Path, events: list, *, snapped: bool = False) -> None:
    """Delivered bytes = bytes sent at least once (unless the snaplen cut some); delivered + gaps
    = the sequence span."""
    flows = ours(events)
    expected = coverage(path)
    for n, flow in enumerate(flows):
        for sender, parts in flow.items():
            data = sum(len(p) for p in parts if isinstance(p, bytes))
            gaps = sum(p for p in parts if isinstance(p, int))
            covered, span = expected.get((n, sender), (0, 0))
            assert data + gaps == span, (n, sender)
            assert data < covered if snapped and gaps else data == covered, (n, sender)


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
    for mine, theirs in zip(flows, follow(path, len(flows)), strict=True):
        for sender, parts in mine.items():
            if all(isinstance(p, bytes) for p in [*parts, *theirs[sender]]):
                assert parts == theirs[sender], sender


def _manifest() -> dict:
    path = DATA / "captures" / "MANIFEST.json"
    return json.loads(path.read_text())["captures"] if path.exists() else {}


EDITED = {name: entry for name, entry in _manifest().items() if entry.get("edits")}


def _sender_streams(path: Path) -> dict[tuple[tuple[str, int], tuple[str, int]], list[bytes | int]]:
    """(sender, receiver) → data and gaps, for every flow of a capture."""
    out = {}
    for flow in ours(list(iter_flow_events(path))):  # type: ignore[arg-type]
        (a, a_parts), (b, b_parts) = flow.items()
        out[(a, b)], out[(b, a)] = a_parts, b_parts
    return out


def _endpoints(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    src, dst = (part.strip().rpartition(":") for part in text.split("->"))
    return (src[0].strip("[]"), int(src[2])), (dst[0].strip("[]"), int(dst[2]))


@pytest.mark.parametrize("name", sorted(EDITED))
def test_edited_capture_against_its_source(name: str) -> None:
    """The lab removed, swapped or duplicated known segments of a real capture (MANIFEST.json):
    gaps have exactly the removed sizes, and everything else is byte for byte the source's."""
    edits = EDITED[name]["edits"]
    edited = _sender_streams(DATA / "captures" / EDITED[name]["file"])
    source = _sender_streams(DATA / "captures" / edits["source"])
    assert edited.keys() == source.keys()
    missing: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}
    for removed in edits.get("removed", []):
        key = _endpoints(removed["flow"])
        missing[key] = missing.get(key, 0) + removed["bytes_missing"]
    for key, parts in edited.items():
        assert sum(p for p in parts if isinstance(p, int)) == missing.get(key, 0), key
        (reference,) = source[key] or [b""]
        offset = 0
        for part in parts:
            if isinstance(part, int):
                offset += part
            else:
                assert part == reference[offset : offset + len(part)], key
                offset += len(part)
        assert offset == len(reference), key
