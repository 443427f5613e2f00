"""``Device``: one Android device as droidcap uses it — chosen, probed, rooted, with tcpdump.

The facade scripts, the CLI and the lab runner use; every call below it has a deadline.
"""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from droidcap.device import root as root_mod
from droidcap.device.adb import AdbServer, AttachedDevice, ProgressCallback, ServerAddress, Transport
from droidcap.device.errors import DeviceError, DeviceStateError, NoDeviceError
from droidcap.device.info import DeviceInfo, probe
from droidcap.device.root import RootMethod, RootShell
from droidcap.device.tcpdump import TcpdumpBinary, TcpdumpSource, install

_STATE_HELP = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging' prompt",
    "offline": "reconnect the cable (or 'adb disconnect SERIAL && adb connect SERIAL' over Wi-Fi)",
    "no permissions": "fix the USB permissions (udev rules) for adb",
    "recovery": "boot the device into Android",
    "bootloader": "boot the device into Android",
    "sideload": "boot the device into Android",
    "authorizing": "wait a moment, then try again",
    "connecting": "wait a moment, then try again",
}


def state_help(state: str) -> str:
    return _STATE_HELP.get(state, f"bring it to the 'device' state (it is '{state}')")


def choose_serial(attached: list[AttachedDevice], serial: str | None, server: AdbServer) -> str:
    """``serial``, else ``$ANDROID_SERIAL``, else the only ready device; errors list the choices."""
    wanted = serial or os.environ.get("ANDROID_SERIAL") or None
    if wanted:
        match = next((d for d in attached if d.serial == wanted), None)
        if match is None:
            listed = ", ".join(d.serial for d in attached) or "none"
            raise NoDeviceError(f"device {wanted} is not attached to the adb server at "
                                f"{server.address} (attached: {listed})")
        if match.state != "device":
            raise DeviceStateError(f"device {wanted} is {match.state}: {state_help(match.state)}")
        return wanted
    ready = [d for d in attached if d.state == "device"]
    if len(ready) == 1:
        return ready[0].serial
    if not ready:
        if attached:
            d = attached[0]
            raise DeviceStateError(f"no ready device: {d.serial} is {d.state}: {state_help(d.state)}")
        raise NoDeviceError(f"no device attached to the adb server at {server.address}: connect a "
                            "phone with USB debugging on (or 'droidcap virtual start')")
    listed = ", ".join(f"{d.serial} ({d.tags.get('model', '?')})" for d in ready)
    raise NoDeviceError(f"{len(ready)} devices attached: {listed}; choose one with -s SERIAL "
                        "or ANDROID_SERIAL")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReport:
    """One row of ``droidcap devices``: what is known of a device, or why it is not."""

    serial: str
    state: str
    info: DeviceInfo | None = None
    root: str | None = None
    tcpdump: str | None = None
    free_bytes: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"serial": self.serial, "state": self.state}
        if self.info is not None:
            out.update(self.info.to_json())
        out.update({"root": self.root, "tcpdump": self.tcpdump, "free_bytes": self.free_bytes,
                    "problem": self.problem})
        return out


class Device:
    """A device reached through an adb server.  ``Device.connect()`` picks it."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._info: DeviceInfo | None = None
        self._root: RootShell | None = None

    @classmethod
    def connect(cls, serial: str | None = None, *, adb: str | ServerAddress | None = None) -> Device:
        server = AdbServer(adb if isinstance(adb, ServerAddress) else ServerAddress.parse(adb))
        server.ensure_running()
        return cls(server.transport(choose_serial(server.devices(), serial, server)))

    @property
    def serial(self) -> str:
        return self.transport.serial

    @property
    def info(self) -> DeviceInfo:
        if self._info is None:
            self._info = probe(self.transport)
        return self._info

    def root(self, *, allow_adb_root: bool = True) -> RootShell:
        """Root access (detected once, cached by serial and build fingerprint)."""
        if self._root is None:
            self._root = root_mod.detect(self.transport, self.info, allow_adb_root=allow_adb_root)
        return self._root

    def tcpdump(self, source: TcpdumpSource = TcpdumpSource.OURS,
                progress: ProgressCallback | None = None) -> TcpdumpBinary:
        return install(self.transport, self.info, source=source, progress=progress)

    def free_bytes(self, path: str = "/data/local/tmp") -> int | None:
        """Free space where captures are written (``df -k``, in bytes)."""
        res = self.transport.shell(f"df -k {shlex.quote(path)}", timeout=10.0, what="df")
        lines = res.out.splitlines()
        if not res.ok or len(lines) < 2:
            return None
        fields = lines[-1].split()
        try:
            return int(fields[3]) * 1024
        except (IndexError, ValueError):
            return None


def _report(server: AdbServer, attached: AttachedDevice) -> DeviceReport:
    if attached.state != "device":
        return DeviceReport(serial=attached.serial, state=attached.state,
                            problem=state_help(attached.state))
    dev = Device(server.transport(attached.serial))
    try:
        info = dev.info
        method = root_mod.cached_method(dev.serial, info.fingerprint)
        try:
            root = dev.root(allow_adb_root=False).method.value
        except DeviceError:
            if method not in (None, RootMethod.NONE):
                root = method.value
            elif info.debuggable:  # not restarted here: record would, with adb root
                root = "adb-root available"
            else:
                root = RootMethod.NONE.value
        tcpdump = _tcpdump_line(dev)
        return DeviceReport(serial=attached.serial, state=attached.state, info=info,
                            root=root, tcpdump=tcpdump, free_bytes=dev.free_bytes())
    except DeviceError as err:
        return DeviceReport(serial=attached.serial, state=attached.state, problem=str(err))


def _tcpdump_line(dev: Device) -> str:
    """Which tcpdump a capture would use, without pushing anything."""
    from droidcap import tcpdump_bins
    from droidcap.device.tcpdump import DEVICE_DIR, remote_sha256

    try:
        abi = tcpdump_bins.pick_abi(",".join(dev.info.abis))
    except DeviceError:
        abi = None
    if abi is not None:
        path = f"{DEVICE_DIR}/tcpdump-{abi}"
        if remote_sha256(dev.transport, path) != tcpdump_bins.expected_sha256(abi):
            return f"droidcap's ({abi}, pushed on first record)"
        res = dev.transport.shell(f"{shlex.quote(path)} --version", timeout=10.0)
        version = next((line.split(" version ")[1] for line in
                        (res.stdout + res.stderr).decode(errors="replace").splitlines()
                        if " version " in line), "?")
        return f"droidcap's {version} ({abi}, installed)"
    res = dev.transport.shell("command -v tcpdump", timeout=10.0)
    return f"device's ({res.out})" if res.ok and res.out else "none for this ABI"


def list_devices(adb: str | ServerAddress | None = None, *, timeout: float = 30.0) -> list[DeviceReport]:
    """Every device the adb server knows, probed in parallel, each within its own deadline."""
    server = AdbServer(adb if isinstance(adb, ServerAddress) else ServerAddress.parse(adb))
    server.ensure_running()
    attached = server.devices()
    if not attached:
        return []
    pool = ThreadPoolExecutor(max_workers=min(8, len(attached)))
    futures = [pool.submit(_report, server, a) for a in attached]
    wait(futures, timeout=timeout)  # one deadline for all of them, not one after another
    reports = []
    for a, fut in zip(attached, futures, strict=True):
        if fut.done():
            reports.append(fut.result())
        else:
            reports.append(DeviceReport(serial=a.serial, state=a.state,
                                        problem=f"did not answer within {timeout:g} s"))
    pool.shutdown(wait=False, cancel_futures=True)
    return reports


__all__ = ["Device", "DeviceReport", "choose_serial", "list_devices", "state_help"]
