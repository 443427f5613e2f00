"""``droidcap record --inspect`` in a real terminal: the TUI follows the capture while it is
recorded, and quitting it stops the record, which then pulls and verifies as always."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.device.conftest import no_tcpdump_left
from tests.tui.test_terminal import Terminal, term  # noqa: F401 - the fixture

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]
DROIDCAP = Path(sys.executable).parent / "droidcap"


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_record_inspect_follows_the_capture_and_q_stops_and_pulls_it(
        term: Terminal, device_for, adb_server, rtmp_server, rtmp_publisher, tmp_path):  # noqa: F811
    rtmp_publisher(rtmp_server, duration=60)
    vdev, _ = device_for("magisk")
    out = tmp_path / "tui.pcap"
    env = (f"ANDROID_ADB_SERVER_PORT={adb_server.port} XDG_CACHE_HOME={shlex.quote(str(tmp_path / 'c'))}"
           " ADB_MDNS=0 ADB_USB=0")
    term.start(f"{DROIDCAP} record -s {vdev.serial} --play {rtmp_server.url(host=vdev.host_address)} "
               f"--inspect -o {shlex.quote(str(out))}", env=env)
    term.wait_for(r"recording on", timeout=60)
    term.wait_for(r"player +live/test +Play\.Start", timeout=60)  # rows arrive while it records
    term.keys("q")
    screen = term.wait_for(r"EXIT=\d+", timeout=90)
    assert "EXIT=0" in screen, screen
    assert re.search(r"^icanon echo\s*$", screen, re.MULTILINE), screen
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["stop"]["reason"] == "inspect closed"
    assert meta["file"]["local_sha256"] and out.stat().st_size == meta["file"]["size"] - meta["file"]["trimmed_bytes"]
    assert no_tcpdump_left(adb_server, vdev.serial)
