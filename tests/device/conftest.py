"""Fixtures for device-layer tests: every test runs against virtual devices and a real adb server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from droidcap.device.adb import ServerAddress
from droidcap.device.device import Device
from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.pytest_plugin import AdbServer


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root-method cache per test: a test must not lean on what another one detected."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)


@pytest.fixture
def device_for(adb_server: AdbServer, virtual_device: Callable[..., VirtualDevice]) -> Callable[..., tuple[VirtualDevice, Device]]:
    """``device_for("magisk") -> (virtual device, droidcap Device on the test adb server)``."""

    def make(profile: str = "magisk") -> tuple[VirtualDevice, Device]:
        vdev = virtual_device(profile)
        return vdev, Device.connect(vdev.serial, adb=ServerAddress(port=adb_server.port))

    return make


def device_ps(adb_server: AdbServer, serial: str) -> str:
    res = adb_server.run("shell", "ps -A -o PID,NAME,ARGS", serial=serial)
    return res.stdout.decode(errors="replace")


def no_tcpdump_left(adb_server: AdbServer, serial: str) -> bool:
    return "tcpdump" not in device_ps(adb_server, serial)
