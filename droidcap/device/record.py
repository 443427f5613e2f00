"""``record``: the whole capture, as a careful engineer does it by hand, on any rooted phone.

1. Root and our tcpdump (pushed and verified once); refuse when a capture of ours already runs.
2. tcpdump started detached (``captures.start``) with a filter that always leaves out the device's
   own adb-over-TCP transport, so droidcap never captures itself.
3. With ``play``, the URL is opened on the device (VIEW intent) once tcpdump is capturing.
4. Progress (bytes and tcpdump's own packet counts) until the duration, a stop request, or
   (``live``) the played stream's end.
5. tcpdump stopped by PID; the player force-stopped; the file pulled verified (or the live copy
   checked against it); ``NAME.pcap`` + ``NAME.json`` written; only then the device copy deleted.

A run interrupted before step 5 finished leaves the capture on the device, whole, and says which
``droidcap pull`` recovers it; no file on the host is ever named ``.pcap`` before it was verified.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import droidcap
from droidcap.device import captures
from droidcap.device.captures import DeviceCapture, TcpdumpCounts
from droidcap.device.device import Device
from droidcap.device.errors import CaptureError, CaptureRunningError, DeviceError
from droidcap.device.live import LiveCopy, LiveMilestone
from droidcap.device.tcpdump import TcpdumpBinary, TcpdumpSource
from droidcap.device.transfer import PulledFile, adopt_verified, pull_verified

RTMP_PORT = 1935
_DEFAULT_PORTS = {"rtmp": 1935, "rtmpt": 80, "rtmps": 443, "rtmpe": 1935, "rtmfp": 1935}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordOptions:
    play: str | None = None           #: URL opened on the device once the capture runs
    player: str | None = None         #: PKG or PKG/ACTIVITY that plays it (default: the VIEW handler)
    publish: str | None = None        #: URL a broadcasting app on the device publishes to
    publisher: str | None = None      #: PKG/ACTIVITY of that app (there is no default publisher)
    bpf: str | None = None            #: capture filter; None: RTMP's port and the URL's
    interface: str = "any"
    duration: float | None = None     #: seconds; None: until stopped
    output: Path | None = None        #: NAME.pcap; None: droidcap-SERIAL-TIME.pcap here
    live: bool = False
    keep_on_device: bool = False
    tcpdump: TcpdumpSource = TcpdumpSource.OURS
    command_line: tuple[str, ...] = ()


# ----- events a caller (the CLI, a lab runner) is told of
@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureProgress:
    elapsed: float
    bytes: int
    packets: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferProgress:
    what: str
    done: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordWarning:
    text: str


RecordEvent = Phase | CaptureProgress | TransferProgress | LiveMilestone | RecordWarning


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordResult:
    pcap: Path
    metadata: Path
    pulled: PulledFile
    counts: TcpdumpCounts | None
    stop_reason: str
    kept_on_device: bool
    milestones: tuple[LiveMilestone, ...] = ()


def valid_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise DeviceError(f"--play needs an rtmp:// URL with a host (rtmp, rtmps, rtmpt), not {url!r}")
    if any(c in url for c in "\n\r\0"):
        raise DeviceError("--play URL must be one line")
    return url


def url_port(url: str) -> int:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DeviceError(f"--play URL has an invalid port: {url!r}") from None
    return port or _DEFAULT_PORTS.get(parts.scheme.lower(), RTMP_PORT)


def capture_filter(bpf: str | None, play: str | None, adb_ports: tuple[int, ...] | int | None) -> str:
    """The BPF tcpdump runs: the user's (or RTMP's port plus the URL's), never adb's own transport."""
    if bpf is None:
        wanted = dict.fromkeys([RTMP_PORT] + ([url_port(play)] if play else []))
        bpf = " or ".join(f"tcp port {p}" for p in wanted)
    if "\n" in bpf or "\0" in bpf:
        raise DeviceError("--filter must be one line")
    adb = (adb_ports,) if isinstance(adb_ports, int) else tuple(adb_ports or ())
    if not adb:
        return bpf
    exclude = "not (" + " or ".join(f"tcp port {p}" for p in adb) + ")"
    return f"({bpf}) and {exclude}" if bpf.strip() else exclude


_PLAYER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+(/[A-Za-z0-9_.$]+)?$")


def valid_player(player: str) -> str:
    if not _PLAYER.match(player):
        raise DeviceError(f"--player must be an Android package (com.example.app) or component "
                          f"(com.example.app/.PlayerActivity), not {player!r}")
    return player


def default_name(serial: str, when: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "_", serial).strip("_") or "device"
    return f"droidcap-{safe}-{when.strftime('%Y%m%d-%H%M%S')}"


def device_name(stem: str, taken: Collection[str] = ()) -> str:
    """The capture's name on the device: the host name's letters, digits, '.', '_' and '-' only
    (an output name with quotes or spaces never reaches the device shell), never one a capture
    left on the device already has (that capture would be overwritten)."""
    base = (re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "capture")[:100]
    name, n = base, 1
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def output_paths(options: RecordOptions, serial: str, when: datetime) -> tuple[Path, Path]:
    """``NAME.pcap`` and ``NAME.json``; refuses to overwrite either."""
    pcap = options.output or Path(default_name(serial, when) + ".pcap")
    if pcap.suffix != ".pcap":
        pcap = pcap.with_name(pcap.name + ".pcap")
    meta = pcap.with_suffix(".json")
    for p in (pcap, meta, pcap.with_name(pcap.name + ".part")):
        if p.exists():
            raise DeviceError(f"{p} already exists: droidcap never overwrites a capture; "
                              "choose another --output")
    if not pcap.parent.is_dir():
        raise DeviceError(f"directory {pcap.parent} does not exist")
    if not os.access(pcap.parent, os.W_OK | os.X_OK):
        raise DeviceError(f"cannot write to {pcap.parent}: choose another --output")
    return pcap, meta


def device_clock(dev: Device) -> tuple[float, float]:
    """(device time, offset device − host) from one ``date`` round trip, midpoint-corrected."""
    t0 = time.time()
    res = dev.transport.shell("date +%s.%N", timeout=10.0, what="date")
    t1 = time.time()
    try:
        device_now = float(res.out)
    except ValueError:
        device_now = float(res.out.split(".")[0]) if res.out.split(".")[0].isdigit() else t1
    return device_now, device_now - (t0 + t1) / 2


def _binary_size(dev: Device) -> int | None:
    from droidcap import tcpdump_bins

    try:
        return tcpdump_bins.binary_path(tcpdump_bins.pick_abi(",".join(dev.info.abis))).stat().st_size
    except (DeviceError, OSError):
        return None


def running_captures(dev: Device) -> list[tuple[DeviceCapture, int]]:
    """Captures of ours whose tcpdump still runs."""
    root = dev.root(allow_adb_root=False)
    out = []
    for cap in captures.list_captures(dev.transport):
        pid = captures.read_pid(dev.transport, cap)
        if pid is not None and captures.is_running(root, cap, pid):
            out.append((cap, pid))
    return out


@dataclass
class Recording:
    """One ``record`` run, step by step, so a caller can interrupt between steps."""

    device: Device
    options: RecordOptions
    on_event: Callable[[RecordEvent], None] = lambda e: None
    cap: DeviceCapture | None = None
    pid: int | None = None
    tcpdump: TcpdumpBinary | None = None
    pcap: Path | None = None
    meta_path: Path | None = None
    milestones: list[LiveMilestone] = field(default_factory=list)
    _state: dict[str, object] = field(default_factory=dict)
    start_attempted: bool = False  #: tcpdump may run on the device (even if its PID is unknown)
    _live: LiveCopy | None = None
    _live_file: BinaryIO | None = None
    _player_package: str | None = None
    _started_mono: float = 0.0

    # ----- 1-3
    def start(self, stop: threading.Event | None = None) -> None:
        """Steps 1-3.  ``stop`` set meanwhile (Ctrl-C) aborts before tcpdump is started, leaving
        nothing behind (at worst a ``.part`` of the tcpdump push)."""
        dev, opt = self.device, self.options

        def check_stop() -> None:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt

        if opt.play:
            valid_url(opt.play)
        if opt.player:
            valid_player(opt.player)
        if opt.publish:
            if opt.play:
                raise DeviceError("--play and --publish exclude each other: a record follows one stream")
            valid_url(opt.publish)
            if not opt.publisher:
                raise DeviceError("--publish needs --publisher PKG/ACTIVITY: Android has no default "
                                  "app that publishes a URL")
            valid_player(opt.publisher)
        if opt.interface and not re.match(r"^[A-Za-z0-9_.:@-]{1,32}$", opt.interface):
            raise DeviceError(f"invalid --interface {opt.interface!r}: an interface name like any, wlan0")
        when = datetime.now(UTC)
        self.pcap, self.meta_path = output_paths(opt, dev.serial, when)
        bpf = capture_filter(opt.bpf, opt.play or opt.publish, dev.info.adb_ports)
        self._emit(Phase(text=f"device {dev.serial}: {dev.info.manufacturer} {dev.info.model}, "
                              f"Android {dev.info.release}, {','.join(dev.info.abis)}"))
        # Captures left on the device (listed as the shell user): their names are taken, and
        # adbd must not be restarted for root while one of them may still be running.
        left = {c.name for c in captures.list_captures(dev.transport)}
        root = dev.root(allow_adb_root=not left)
        busy = running_captures(dev)
        if busy:
            names = ", ".join(c.name for c, _ in busy)
            raise CaptureRunningError(
                f"a droidcap capture is already running on {dev.serial} ({names}): stop it with "
                f"'droidcap stop -s {dev.serial}' (one capture per device at a time)")
        self._emit(Phase(text=f"root: {root.method.label}"))
        check_stop()
        total = _binary_size(dev)

        def pushed(n: int) -> None:
            check_stop()
            self._emit(TransferProgress(what="pushing tcpdump", done=n, total=total or n))

        self.tcpdump = dev.tcpdump(opt.tcpdump, progress=pushed)
        self._emit(Phase(text=f"tcpdump {self.tcpdump.version} at {self.tcpdump.path}"
                              + (" (pushed, SHA-256 verified)" if self.tcpdump.pushed else "")))
        free = dev.free_bytes()
        if free is not None and free < 16 * 1024 * 1024:
            raise CaptureError(f"only {free // 1024} KiB free in /data on {dev.serial}: "
                               "free some space first")
        self.cap = DeviceCapture(name=device_name(self.pcap.stem, left))
        device_start, offset = device_clock(dev)
        self._state = {
            "droidcap_version": droidcap.__version__, "name": self.cap.name,
            "command_line": list(opt.command_line), "device": dev.info.to_json(),
            "root_method": root.method.value, "tcpdump": self.tcpdump.to_json(),
            "interface": opt.interface, "filter": bpf, "play": opt.play, "player": opt.player,
            "publish": opt.publish, "publisher": opt.publisher,
            "device_path": self.cap.pcap,
            "start": {"host": time.time(), "device": device_start},
            "clock_offset_seconds": round(offset, 6),
        }
        if opt.live:  # the host copy's file first: a directory we cannot write fails here
            part = self.pcap.with_name(self.pcap.name + ".part")
            try:
                self._live_file = open(part, "xb")  # noqa: SIM115 - closed in collect/abandon
            except OSError as err:
                raise DeviceError(f"cannot create {part}: {err.strerror}") from None
        check_stop()
        captures.write_state(dev.transport, self.cap, self._state)
        self.start_attempted = True
        try:
            self.pid = captures.start(root, self.tcpdump, self.cap, interface=opt.interface, bpf=bpf)
        except CaptureError:
            # tcpdump said no (bad filter, interface): nothing runs, so nothing may stay behind
            captures.remove(root, self.cap)
            self.start_attempted = False
            self.abandon_live_copy(remove=True)
            raise
        self._started_mono = time.monotonic()
        self._emit(Phase(text=f"capturing on {opt.interface} (tcpdump pid {self.pid}), filter: {bpf}"))
        if self._live_file is not None:
            self._start_live()
        if opt.play:
            self._open(opt.play, opt.player, "playing")
        elif opt.publish and opt.publisher:
            self._open(opt.publish, opt.publisher, "publishing to")

    def _start_live(self) -> None:
        assert self.cap is not None and self._live_file is not None
        self._live = LiveCopy(self.device.transport, self.cap.pcap, self._live_file,
                              on_milestone=self._milestone,
                              on_error=lambda text: self._emit(RecordWarning(text=text)))
        self._live.start()

    def _milestone(self, m: LiveMilestone) -> None:
        self.milestones.append(m)
        self._emit(m)

    def _open(self, url: str, player: str | None, doing: str) -> None:
        """Hand ``url`` to an app with a VIEW intent (``player``'s component or package, else the
        URL's handler), as tapping a link would; the app is force-stopped at the end."""
        t = self.device.transport
        cmd = ["am", "start", "-a", "android.intent.action.VIEW", "-d", url]
        if player:
            cmd += ["-n", player] if "/" in player else ["-p", player]
            self._player_package = player.split("/")[0]
        else:
            res = t.shell("cmd package resolve-activity --brief -a android.intent.action.VIEW -d "
                          + shlex.quote(url), timeout=10.0, what="resolve-activity")
            last = res.out.splitlines()[-1] if res.out else ""
            self._player_package = last.split("/")[0] if "/" in last else None
        res = t.shell(" ".join(shlex.quote(c) for c in cmd), timeout=20.0, what="am start")
        if not res.ok or "Error" in res.out or "Error" in res.err:
            self._emit(RecordWarning(text=f"am start failed: {res.err or res.out}"))
        else:
            self._emit(Phase(text=f"{doing} {url}" + (f" with {self._player_package}"
                                                       if self._player_package else "")))

    # ----- 4
    def wait(self, stop: threading.Event | None = None) -> str:
        """Report progress until the duration passes, ``stop`` is set, the live stream ends or
        tcpdump dies; returns why it stopped."""
        assert self.cap is not None and self.pid is not None
        stop = stop or threading.Event()
        root = self.device.root(allow_adb_root=False)
        packets: int | None = None
        last_counts = 0.0
        while True:
            elapsed = time.monotonic() - self._started_mono
            if self.options.duration is not None and elapsed >= self.options.duration:
                return "duration"
            if stop.is_set():
                return "interrupted"
            if self._live is not None and self._live.stream_ended.is_set():
                return "stream ended"
            try:
                if time.monotonic() - last_counts >= 2.0:
                    last_counts = time.monotonic()
                    counts = captures.request_counts(root, self.cap, self.pid)
                    if counts is None and not captures.is_running(root, self.cap, self.pid):
                        return "tcpdump exited"
                    packets = counts.captured if counts else packets
                size = (self._live.bytes if self._live is not None
                        else captures.file_size(self.device.transport, self.cap.pcap) or 0)
                self._emit(CaptureProgress(elapsed=elapsed, bytes=size, packets=packets))
            except DeviceError as err:
                self._emit(RecordWarning(text=f"progress unavailable: {err}"))
            stop.wait(min(1.0, max(0.05, (self.options.duration or 1e9) - elapsed)))

    # ----- 5
    def stop_capture(self) -> tuple[TcpdumpCounts | None, str]:
        """Stop tcpdump and the player; tcpdump's counts and the signal that ended it."""
        assert self.cap is not None and self.pid is not None
        root = self.device.root(allow_adb_root=False)
        how = captures.stop(root, self.cap, self.pid)
        if self._player_package:
            self.device.transport.shell(f"am force-stop {shlex.quote(self._player_package)}",
                                        timeout=10.0, what="am force-stop")
        log = captures.read_text(self.device.transport, self.cap.log)
        return captures.parse_counts(log), how

    def collect(self, stop_reason: str, counts: TcpdumpCounts | None, how: str,
                interrupt: threading.Event | None = None) -> RecordResult:
        """Pull (or adopt the live copy), verify, write NAME.json, then delete on the device."""
        assert self.cap is not None and self.pcap is not None and self.meta_path is not None
        t = self.device.transport
        size = captures.file_size(t, self.cap.pcap)
        if size is None:
            raise CaptureError(f"tcpdump left no capture file on {t.serial}: "
                               f"{captures.tcpdump_error(captures.read_text(t, self.cap.log))}")
        pulled: PulledFile | None = None
        if self._live is not None and self._live_file is not None:
            self._live.stop(final_size=size)
            self._live_file.close()
            part = self.pcap.with_name(self.pcap.name + ".part")
            from droidcap.device.tcpdump import remote_sha256

            sha = remote_sha256(t, self.cap.pcap)
            if sha is not None:
                pulled = adopt_verified(part, self.pcap, size=size, device_sha=sha)
            if pulled is None:
                self._emit(RecordWarning(text="the live copy differs from the device's file: pulling it again"))
                part.unlink(missing_ok=True)
        if pulled is None:
            self._emit(Phase(text=f"pulling {size} bytes"))
            def pulling(n: int) -> None:
                if interrupt is not None and interrupt.is_set():
                    raise KeyboardInterrupt
                self._emit(TransferProgress(what="pulling", done=n, total=size))

            pulled = pull_verified(t, self.cap.pcap, self.pcap, expected_size=size, progress=pulling)
        if pulled.trimmed_bytes:
            self._emit(RecordWarning(text=f"tcpdump was cut off mid-record: the last {pulled.trimmed_bytes} "
                                    "bytes (a partial packet) were trimmed"))
        if counts is not None and counts.captured > pulled.records:
            # tcpdump -U ignores write errors: a full /data loses packets silently
            self._emit(RecordWarning(text=f"tcpdump captured {counts.captured} packets but the file holds "
                                    f"{pulled.records}: the device's storage is probably full"))
        device_stop, offset = device_clock(self.device)
        meta = dict(self._state)
        meta.update({
            "stop": {"host": time.time(), "device": device_stop, "reason": stop_reason,
                     "tcpdump_stopped_by": how},
            "clock_offset_seconds_at_stop": round(offset, 6),
            "tcpdump_counts": counts.to_json() if counts else None,
            "file": pulled.to_json() | {"path": self.pcap.name},
            "milestones": [{"conn": m.conn, "name": m.name, "capture_time": m.capture_time}
                           for m in self.milestones],
        })
        tmp = self.meta_path.with_name(self.meta_path.name + ".part")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.meta_path)
        if not self.options.keep_on_device:
            captures.remove(self.device.root(allow_adb_root=False), self.cap)
        return RecordResult(pcap=self.pcap, metadata=self.meta_path, pulled=pulled, counts=counts,
                            stop_reason=stop_reason, kept_on_device=self.options.keep_on_device,
                            milestones=tuple(self.milestones))

    def abandon_live_copy(self, *, remove: bool = False) -> None:
        """After an abort: end the live stream; its ``.part`` file stays, named as incomplete
        (``remove``: deleted, when tcpdump never ran and it holds nothing)."""
        if self._live is not None:
            self._live.stop(final_size=None, wait=2.0)
            self._live = None
        if self._live_file is not None:
            self._live_file.close()
            if remove:
                Path(self._live_file.name).unlink(missing_ok=True)
            self._live_file = None

    def recovery_hint(self) -> str:
        name = self.cap.name if self.cap else "--all"
        return f"droidcap pull -s {self.device.serial} {name}"

    def _emit(self, event: RecordEvent) -> None:
        self.on_event(event)


def record(device: Device, options: RecordOptions = RecordOptions(), *,
           on_event: Callable[[RecordEvent], None] | None = None,
           stop: threading.Event | None = None) -> RecordResult:
    """Record on ``device`` until ``options.duration`` or ``stop``; the verified capture.

    For scripts and the lab runner; the CLI drives :class:`Recording` itself to handle Ctrl-C."""
    rec = Recording(device, options if options.command_line else replace(
        options, command_line=tuple(sys.argv)), on_event or (lambda e: None))
    try:
        rec.start(stop)
        reason = rec.wait(stop)
        counts, how = rec.stop_capture()
        return rec.collect(reason, counts, how)
    except BaseException:
        # whatever went wrong, tcpdump does not stay running and the live threads end
        if rec.pid is not None:
            try:
                rec.stop_capture()
            except DeviceError:
                pass
        rec.abandon_live_copy()
        raise


__all__ = ["CaptureProgress", "Phase", "RecordEvent", "RecordOptions", "RecordResult", "RecordWarning",
           "Recording", "TransferProgress", "capture_filter", "record", "running_captures", "url_port",
           "valid_url"]
