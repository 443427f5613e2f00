"""Faults during a lab run, on virtual devices with the real adb server: a device that vanishes
mid-capture errors its own run (``<error>`` with the reason) while the other passes; Ctrl-C on
``droidcap lab run`` stops every capture, pulls what exists, writes the report and leaves no
tcpdump running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import xmlschema

from droidcap.labrun import RunUpdate, Status, load_lab, run_lab
from tests.device.conftest import no_tcpdump_left

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]

XSD = Path(__file__).resolve().parents[1] / "data" / "junit" / "junit-ci.xsd"


def _lab(path: Path, adb_port: int, url: str, duration: str) -> Path:
    path.write_text(f"""
[lab]
name = "faults"
adb = ["127.0.0.1:{adb_port}"]

[[scenario]]
name = "live"
devices = "all"
play = "{url}"
duration = "{duration}"

[scenario.expect]
play_status = "NetStream.Play.Start"
max_time_to_first_keyframe = "3s"
""")
    return path


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_a_device_killed_mid_run_errors_while_the_other_passes(adb_server, virtual_device, rtmp_server,
                                                              rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    keep = virtual_device("magisk", serialno="KEEP01")
    doomed = virtual_device("emulator", serialno="DOOMED01")
    lab = load_lab(_lab(tmp_path / "lab.toml", adb_server.port,
                        rtmp_server.url(host=keep.host_address), "5s"))
    killed = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, RunUpdate) and event.spec.target.serial == doomed.serial \
                and event.state == "capturing" and not killed.is_set():
            killed.set()
            threading.Timer(1.5, doomed.stop).start()  # the phone is gone mid-capture

    result = run_lab(lab, tmp_path / "out", on_event=on_event)
    runs = {r.spec.target.serial: r for r in result.results}
    assert killed.is_set()
    assert runs[keep.serial].status is Status.PASSED, runs[keep.serial].reason
    gone = runs[doomed.serial]
    assert gone.status is Status.ERROR and gone.reason, gone
    assert doomed.serial in gone.reason or "device" in gone.reason.lower(), gone.reason
    assert result.exit_code == 1
    junit = tmp_path / "out" / "junit.xml"
    xmlschema.XMLSchema(XSD).validate(junit)
    text = junit.read_text()
    assert text.count("<error") == 1 and "<failure" not in text
    assert gone.error_type in text
    assert no_tcpdump_left(adb_server, keep.serial)


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_ctrl_c_stops_every_capture_pulls_and_writes_the_report(adb_server, virtual_device, rtmp_server,
                                                               rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=90)
    devs = [virtual_device("magisk", serialno="INT01"), virtual_device("emulator", serialno="INT02")]
    lab_file = _lab(tmp_path / "lab.toml", adb_server.port, rtmp_server.url(host=devs[0].host_address), "60s")
    out = tmp_path / "out"
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(adb_server.port))
    proc = subprocess.Popen([sys.executable, "-m", "droidcap", "lab", "run", str(lab_file), "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while sum(": capturing" in line for line in lines) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    rtmp_server.wait_playing("test", count=2, timeout=60)  # both players are in their captures
    time.sleep(2.0)  # a few seconds of stream in each
    proc.send_signal(signal.SIGINT)
    # communicate() reads stderr too, beside the reader thread: keep what it got
    stdout, rest = proc.communicate(timeout=60)
    reader.join(5)
    lines.append(rest or "")
    assert proc.returncode == 1, "".join(lines) + stdout
    assert any("interrupted: stopping every capture" in line for line in lines)
    report = json.loads((out / "lab.json").read_text())
    assert report["interrupted"] is True and report["counts"]["interrupted"] == 2
    for run in report["runs"]:
        assert Path(run["artefacts"]["pcap"]).stat().st_size > 0  # what existed was pulled
        assert run["milestones"].get("play_start") is not None  # and analysed
        assert run["seconds"] < 30
    for dev in devs:
        assert no_tcpdump_left(adb_server, dev.serial)
    assert "INTERRUPTED" in (out / "lab.md").read_text()
    xmlschema.XMLSchema(XSD).validate(out / "junit.xml")


def test_timeout_ends_the_capture_and_errors_and_retries_try_again(adb_server, virtual_device, tmp_path):
    dev = virtual_device("magisk", serialno="SLOW01")
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(f"""
[lab]
adb = ["127.0.0.1:{adb_server.port}"]

[[scenario]]
name = "app-streams"          # no play: capture while an app on the device streams
devices = ["SLOW01", "GHOST99"]
duration = "60s"
timeout = "3s"
retries = 1
""")
    result = run_lab(load_lab(lab_file), tmp_path / "out")
    runs = {r.spec.target.serial: r for r in result.results}
    slow = runs[dev.serial]
    assert slow.status is Status.ERROR and slow.error_type == "Timeout" and slow.attempts == 2
    assert "timeout (3 s) ended the capture" in (slow.reason or "")
    assert slow.artefacts["pcap"].exists() and "r1-attempt2" in str(slow.artefacts["pcap"])
    assert any("attempt 1 errored" in n for n in slow.notes) and slow.seconds < 30
    ghost = runs["GHOST99"]  # named in the file, attached nowhere: an error, not a silent skip
    assert ghost.status is Status.ERROR and "not attached to any adb server" in (ghost.reason or "")
    assert ghost.attempts == 2
    assert no_tcpdump_left(adb_server, dev.serial)


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_a_second_ctrl_c_abandons_and_droidcap_stop_recovers(adb_server, virtual_device, rtmp_server,
                                                            rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=90)
    dev = virtual_device("magisk", serialno="TWICE01")
    lab_file = _lab(tmp_path / "lab.toml", adb_server.port, rtmp_server.url(host=dev.host_address), "60s")
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(adb_server.port))
    proc = subprocess.Popen([sys.executable, "-m", "droidcap", "lab", "run", str(lab_file), "--output",
                             str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    rtmp_server.wait_playing("test", count=1, timeout=60)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "abandoned" in stderr and "droidcap stop -s SERIAL" in stderr and "Traceback" not in stderr
    assert json.loads((tmp_path / "out" / "lab.json").read_text())["schema"] == "droidcap.lab/1"
    stop = subprocess.run([sys.executable, "-m", "droidcap", "stop", "--all", "-s", dev.serial],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert stop.returncode == 0, stop.stderr
    assert no_tcpdump_left(adb_server, dev.serial)
