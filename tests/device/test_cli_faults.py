"""The CLI in a real process: Ctrl-C, pulled cables and a restarted adb server mid-capture.

After every test: no tcpdump left on the device, no capture lost, and nothing on the host named
``.pcap`` that was not verified."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from droidcap.decode import iter_items
from droidcap.session import SessionTracker
from droidcap.virtual import adb_host

from tests.device.conftest import no_tcpdump_left

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]
REACHABLE = pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)


def _env(adb_server, tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, ANDROID_ADB_SERVER_PORT=str(adb_server.port),
                XDG_CACHE_HOME=str(tmp_path / "cache"), ADB_USB="0", ADB_MDNS="0")


def _cli(args: list[str], adb_server, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "droidcap", *args], cwd=cwd,
                          env=_env(adb_server, cwd), capture_output=True, text=True, timeout=timeout)


def _start(args: list[str], adb_server, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "droidcap", *args], cwd=cwd,
                            env=_env(adb_server, cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 60.0) -> str:
    """Read stderr until ``text`` shows (the record is capturing)."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never appeared: {seen}")


def _player_session_ok(pcap: Path) -> None:
    tracker = SessionTracker()
    for item in iter_items(pcap):
        tracker.feed(item)
    player = [s for s in tracker.summaries() if s.role == "player"]
    assert player and player[0].milestone("play_start") is not None


def _verified(pcap: Path) -> None:
    """NAME.pcap and NAME.json agree (size and SHA-256), and there is no .part next to it."""
    import hashlib

    meta = json.loads(pcap.with_suffix(".json").read_text())
    data = pcap.read_bytes()
    assert meta["file"]["size"] - meta["file"]["trimmed_bytes"] == len(data)
    assert hashlib.sha256(data).hexdigest() == meta["file"]["local_sha256"]
    if not meta["file"]["trimmed_bytes"]:
        assert meta["file"]["sha256"] == meta["file"]["local_sha256"]
    assert not pcap.with_name(pcap.name + ".part").exists()


@REACHABLE
def test_cli_record_play_and_one_ctrl_c_stops_cleanly(device_for, adb_server, rtmp_server,
                                                      rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    vdev, _ = device_for("magisk")
    url = rtmp_server.url(host=vdev.host_address)
    proc = _start(["record", "-s", vdev.serial, "--play", url, "--live", "-o", "c.pcap"],
                  adb_server, tmp_path)
    seen = _wait_for(proc, "NetStream.Play.Start")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, seen + err
    assert "RTMP handshake done" in seen and "connect answered" in seen
    assert "SHA-256" in out and "verified" in out
    _verified(tmp_path / "c.pcap")
    _player_session_ok(tmp_path / "c.pcap")
    assert json.loads((tmp_path / "c.json").read_text())["stop"]["reason"] == "interrupted"
    assert no_tcpdump_left(adb_server, vdev.serial)


@REACHABLE
def test_second_ctrl_c_leaves_the_capture_on_the_device_and_pull_recovers_it(
        device_for, adb_server, rtmp_server, rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    vdev, _ = device_for("magisk")
    proc = _start(["record", "-s", vdev.serial, "--play", rtmp_server.url(host=vdev.host_address),
                   "-o", "d.pcap"], adb_server, tmp_path)
    _wait_for(proc, "capturing on")
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.15)  # two presses, not one signal delivered once
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("droidcap: interrupted: the capture stays on the device") and \
        f"droidcap pull -s {vdev.serial} d" in last, err
    assert not (tmp_path / "d.pcap").exists()  # nothing unverified is called .pcap
    assert no_tcpdump_left(adb_server, vdev.serial)
    listed = _cli(["pull", "-s", vdev.serial, "--list"], adb_server, tmp_path)
    assert "d  " in listed.stdout and "stopped" in listed.stdout
    pulled = _cli(["pull", "-s", vdev.serial, "d"], adb_server, tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    _verified(tmp_path / "d.pcap")
    _player_session_ok(tmp_path / "d.pcap")
    assert "no droidcap captures" in _cli(["pull", "-s", vdev.serial, "--list"], adb_server,
                                          tmp_path).stdout


@REACHABLE
def test_a_pulled_cable_keeps_the_capture_running_and_stop_recovers_it_whole(
        device_for, adb_server, rtmp_server, rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    vdev, _ = device_for("magisk")
    proc = _start(["record", "-s", vdev.serial, "--play", rtmp_server.url(host=vdev.host_address),
                   "--live", "--duration", "6", "-o", "e.pcap"], adb_server, tmp_path)
    _wait_for(proc, "NetStream.Play.Start")
    adb_server.run("disconnect", vdev.serial)  # the cable is pulled
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 1, err
    assert "droidcap stop" in err.strip().splitlines()[-1], err
    kept = tmp_path / "e.pcap.part"
    assert kept.exists() and kept.stat().st_size > 1000  # the host keeps what it had
    assert not (tmp_path / "e.pcap").exists()
    time.sleep(2)
    adb_host.connect(vdev.serial, adb_port=adb_server.port, adb=adb_server.adb)  # plugged back
    assert not no_tcpdump_left(adb_server, vdev.serial)  # tcpdump went on capturing meanwhile
    kept.unlink()
    stopped = _cli(["stop", "-s", vdev.serial], adb_server, tmp_path)
    assert stopped.returncode == 0 and "stopped e" in stopped.stdout, stopped.stderr
    _verified(tmp_path / "e.pcap")
    _player_session_ok(tmp_path / "e.pcap")
    assert no_tcpdump_left(adb_server, vdev.serial)


@REACHABLE
def test_adb_server_killed_and_restarted_mid_capture(device_for, adb_server, rtmp_server,
                                                      rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    vdev, _ = device_for("magisk")
    proc = _start(["record", "-s", vdev.serial, "--play", rtmp_server.url(host=vdev.host_address),
                   "--duration", "10", "-o", "f.pcap"], adb_server, tmp_path)
    _wait_for(proc, "playing")
    adb_host.kill_server(adb_server.port, adb=adb_server.adb)
    time.sleep(1.5)
    adb_server.run("start-server")
    adb_host.connect(vdev.serial, adb_port=adb_server.port, adb=adb_server.adb)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "warning: progress unavailable" in err  # it said so while the server was gone
    _verified(tmp_path / "f.pcap")
    _player_session_ok(tmp_path / "f.pcap")
    assert no_tcpdump_left(adb_server, vdev.serial)


def test_cli_errors_are_one_line(device_for, adb_server, tmp_path):
    vdev, _ = device_for("stock")
    cases = [
        (["record", "-s", vdev.serial, "--duration", "1"], "no root droidcap can use"),
        (["record", "-s", "NOPE", "--duration", "1"], "device NOPE is not attached"),
        (["record", "--play", "http://x/y", "-s", vdev.serial], "--play needs an rtmp:// URL"),
        (["record", "--tcpdump", "mine"], "'mine' is not one of 'ours', 'device'"),
        (["pull", "-s", vdev.serial, "nothing-here"], "no droidcap capture 'nothing-here'"),
        (["pull", "-s", vdev.serial, "/data/local/tmp/missing.pcap"], "does not exist"),
        (["pull", "-o", "/nonexistent"], "is not a directory"),
        (["devices", "--adb", "127.0.0.1:99999"], "invalid adb server port"),
    ]
    for args, text in cases:
        res = _cli(args, adb_server, tmp_path)
        lines = res.stderr.strip().splitlines()
        # the error is one line, the last; progress lines may come before it
        assert res.returncode != 0 and text in lines[-1], (args, res.stderr)
        assert lines[-1].startswith("droidcap: ") and "Traceback" not in res.stderr


def test_devices_and_doctor(device_for, adb_server, tmp_path):
    magisk, _ = device_for("magisk")
    stock, _ = device_for("stock")
    res = _cli(["devices", "--json"], adb_server, tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["serial"]: r for r in json.loads(res.stdout)}
    assert rows[magisk.serial]["root"] == "su-c" and rows[magisk.serial]["model"] == "Pixel 7"
    assert rows[magisk.serial]["abis"] == ["x86_64"] and rows[magisk.serial]["free_bytes"] > 0
    assert rows[stock.serial]["root"] == "none" and rows[stock.serial]["sdk"] == 33
    text = _cli(["devices"], adb_server, tmp_path).stdout
    assert f"{magisk.serial}  device  Google Pixel 7  Android 14 (SDK 34)" in text
    several = _cli(["record", "--duration", "1"], adb_server, tmp_path)
    assert "2 devices attached" in several.stderr and magisk.serial in several.stderr
    doc = _cli(["doctor", "-s", magisk.serial, "--json"], adb_server, tmp_path)
    assert doc.returncode == 0, doc.stdout + doc.stderr
    checks = {c["check"]: c for c in json.loads(doc.stdout)}
    assert all(c["status"] in ("OK", "WARN") for c in checks.values()), checks
    assert checks["root"]["status"] == "OK" and "any" in checks["capture interfaces"]["detail"]
    assert "wlan0" in checks["capture interfaces"]["detail"]
    bad = _cli(["doctor", "-s", stock.serial], adb_server, tmp_path)
    assert bad.returncode == 1 and "FAIL  root:" in bad.stdout and "fix:" in bad.stdout
