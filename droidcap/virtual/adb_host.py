"""The host side we talk to: the real adb CLI, to register virtual devices with an adb server.

We shell out to ``adb connect`` rather than speaking the host protocol ourselves: it is exactly
what a user does with a phone on Wi-Fi debugging, so it exercises the real server code path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from droidcap.errors import DeviceError


class AdbHostError(DeviceError):
    """The adb CLI is missing or the adb server refused to register the device."""


def adb_executable() -> str:
    """``$DROIDCAP_ADB``, else ``adb`` on PATH, else the adb that adbutils' wheel ships."""
    env = os.environ.get("DROIDCAP_ADB")
    if env:
        return env
    found = shutil.which("adb")
    if found:
        return found
    try:
        import adbutils

        bundled = Path(adbutils.__file__).parent / "binaries" / "adb"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    raise AdbHostError("no adb found: install Debian's adb or set DROIDCAP_ADB")


def default_server_port() -> int:
    return int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))


def run_adb(args: list[str], *, adb_port: int | None = None, adb: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    port = default_server_port() if adb_port is None else adb_port
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(port))
    try:
        return subprocess.run([adb or adb_executable(), "-P", str(port), *args], env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AdbHostError(f"adb {' '.join(args)} timed out after {timeout:.0f}s") from None


def device_states(*, adb_port: int | None = None, adb: str | None = None) -> dict[str, str]:
    """``adb devices`` as serial -> state."""
    out = run_adb(["devices"], adb_port=adb_port, adb=adb).stdout
    states = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    return states


def connect(serial: str, *, adb_port: int | None = None, adb: str | None = None,
            timeout: float = 15) -> None:
    """``adb connect SERIAL`` and wait until the server lists it as ``device``."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        res = run_adb(["connect", serial], adb_port=adb_port, adb=adb)
        last = (res.stdout + res.stderr).strip()
        if "connected to" in last:
            break
        if time.monotonic() > deadline:
            raise AdbHostError(f"adb connect {serial} failed: {last}")
        time.sleep(0.2)
    wait_for_state(serial, "device", adb_port=adb_port, adb=adb,
                   timeout=max(1.0, deadline - time.monotonic()))


def wait_for_state(serial: str, state: str | None, *, adb_port: int | None = None,
                   adb: str | None = None, timeout: float = 15) -> None:
    """Wait until ``serial`` is in ``state`` (``None``: gone from the list)."""
    deadline = time.monotonic() + timeout
    current: str | None = None
    while time.monotonic() < deadline:
        current = device_states(adb_port=adb_port, adb=adb).get(serial)
        if current == state:
            return
        time.sleep(0.1)
    raise AdbHostError(f"{serial} is {current or 'not listed'}, expected {state or 'gone'}")


def disconnect(serial: str, *, adb_port: int | None = None, adb: str | None = None) -> None:
    """``adb disconnect SERIAL``; a device already gone is fine."""
    run_adb(["disconnect", serial], adb_port=adb_port, adb=adb)


def kill_server(adb_port: int, *, adb: str | None = None) -> None:
    try:
        run_adb(["kill-server"], adb_port=adb_port, adb=adb, timeout=10)
    except AdbHostError:
        pass
