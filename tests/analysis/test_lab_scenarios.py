"""The pause and missing-stream scenarios recorded fresh with real nginx-rtmp, ffmpeg and tcpdump
(tests/analysis/lab_scenarios.py), summarised and exported."""

from __future__ import annotations

import subprocess

import pytest

from droidcap.export import export_flv
from droidcap.summarise import summarise
from tests.analysis.lab_scenarios import PAUSE_S, record_not_found, record_pause

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def test_publisher_paused_for_three_seconds(lab_registry, tmp_path):
    facts = record_pause(lab_registry, tmp_path, tmp_path / "pause.pcap")
    summary = summarise(tmp_path / "pause.pcap")
    roles = sorted(c.role for c in summary.connections)
    assert roles == ["player", "publisher"]
    for c in summary.connections:
        assert c.figures.stall_count == 1, c.role
        (stall,) = c.main_stream().stalls
        assert stall.duration_ms == pytest.approx(PAUSE_S * 1000, abs=250)
        assert stall.start.time == pytest.approx(facts["paused_at"], abs=0.3)
        assert c.figures.frame_rate == pytest.approx(facts["fps"], rel=0.01)
        assert c.figures.keyframe_interval_frames_max == facts["gop"]
    pub = next(c for c in summary.connections if c.role == "publisher")
    assert pub.figures.video_frames == facts["video_packets"]
    out = tmp_path / "pub.flv"
    assert export_flv(tmp_path / "pause.pcap", pub.conn, out).report.video_frames == facts["video_packets"]
    check = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-f", "null", "-"],
                           check=False, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stderr == ""


def test_play_of_a_missing_stream(lab_registry, tmp_path):
    facts = record_not_found(lab_registry, tmp_path, tmp_path / "nf.pcap")
    assert facts["player_returncode"] != 0  # ffmpeg itself gave up
    (c,) = summarise(tmp_path / "nf.pcap").connections
    assert c.figures.play_status == "NetStream.Play.StreamNotFound"
    assert c.findings[0].severity == "error" and "does not exist on the server" in c.findings[0].message
