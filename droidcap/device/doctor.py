"""``doctor``: every precondition of ``record``, checked in order, each with its fix.

A check that cannot run because an earlier one failed (no device, no root) is not run: its FAIL
would only repeat the cause.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from droidcap.device import captures
from droidcap.device.adb import AdbServer, ServerAddress, ShellResult
from droidcap.device.device import Device, choose_serial
from droidcap.device.errors import DeviceError
from droidcap.device.record import device_clock
from droidcap.device.tcpdump import TcpdumpSource


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status.value, "detail": self.detail,
                "fix": self.fix}


def run_checks(serial: str | None = None, *, adb: str | ServerAddress | None = None,
               tcpdump: TcpdumpSource = TcpdumpSource.OURS) -> Iterator[Check]:
    server = AdbServer(adb if isinstance(adb, ServerAddress) else ServerAddress.parse(adb))
    try:
        version = server.ensure_running()
        yield Check(name="adb server", status=Status.OK,
                    detail=f"{server.address}, protocol version {version}")
    except DeviceError as err:
        yield Check(name="adb server", status=Status.FAIL, detail=str(err),
                    fix="start adb (adb start-server), or point --adb at a running server")
        return
    try:
        chosen = choose_serial(server.devices(), serial, server)
        dev = Device(server.transport(chosen))
        info = dev.info
        yield Check(name="device", status=Status.OK,
                    detail=f"{chosen}: {info.manufacturer} {info.model}, Android {info.release} "
                           f"(SDK {info.sdk}), {info.build_type} build, ABIs {','.join(info.abis)}")
    except DeviceError as err:
        yield Check(name="device", status=Status.FAIL, detail=str(err),
                    fix="attach and authorise a device, or choose one with -s SERIAL")
        return
    try:
        root = dev.root()
        yield Check(name="root", status=Status.OK, detail=root.method.label)
    except DeviceError as err:
        yield Check(name="root", status=Status.FAIL, detail=str(err),
                    fix="root the device (Magisk/KernelSU) or use a userdebug build")
        return
    binary = None
    try:
        binary = dev.tcpdump(tcpdump)
        yield Check(name="tcpdump", status=Status.OK,
                    detail=f"{binary.version} at {binary.path} ({binary.source.value}"
                           + (f", {binary.abi}" if binary.abi else "") + f"), page size {info.page_size}")
    except DeviceError as err:  # the checks that do not need tcpdump still run
        yield Check(name="tcpdump", status=Status.FAIL, detail=str(err),
                    fix="use --tcpdump device if the device has its own, or report the ABI")
    selinux = info.selinux
    yield Check(name="SELinux", status=Status.OK if selinux in ("Enforcing", "Permissive") else Status.WARN,
                detail=selinux, fix="" if selinux in ("Enforcing", "Permissive") else
                "getenforce gave no answer; captures may still work through su")
    free = dev.free_bytes()
    if free is None:
        yield Check(name="free space", status=Status.WARN, detail="df gave no answer")
    else:
        status = Status.FAIL if free < 16 << 20 else Status.WARN if free < 200 << 20 else Status.OK
        yield Check(name="free space", status=status, detail=f"{free / 1e6:.0f} MB free in /data/local/tmp",
                    fix="" if status is Status.OK else "free space on the device before recording")
    if binary is not None:
        yield _interfaces(root.run(f"{shlex.quote(binary.path)} -D", what="tcpdump -D"))
    _, offset = device_clock(dev)
    yield Check(name="clock offset", status=Status.OK if abs(offset) < 1.0 else Status.WARN,
                detail=f"device − host = {offset * 1000:+.0f} ms",
                fix="" if abs(offset) < 1.0 else "times in NAME.json are corrected by this offset")
    left = captures.list_captures(dev.transport)
    yield Check(name="captures left on the device",
                status=Status.OK if not left else Status.WARN,
                detail=", ".join(c.name for c in left) if left else "none",
                fix="" if not left else f"droidcap stop -s {dev.serial} --all (stops and pulls them)")


def _interfaces(res: ShellResult) -> Check:
    """What ``tcpdump -D`` lists; ``any`` is what record captures on by default."""
    interfaces = [line.split(".", 1)[1].split()[0] for line in res.out.splitlines()
                  if "." in line and line.split(".", 1)[0].isdigit()]
    if res.ok and interfaces:
        return Check(name="capture interfaces",
                     status=Status.OK if "any" in interfaces else Status.WARN,
                     detail=", ".join(interfaces[:12]) + (" ..." if len(interfaces) > 12 else ""),
                     fix="" if "any" in interfaces else "pass --interface with one of these")
    return Check(name="capture interfaces", status=Status.FAIL,
                 detail=f"tcpdump -D failed: {res.err or res.out}",
                 fix="the kernel may lack packet sockets; try --tcpdump device")


__all__ = ["Check", "Status", "run_checks"]
