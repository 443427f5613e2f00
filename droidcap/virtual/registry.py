"""Devices started by ``droidcap virtual start``: detached daemons and their state files.

Each device has a directory ``STATE/NAME/`` holding ``device.json`` (written by the daemon once it
listens, then completed with the adb server port), ``daemon.log`` and its ``sandbox/``.  A device
whose daemon is gone is stale and cleaned up by the next ``list``/``stop``.  ``STATE`` is
``$DROIDCAP_VIRTUAL_STATE``, else ``$XDG_RUNTIME_DIR/droidcap/virtual``, else
``~/.cache/droidcap/virtual``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from droidcap.errors import DeviceError
from droidcap.virtual import adb_host
from droidcap.virtual.profile import load_profile

START_TIMEOUT_S = 20.0


class RegistryError(DeviceError):
    """Starting, finding or stopping a background virtual device failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A running background device."""

    name: str
    pid: int
    serial: str
    port: int
    profile: str
    serialno: str
    sandbox: str
    adb_port: int | None = None
    host_address: str | None = None    #: the host as the device reaches it (serve RTMP here)
    device_address: str | None = None  #: the device's wlan0


def state_dir() -> Path:
    env = os.environ.get("DROIDCAP_VIRTUAL_STATE")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "droidcap" / "virtual"
    return Path.home() / ".cache" / "droidcap" / "virtual"


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"droidcap.virtual.daemon" in cmdline and state != "Z"


def _read(entry: Path) -> DeviceRecord | None:
    try:
        data = json.loads((entry / "device.json").read_text())
        return DeviceRecord(name=entry.name, **{k: data[k] for k in (
            "pid", "serial", "port", "profile", "serialno", "sandbox")},
            adb_port=data.get("adb_port"), host_address=data.get("host_address"),
            device_address=data.get("device_address"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_devices() -> list[DeviceRecord]:
    """Running devices, oldest first; directories of dead daemons are removed."""
    root = state_dir()
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not entry.is_dir():
            continue
        rec = _read(entry)
        if rec is not None and _alive(rec.pid):
            out.append(rec)
        elif rec is not None or not (entry / "starting").exists():
            shutil.rmtree(entry, ignore_errors=True)
    return out


def start_devices(profile: str | None, count: int = 1, *, adb_port: int | None = None,
                  adb: str | None = None) -> list[DeviceRecord]:
    """Start ``count`` detached devices and register them with the adb server."""
    if count < 1:
        raise RegistryError("--count must be at least 1")
    prof = load_profile(profile)  # fail here, with one line, before anything starts
    spec = profile
    if spec is not None and Path(spec).is_file():
        spec = str(Path(spec).resolve())
    running = list_devices()
    used_names = {r.name for r in running}
    used_serialnos = {r.serialno for r in running}
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    port = adb_host.default_server_port() if adb_port is None else adb_port
    started: list[DeviceRecord] = []
    try:
        for _ in range(count):
            n = 1
            while f"vdev{n}" in used_names:
                n += 1
            name = f"vdev{n}"
            used_names.add(name)
            serialno = prof.serialno
            if count > 1 or serialno in used_serialnos:
                serialno = f"{prof.serialno}{n:02d}"
            used_serialnos.add(serialno)
            rec = _spawn(root / name, spec, serialno)
            adb_host.connect(rec.serial, adb_port=port, adb=adb)
            rec = DeviceRecord(**{**asdict(rec), "adb_port": port})
            (root / name / "device.json").write_text(json.dumps(asdict(rec)))
            started.append(rec)
    except DeviceError:
        for rec in started:
            _stop(rec)
        raise
    return started


def _spawn(home: Path, profile: str | None, serialno: str) -> DeviceRecord:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "starting").touch()
    state = home / "device.json"
    argv = [sys.executable, "-m", "droidcap.virtual.daemon", "--sandbox", str(home / "sandbox"),
            "--state-file", str(state), "--serialno", serialno]
    if profile is not None:
        argv += ["--profile", profile]
    with open(home / "daemon.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not state.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            log_text = (home / "daemon.log").read_text(errors="replace").strip().splitlines()
            shutil.rmtree(home, ignore_errors=True)
            last = log_text[-1] if log_text else "no output"
            raise RegistryError(f"virtual device did not start: {last.removeprefix('droidcap: ')}")
        time.sleep(0.05)
    (home / "starting").unlink(missing_ok=True)
    rec = _read(home)
    if rec is None:
        raise RegistryError(f"virtual device wrote an unreadable {state}")
    return rec


def stop_devices(selectors: list[str] | None = None, *, adb: str | None = None) -> list[DeviceRecord]:
    """Stop the devices named by serial, ro.serialno or name (all when empty); returns them."""
    running = list_devices()
    if selectors:
        chosen = [r for r in running if {r.serial, r.serialno, r.name} & set(selectors)]
        missing = set(selectors) - {k for r in chosen for k in (r.serial, r.serialno, r.name)}
        if missing:
            raise RegistryError(f"no running virtual device {sorted(missing)[0]!r} "
                                "(see `droidcap virtual list`)")
    else:
        chosen = running
    for rec in chosen:
        _stop(rec, adb=adb)
    return chosen


def _stop(rec: DeviceRecord, *, adb: str | None = None) -> None:
    if rec.adb_port is not None:
        try:
            adb_host.disconnect(rec.serial, adb_port=rec.adb_port, adb=adb)
        except DeviceError:
            pass
    try:
        os.kill(rec.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while _alive(rec.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(rec.pid):
        os.kill(rec.pid, signal.SIGKILL)
    shutil.rmtree(state_dir() / rec.name, ignore_errors=True)
