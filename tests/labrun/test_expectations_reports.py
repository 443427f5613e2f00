"""Expectations read the summary's own figures (committed real captures), and the reports of a
lab result — pass, unmet expectation, device error, not run — keep to the JUnit schema."""

from __future__ import annotations

import json
import time
from pathlib import Path

import xmlschema

from droidcap.device.adb import ServerAddress
from droidcap.labrun import Lab, RunResult, RunSpec, Status, Target, load_lab
from droidcap.labrun.expectations import evaluate, parse_expectation
from droidcap.labrun.reports import ReportWriter
from droidcap.labrun.results import Milestone
from droidcap.summarise import summarise
from tests.conftest import DATA

XSD = DATA / "junit" / "junit-ci.xsd"
PAUSE = DATA / "summary" / "nginx_publisher_pause3s.pcap"
NOT_FOUND = DATA / "summary" / "nginx_play_not_found.pcap"


def _exp(name, value):
    exp = parse_expectation(name, value)
    assert not isinstance(exp, str), exp
    return exp


def test_expectations_are_the_summary_figures():
    player = next(c for c in summarise(PAUSE).connections if c.role == "player")
    f = player.figures
    stall = evaluate(_exp("max_stall", "500ms"), f)
    assert not stall.held and stall.actual == f.max_stall_ms > 3000
    assert stall.message.startswith("FAILED: expected max_stall_ms <= 500ms, measured 3011")
    assert evaluate(_exp("max_stall", "4s"), f).held
    assert evaluate(_exp("play_status", "NetStream.Play.Start"), f).held
    assert evaluate(_exp("max_time_to_first_keyframe", "3s"), f).actual == f.time_to_first_keyframe_ms
    assert evaluate(_exp("no_gaps", True), f).held and f.tcp_gaps == 0
    # the publisher paused for 3 s: its lowest full second carried no video at all
    low = evaluate(_exp("min_video_kbps", 100), f)
    assert not low.held and low.actual == 0.0


def test_a_missing_stream_fails_with_the_servers_code_and_absent_figures():
    f = summarise(NOT_FOUND).connections[0].figures
    status = evaluate(_exp("play_status", "NetStream.Play.Start"), f)
    assert not status.held and status.actual == "NetStream.Play.StreamNotFound"
    key = evaluate(_exp("max_time_to_first_keyframe", "3s"), f)
    assert not key.held and key.message == ("time_to_first_keyframe_ms is not in the capture "
                                            "(expected time_to_first_keyframe_ms <= 3s)")


def test_reports_of_every_outcome_keep_to_the_junit_schema(tmp_path: Path):
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text('[[scenario]]\nname = "live"\nplay = "rtmp://10.0.0.1/live/x"\nduration = "3s"\n'
                        '[scenario.expect]\nplay_status = "NetStream.Play.Start"\nmax_stall = "500ms"\n')
    lab: Lab = load_lab(lab_file)
    scenario = lab.scenarios[0]
    server = ServerAddress(host="10.88.1.2", port=5037)
    targets = [Target(server=server, serial=f"S{i}", model="Pixel 7", abis=("arm64-v8a",)) for i in range(4)]
    specs = [RunSpec(scenario=scenario, target=t, repetition=1) for t in targets]
    player = next(c for c in summarise(PAUSE).connections if c.role == "player")
    verdicts = tuple(evaluate(e, player.figures) for e in scenario.expect)
    now = time.time()
    writer = ReportWriter(tmp_path / "out", lab.name, lab.path, specs)
    xmlschema.XMLSchema(XSD).validate(writer.paths["junit"])  # written at once: all pending
    writer.add(RunResult(spec=specs[0], status=Status.FAILED, started=now, ended=now + 4,
                         figures=player.figures.to_json(), verdicts=verdicts,
                         milestones=(Milestone(name="play_start", after_ms=120.0),),
                         reason=verdicts[1].message, artefacts={"pcap": PAUSE}))
    writer.add(RunResult(spec=specs[1], status=Status.ERROR, started=now, ended=now + 1,
                         reason="while capturing: device S1 not found", error_type="NoDeviceError"))
    writer.add(RunResult(spec=specs[2], status=Status.INTERRUPTED, reason="not started: the lab was interrupted"))
    xml = writer.paths["junit"].read_text()
    xmlschema.XMLSchema(XSD).validate(writer.paths["junit"])
    assert xml.count("<failure") == 1 and xml.count("<error") == 1
    assert 'type="NoDeviceError"' in xml and "max_stall_ms &lt;= 500ms" in xml
    assert xml.count('classname="lab.10_88_1_2_5037.S0"') == 3  # capture + 2 expectations
    report = json.loads(writer.paths["json"].read_text())
    assert [r["status"] for r in report["runs"]] == ["failed", "error", "interrupted", "pending"]
    assert report["runs"][0]["expectations"][1]["held"] is False
    html = writer.paths["html"].read_text()
    assert "plotly.js v" in html and "Plotly.newPlot" in html  # inlined: the page works offline
    assert 'src="http' not in html
