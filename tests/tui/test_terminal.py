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
AFTER = "echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; echo; sleep 600"


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
