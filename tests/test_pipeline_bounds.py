"""The pipeline's per-flow state stays bounded: undecided flows, their held bytes, ended
connections (white-box checks of the bounds documented in droidcap/pipeline.py)."""

from __future__ import annotations

from droidcap import pipeline
from droidcap.capture.events import Direction, FlowOpened, StreamData, StreamEnd
from droidcap.capture.files import iter_flow_events
from droidcap.pipeline import RtmpExtractor
from tests.test_real_sessions import CAPTURES, MANIFEST


def opened(flow: int) -> FlowOpened:
    return FlowOpened(flow=flow, client=("10.0.0.1", 10000 + flow), server=("10.0.0.2", 1935),
                      syn_seen=True, frame=flow, time=float(flow))


def test_undecided_flows_are_decided_oldest_first_beyond_the_bound(monkeypatch):
    monkeypatch.setattr(pipeline, "MAX_UNDECIDED_FLOWS", 100)
    extractor = RtmpExtractor()
    for flow in range(2000):
        extractor.feed(opened(flow))
        # a C0 and the start of a C1 that never completes: undecidable until forced
        extractor.feed(StreamData(flow=flow, dir=Direction.C2S, data=b"\x03" + bytes(1000),
                                  frame=flow, time=float(flow)))
        assert len(extractor._pending) <= 100
        assert extractor._held_total == sum(
            len(b) for p in extractor._pending.values() for b in p.held.values())
    assert len(extractor._rejected) <= 2000


def test_undecided_bytes_are_bounded_together(monkeypatch):
    monkeypatch.setattr(pipeline, "DETECT_TOTAL_LIMIT", 64 * 1024)
    extractor = RtmpExtractor()
    for flow in range(500):
        extractor.feed(opened(flow))
        extractor.feed(StreamData(flow=flow, dir=Direction.C2S, data=b"\x03" + bytes(1000),
                                  frame=flow, time=float(flow)))
        assert extractor._held_total <= 64 * 1024


def test_rejected_flows_are_forgotten_when_they_end():
    extractor = RtmpExtractor()
    extractor.feed(opened(1))
    extractor.feed(StreamData(flow=1, dir=Direction.C2S, data=b"GET / HTTP/1.1\r\n" * 2000,
                              frame=2, time=2.0))
    assert 1 in extractor._rejected
    for d in (Direction.C2S, Direction.S2C):
        extractor.feed(StreamEnd(flow=1, dir=d, reason="fin", frame=3, time=3.0))
    assert 1 not in extractor._rejected


def test_connections_are_forgotten_when_both_directions_end():
    extractor = RtmpExtractor()
    entry = MANIFEST["nginx_ffmpeg_players"]
    for event in iter_flow_events(CAPTURES / entry["file"]):
        extractor.feed(event)
    assert extractor.connections_found == 3
    assert extractor._live == {}  # every connection closed with FIN both ways


def test_summaries_and_ladders_cover_a_bounded_number_of_connections(monkeypatch):
    import io

    from droidcap import decode, session
    from droidcap.render import table

    for module in (session, table, decode):
        monkeypatch.setattr(module, "MAX_TRACKED_CONNECTIONS", 1)
    notes = []
    out = io.StringIO()
    path = CAPTURES / MANIFEST["nginx_ffmpeg_players"]["file"]
    report = decode.decode_to(out, decode.iter_items(path), fmt="table", on_note=notes.append)
    assert [s.conn for s in report.summaries] == [0]
    assert out.getvalue().count("conn ") == 1
    assert [n.message for n in notes] == [
        "more than 1 RTMP connections: the summary covers the first 1, 2 more were decoded "
        "(see --format ndjson)"
    ]


def test_a_connection_beyond_the_summary_bound_can_still_be_selected(monkeypatch):
    import io

    from droidcap import decode, session
    from droidcap.render import table

    for module in (session, table, decode):
        monkeypatch.setattr(module, "MAX_TRACKED_CONNECTIONS", 1)
    out = io.StringIO()
    path = CAPTURES / MANIFEST["nginx_ffmpeg_players"]["file"]
    report = decode.decode_to(out, decode.iter_items(path), fmt="ndjson",
                              selection=decode.DecodeFilter(conn=2))
    assert report.events_written > 10 and report.summaries == []
    with __import__("pytest").raises(decode.NoSuchConnectionError, match="it has 3 connections"):
        decode.decode_to(io.StringIO(), decode.iter_items(path), fmt="ndjson",
                         selection=decode.DecodeFilter(conn=3))
