"""``--engine tshark`` on bad input and on a bad day: one warning line, never a traceback.

tshark exits non-zero on a truncated capture after printing every packet it could read, and
asyncio now and then loses tshark's exit status (pyshark then sees a crash that did not happen);
the engine must say the first in one line, as the native engine does, and keep quiet about the
second.  Run through the CLI, in processes of their own (see droidcap.tshark_engine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from droidcap.tshark_engine import _tshark_error
from tests.conftest import DATA, run_cli

SAMPLE = DATA / "wireshark_rtmp_sample.cap"
WARNING = "droidcap: warning: tshark:"

# Runs the CLI while a thread reaps every child first, so asyncio's child watcher always loses
# tshark's exit status: the race that otherwise shows about one run in ten, made certain.
STOLEN_EXIT_STATUS = """
import os, sys, threading, time

def reap():
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.001)

threading.Thread(target=reap, daemon=True).start()
from droidcap.cli import main
sys.argv = ["droidcap", *sys.argv[1:]]
main()
"""


def truncated(tmp_path: Path, source: Path, size: int) -> Path:
    """A copy of ``source`` cut ``size`` bytes in, inside a record."""
    copy = tmp_path / f"truncated_{source.name}"
    copy.write_bytes(source.read_bytes()[:size])
    return copy


def assert_one_tshark_warning(done: subprocess.CompletedProcess) -> None:
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert done.stdout.decode().splitlines(), "the packets before the cut are decoded"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    [line] = stderr.splitlines()
    assert line.startswith(WARNING) and "cut short" in line, stderr


@pytest.mark.slow
@pytest.mark.parametrize("source, size", [(SAMPLE, 6000),
                                          (DATA / "captures" / "nginx_ffmpeg_players.pcap", 300_000)])
def test_truncated_capture_is_decoded_up_to_the_cut_then_one_warning(tmp_path, source, size):
    done = run_cli("decode", str(truncated(tmp_path, source, size)), "--engine", "tshark", "-f", "ndjson")
    assert_one_tshark_warning(done)


@pytest.mark.slow
def test_handshake_seen_by_tshark_means_not_mid_connection():
    done = run_cli("decode", str(SAMPLE), "--engine", "tshark")
    assert done.returncode == 0, done.stderr
    assert b"mid-connection" not in done.stdout


@pytest.mark.slow
def test_repeated_runs_leave_stderr_clean():
    for _ in range(5):
        done = run_cli("decode", str(SAMPLE), "--engine", "tshark", "-f", "ndjson")
        assert done.returncode == 0, done.stderr
        assert done.stdout
        assert done.stderr == b"", done.stderr.decode()


def run_with_stolen_exit_status(*args: str) -> subprocess.CompletedProcess:
    """``droidcap *args``, with asyncio certain to lose tshark's exit status."""
    return subprocess.run([sys.executable, "-c", STOLEN_EXIT_STATUS, *args],
                          check=False, capture_output=True, timeout=120)


@pytest.mark.slow
def test_lost_exit_status_is_no_error_and_no_noise():
    done = run_with_stolen_exit_status("decode", str(SAMPLE), "--engine", "tshark", "-f", "ndjson")
    assert done.returncode == 0, done.stderr
    assert done.stdout == run_cli("decode", str(SAMPLE), "--engine", "tshark", "-f", "ndjson").stdout
    assert done.stderr == b"", done.stderr.decode()


@pytest.mark.slow
def test_lost_exit_status_keeps_tshark_own_error(tmp_path):
    done = run_with_stolen_exit_status("decode", str(truncated(tmp_path, SAMPLE, 6000)),
                                       "--engine", "tshark", "-f", "ndjson")
    assert_one_tshark_warning(done)


@pytest.mark.parametrize("line, warning", [
    (None, None),
    ("", None),
    ('Running as user "root" and group "root". This could be dangerous.', None),
    ('tshark: The file "x.pcap" appears to have been cut short in the middle of a packet.',
     'The file "x.pcap" appears to have been cut short in the middle of a packet.'),
])
def test_only_a_real_tshark_error_line_becomes_a_warning(line, warning):
    assert _tshark_error(line) == warning


@pytest.mark.slow
def test_tshark_failing_before_any_packet_is_an_error(tmp_path):
    """A capture droidcap reads but tshark refuses at its first record (a 300,000-byte frame,
    over tshark's 262,144-byte limit): one error line and exit 1, not a warning on empty output."""
    import struct

    data = SAMPLE.read_bytes()
    frame = bytes(12) + b"\x88\xb5" + bytes(300_000 - 14)  # a local EtherType: not IP, skipped
    path = tmp_path / "huge_first_record.pcap"
    path.write_bytes(data[:24] + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame + data[24:])
    assert run_cli("decode", str(path), "-f", "ndjson").returncode == 0  # droidcap reads it
    done = run_cli("decode", str(path), "-f", "ndjson", "--engine", "tshark")
    err = done.stderr.decode()
    assert done.returncode == 1 and done.stdout == b""
    assert err.count("\n") == 1 and err.startswith("droidcap: tshark could not decode the capture:")
    assert "262144" in err
