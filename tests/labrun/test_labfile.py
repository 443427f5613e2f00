"""The lab file: every error names the file, the line and the key and says what is allowed;
unknown keys are errors; the CLI says each in one line and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.labrun import LabFileError, check_lab, load_lab
from droidcap.labrun.locator import KeyLocator
from tests.conftest import run_cli

DOCS_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "lab-example.toml"

GOOD = """\
[lab]
name = "shelf"
adb = ["127.0.0.1:5037", "lab-host-2:5037"]
parallel = 2

[tags]
flagships = ["R58M123ABC", "emulator-5554"]

[[scenario]]
name = "live"
devices = { tag = "flagships" }
play = "rtmp://192.168.1.10/live/test"
duration = "10s"
retries = 1

[scenario.expect]
play_status = "NetStream.Play.Start"
max_time_to_first_keyframe = "3s"
no_gaps = true
min_video_kbps = 500
max_keyframe_interval = "4s"
max_stall = "500ms"

[[scenario]]
name = "arm-only"
devices = { abi = "arm64-v8a", release = "14" }
duration = "2m"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def test_a_good_lab_file_reads_whole(tmp_path):
    lab = load_lab(_write(tmp_path, GOOD))
    assert lab.name == "shelf" and lab.parallel == 2
    assert [str(a) for a in lab.adb] == ["127.0.0.1:5037", "lab-host-2:5037"]
    live, arm = lab.scenarios
    assert live.devices.tag == "flagships" and live.duration_s == 10 and live.retries == 1
    assert {e.name: e.limit for e in live.expect} == {
        "play_status": "NetStream.Play.Start", "max_time_to_first_keyframe": 3000.0, "no_gaps": True,
        "min_video_kbps": 500.0, "max_keyframe_interval": 4000.0, "max_stall": 500.0}
    assert arm.play is None and arm.duration_s == 120 and arm.devices.abi == "arm64-v8a"
    assert arm.timeout_s == 120 + 90  # default: the duration plus time to start and pull


def test_the_documented_example_is_valid():
    lab, errors = check_lab(DOCS_EXAMPLE)
    assert errors == [] and lab is not None and len(lab.scenarios) >= 2


@pytest.mark.parametrize(("change", "line", "key", "says"), [
    (("max_stall = \"500ms\"", "max_stal = \"500ms\""), 22, "scenario[0].expect.max_stal",
     "unknown expectation; allowed: play_status"),
    (("retries = 1", "retry = 1"), 14, "scenario[0].retry", "unknown key; allowed here: name, devices"),
    (("max_stall = \"500ms\"", "max_stall = 500"), 22, "scenario[0].expect.max_stall",
     'must be a duration such as "500ms", "3s" or "2m", not 500'),
    (("min_video_kbps = 500", "min_video_kbps = \"fast\""), 20, "scenario[0].expect.min_video_kbps",
     "must be a number of kbit/s"),
    (("no_gaps = true", "no_gaps = false"), 19, "scenario[0].expect.no_gaps", "must be true"),
    (('tag = "flagships"', 'tag = "phones"'), 11, "scenario[0].devices.tag",
     "no tag 'phones' in [tags] (defined: flagships)"),
    (('play = "rtmp://192.168.1.10/live/test"', 'play = "http://192.168.1.10/x"'), 12,
     "scenario[0].play", "must be an rtmp:// URL"),
    (('duration = "2m"', 'duration = "soon"'), 27, "scenario[1].duration", "must be a duration"),
    (("parallel = 2", "parallel = 0"), 4, "lab.parallel", "a whole number >= 1"),
    (('"lab-host-2:5037"', '"lab-host-2:99999"'), 3, "lab.adb", "is not HOST:PORT"),
    (('name = "arm-only"', 'name = "live"'), 25, "scenario[1].name", "names must be unique"),
    (('devices = { abi = "arm64-v8a", release = "14" }', 'devices = { cpu = "arm" }'), 26,
     "scenario[1].devices.cpu", "unknown key; allowed here: model, abi, release, sdk, tag"),
    (("[tags]", "[tag]"), 6, "tag", "unknown key; allowed here: lab, tags, scenario"),
    (('duration = "10s"', 'publish = "rtmp://x/live/a"\nduration = "10s"'), 13, "scenario[0].publish",
     "play and publish exclude each other"),
    (('duration = "10s"', 'publisher = "not a component"\nduration = "10s"'), 13, "scenario[0].publisher",
     "must be the component"),
])
def test_errors_name_file_line_key_and_what_is_allowed(tmp_path, change, line, key, says):
    old, new = change
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    lab, errors = check_lab(path)
    assert lab is None and errors
    err = errors[0]
    assert (err.line, err.key) == (line, key), str(err)
    assert says in err.problem, str(err)
    assert str(err).startswith(f"{path}:{line}: {key}: ")


def test_every_error_is_reported_at_once(tmp_path):
    text = GOOD.replace("retries = 1", "retry = 1").replace('max_stall = "500ms"', "max_stal = 1")
    _, errors = check_lab(_write(tmp_path, text))
    assert [e.key for e in errors] == ["scenario[0].retry", "scenario[0].expect.max_stal"]


def test_not_toml_and_missing_scenarios(tmp_path):
    _, errors = check_lab(_write(tmp_path, "[lab\nname = 1\n"))
    assert errors[0].line == 1 and "not valid TOML" in errors[0].problem
    _, errors = check_lab(_write(tmp_path, "[lab]\nname = \"x\"\n"))
    assert "at least one [[scenario]]" in errors[0].problem
    with pytest.raises(LabFileError, match="cannot read the lab file"):
        load_lab(tmp_path / "missing.toml")


def test_locator_follows_arrays_of_tables_and_skips_multiline_values():
    text = 'a = """\nnot = "a key"\n"""\n[[s]]\nx = [\n  1,\n]\n[s.t]\ny = 1\n[[s]]\n"q k" = 2\n'
    loc = KeyLocator.scan(text)
    assert loc.line(("a",)) == 1 and ("not",) not in loc.lines
    assert loc.line(("s", 0, "x")) == 5 and loc.line(("s", 0, "t", "y")) == 9
    assert loc.line(("s", 1, "q k")) == 11 and loc.line(("s", 1, "nope")) == 10


def test_cli_validate_prints_each_error_in_one_line_and_exits_2(tmp_path):
    path = _write(tmp_path, GOOD.replace("retries = 1", "retry = 1").replace("no_gaps = true", "no_gaps = 1"))
    res = run_cli("lab", "validate", str(path))
    assert res.returncode == 2 and res.stdout == b""
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"droidcap: {path}:") for line in lines)
    assert b"Traceback" not in res.stderr
    ok = run_cli("lab", "validate", str(_write(tmp_path, GOOD)))
    assert ok.returncode == 0 and b"lab shelf, 2 scenarios" in ok.stdout


def test_cli_run_with_a_bad_lab_file_or_no_devices_exits_2(tmp_path, adb_server):
    res = run_cli("lab", "run", str(_write(tmp_path, GOOD.replace("[tags]", "[tag]"))))
    assert res.returncode == 2 and res.stderr.count(b"\n") == 1 and b"tag: unknown key" in res.stderr
    lab = _write(tmp_path, GOOD.replace('adb = ["127.0.0.1:5037", "lab-host-2:5037"]',
                                        f'adb = ["127.0.0.1:{adb_server.port}"]'))
    res = run_cli("lab", "run", str(lab), "--output", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(b"droidcap: ") and b"no device matches" in res.stderr
    assert res.stderr.count(b"\n") == 1
