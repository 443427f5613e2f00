"""What a device is: one probe of its properties, read once per session.

``getprop`` with no argument prints every property as ``[name]: [value]``; one call gives the
identity, ABIs, build and adb-over-TCP port, so probing costs one round trip plus a few checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from droidcap.device.adb import Transport

_PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


def parse_getprop(text: str) -> dict[str, str]:
    """``getprop``'s ``[name]: [value]`` lines as a dict (multi-line values keep their first line)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        m = _PROP_LINE.match(line.strip())
        if m:
            props[m.group(1)] = m.group(2)
    return props


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """The facts droidcap's decisions depend on, read from the device."""

    serial: str
    model: str
    manufacturer: str
    release: str
    sdk: int
    abis: tuple[str, ...]
    fingerprint: str
    build_type: str
    debuggable: bool
    page_size: int
    selinux: str
    adb_ports: tuple[int, ...]  #: ports of adbd's own network transports (adb over Wi-Fi, TLS)
    properties: dict[str, str]

    def to_json(self) -> dict[str, object]:
        return {"serial": self.serial, "model": self.model, "manufacturer": self.manufacturer,
                "release": self.release, "sdk": self.sdk, "abis": list(self.abis),
                "fingerprint": self.fingerprint, "build_type": self.build_type,
                "debuggable": self.debuggable, "page_size": self.page_size,
                "selinux": self.selinux, "adb_ports": list(self.adb_ports)}


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return default


def adb_ports(serial: str, props: dict[str, str]) -> tuple[int, ...]:
    """The TCP ports of the device's own adb transports, when adb reaches it over the network.

    A serial ``HOST:PORT`` (``adb connect``) names one; adbd says the others in
    ``service.adb.tcp.port`` (``adb tcpip``) and ``service.adb.tls.port`` (Android 11+ wireless
    debugging, whose serials are mDNS names without a port).  A capture must never include them,
    or droidcap would capture its own pulls and shells."""
    found: list[int] = []
    host, sep, port = serial.rpartition(":")
    if sep and host and port.isdigit():
        found.append(int(port))
    for key in ("service.adb.tcp.port", "persist.adb.tcp.port", "service.adb.tls.port"):
        value = _int(props.get(key, ""), -1)
        if 0 < value < 65536:
            found.append(value)
    return tuple(dict.fromkeys(found))


def probe(transport: Transport, *, timeout: float = 10.0) -> DeviceInfo:
    """Read the device's identity with two shell calls (getprop; page size and SELinux)."""
    props = parse_getprop(transport.shell("getprop", timeout=timeout, what="getprop").out)
    extra = transport.shell("echo page=$(getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE 2>/dev/null); "
                            "echo selinux=$(getenforce 2>/dev/null)", timeout=timeout,
                            what="page size/SELinux")
    found = dict(line.split("=", 1) for line in extra.out.splitlines() if "=" in line)
    page = _int(found.get("page", ""), 4096)
    selinux = found.get("selinux", "").strip() or "unknown"
    abis = tuple(a for a in props.get("ro.product.cpu.abilist", props.get("ro.product.cpu.abi", ""))
                 .split(",") if a)
    return DeviceInfo(
        serial=transport.serial, model=props.get("ro.product.model", "?"),
        manufacturer=props.get("ro.product.manufacturer", "?"),
        release=props.get("ro.build.version.release", "?"),
        sdk=_int(props.get("ro.build.version.sdk", "0")), abis=abis,
        fingerprint=props.get("ro.build.fingerprint", ""),
        build_type=props.get("ro.build.type", "?"),
        debuggable=props.get("ro.debuggable") == "1", page_size=page, selinux=selinux,
        adb_ports=adb_ports(transport.serial, props), properties=props)
