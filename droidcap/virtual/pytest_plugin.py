"""pytest fixtures for tests against virtual devices (entry point ``droidcap_virtual``).

``adb_server``: an adb server on its own port, killed afterwards, so parallel runs never share
devices (adb 36 also runs mDNS discovery on the default server).  Parametrize it indirectly with an
adb binary to run a test against several adb versions.
``virtual_device``: a factory ``virtual_device(profile="emulator") -> VirtualDevice`` whose
devices are registered with ``adb_server`` and stopped at teardown.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from droidcap.virtual import adb_host
from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.profile import DeviceProfile, load_profile, with_serial

_RESERVED = set(range(5037, 5038)) | set(range(5554, 5586))


def free_port() -> int:
    """A free TCP port on 127.0.0.1 outside adb's own and emulator ranges."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _RESERVED:
            return port


@dataclass(frozen=True, slots=True)
class AdbServer:
    """An isolated adb server: pass ``port`` to ``adb -P``/``AdbClient(port=...)``."""

    port: int
    adb: str

    def run(self, *args: str, serial: str | None = None, timeout: float = 60,
            input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """``adb -P PORT [-s SERIAL] ARGS``: stdout/stderr as bytes, never raises on exit code."""
        argv = [self.adb, "-P", str(self.port)] + (["-s", serial] if serial else []) + list(args)
        return subprocess.run(argv, capture_output=True, timeout=timeout, input=input,
                              env=self.env(), check=False)

    def env(self) -> dict[str, str]:
        import os

        # No USB scan (adb 36 otherwise stalls its first request ~3 s waiting for it) and no mDNS
        # discovery: a test server sees only the devices the test connects.
        return dict(os.environ, ANDROID_ADB_SERVER_PORT=str(self.port), ADB_USB="0", ADB_MDNS="0")


DEBIAN_ADB = "/usr/bin/adb"


def bundled_adb() -> str:
    """The adb 36 that adbutils' wheel ships."""
    import adbutils

    return str(Path(adbutils.__file__).parent / "binaries" / "adb")


@pytest.fixture
def adb_server(request: pytest.FixtureRequest) -> Iterator[AdbServer]:
    adb = getattr(request, "param", None) or adb_host.adb_executable()
    server = AdbServer(port=free_port(), adb=adb)
    res = server.run("start-server", timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"adb start-server failed: {res.stderr.decode(errors='replace')}")
    try:
        yield server
    finally:
        adb_host.kill_server(server.port, adb=adb)


@pytest.fixture
def virtual_device(adb_server: AdbServer, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[..., VirtualDevice]]:
    devices: list[VirtualDevice] = []

    def make(profile: str | DeviceProfile | None = None, *, serialno: str | None = None,
             connect: bool = True) -> VirtualDevice:
        prof = profile if isinstance(profile, DeviceProfile) else load_profile(profile)
        if serialno:
            prof = with_serial(prof, serialno)
        sandbox = tmp_path_factory.mktemp(f"vdev-{prof.name}")
        dev = VirtualDevice(prof, sandbox)
        devices.append(dev)
        dev.start()
        if connect:
            dev.connect(adb_server.port, adb=adb_server.adb)
        return dev

    try:
        yield make
    finally:
        for dev in devices:
            dev.stop()
