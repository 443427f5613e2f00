"""The issue's proof: four virtual devices (x86_64 Magisk, x86 AOSP su, x86_64 adb root, an
unrooted arm64 stock phone) over two adb servers in their own network namespaces, playing from
nginx-rtmp and node-media-server.  Three pass with their timings, the unrooted one fails
clearly, the runs overlap, the JUnit XML validates against the Ant/Jenkins schema and the HTML
page draws its plot in headless Chromium."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from droidcap.labrun import Status, load_lab, run_lab
from droidcap.rtmplab.nginx import NginxRtmp
from droidcap.rtmplab.node_media_server import NodeMediaServer
from droidcap.rtmplab.procs import ProcessRegistry
from droidcap.virtual.profile import load_profile
from tests.test_summary_html import chromium

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]

XSD = Path(__file__).resolve().parents[1] / "data" / "junit" / "junit-ci.xsd"
DOCS = Path(__file__).resolve().parents[2] / "docs"

EXPECT = """
[scenario.expect]
play_status = "NetStream.Play.Start"
max_time_to_first_keyframe = "3s"
no_gaps = true
min_video_kbps = 100
max_keyframe_interval = "4s"
max_stall = "1500ms"
"""


def lab_text(hosts: list[str], nginx_url: str, nms_url: str) -> str:
    return f"""
[lab]
name = "proof"
adb = {json.dumps(hosts)}
parallel = 4

[tags]
nginx = ["LABMAGISK", "LABADBROOT"]
nms = ["LABX86", "LABSTOCK"]

[[scenario]]
name = "nginx-live"
devices = {{ tag = "nginx" }}
play = "{nginx_url}"
duration = "4s"
{EXPECT}
[[scenario]]
name = "nms-live"
devices = {{ tag = "nms" }}
play = "{nms_url}"
duration = "4s"
{EXPECT}"""


def profiles() -> dict[str, object]:
    wifi = {"adb_transport": "tcp"}
    return {
        "A": [replace(load_profile("magisk"), serialno="LABMAGISK", **wifi),
              replace(load_profile("emulator"), name="lab-x86", serialno="LABX86", abis=("x86",),
                      model="sdk_gphone_x86", **wifi)],
        "B": [replace(load_profile("adb-root"), serialno="LABADBROOT", **wifi),
              replace(load_profile("stock"), serialno="LABSTOCK", abis=("arm64-v8a",), **wifi)],
    }


def test_lab_on_two_hosts_three_pass_one_fails(lab_hosts, virtual_device, lab_registry: ProcessRegistry,
                                               rtmp_publisher, tmp_path: Path) -> None:
    host_a, host_b = lab_hosts(), lab_hosts()
    nginx = NginxRtmp.start(lab_registry, tmp_path / "nginx", host="0.0.0.0")
    nms = NodeMediaServer.start(lab_registry, tmp_path / "nms", host="0.0.0.0")
    rtmp_publisher(nginx, duration=60)
    rtmp_publisher(nms, duration=60)
    for host, profs in ((host_a, profiles()["A"]), (host_b, profiles()["B"])):
        for prof in profs:
            host.attach(virtual_device(prof, connect=False))
    # the devices reach the servers at a root-namespace address, as phones reach a LAN server
    server_ip = host_a.gateway
    lab_file = tmp_path / "proof.toml"
    lab_file.write_text(lab_text([str(host_a.server), str(host_b.server)],
                                 nginx.url(host=server_ip), nms.url(host=server_ip)))
    out = tmp_path / "out"
    result = run_lab(load_lab(lab_file), out)

    by_serialno = {r.spec.target.serialno: r for r in result.results}
    assert set(by_serialno) == {"LABMAGISK", "LABX86", "LABADBROOT", "LABSTOCK"}
    for serialno in ("LABMAGISK", "LABX86", "LABADBROOT"):
        run = by_serialno[serialno]
        assert run.status is Status.PASSED, (serialno, run.reason, run.notes)
        names = {m.name for m in run.milestones}
        assert {"handshake_done", "connect_result", "play_start", "first_video_keyframe"} <= names
        for kind in ("pcap", "metadata", "ndjson", "summary", "logcat"):
            assert run.artefacts[kind].exists(), kind
        logcat = run.artefacts["logcat"].read_text()  # the run's window: the player started and stopped
        assert "ActivityManager: Start proc" in logcat and "Force stopping org.videolan.vlc" in logcat
    stock = by_serialno["LABSTOCK"]
    assert stock.status is Status.FAILED and stock.error_type == "NotRootedError"
    assert "cannot capture" in (stock.reason or "") and "root" in (stock.reason or "")
    # two hosts: each device is listed by the server of its namespace
    assert {str(by_serialno[s].spec.target.server) for s in ("LABMAGISK", "LABX86")} == {str(host_a.server)}
    assert {str(by_serialno[s].spec.target.server) for s in ("LABADBROOT", "LABSTOCK")} == {str(host_b.server)}
    assert {by_serialno[s].spec.target.abis[0] for s in by_serialno} == {"x86_64", "x86", "arm64-v8a"}
    # the runs overlapped: wall time well under the sum of the runs
    captures = [by_serialno[s] for s in ("LABMAGISK", "LABX86", "LABADBROOT")]
    wall = (result.ended or 0) - result.started
    assert wall < 0.7 * sum(r.seconds for r in captures), (wall, [r.seconds for r in captures])
    starts, ends = [r.started or 0 for r in captures], [r.ended or 0 for r in captures]
    assert max(starts) < min(ends)  # all three captured at the same time at some point
    assert result.exit_code == 1

    report = json.loads((out / "lab.json").read_text())
    assert report["counts"]["passed"] == 3 and report["counts"]["failed"] == 1
    md = (out / "lab.md").read_text()
    assert md.count("| PASS |") == 3 and md.count("| FAIL |") == 1 and "cannot capture" in md

    junit = out / "junit.xml"
    xmlschema.XMLSchema(XSD).validate(junit)
    text = junit.read_text()
    # the unrooted phone: its capture testcase fails, its six expectations are not evaluated
    assert text.count("<failure") == 1 and text.count("<skipped") == 6 and "<error" not in text
    classnames = set(re.findall(r'classname="([^"]+)"', text))
    assert len(classnames) == 4 and all("10_88_" in c for c in classnames)
    assert 'name="figure.time_to_first_keyframe_ms"' in text and "pcap: " in text

    page = out / "lab.html"
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert 'class="main-svg"' in dom.stdout and "barlayer" in dom.stdout
    assert dom.stdout.count('class="trace bars"') == 3
    shot = tmp_path / "lab.png"
    run = chromium("--window-size=1280,900", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.stat().st_size > 30_000, run.stderr  # docs/lab-html.png
