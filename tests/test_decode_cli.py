"""`droidcap decode` as a user runs it: real process, real captures, every output format, bad input."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.capture.capwriter import Pkt, ethernet, ipv4, pcap, tcp
from tests.conftest import DATA, run_cli

SAMPLE = DATA / "wireshark_rtmp_sample.cap"


def ndjson(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def test_table_tells_the_play_session():
    result = run_cli("decode", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "conn 0: client" in out and "player" in out
    for step in ("C0 version 3", "S0 version 3", "connect #1", "app=", "NetConnection.Connect.Success",
                 "createStream #2", "play", "NetStream.Play.Failed", "Set Peer Bandwidth", "Window Ack Size"):
        assert step in out, step
    assert "milestones:" in out and "connect_result +" in out and "play +" in out


def test_ndjson_schema_on_every_line():
    result = run_cli("decode", str(SAMPLE), "--format", "ndjson")
    assert result.returncode == 0, result.stderr
    items = ndjson(result.stdout)
    assert items, "no output"
    frames = [i["frame"] for i in items]
    assert frames == sorted(frames)
    for item in items:
        for key in ("conn", "client", "server", "dir", "frame", "time", "kind"):
            assert key in item, (key, item)
        assert item["dir"] in ("c2s", "s2c")
        if item["kind"] == "message":
            for key in ("csid", "fmt", "timestamp", "type_id", "type", "stream_id", "length"):
                assert key in item, (key, item)
    parts = [i["part"] for i in items if i["kind"] == "handshake"]
    assert sorted(parts) == ["C0", "C1", "C2", "S0", "S1", "S2"]
    commands = [i["command"] for i in items if i.get("type") == "command_amf0"]
    assert commands[:4] == ["connect", "_result", "createStream", "_result"]
    assert "play" in commands and "onStatus" in commands
    connect = next(i for i in items if i.get("command") == "connect")
    assert connect["dir"] == "c2s" and connect["transaction_id"] == 1
    assert isinstance(connect["args"][0], dict) and "app" in connect["args"][0]
    # the Wireshark sample carries a user control event of type 8, which must be kept, not dropped
    assert any(i.get("type") == "user_control" and i.get("event_type") == 8 for i in items)


def test_json_document_has_session_summary():
    result = run_cli("decode", str(SAMPLE), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["events"]) == len(ndjson(run_cli("decode", str(SAMPLE), "--format", "ndjson").stdout))
    (conn,) = doc["connections"]
    assert conn["role"] == "player"
    assert conn["connect"]["app"]
    by_command = {t["command"]: t for t in conn["transactions"]}
    assert by_command["connect"]["result"] == "_result"
    assert by_command["createStream"]["result"] == "_result"
    assert by_command["connect"]["latency_ms"] >= 0
    # this server refused the stream: the summary must say so, not invent a Play.Start
    assert [s["code"] for s in conn["statuses"]] == ["NetStream.Play.Failed"]
    assert conn["handshake"]["c2_echo"] == conn["handshake"]["s2_echo"] == "exact"
    milestones = conn["milestones"]
    assert "play_start" not in milestones
    order = [m for m in ("handshake_done", "connect", "connect_result", "create_stream_result", "play")
             if m in milestones]
    assert order == ["handshake_done", "connect", "connect_result", "create_stream_result", "play"]
    assert [milestones[m]["time"] for m in order] == sorted(milestones[m]["time"] for m in order)


def test_type_and_conn_filters():
    items = ndjson(run_cli("decode", str(SAMPLE), "-f", "ndjson", "--type", "command", "--type", "handshake").stdout)
    assert {i["kind"] for i in items} == {"handshake", "message"}
    assert {i["type"] for i in items if i["kind"] == "message"} == {"command_amf0"}
    assert ndjson(run_cli("decode", str(SAMPLE), "-f", "ndjson", "--conn", "0").stdout)


def test_stdin_gives_the_same_events():
    from_file = run_cli("decode", str(SAMPLE), "-f", "ndjson").stdout
    from_pipe = run_cli("decode", "-", "-f", "ndjson", input=SAMPLE.read_bytes()).stdout
    assert from_pipe == from_file


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["decode", "/nonexistent/capture.pcap"], "no such file"),
        (["decode", str(SAMPLE), "--type", "videos"], "unknown --type"),
        (["decode", str(SAMPLE), "--conn", "7"], "no connection 7"),
        (["decode", str(DATA)], "is a directory"),
    ],
)
def test_user_errors_are_one_line(args, needle):
    result = run_cli(*args)
    assert result.returncode != 0
    err = result.stderr.decode().strip()
    assert needle in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_not_a_capture(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a pcap\n" * 10)
    result = run_cli("decode", str(path))
    err = result.stderr.decode().strip()
    assert result.returncode != 0 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "pcap" in err.lower()


def test_unknown_link_type(tmp_path):
    path = tmp_path / "user0.pcap"
    path.write_bytes(pcap([Pkt(1.0, b"\x00" * 60)], linktype=147))
    result = run_cli("decode", str(path))
    err = result.stderr.decode().strip()
    assert result.returncode != 0 and len(err.splitlines()) == 1 and "147" in err


def test_capture_without_rtmp(tmp_path):
    path = tmp_path / "http.pcap"
    request = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
    frame = ethernet(ipv4("127.0.0.1", "127.0.0.1", tcp(40000, 80, seq=1, payload=request)))
    path.write_bytes(pcap([Pkt(1.0, frame)]))
    result = run_cli("decode", str(path))
    err = result.stderr.decode().strip()
    assert result.returncode == 1 and "no RTMP" in err and len(err.splitlines()) == 1


def test_truncated_capture_warns_and_decodes_what_it_can(tmp_path):
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 100])  # the last record loses its tail
    result = run_cli("decode", str(cut), "-f", "ndjson")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr.decode()
    whole = ndjson(run_cli("decode", str(SAMPLE), "-f", "ndjson").stdout)
    partial = ndjson(result.stdout)
    assert 0 < len(partial) <= len(whole)
    assert partial[: len(partial) - 1] == whole[: len(partial) - 1]


def test_follow_a_growing_capture(tmp_path):
    data = SAMPLE.read_bytes()
    path = tmp_path / "live.pcap"
    path.write_bytes(data[:24])  # header only: the capture has just started
    droidcap = Path(sys.executable).parent / "droidcap"
    proc = subprocess.Popen([str(droidcap), "decode", str(path), "--follow", "-f", "ndjson"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with path.open("ab") as f:
            for start in range(24, len(data), 700):  # records arrive in pieces, as tcpdump -U writes
                f.write(data[start: start + 700])
                f.flush()
                time.sleep(0.02)
        first = json.loads(proc.stdout.readline())
        assert first["kind"] == "handshake" and first["part"] == "C0"
        deadline = time.monotonic() + 20
        lines = [first]
        while time.monotonic() < deadline and not any(i.get("command") == "onStatus" for i in lines):
            lines.append(json.loads(proc.stdout.readline()))
        assert any(i.get("command") == "onStatus" for i in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert "Traceback" not in proc.stderr.read().decode()


def test_demo_offline_decodes_the_embedded_capture():
    # (the full demo, recording on a virtual device, is tests/device/test_demo.py)
    result = run_cli("demo", "--offline")
    assert result.returncode == 0, result.stderr
    assert "conn 0: client" in result.stdout.decode()


# -- usage errors: one line, exit 2, before any decoding -------------------------------------


@pytest.mark.parametrize(
    ("args", "needle", "command"),
    [
        (["decode", str(SAMPLE), "--conn", "x"], "Invalid value for '--conn'", "droidcap decode"),
        (["decode", str(SAMPLE), "--bogus"], "No such option: --bogus", "droidcap decode"),
        (["decode", str(SAMPLE), "--format"], "'--format' requires an argument", "droidcap decode"),
        (["decode", str(SAMPLE), "--format", "xml"], "'xml' is not one of 'table', 'json', 'ndjson'",
         "droidcap decode"),
        (["decode", str(SAMPLE), "--engine", "wireshark"], "'wireshark' is not one of 'native', 'tshark'",
         "droidcap decode"),
        (["decode"], "Missing argument 'capture'", "droidcap decode"),
        (["nosuchcommand"], "No such command 'nosuchcommand'", "droidcap"),
        (["decode", str(SAMPLE), "--conn", "-1"], "-1 is not a connection index", "droidcap decode"),
        (["decode", str(SAMPLE), "--max-message-size", "0"], "control and command messages must fit", "droidcap decode"),
        (["decode", str(SAMPLE), "--max-message-size", "-5"], "at least 1024", "droidcap decode"),
        (["decode", str(SAMPLE), "--max-message-size", "1023"], "at least 1024", "droidcap decode"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, needle, command):
    result = run_cli(*args)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("droidcap: error: "), err
    assert needle in err and f"see '{command} --help'" in err
    assert "Traceback" not in err and "Usage:" not in err
    assert result.stdout == b""


def test_smallest_message_size_limit_still_decodes():
    result = run_cli("decode", str(SAMPLE), "--max-message-size", "1024", "--conn", "0")
    assert result.returncode == 0, result.stderr
    assert "connect #1" in result.stdout.decode()


def test_help_still_prints_help():
    result = run_cli("decode", "--help")
    assert result.returncode == 0 and result.stderr == b""
    assert "Usage:" in result.stdout.decode() and "--max-message-size" in result.stdout.decode()


def test_help_shows_the_choices():
    droidcap = Path(sys.executable).parent / "droidcap"
    wide = {**os.environ, "COLUMNS": "200"}  # one line per option, as a wide terminal shows it
    out = subprocess.run([str(droidcap), "decode", "--help"], capture_output=True, env=wide).stdout.decode()
    assert "table|json|ndjson" in out and "native|tshark" in out


def test_version():
    from droidcap import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.decode() == f"droidcap {__version__}\n"


def test_shell_completion_is_available():
    result = run_cli("--show-completion", "bash")
    assert result.returncode == 0, result.stderr
    assert "_DROIDCAP_COMPLETE" in result.stdout.decode()
    assert "--install-completion" in run_cli("--help").stdout.decode()


def test_no_arguments_shows_the_commands():
    result = run_cli()
    assert result.returncode == 2
    out = result.stdout.decode()
    assert "Usage:" in out and "decode" in out
    assert "Traceback" not in result.stderr.decode()


def test_follow_help_says_when_each_format_prints():
    import typer

    from droidcap.cli import app, decode_cmd  # noqa: F401  (importing registers the command)

    decode = typer.main.get_command(app).commands["decode"]
    (follow,) = [p for p in decode.params if p.name == "follow"]
    assert "Ctrl-C" in follow.help and "ladder when following stops" in follow.help
    assert "ndjson prints each item" in follow.help


def test_ctrl_c_exits_130_quietly():
    droidcap = Path(sys.executable).parent / "droidcap"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # so its first line shows it is running
    proc = subprocess.Popen([str(droidcap), "decode", "-", "-f", "ndjson"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(SAMPLE.read_bytes())  # and the pipe stays open: it waits for more
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["kind"] == "handshake"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.stderr.read() == b""


def test_follow_ndjson_streams_through_a_pipe(tmp_path):
    path = tmp_path / "live.pcap"
    path.write_bytes(SAMPLE.read_bytes())
    droidcap = Path(sys.executable).parent / "droidcap"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell has it
    proc = subprocess.Popen([str(droidcap), "decode", str(path), "--follow", "-f", "ndjson"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no item reached the pipe while following"
        assert json.loads(proc.stdout.readline())["kind"] == "handshake"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert "Traceback" not in proc.stderr.read().decode()


# -- control messages whose values are invalid ------------------------------------------------


def _capture_with_bad_control_messages() -> bytes:
    """A connect answered after control messages that are all invalid or the wrong size."""
    from tests.capture.capwriter import Conversation
    from tests.rtmp.rtmpgen import ChunkWriter, command, plain_block, u32

    conv = Conversation()
    c1, s1 = plain_block(1), plain_block(2, seed=4)
    client, server = ChunkWriter(), ChunkWriter()
    controls = [(5, u32(2_500_000)[:3]), (6, u32(2_500_000)), (1, u32(0)), (1, u32(0x8000_0000)),
                (1, b"\x00\x10"), (3, b"\x00\x01")]
    segments = [
        *conv.handshake(),
        conv.segment(True, b"\x03" + c1),
        conv.segment(False, b"\x03" + s1 + c1),
        conv.segment(True, s1 + client.message(3, 20, 0, 0, command("connect", 1, {"app": "live"}))),
        conv.segment(False, b"".join(server.message(2, t, 0, 0, body) for t, body in controls)
                     + server.message(3, 20, 0, 0, command("_result", 1, None, {"code": "NetConnection.Connect.Success"}))),
    ]
    return pcap([Pkt(1.0 + i / 100, ethernet(segment)) for i, segment in enumerate(segments)])


def test_table_names_invalid_control_values_instead_of_none(tmp_path):
    path = tmp_path / "bad_control.pcap"
    path.write_bytes(_capture_with_bad_control_messages())
    result = run_cli("decode", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "None" not in out
    for step in ("Set Chunk Size 0 (invalid, ignored)",
                 "Set Chunk Size 2147483648 (invalid, ignored)",
                 "Set Chunk Size (malformed, ignored: Set Chunk Size body is 2 bytes, expected 4)",
                 "Window Ack Size (malformed: Window Acknowledgement Size body is 3 bytes, expected 4)",
                 "Set Peer Bandwidth (malformed: Set Peer Bandwidth body is 4 bytes, expected 5)",
                 "Acknowledgement (malformed: Acknowledgement body is 2 bytes, expected 4)",
                 # the chunk size stayed 128, so what follows still decodes
                 "_result #1 NetConnection.Connect.Success"):
        assert step in out, step
