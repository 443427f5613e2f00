"""The README's main command: `droidcap demo` records a real play session on a virtual phone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def _running() -> list[str]:
    """Commands of live processes (a zombie waiting for init to reap it is not running)."""
    rows = subprocess.run(["ps", "-eo", "stat=,comm="], capture_output=True, text=True).stdout
    return [line.split(None, 1)[1] for line in rows.splitlines()
            if line.split() and not line.split()[0].startswith("Z")]


def test_demo_runs_the_whole_chain_and_stops_everything(tmp_path):
    before = _running()
    res = subprocess.run([sys.executable, "-m", "droidcap", "demo", "--duration", "4"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    for line in ("tcpdump 4.99.3 at /data/local/tmp/droidcap/tcpdump-x86_64",
                 "NetStream.Play.Start", "first video keyframe"):
        assert line in res.stderr, res.stderr
    assert "| player | app 'live' | stream 'test'" in res.stdout  # the session ladder
    assert "onStatus #0 NetStream.Play.Start" in res.stdout
    meta = json.loads((tmp_path / "droidcap-demo.json").read_text())
    assert meta["device"]["model"] == "Pixel 7" and meta["root_method"] == "su-c"
    assert (tmp_path / "droidcap-demo.pcap").stat().st_size == meta["file"]["size"]
    after = _running()
    for name in ("nginx", "ffmpeg", "tcpdump-x86_64"):
        assert after.count(name) <= before.count(name), name  # nothing it started is left
