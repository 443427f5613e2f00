"""``droidcap inspect`` in a real terminal: tmux runs it, send-keys presses keys, capture-pane
reads the screen.  A private tmux server (-L) per test keeps other sessions out of it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from droidcap.tui.app import EMBEDDED_CAPTURE

pytestmark = pytest.mark.slow

DROIDCAP = Path(sys.executable).parent / "droidcap"
# after the app: its exit code and whether the terminal is back in cooked mode with echo
# (one printf: a screen read between two writes would see the exit code without the modes)
MODES = "modes=$(stty -a </dev/tty | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo | tr '\\n' ' ')"
AFTER = f"code=$?; {MODES}; printf 'EXIT=%s\\n%s\\n' \"$code\" \"$modes\"; sleep 600"


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def start(self, command: str, *, env: str = "") -> None:
        shell = f"cd {shlex.quote(str(Path.cwd()))}; {env} {command}; {AFTER}"
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", "sh", "-c", shell)

    def screen(self, *, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []))

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > end:
                raise AssertionError(f"{pattern!r} never appeared; the screen was:\n{text}")
            time.sleep(0.1)


@pytest.fixture
def term() -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (./dev setup installs it)")
    t = Terminal(f"droidcap-test-{uuid.uuid4().hex[:8]}")
    try:
        yield t
    finally:
        subprocess.run(["tmux", "-L", t.socket, "kill-server"], capture_output=True, timeout=10, check=False)


def test_inspect_shows_the_session_steps_and_quits_restoring_the_terminal(term: Terminal) -> None:
    term.start(str(DROIDCAP) + " inspect")
    term.wait_for(r"634 rows, 3 connection")
    screen = term.wait_for(r"publisher +live/test")
    assert re.search(r"▶ +4 .*C0 version 3", screen)
    term.keys(*"jjjjjj")
    term.wait_for(r"▶ +12 .*connect #1 app=live")
    term.wait_for(r"frame 12 · conn 0 · client →")  # the Details pane follows
    term.keys("5")
    term.wait_for(r"▶ +27 .*onStatus #0 NetStream.Publish.Start")
    term.keys("q")
    screen = term.wait_for(r"EXIT=\d+")
    assert "EXIT=0" in screen
    assert re.search(r"^icanon echo\s*$", screen, re.MULTILINE), screen  # cooked mode, echo back on
    assert "634 rows" not in screen  # the alternate screen is gone


def test_no_color_draws_only_grey_levels_and_marks_the_cursor(term: Terminal) -> None:
    term.start(str(DROIDCAP) + " inspect", env="NO_COLOR=1")
    term.wait_for(r"634 rows")
    term.keys("2")
    term.wait_for(r"▶ +12 .*connect")
    colours = re.findall(r"\x1b\[([0-9;]*)m", term.screen(escapes=True))
    for sgr in colours:
        assert "38;2;" not in sgr and "48;2;" not in sgr, sgr  # no true colour
        for n in re.findall(r"[34]8;5;(\d+)", sgr):
            assert int(n) >= 232 or int(n) in (0, 7, 15, 16, 231), sgr  # the grey ramp only
    term.keys("q")
    assert "EXIT=0" in term.wait_for(r"EXIT=\d+")


def test_capture_on_standard_input(term: Terminal) -> None:
    term.start(f"cat {shlex.quote(str(EMBEDDED_CAPTURE))} | {DROIDCAP} inspect -")
    term.wait_for(r"standard input · 634 rows")
    term.keys("2")  # keys still work: the terminal, not the pipe, is the TUI's input
    term.wait_for(r"▶ +12 .*connect")
    term.keys("q")
    assert "EXIT=0" in term.wait_for(r"EXIT=\d+")


def test_missing_file_opens_a_message_and_exits_non_zero(term: Terminal) -> None:
    term.start(f"{DROIDCAP} inspect /nonexistent/capture.pcap")
    term.wait_for(r"no such file: /nonexistent/capture.pcap")
    term.keys("q")
    screen = term.wait_for(r"EXIT=\d+")
    assert "EXIT=1" in screen
    assert "droidcap: no such file: /nonexistent/capture.pcap" in screen  # one line, no traceback
    assert "Traceback" not in screen


def _behind_a_silent_pipe(term: Terminal, tmp_path: Path) -> int:
    """Start ``droidcap inspect -`` on the sample capture from a writer that then stays silent
    (an idle adb exec-out tcpdump); its exit code and the terminal's mode are printed as soon as
    it ends (the pipeline itself lasts as long as the writer).  Returns droidcap's pid."""
    shell_pid = tmp_path / "sh.pid"
    after = f"code=$?; {MODES}; printf 'EXIT=%s\\n%s\\n' \"$code\" \"$modes\""
    inner = f"echo $$ > {shlex.quote(str(shell_pid))}; {DROIDCAP} inspect -; {after}"
    term.start(f"(cat {shlex.quote(str(EMBEDDED_CAPTURE))}; sleep 60) | TMPDIR={shlex.quote(str(tmp_path))} "
               f"sh -c {shlex.quote(inner)}")
    term.wait_for(r"standard input · .*634 rows")  # still indexing: the pipe is open
    children = subprocess.run(["pgrep", "-P", shell_pid.read_text().strip()], capture_output=True,
                              text=True, check=True).stdout.split()
    assert len(children) == 1
    return int(children[0])


@pytest.mark.parametrize("signame", ["TERM", "HUP"])
def test_a_kill_restores_the_terminal_and_deletes_the_copy_of_standard_input(
        term: Terminal, signame: str, tmp_path: Path) -> None:
    """kill (or a closed terminal) leaves as q does: cooked mode, no alternate screen, exit
    128+signal, and the copy of standard input gone, though the pipe's writer is still there."""
    pid = _behind_a_silent_pipe(term, tmp_path)
    assert list(tmp_path.glob("droidcap-stdin-*.pcap"))
    subprocess.run(["kill", f"-{signame}", str(pid)], check=True)
    screen = term.wait_for(r"EXIT=\d+", timeout=10)
    code = {"TERM": 15, "HUP": 1}[signame]
    assert f"EXIT={128 + code}" in screen, screen
    assert re.search(r"^icanon echo\s*$", screen, re.MULTILINE), screen
    assert "standard input ·" not in screen  # the alternate screen is gone
    assert not list(tmp_path.glob("droidcap-stdin-*.pcap"))


def test_quitting_is_not_held_up_by_a_silent_pipe(term: Terminal, tmp_path: Path) -> None:
    _behind_a_silent_pipe(term, tmp_path)
    quit_at = time.monotonic()
    term.keys("q")
    screen = term.wait_for(r"EXIT=\d+", timeout=10)
    assert time.monotonic() - quit_at < 5, "droidcap waited for the pipe's writer"
    assert "EXIT=0" in screen
    assert not list(tmp_path.glob("droidcap-stdin-*.pcap"))


def test_a_truncated_capture_is_told_whole_at_80_columns(term: Terminal, tmp_path: Path) -> None:
    """The status line cuts the note at 80 columns; a notification shows all of it."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(EMBEDDED_CAPTURE.read_bytes()[:300_000])  # ends inside record 1053
    term.start(f"{DROIDCAP} inspect {shlex.quote(str(cut))}")
    screen = term.wait_for(r"the file is")
    assert re.search(r"capture ends inside record 1053", screen)
    assert re.search(r"truncated, or was still being\s", screen)
    term.keys("q")
    assert "EXIT=0" in term.wait_for(r"EXIT=\d+")
