"""Captures on the device: started detached, found again from any process, stopped by PID.

Each capture lives in ``/data/local/tmp/droidcap/captures/`` as four files named after it:
``NAME.json`` (what droidcap started, pushed before tcpdump runs), ``NAME.pid`` (written by the
root script the moment tcpdump is started), ``NAME.log`` (tcpdump's stderr: its errors and its
counts) and ``NAME.pcap``.  tcpdump runs in a session of its own (``setsid``), with no terminal and
stdin from ``/dev/null``, so a pulled cable, a killed ``droidcap`` or an adb server restart does not
stop it; ``droidcap stop`` in a new process finds it by these files.

It is stopped by PID — never by name, which would kill other people's tcpdumps — and only after
checking that the PID still runs *our* command line (a PID can be reused): SIGINT (tcpdump flushes
and prints its counts), a bounded wait, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from droidcap.device.adb import Transport
from droidcap.device.errors import CaptureError
from droidcap.device.root import RootShell
from droidcap.device.tcpdump import CAPTURE_DIR, TcpdumpBinary

_COUNT = re.compile(r"(\d+) packets? (captured|received by filter|dropped by kernel)")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpdumpCounts:
    """tcpdump's own counts, as it prints them on SIGINT or SIGUSR1."""

    captured: int
    received: int
    dropped: int

    def to_json(self) -> dict[str, int]:
        return {"captured": self.captured, "received_by_filter": self.received,
                "dropped_by_kernel": self.dropped}


def parse_counts(log: str) -> TcpdumpCounts | None:
    """The last complete set of counts in tcpdump's stderr, or None if it printed none."""
    found: dict[str, int] = {}
    last: TcpdumpCounts | None = None
    for m in _COUNT.finditer(log):
        found[m.group(2)] = int(m.group(1))
        if m.group(2) == "dropped by kernel" and len(found) == 3:
            last = TcpdumpCounts(captured=found["captured"], received=found["received by filter"],
                                 dropped=found["dropped by kernel"])
            found = {}
    return last


def tcpdump_error(log: str) -> str:
    """The line of tcpdump's stderr that says why it failed (its own words)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith(("listening on", "tcpdump: listening",
                                                                "tcpdump: verbose"))]
    return (errors or lines or ["tcpdump exited without a word"])[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCapture:
    """A capture's files on the device."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise CaptureError(f"invalid capture name {self.name!r}: letters, digits, '.', '_' "
                               "and '-' only")

    @property
    def pcap(self) -> str:
        return f"{CAPTURE_DIR}/{self.name}.pcap"

    @property
    def log(self) -> str:
        return f"{CAPTURE_DIR}/{self.name}.log"

    @property
    def pidfile(self) -> str:
        return f"{CAPTURE_DIR}/{self.name}.pid"

    @property
    def state(self) -> str:
        return f"{CAPTURE_DIR}/{self.name}.json"


def _ours_function(cap: DeviceCapture, pid: int) -> str:
    """Shell function ``ours``: is ``pid`` still running our tcpdump (not a reused PID)?"""
    return (f"P={pid}; F={shlex.quote(cap.pcap)}\n"
            "ours() { [ -r /proc/$P/cmdline ] && tr '\\0' ' ' < /proc/$P/cmdline | grep -qF -- \"$F\"; }\n")


def start(root: RootShell, tcpdump: TcpdumpBinary, cap: DeviceCapture, *, interface: str,
          bpf: str, wait: float = 6.0) -> int:
    """Start tcpdump detached as root; its PID once it is capturing.  tcpdump's own error
    (a bad filter, an unknown interface) becomes a :class:`CaptureError` in its words."""
    argv = [tcpdump.path, "-i", interface, "-p", "-n", "-U", "-s", "0", "-w", cap.pcap]
    if bpf:
        argv.append(bpf)
    command = " ".join(shlex.quote(a) for a in argv)
    tries = int(wait / 0.1)
    script = (
        f"cd {CAPTURE_DIR} || exit 90\n"
        f"setsid {command} </dev/null >{shlex.quote(cap.log)} 2>&1 &\n"
        "PID=$!\n"
        f"echo $PID > {shlex.quote(cap.pidfile)}\n"
        "i=0\n"
        f"while [ $i -lt {tries} ]; do\n"
        f"  grep -q 'listening on' {shlex.quote(cap.log)} 2>/dev/null && break\n"
        "  [ -d /proc/$PID ] || break\n"
        "  sleep 0.1; i=$((i+1))\ndone\n"
        f"chmod 0644 {shlex.quote(cap.log)} 2>/dev/null\n"
        f"if grep -q 'listening on' {shlex.quote(cap.log)} 2>/dev/null && [ -d /proc/$PID ]; then\n"
        "  echo \"started $PID\"; exit 0\nfi\n"
        f"kill -KILL $PID 2>/dev/null; cat {shlex.quote(cap.log)}; exit 3\n")
    res = root.run(script, timeout=wait + 10.0, what="starting tcpdump")
    text = res.stdout.decode(errors="replace")
    m = re.search(r"^started (\d+)$", text, re.M)
    if res.ok and m:
        return int(m.group(1))
    if res.exit_code == 90:
        raise CaptureError(f"{CAPTURE_DIR} is missing on the device: run 'droidcap doctor'")
    raise CaptureError(f"tcpdump did not start: {tcpdump_error(text + res.stderr.decode(errors='replace'))}")


def is_running(root: RootShell, cap: DeviceCapture, pid: int) -> bool:
    res = root.run(_ours_function(cap, pid) + "ours && echo running || echo gone\n",
                   timeout=10.0, what="checking tcpdump")
    return res.out.endswith("running")


def request_counts(root: RootShell, cap: DeviceCapture, pid: int) -> TcpdumpCounts | None:
    """Ask a running tcpdump for its counts (SIGUSR1) and read them from its log."""
    res = root.run(_ours_function(cap, pid) +
                   f"ours && kill -USR1 $P; sleep 0.05; tail -c 4096 {shlex.quote(cap.log)}\n",
                   timeout=10.0, what="tcpdump counts")
    return parse_counts(res.stdout.decode(errors="replace"))


def stop(root: RootShell, cap: DeviceCapture, pid: int, *, grace: float = 5.0) -> str:
    """Stop our tcpdump: SIGINT, wait up to ``grace``, then SIGTERM, then SIGKILL.  Returns the
    signal that ended it (``INT``, ``TERM``, ``KILL``) or ``gone`` if it had already ended."""
    steps = int(grace / 0.1)
    chmod = f"chmod 0644 {shlex.quote(cap.pcap)} {shlex.quote(cap.log)} 2>/dev/null\n"
    script = _ours_function(cap, pid) + (
        "ours || { " + chmod.strip() + "; echo gone; exit 0; }\n"
        "for SIG in INT TERM KILL; do\n"
        "  kill -$SIG $P 2>/dev/null\n"
        "  i=0\n"
        f"  while ours && [ $i -lt {steps} ]; do sleep 0.1; i=$((i+1)); done\n"
        "  ours || { echo $SIG; break; }\n"
        "done\n" + chmod +
        "ours && { echo still-running; exit 4; }\nexit 0\n")
    res = root.run(script, timeout=3 * grace + 10.0, what="stopping tcpdump")
    if res.exit_code == 4:
        raise CaptureError(f"tcpdump (pid {pid}) survived SIGKILL on {root.transport.serial}")
    if not res.ok:
        raise CaptureError(f"stopping tcpdump failed: {res.err or res.out}")
    return res.out.splitlines()[-1] if res.out else "gone"


def read_text(transport: Transport, path: str, *, limit: int = 1 << 20) -> str:
    """A small device file as text ('' when it does not exist)."""
    res = transport.shell(f"tail -c {limit} {shlex.quote(path)} 2>/dev/null", timeout=15.0,
                          what=f"reading {path}")
    return res.stdout.decode(errors="replace") if res.ok else ""


def read_pid(transport: Transport, cap: DeviceCapture) -> int | None:
    text = read_text(transport, cap.pidfile).strip()
    return int(text) if text.isdigit() else None


def read_state(transport: Transport, cap: DeviceCapture) -> dict[str, object]:
    try:
        data = json.loads(read_text(transport, cap.state) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def write_state(transport: Transport, cap: DeviceCapture, state: dict[str, object]) -> None:
    transport.push(json.dumps(state, indent=1, sort_keys=True).encode(), cap.state, timeout=15.0)


def list_captures(transport: Transport) -> list[DeviceCapture]:
    """Every capture droidcap left on the device (by its pcap, pid or state file)."""
    res = transport.shell(f"ls {CAPTURE_DIR} 2>/dev/null", timeout=15.0, what="listing captures")
    names: dict[str, None] = {}
    for entry in res.out.split():
        stem, dot, ext = entry.rpartition(".")
        if dot and ext in ("pcap", "pid", "json", "log") and _NAME.match(stem):
            names[stem] = None
    return [DeviceCapture(name=n) for n in sorted(names)]


def remove(root: RootShell, cap: DeviceCapture) -> None:
    """Delete a capture's files from the device (only after its pulled copy was verified)."""
    paths = " ".join(shlex.quote(p) for p in (cap.pcap, cap.log, cap.pidfile, cap.state))
    root.check(f"rm -f {paths}", what="deleting the capture on the device")


def file_size(transport: Transport, path: str) -> int | None:
    """A device file's size in bytes (64-bit, from ``stat``; adbutils' STAT is 32-bit)."""
    res = transport.shell(f"stat -c %s {shlex.quote(path)}", timeout=15.0, what=f"stat {path}")
    return int(res.out) if res.ok and res.out.isdigit() else None


__all__ = ["DeviceCapture", "TcpdumpCounts", "file_size", "is_running", "list_captures",
           "parse_counts", "read_pid", "read_state", "remove", "request_counts", "start",
           "stop", "tcpdump_error", "write_state"]
