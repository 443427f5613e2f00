"""The pytest fixtures for teams: a device test written in pytest runs once per lab device
(``lab_device``) and runs a lab (``lab_run``) — in a real pytest process against a virtual
device, nginx-rtmp and the real adb server."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]

INNER = '''
def test_the_stream_starts_on_every_device(lab_device, lab_run):
    assert lab_device.info.model
    result = lab_run("""
[[scenario]]
name = "smoke"
devices = ["{serial}"]
play = "{url}"
duration = "3s"
[scenario.expect]
play_status = "NetStream.Play.Start"
max_time_to_first_keyframe = "3s"
""".replace("{serial}", lab_device.serial))
    assert result.ok, [r.reason for r in result.results]
    assert result.results[0].spec.target.serial == lab_device.serial
'''


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_lab_device_and_lab_run_in_a_teams_own_tests(adb_server, virtual_device, rtmp_server,
                                                     rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=60)
    devs = [virtual_device("magisk", serialno="TEAM01"), virtual_device("emulator", serialno="TEAM02")]
    url = rtmp_server.url(host=devs[0].host_address)
    (tmp_path / "test_team.py").write_text(INNER.replace("{url}", url))
    keep = tmp_path / "kept"
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_team.py"),
                          "--rootdir", str(tmp_path), "--lab-adb", f"127.0.0.1:{adb_server.port}",
                          "--lab-output", str(keep), "--junitxml", str(tmp_path / "team.xml")],
                         capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "2 passed" in res.stdout
    for dev in devs:  # one test per device, each with its own lab reports kept
        assert f"test_the_stream_starts_on_every_device[{dev.serial}]" in (tmp_path / "team.xml").read_text()
    assert len(list(keep.glob("*/lab-1/junit.xml"))) == 2
