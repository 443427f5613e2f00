"""A lab scenario in which the phone publishes: a broadcasting app is handed the URL, droidcap
captures what it sends, and the expectations are checked on the publisher's connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.labrun import load_lab, run_lab
from droidcap.labrun.results import Status
from tests.device.conftest import no_tcpdump_left

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
def test_a_publish_scenario_passes_on_the_publishers_figures(adb_server, virtual_device, rtmp_server,
                                                           tmp_path: Path):
    dev = virtual_device("magisk", serialno="PUB01")
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(f"""
[lab]
name = "publish"
adb = ["127.0.0.1:{adb_server.port}"]

[[scenario]]
name = "go-live"
devices = "all"
publish = "{rtmp_server.url(stream='phone', host=dev.host_address)}"
publisher = "com.example.rtmppublisher/.BroadcastActivity"
duration = "5s"

[scenario.expect]
publish_status = "NetStream.Publish.Start"
max_keyframe_interval = "2s"
""")
    result = run_lab(load_lab(lab_file), tmp_path / "out")
    [run] = result.results
    assert run.status is Status.PASSED, run.reason
    assert result.exit_code == 0
    assert run.figures["publish_status"] == "NetStream.Publish.Start"
    assert no_tcpdump_left(adb_server, dev.serial)
