"""The summary's figures on real lab captures match what the publisher was told and what its FLV
tags add up to (tests/data/captures/MANIFEST.json), and the captures' known damage shows."""

from __future__ import annotations

import json

import pytest

from droidcap.analysis import CaptureSummary, ConnectionHealth
from droidcap.summarise import summarise
from tests.analysis.flvread import read_flv
from tests.conftest import DATA

CAPTURES = DATA / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text())["captures"]
SUMMARY_DATA = DATA / "summary"
SCENARIOS = json.loads((SUMMARY_DATA / "MANIFEST.json").read_text())
# Complete captures whose publisher connection carries everything it sent.
WHOLE = [name for name, c in MANIFEST.items() if not c["starts_mid_connection"] and not c["edits"]]

_cache: dict[str, CaptureSummary] = {}


def summary_of(name: str) -> CaptureSummary:
    if name not in _cache:
        _cache[name] = summarise(CAPTURES / MANIFEST[name]["file"])
    return _cache[name]


def by_port(summary: CaptureSummary, port: int) -> ConnectionHealth:
    return next(c for c in summary.connections if c.client.endswith(f":{port}"))


def span_kbps(tags: list, coded: int, first: int, last: int) -> float:
    """The bitrate definition of docs/summary.md, computed from FLV tags."""
    span = last - first
    return sum(len(t.data) for t in tags) * 8 / (span * coded / (coded - 1))


@pytest.mark.parametrize("name", WHOLE)
def test_publisher_figures_match_what_it_was_told(name):
    facts = MANIFEST[name]["publisher"]
    told = facts["video"]
    pub = by_port(summary_of(name), facts["client_port"])
    f = pub.figures
    assert f.role == "publisher" and f.publish_status == "NetStream.Publish.Start"
    assert f.frame_rate == pytest.approx(told["fps"], rel=0.01)
    assert f.keyframe_interval_frames_max == told["gop"]
    assert f.keyframe_interval_ms_max == told["gop"] * 1000 // told["fps"]
    assert f.keyframe_interval_ms_mean == pytest.approx(told["gop"] * 1000 / told["fps"], rel=0.01)
    assert f.video_frames == told["frames_published"]
    assert f.audio_packets == facts["audio"]["packets_published"]
    assert f.tcp_gaps == 0 and f.stall_count == 0 and f.errors == 0
    flv = read_flv(CAPTURES / facts["flv_copy"])
    video = [t for t in flv.tags if t.type == 9]
    coded = flv.coded_video()
    expected = span_kbps(video, len(coded), coded[0].timestamp, coded[-1].timestamp)
    assert f.video_kbps == pytest.approx(expected, rel=0.03)
    audio = [t for t in flv.tags if t.type == 8]
    coded_a = flv.coded_audio()
    assert f.audio_kbps == pytest.approx(span_kbps(audio, len(coded_a), coded_a[0].timestamp, coded_a[-1].timestamp), rel=0.03)
    stream = pub.main_stream()
    assert stream is not None and stream.video is not None and stream.audio is not None
    v, a = stream.video, stream.audio
    assert (v.codec, v.width, v.height) == ("AVC", told["width"], told["height"])
    assert (a.sample_rate, a.channels) == (facts["audio"]["sample_rate"], facts["audio"]["channels"])
    assert v.sequence_header.state == "ok" and a.sequence_header.state == "ok"
    assert stream.metadata_state == "ok"


@pytest.mark.parametrize("name", WHOLE)
def test_player_figures(name):
    told = MANIFEST[name]["publisher"]["video"]
    for player in MANIFEST[name]["players"]:
        c = by_port(summary_of(name), player["client_port"])
        f = c.figures
        assert f.role == "player" and f.play_status == "NetStream.Play.Start"
        assert f.frame_rate == pytest.approx(told["fps"], rel=0.01)
        if f.keyframe_interval_frames_max is not None:
            assert f.keyframe_interval_frames_max == told["gop"]
        assert f.time_to_first_keyframe_ms is not None and f.time_to_first_keyframe_ms > 0
        video = c.main_stream().video
        assert f.time_to_first_keyframe_ms == video.first_keyframe.after_ms  # a coded keyframe
        assert f.time_to_first_keyframe_ms >= f.time_to_first_video_ms
        assert f.stall_count == 0


def test_gap_capture_shows_the_gaps():
    summary = summarise(CAPTURES / "nginx_mtu1500_gap.pcap")
    removed = {r["connection"]: r for r in MANIFEST["nginx_mtu1500_gap"]["edits"]["removed"]}
    pub = by_port(summary, 51894)
    assert pub.figures.tcp_gaps == 1
    assert pub.figures.tcp_gap_bytes == removed["publisher upload"]["bytes_missing"]
    gap = pub.transport.gaps[0]
    assert gap.dir == "c2s"
    assert any(f.code == "tcp_gap" and f.where == gap.where for f in pub.findings)
    player = by_port(summary, 51908)
    assert player.figures.tcp_gap_bytes == removed["ffmpeg player download"]["bytes_missing"]
    # the messages after the gap are placed on the stream clock: no false drift or backwards step
    for c in (pub, player):
        assert not [f for f in c.findings if f.code in ("timestamp_backwards", "av_drift")]
    assert by_port(summary, 51902).figures.tcp_gaps == 0


def test_reordered_capture_shows_a_retransmission_and_a_reordering():
    summary = summarise(CAPTURES / "nginx_mtu1500_reordered.pcap")
    pub, player = by_port(summary, 51894), by_port(summary, 51908)
    assert (pub.transport.retransmissions, pub.transport.retransmitted_bytes) == (1, 1448)
    assert (player.transport.out_of_order, player.transport.retransmissions) == (1, 0)
    assert by_port(summary, 51902).transport.retransmissions == 0


def test_pause_of_three_seconds_is_one_stall_at_the_right_time():
    facts = SCENARIOS["pause"]
    summary = summarise(SUMMARY_DATA / facts["file"])
    for c in summary.connections:  # the publisher, and the player watching it
        assert c.figures.stall_count == 1, c.role
        stream = c.main_stream()
        assert stream is not None
        stall = stream.stalls[0]
        assert stall.duration_ms == pytest.approx(facts["pause_s"] * 1000, abs=250)
        assert stall.start.time == pytest.approx(facts["paused_at"], abs=0.3)
        assert c.figures.max_stall_ms == stall.duration_ms
        assert [f.code for f in c.findings if f.severity != "info"] == ["stall"]


def test_play_of_a_missing_stream_reports_stream_not_found():
    summary = summarise(SUMMARY_DATA / SCENARIOS["not_found"]["file"])
    (c,) = summary.connections
    assert c.figures.play_status == "NetStream.Play.StreamNotFound"
    (status,) = c.statuses
    assert status.failure and "does not exist on the server" in status.meaning
    errors = [f for f in c.findings if f.severity == "error"]
    assert errors[0].code == "status_failure" and "StreamNotFound" in errors[0].message
    assert errors[0].where == status.where and c.figures.errors == 1


def test_mid_connection_capture_is_measured_without_false_alarms():
    summary = summarise(CAPTURES / "nginx_midconnection.pcap")
    for c in summary.connections:
        assert c.mid_connection
        assert c.figures.frame_rate == pytest.approx(25, rel=0.01)
        assert not [f for f in c.findings if f.severity == "error"]


def test_json_is_the_documented_schema():
    data = json.loads(json.dumps(summary_of("nginx_ffmpeg_players").to_json()))
    assert data["schema"] == "droidcap.summary/1"
    assert set(data["thresholds"]) == {"stall_ms", "keyframe_interval_ms", "drift_ms", "timestamp_jump_ms",
                                       "declared_off_pct"}
    c = data["connections"][0]
    for key in ("conn", "client", "server", "role", "app", "tc_url", "flash_ver", "server_version",
                "milestones", "startup", "statuses", "streams", "transport", "findings", "figures"):
        assert key in c, key
    for key in ("play_status", "time_to_first_keyframe_ms", "tcp_gaps", "video_kbps_min",
                "keyframe_interval_ms_max", "max_stall_ms"):
        assert key in c["figures"], key
