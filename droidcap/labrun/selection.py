"""Which devices a lab runs on: every ready device of every adb server, matched per scenario.

A device is known by its adb serial (``127.0.0.1:41233``, ``R58M123ABC``) and by ``ro.serialno``;
a lab file may use either.  Only devices in the ``device`` state are candidates; a serial the
file names that no server lists becomes a run that errors ("not attached"), so a missing phone
shows in the report instead of vanishing from it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from droidcap.device.adb import AdbServer, ServerAddress
from droidcap.device.errors import DeviceError
from droidcap.device.info import probe
from droidcap.labrun.errors import NoDevicesError
from droidcap.labrun.labfile import DeviceSelector, Lab
from droidcap.labrun.results import RunSpec, Target


def discover(servers: tuple[ServerAddress, ...], *, timeout: float = 20.0) -> tuple[list[Target], list[str]]:
    """The ready devices of every server (probed in parallel), and one line per problem."""
    problems: list[str] = []
    listed: list[tuple[AdbServer, str]] = []
    for address in servers:
        server = AdbServer(address)
        try:
            server.ensure_running()
            for attached in server.devices():
                if attached.state == "device":
                    listed.append((server, attached.serial))
                else:
                    problems.append(f"{attached.serial} on {address} is {attached.state}")
        except DeviceError as err:
            problems.append(f"adb server {address}: {err}")
    if not listed:
        return [], problems

    def one(item: tuple[AdbServer, str]) -> Target | str:
        server, serial = item
        try:
            info = probe(server.transport(serial), timeout=timeout)
        except DeviceError as err:
            return f"{serial} on {server.address}: {err}"
        return Target(server=server.address, serial=serial, model=info.model, abis=info.abis,
                      release=info.release, sdk=info.sdk,
                      serialno=info.properties.get("ro.serialno", ""))

    with ThreadPoolExecutor(max_workers=min(8, len(listed))) as pool:
        found = list(pool.map(one, listed))
    targets = [t for t in found if isinstance(t, Target)]
    problems += [t for t in found if isinstance(t, str)]
    return targets, problems


def _names(target: Target) -> set[str]:
    return {target.serial, target.serialno} - {""}


def matches(selector: DeviceSelector, target: Target, tags: dict[str, tuple[str, ...]]) -> bool:
    if selector.all:
        return True
    if selector.serials:
        return bool(_names(target) & set(selector.serials))
    checks = [selector.model is None or selector.model == target.model,
              selector.abi is None or selector.abi in target.abis,
              selector.release is None or selector.release == target.release,
              selector.sdk is None or selector.sdk == target.sdk,
              selector.tag is None or bool(_names(target) & set(tags.get(selector.tag, ())))]
    return all(checks)


def plan(lab: Lab, targets: list[Target]) -> list[RunSpec]:
    """Every run of the lab, scenario by scenario; raises :class:`NoDevicesError` if none."""
    runs: list[RunSpec] = []
    for scenario in lab.scenarios:
        chosen = [t for t in targets if matches(scenario.devices, t, lab.tags)]
        for serial in scenario.devices.serials:  # named but attached nowhere: a run that errors
            if not any(serial in _names(t) for t in chosen):
                chosen.append(Target(server=lab.adb[0], serial=serial))
        for target in chosen:
            runs += [RunSpec(scenario=scenario, target=target, repetition=r)
                     for r in range(1, scenario.repetitions + 1)]
    if not any(r.target.model for r in runs):
        raise NoDevicesError(
            f"{lab.path}: no device matches the lab's scenarios on "
            f"{', '.join(str(a) for a in lab.adb)} (ready devices: "
            f"{', '.join(t.serial for t in targets) or 'none'}); see 'droidcap devices'")
    return runs


__all__ = ["discover", "matches", "plan"]
