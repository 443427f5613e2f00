"""Cleanup by PID: nothing the lab started survives a test, even one that fails."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from droidcap.rtmplab import (LabTimeoutError, NginxRtmp, ProcessRegistry, PublisherSpec, pid_alive,
                          start_ffmpeg_publisher)
from droidcap.rtmplab.procs import run_bounded

pytestmark = pytest.mark.rtmplab


def test_registry_exit_stops_everything_when_the_body_raises(tmp_path: Path) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="test body failed"):
        with ProcessRegistry(tmp_path / "logs") as reg:
            server = NginxRtmp.start(reg, tmp_path / "nginx")
            pub = start_ffmpeg_publisher(reg, server.url(), PublisherSpec(duration=30.0))
            server.wait_publishing("test")
            pids += [server.process.pid, pub.process.pid]
            assert all(pid_alive(p) for p in pids)
            raise RuntimeError("test body failed")
    assert pids and not any(pid_alive(p) for p in pids)
    assert pub.process.exit is not None and pub.process.exit.how in ("signalled", "killed")


def test_wait_is_bounded(tmp_path: Path) -> None:
    with ProcessRegistry(tmp_path / "logs") as reg:
        proc = reg.start("sleeper", ["sleep", "30"])
        with pytest.raises(LabTimeoutError, match="still running after 0.2 s"):
            proc.wait(0.2)
    assert not pid_alive(proc.pid)


def test_fixtures_clean_up_after_a_failing_test(tmp_path: Path) -> None:
    """A real inner pytest run (the installed ``droidcap_rtmplab`` plugin) whose test body fails."""
    record = tmp_path / "pids.json"
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(
        "import json\n"
        "\n"
        "def test_fails(rtmp_server, rtmp_publisher, rtmp_player, lab_capture):\n"
        "    cap = lab_capture(rtmp_server)\n"
        "    pub = rtmp_publisher(rtmp_server, duration=30.0)\n"
        "    player = rtmp_player(rtmp_server, seconds=30.0)\n"
        "    rtmp_server.wait_playing('test')\n"
        "    pids = [rtmp_server.process.pid, pub.process.pid, player.process.pid, cap.process.pid]\n"
        f"    open({str(record)!r}, 'w').write(json.dumps(pids))\n"
        "    assert False, 'deliberate failure'\n"
    )
    result = run_bounded(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(inner), str(inner / "test_inner.py")],
        timeout=90, check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "1 failed" in out and "deliberate failure" in out
    pids = json.loads(record.read_text())
    assert len(pids) == 4
    assert [p for p in pids if pid_alive(p)] == []
