"""The README's main command: `droidcap demo` records a real play session on a virtual phone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def _processes_under(path: str) -> list[str]:
    """Live processes whose command line names ``path``: the demo's peers run with its own
    temporary directory there (nginx's prefix, the device sandbox's holder)."""
    rows = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    return [line for line in rows.splitlines()
            if path in line and not line.split()[0].startswith("Z")]


def test_demo_runs_the_whole_chain_and_stops_everything(tmp_path):
    tmp = tmp_path / "tmp"  # the demo's temporary directory goes here: its processes name it
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    res = subprocess.run([sys.executable, "-m", "droidcap", "demo", "--duration", "4"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode == 0, res.stderr
    for line in ("tcpdump 4.99.3 at /data/local/tmp/droidcap/tcpdump-x86_64",
                 "NetStream.Play.Start", "first video keyframe"):
        assert line in res.stderr, res.stderr
    assert "| player | app 'live' | stream 'test'" in res.stdout  # the session ladder
    assert "onStatus #0 NetStream.Play.Start" in res.stdout
    meta = json.loads((tmp_path / "droidcap-demo.json").read_text())
    assert meta["device"]["model"] == "Pixel 7" and meta["root_method"] == "su-c"
    assert (tmp_path / "droidcap-demo.pcap").stat().st_size == meta["file"]["size"]
    assert not _processes_under(str(tmp))  # nginx, the device and everything in it are gone
    assert not list(tmp.glob("droidcap-demo-*"))  # and its temporary directory is removed
