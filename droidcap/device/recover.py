"""``pull`` and ``stop`` from a new process: find droidcap's captures on a device, finish them.

After ``record`` was killed, a cable was pulled or the adb server restarted, the capture is still on
the device (tcpdump may still be running there): these functions stop it by its PID file and pull
it with the same verification ``record`` uses, then delete the device copy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from droidcap.device import captures
from droidcap.device.captures import DeviceCapture
from droidcap.device.device import Device
from droidcap.device.errors import DeviceError
from droidcap.device.transfer import PulledFile, pull_verified


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureListing:
    name: str
    device_path: str
    size: int | None
    running: bool


def listing(dev: Device) -> list[CaptureListing]:
    root = dev.root(allow_adb_root=False)
    out = []
    for cap in captures.list_captures(dev.transport):
        pid = captures.read_pid(dev.transport, cap)
        running = pid is not None and captures.is_running(root, cap, pid)
        out.append(CaptureListing(name=cap.name, device_path=cap.pcap, running=running,
                                  size=captures.file_size(dev.transport, cap.pcap)))
    return out


def stop_capture(dev: Device, cap: DeviceCapture) -> str:
    """Stop the capture's tcpdump if it still runs; how it ended."""
    pid = captures.read_pid(dev.transport, cap)
    # without a PID file (P=0 runs nothing) the files are still made readable for the pull
    return captures.stop(dev.root(allow_adb_root=False), cap, pid or 0)


def _resolve(dev: Device, wanted: list[str]) -> list[DeviceCapture]:
    """Captures by name (``NAME``, ``NAME.pcap`` or their device path)."""
    known = {c.name: c for c in captures.list_captures(dev.transport)}
    out = []
    for w in wanted:
        name = Path(w).name.removesuffix(".pcap")
        if name not in known:
            raise DeviceError(f"no droidcap capture {w!r} on {dev.serial}: 'droidcap pull --list' "
                              "shows what is there")
        out.append(known[name])
    return out


def pull_capture(dev: Device, cap: DeviceCapture, output_dir: Path, *,
                 progress: Callable[[int, int], None] | None = None,
                 keep_on_device: bool = False) -> PulledFile:
    """Stop (if running), pull verified into ``output_dir/NAME.pcap`` with its NAME.json, delete."""
    local = output_dir / f"{cap.name}.pcap"
    meta = local.with_suffix(".json")
    for path in (local, meta):
        if path.exists():
            raise DeviceError(f"{path} already exists: droidcap never overwrites a capture; "
                              "pull into another --output directory")
    how = stop_capture(dev, cap)
    size = captures.file_size(dev.transport, cap.pcap)
    if size is None:
        # what a start that tcpdump refused left behind: no capture to lose, so it is cleared
        captures.remove(dev.root(allow_adb_root=False), cap)
        raise DeviceError(f"{cap.name} has no capture file (tcpdump never wrote one); its "
                          "leftover files were removed from the device")
    pulled = pull_verified(dev.transport, cap.pcap, local, expected_size=size,
                           progress=(lambda n: progress(n, size)) if progress else None)
    state = captures.read_state(dev.transport, cap)
    log = captures.read_text(dev.transport, cap.log)
    counts = captures.parse_counts(log)
    state.update({"stop": {"host": time.time(), "reason": "droidcap pull/stop",
                           "tcpdump_stopped_by": how},
                  "tcpdump_counts": counts.to_json() if counts else None,
                  "file": pulled.to_json() | {"path": local.name}, "recovered": True})
    meta.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    if not keep_on_device:
        captures.remove(dev.root(allow_adb_root=False), cap)
    return pulled


def pull_paths(dev: Device, remote: str, output_dir: Path, *,
               progress: Callable[[int, int], None] | None = None) -> PulledFile:
    """Pull any device file (not one of droidcap's) verified; it is left on the device."""
    if not remote.startswith("/"):
        raise DeviceError(f"{remote!r}: give an absolute device path (or a capture name)")
    size = captures.file_size(dev.transport, remote)
    if size is None:
        raise DeviceError(f"{remote} does not exist on {dev.serial}")
    local = output_dir / Path(remote).name
    return pull_verified(dev.transport, remote, local, expected_size=size,
                         capture=remote.endswith((".pcap", ".pcapng", ".cap")),
                         progress=(lambda n: progress(n, size)) if progress else None)


def select(dev: Device, wanted: list[str], *, all_: bool) -> list[DeviceCapture]:
    if all_:
        return captures.list_captures(dev.transport)
    return _resolve(dev, wanted)


__all__ = ["CaptureListing", "listing", "pull_capture", "pull_paths", "select", "stop_capture"]
