"""The virtual device's log: ``am start``/``force-stop`` and an app process dying write the
system server's ActivityManager lines, and ``logcat`` prints them as a phone does (threadtime,
``-d``, ``-T 'MM-DD HH:MM:SS.mmm'``, ``-t N``, ``-c``)."""

from __future__ import annotations

import re
import time

import pytest

THREADTIME = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ I ActivityManager: ")


def _shell(adb_server, serial: str, command: str) -> tuple[int, str, str]:
    res = adb_server.run("shell", command, serial=serial)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


@pytest.mark.slow
def test_logcat_shows_the_activity_managers_lines_since_a_time(adb_server, virtual_device):
    dev = virtual_device("magisk")
    code, since, _ = _shell(adb_server, dev.serial, "date +'%m-%d %H:%M:%S.%N' | cut -c1-18")
    assert code == 0
    url = f"rtmp://{dev.host_address}:9/live/none"  # nothing listens: the player dies at once
    assert _shell(adb_server, dev.serial, f"am start -a android.intent.action.VIEW -d {url}")[0] == 0
    deadline = time.monotonic() + 20
    while "has died" not in (out := _shell(adb_server, dev.serial, f"logcat -d -T '{since.strip()}'")[1]):
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    lines = out.splitlines()
    assert all(THREADTIME.match(line) for line in lines), out
    assert f"START u0 {{act=android.intent.action.VIEW dat={url} pkg=org.videolan.vlc}} from uid 2000" in lines[0]
    assert re.search(r"Start proc (\d+):org\.videolan\.vlc/u0a123 for activity", lines[1])
    pid = re.search(r"Start proc (\d+):", lines[1]).group(1)
    assert re.search(rf"Process org\.videolan\.vlc \(pid {pid}\) has died: exit code \d+", lines[2])
    later = time.strftime("%m-%d %H:%M:%S.999", time.localtime(time.time() + 60))
    assert _shell(adb_server, dev.serial, f"logcat -d -T '{later}'")[1] == ""
    assert _shell(adb_server, dev.serial, "logcat -t 1")[1].splitlines() == lines[-1:]
    code, _, err = _shell(adb_server, dev.serial, "logcat -d -T 'yesterday'")
    assert code == 1 and "unknown time format" in err
    assert _shell(adb_server, dev.serial, "logcat -c")[0] == 0
    assert _shell(adb_server, dev.serial, "logcat -d")[1] == ""
