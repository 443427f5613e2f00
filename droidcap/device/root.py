"""Root on a device: which way works, found once, and running scripts as root the same way on all.

Phones get root in different ways, and their ``su`` commands disagree on arguments: Magisk,
KernelSU, APatch and SuperSU take ``su -c 'ONE STRING'``; AOSP/userdebug ``su`` takes
``su 0 CMD ARGS...`` and refuses ``-c``; some reset the working directory to ``/``.  What they
all do alike is read a shell script on standard input when started with no command.  So droidcap
never puts a command on su's command line: it starts ``su`` (or ``sh`` when adbd itself runs as
root) and writes the script to its stdin over shell v2, then closes stdin.  Scripts use absolute
paths only.

The method is detected once per device and cached by serial and build fingerprint (a new build may
change it); a cached answer that stops working is detected again.
"""

from __future__ import annotations

import enum
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from droidcap.device.adb import ShellResult, Transport
from droidcap.device.errors import AdbDeadlineError, DeviceError, NotRootedError
from droidcap.device.info import DeviceInfo


class RootMethod(enum.StrEnum):
    ADBD = "adbd"            #: adbd already runs as root (``adb root`` done, or an eng build)
    ADB_ROOT = "adb-root"    #: droidcap ran ``adb root`` (userdebug/eng builds)
    SU_C = "su-c"            #: Magisk / KernelSU / APatch / SuperSU: ``su -c`` style
    SU_0 = "su-0"            #: AOSP/userdebug ``su 0 CMD`` style
    NONE = "none"

    @property
    def label(self) -> str:
        return {"adbd": "adbd runs as root", "adb-root": "adb root",
                "su-c": "su (Magisk/KernelSU/SuperSU style, su -c)",
                "su-0": "su (AOSP style, su 0)", "none": "none"}[self.value]


_NOT_ROOTED_HELP = ("this device has no root droidcap can use (no working su, and adb root is "
                    "refused on production builds): root it (Magisk, KernelSU) or use a "
                    "userdebug/eng build or an emulator image without Google Play")


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "droidcap" / "root-methods.json"


def _load_cache() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store_cache(serial: str, fingerprint: str, method: RootMethod) -> None:
    data = _load_cache()
    data[serial] = {"fingerprint": fingerprint, "method": method.value}
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary file per writer: a lab run probes several devices from several threads
        tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs a probe next time


@dataclass(frozen=True, slots=True)
class RootShell:
    """Runs scripts as root on one device by ``method``."""

    transport: Transport
    method: RootMethod

    @property
    def entry(self) -> str:
        """The command whose stdin gets the script (never carries the script itself)."""
        return "sh" if self.method in (RootMethod.ADBD, RootMethod.ADB_ROOT) else "su"

    def run(self, script: str, *, timeout: float = 15.0, what: str = "root command") -> ShellResult:
        if self.method is RootMethod.NONE:
            raise NotRootedError(_NOT_ROOTED_HELP)
        body = script if script.endswith("\n") else script + "\n"
        return self.transport.shell(self.entry, stdin=body.encode(), timeout=timeout, what=what)

    def check(self, script: str, *, timeout: float = 15.0, what: str = "root command") -> str:
        """Run ``script``; its stdout, or a DeviceError with its last stderr line."""
        res = self.run(script, timeout=timeout, what=what)
        if not res.ok:
            raise DeviceError(f"{what} failed on {self.transport.serial} (exit {res.exit_code}): "
                              f"{res.err or res.out or 'no output'}")
        return res.stdout.decode(errors="replace")


def _is_root(res: ShellResult) -> bool:
    return res.ok and res.out.splitlines()[-1:] == ["0"]


#: Magisk asks the user to grant root to Shell the first time, and waits 10 s by default.
_SU_PROMPT_WAIT = 40.0


def _probe_su(transport: Transport) -> RootMethod | None:
    """Which su flavour works, if any: only probes with fixed, harmless arguments."""
    try:
        res = transport.shell("su", stdin=b"id -u\n", timeout=_SU_PROMPT_WAIT, what="su probe")
    except AdbDeadlineError:
        raise NotRootedError(f"su did not answer within {_SU_PROMPT_WAIT:g} s: if the phone shows "
                             "a root request, grant it to 'Shell' (Magisk: Superuser) and try "
                             "again") from None
    if not _is_root(res):
        return None
    c = transport.shell("su -c 'id -u'", timeout=10.0, what="su -c probe")
    return RootMethod.SU_C if _is_root(c) else RootMethod.SU_0


def _wait_for_adbd_root(transport: Transport, timeout: float) -> bool:
    """After ``adb root`` adbd restarts: wait for the device to come back, as root."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(0.3)
        try:
            if transport.state(timeout=2.0) != "device":
                continue
            if _is_root(transport.shell("id -u", timeout=3.0)):
                return True
        except DeviceError:
            continue
    return False


def detect(transport: Transport, info: DeviceInfo, *, allow_adb_root: bool = True,
           use_cache: bool = True) -> RootShell:
    """The way to root on this device (cached); :class:`NotRootedError` when there is none.

    ``allow_adb_root=False`` while a capture runs: restarting adbd is harmless to a detached
    tcpdump but would cut every stream droidcap has open."""
    if use_cache:
        cached = _load_cache().get(transport.serial)
        # A cached "none" is probed again: the phone may have been rooted since.
        if cached and cached.get("fingerprint") == info.fingerprint and cached.get("method") in (
                RootMethod.ADBD, RootMethod.ADB_ROOT, RootMethod.SU_C, RootMethod.SU_0):
            shell = RootShell(transport, RootMethod(cached["method"]))
            if _is_root(shell.run("id -u", what="root check")):
                return shell
    method = RootMethod.ADBD if _is_root(transport.shell("id -u", what="id")) else _probe_su(transport)
    if method is None and info.debuggable and allow_adb_root:
        answer = transport.restart_adbd_as_root()
        if "cannot run as root" not in answer and _wait_for_adbd_root(transport, 15.0):
            method = RootMethod.ADB_ROOT
    if method is None:
        _store_cache(transport.serial, info.fingerprint, RootMethod.NONE)
        raise NotRootedError(_NOT_ROOTED_HELP)
    _store_cache(transport.serial, info.fingerprint, method)
    return RootShell(transport, method)


def cached_method(serial: str, fingerprint: str) -> RootMethod | None:
    """What the cache says of a device without touching it (``droidcap devices``)."""
    entry = _load_cache().get(serial)
    if entry and entry.get("fingerprint") == fingerprint:
        try:
            return RootMethod(entry["method"])
        except ValueError:
            return None
    return None


__all__ = ["RootMethod", "RootShell", "cache_file", "cached_method", "detect"]
