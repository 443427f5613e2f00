"""`droidcap summary` and `droidcap export` as a user runs them: real process, real captures,
bad input as one line and a non-zero exit."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import DATA, run_cli

CAPTURES = DATA / "captures"
PLAYERS = CAPTURES / "nginx_ffmpeg_players.pcap"
NOT_FOUND = DATA / "summary" / "nginx_play_not_found.pcap"


def one_line_error(result) -> str:
    err = result.stderr.decode()
    assert result.returncode != 0
    assert err.count("\n") == 1 and err.startswith("droidcap: "), err
    assert "Traceback" not in err
    return err


def test_summary_text_tells_each_connection():
    result = run_cli("summary", str(PLAYERS))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.count("\nconn ") + out.startswith("conn ") == 3
    assert "publisher" in out and "player" in out
    assert "NetStream.Play.Start  playback started" in out
    assert re.search(r"video  AVC High 1\.2 320x180  100 frames, 25 fps", out)
    assert "keyframe every 1000 ms (max 1000 ms, 25 frames)" in out


def test_summary_json_for_one_connection():
    result = run_cli("summary", str(PLAYERS), "--conn", "1", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "droidcap.summary/1"
    (c,) = data["connections"]
    assert c["conn"] == 1 and c["figures"]["play_status"] == "NetStream.Play.Start"


def test_summary_thresholds_are_options():
    # a 30 ms stall threshold makes the 25 fps publisher's normal spacing of 40 ms a stall
    result = run_cli("summary", str(PLAYERS), "--conn", "0", "--json", "--stall-ms", "30")
    data = json.loads(result.stdout)
    assert data["thresholds"]["stall_ms"] == 30
    assert data["connections"][0]["figures"]["stall_count"] > 0
    strict = run_cli("summary", str(PLAYERS), "--conn", "0", "--json", "--keyframe-interval-ms", "500")
    codes = [f["code"] for f in json.loads(strict.stdout)["connections"][0]["findings"]]
    assert "keyframe_interval_long" in codes


def test_summary_of_stream_not_found_says_what_it_means():
    result = run_cli("summary", str(NOT_FOUND))
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "error    NetStream.Play.StreamNotFound: the stream asked for does not exist on the server" in out


@pytest.mark.parametrize(("args", "says"), [
    (["summary", "no/such.pcap"], "no such file: no/such.pcap"),
    (["summary", str(PLAYERS), "--conn", "7"], "no connection 7 in the capture; it has 3 connections"),
    (["summary", str(DATA)], "is a directory"),
    (["export", str(PLAYERS), "--conn", "7", "--flv", "/tmp/droidcap-never.flv"], "no connection 7"),
    (["export", "no/such.pcap", "--conn", "0", "--flv", "/tmp/droidcap-never.flv"], "no such file"),
    (["export", str(NOT_FOUND), "--conn", "0", "--flv", "/tmp/droidcap-never.flv"], "carries no audio or video"),
    (["export", "-", "--conn", "0", "--flv", "/tmp/droidcap-never.flv"], "give a capture file, not -"),
    (["export", str(PLAYERS), "--conn", "0"], "give exactly one of --flv OUT, --pcap OUT or --ndjson OUT"),
    (["export", str(PLAYERS), "--conn", "0", "--flv", "a.flv", "--pcap", "b.pcap"], "give exactly one"),
    (["export", str(PLAYERS), "--conn", "0", "--flv", "/no/such/dir/a.flv"], "no directory /no/such/dir"),
    (["export", str(CAPTURES / "nginx_midconnection.pcap"), "--conn", "2", "--flv", "/tmp/droidcap-never.flv"],
     "no sequence header in the capture"),
])
def test_bad_input_is_one_line(args, says):
    err = one_line_error(run_cli(*args))
    assert says in err


def test_not_a_capture_is_one_line(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage, not a capture")
    for args in (["summary", str(bad)], ["export", str(bad), "--conn", "0", "--pcap", str(tmp_path / "o.pcap")]):
        assert "is not a pcap or pcapng capture" in one_line_error(run_cli(*args))
    assert not (tmp_path / "o.pcap").exists()


def test_export_flv_pcap_ndjson(tmp_path):
    for flag, name in (("--flv", "c.flv"), ("--pcap", "c.pcap"), ("--ndjson", "c.ndjson")):
        out = tmp_path / name
        result = run_cli("export", str(PLAYERS), "--conn", "1", flag, str(out))
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 0
        assert str(out) in result.stderr.decode()
    decoded = run_cli("summary", str(tmp_path / "c.pcap"), "--json")
    assert json.loads(decoded.stdout)["connections"][0]["figures"]["play_status"] == "NetStream.Play.Start"


def test_export_flv_after_a_gap_reports_what_it_dropped(tmp_path):
    result = run_cli("export", str(CAPTURES / "nginx_mtu1500_gap.pcap"), "--conn", "0", "--flv", str(tmp_path / "g.flv"))
    assert result.returncode == 0
    assert "damaged or undecodable frames left out (after_gap; the first at frame 1407)" in result.stderr.decode()
