"""The README's main command: `droidcap demo` records a real play session on a virtual phone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def _demo_processes() -> list[str]:
    """Live processes that belong to a demo: its peers run with the demo's own temporary
    directory (droidcap-demo-*) in their command line (nginx's prefix, the device sandbox)."""
    rows = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    return [line for line in rows.splitlines()
            if "droidcap-demo-" in line and not line.split()[0].startswith("Z")]


def test_demo_runs_the_whole_chain_and_stops_everything(tmp_path):
    assert not _demo_processes()
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
    assert not _demo_processes()  # nginx, ffmpeg, the device and its tcpdump are all gone
