"""``droidcap devices``, ``doctor``, ``record``, ``pull``, ``stop``: thin over :mod:`droidcap.device`."""

from __future__ import annotations

import enum
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from droidcap.cli import app, fail
from droidcap.errors import DeviceError, DroidcapError

if TYPE_CHECKING:
    from droidcap.device import Device, Recording
    from droidcap.device.captures import DeviceCapture, TcpdumpCounts

SerialOpt = Annotated[str | None, typer.Option("--serial", "-s", envvar="ANDROID_SERIAL",
                      help="The device (default: $ANDROID_SERIAL, else the only one attached).")]
class TcpdumpChoice(enum.StrEnum):
    """``--tcpdump``'s choices, shown in ``--help`` (droidcap.device.tcpdump.TcpdumpSource has the
    same values; it is not imported here so that ``--help`` does not load adbutils)."""

    ours = "ours"
    device = "device"


TcpdumpOpt = Annotated[TcpdumpChoice, typer.Option(
    help="ours (droidcap's static build, pushed and verified) or the device's own.")]

AdbOpt = Annotated[str | None, typer.Option("--adb", metavar="HOST:PORT",
                   help="The adb server (default: $ANDROID_ADB_SERVER_HOST/PORT, else 127.0.0.1:5037).")]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class _Printer:
    """What a person sees while recording: phases as lines, progress on one line (a tty) or a
    line every few seconds (a log)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._last_line = 0.0
        self._open_line = False
        #: while a TUI owns the terminal: lines are kept (printed by ``resume``), progress dropped
        self.held: list[str] | None = None

    def hold(self) -> None:
        self.held = []

    def resume(self) -> None:
        held, self.held = self.held or [], None
        for text in held:
            self.line(text)

    def line(self, text: str) -> None:
        if self.held is not None:
            self.held.append(text)
            return
        if self._open_line:
            sys.stderr.write("\n")
            self._open_line = False
        sys.stderr.write(f"droidcap: {text}\n")
        sys.stderr.flush()

    def status(self, text: str, *, every: float = 5.0) -> None:
        if self.held is not None:
            return
        if self.tty:
            sys.stderr.write(f"\r\x1b[2K  {text}")
            self._open_line = True
            sys.stderr.flush()
        elif time.monotonic() - self._last_line >= every:
            self._last_line = time.monotonic()
            sys.stderr.write(f"  {text}\n")
            sys.stderr.flush()

    def event(self, ev: Any) -> None:
        from droidcap.device.live import LiveMilestone
        from droidcap.device.record import CaptureProgress, Phase, RecordWarning, TransferProgress

        if isinstance(ev, Phase):
            self.line(ev.text)
        elif isinstance(ev, RecordWarning):
            self.line(f"warning: {ev.text}")
        elif isinstance(ev, LiveMilestone):
            self.line(f"[conn {ev.conn} +{ev.capture_time * 1000:.0f} ms] {ev.text}")
        elif isinstance(ev, CaptureProgress):
            packets = f", {ev.packets} packets" if ev.packets is not None else ""
            self.status(f"{ev.elapsed:5.1f} s  {_size(ev.bytes)}{packets}")
        elif isinstance(ev, TransferProgress):
            pct = f" {100 * ev.done / ev.total:5.1f}%" if ev.total else ""
            bar = ""
            if ev.total:
                filled = int(30 * ev.done / ev.total)
                bar = " [" + "#" * filled + "." * (30 - filled) + "]"
            done = bool(ev.total) and ev.done >= ev.total
            self.status(f"{ev.what}{bar}{pct}  {_size(ev.done)}", every=0.0 if done else 2.0)

    def close(self) -> None:
        if self._open_line:
            sys.stderr.write("\n")
            self._open_line = False


def _device(serial: str | None, adb: str | None) -> Device:
    from droidcap.device import Device

    return Device.connect(serial, adb=adb)


@app.command()
def devices(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    adb: AdbOpt = None,
) -> None:
    """List attached devices with what recording needs: root, tcpdump, ABIs, free space."""
    from droidcap.device import list_devices

    try:
        reports = list_devices(adb)
    except DroidcapError as err:
        raise fail(str(err), 1) from None
    if json_out:
        typer.echo(json.dumps([r.to_json() for r in reports], indent=1))
        return
    if not reports:
        typer.echo("no devices attached (connect a phone with USB debugging on, or "
                   "'droidcap virtual start')")
        return
    for r in reports:
        if r.info is None:
            typer.echo(f"{r.serial}  {r.state}: {r.problem}")
            continue
        i = r.info
        free = _size(r.free_bytes) if r.free_bytes is not None else "?"
        typer.echo(f"{r.serial}  {r.state}  {i.manufacturer} {i.model}  Android {i.release} "
                   f"(SDK {i.sdk})  {','.join(i.abis)}  page {i.page_size}")
        typer.echo(f"    root: {r.root or '?'}  tcpdump: {r.tcpdump}  SELinux: {i.selinux}  "
                   f"free: {free}" + (f"  problem: {r.problem}" if r.problem else ""))


@app.command()
def doctor(
    serial: SerialOpt = None,
    adb: AdbOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    tcpdump: TcpdumpOpt = TcpdumpChoice.ours,
) -> None:
    """Check everything `record` depends on; exit 1 if anything FAILs."""
    from droidcap.device.doctor import Status, run_checks
    from droidcap.device.tcpdump import TcpdumpSource

    checks = []
    try:
        for check in run_checks(serial, adb=adb, tcpdump=TcpdumpSource(tcpdump.value)):
            checks.append(check)
            if not json_out:
                typer.echo(f"{check.status.value:<4}  {check.name}: {check.detail}"
                           + (f"\n      fix: {check.fix}" if check.fix else ""))
    except DroidcapError as err:
        raise fail(str(err), 1) from None
    if json_out:
        typer.echo(json.dumps([c.to_json() for c in checks], indent=1))
    if any(c.status is Status.FAIL for c in checks):
        raise typer.Exit(1)


_RecordHelp = {
    "play": "Open this rtmp:// URL on the device once capturing.",
    "player": "The app that plays it: PKG or PKG/ACTIVITY.",
    "publish": "Have a broadcasting app on the device publish to this rtmp:// URL once capturing.",
    "publisher": "The app that publishes: PKG/ACTIVITY (needed with --publish).",
    "filter": "Capture filter (default: tcp port 1935 and --play's port).",
    "duration": "Stop after SECS (default: Ctrl-C).",
    "output": "NAME.pcap (default: droidcap-SERIAL-TIME.pcap).",
    "live": "Stream the capture to the host while it runs and print RTMP milestones.",
    "keep": "Leave the capture on the device after the verified pull.",
    "inspect": "Open droidcap inspect on the capture while it runs (implies --live); quitting it stops the record.",
}


@app.command()
def record(
    serial: SerialOpt = None,
    adb: AdbOpt = None,
    play: Annotated[str | None, typer.Option(help=_RecordHelp["play"])] = None,
    player: Annotated[str | None, typer.Option(help=_RecordHelp["player"])] = None,
    publish: Annotated[str | None, typer.Option(help=_RecordHelp["publish"])] = None,
    publisher: Annotated[str | None, typer.Option(help=_RecordHelp["publisher"])] = None,
    bpf: Annotated[str | None, typer.Option("--filter", help=_RecordHelp["filter"])] = None,
    interface: Annotated[str, typer.Option(help="Capture interface.")] = "any",
    duration: Annotated[float | None, typer.Option(help=_RecordHelp["duration"], min=0.1)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=_RecordHelp["output"])] = None,
    live: Annotated[bool, typer.Option(help=_RecordHelp["live"])] = False,
    keep_on_device: Annotated[bool, typer.Option(help=_RecordHelp["keep"])] = False,
    tcpdump: TcpdumpOpt = TcpdumpChoice.ours,
    inspect: Annotated[bool, typer.Option(help=_RecordHelp["inspect"])] = False,
) -> None:
    """Capture on a rooted device while it plays (or publishes) a stream; pull it verified."""
    from droidcap.device.record import Recording, RecordOptions
    from droidcap.device.tcpdump import TcpdumpSource

    source = TcpdumpSource(tcpdump.value)
    printer = _Printer()
    if inspect and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise fail("--inspect needs a terminal; without one, record and run droidcap inspect after")
    options = RecordOptions(play=play, player=player, publish=publish, publisher=publisher,
                            bpf=bpf, interface=interface,
                            duration=duration, output=output, live=live or inspect,
                            keep_on_device=keep_on_device, tcpdump=source,
                            command_line=("droidcap", *sys.argv[1:]))
    stop, abort = threading.Event(), threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if stop.is_set():
            abort.set()
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    rec: Recording | None = None
    try:
        dev = _device(serial, adb)
        rec = Recording(dev, options, printer.event)
        rec.start(stop)
        if inspect and not stop.is_set():
            reason, counts, how = _inspect_while_recording(rec, stop, printer)
        else:
            if stop.is_set():
                reason = "interrupted"
            else:
                if duration is None:
                    printer.line("press Ctrl-C to stop")
                reason = rec.wait(stop)
            printer.close()
            printer.line(f"stopping ({reason}); Ctrl-C again leaves the capture on the device")
            counts, how = rec.stop_capture()
        if abort.is_set():
            raise KeyboardInterrupt
        result = rec.collect(reason, counts, how, interrupt=abort)
    except KeyboardInterrupt:
        printer.close()
        raise fail(_left_behind(rec, "interrupted"), 130) from None
    except (DroidcapError, OSError) as err:
        printer.close()
        text = str(err) if isinstance(err, DroidcapError) else f"{err.strerror}: {err.filename}"
        raise fail(_left_behind(rec, text), 1) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    printer.close()
    c = result.counts
    counts_text = (f"; tcpdump: {c.captured} captured, {c.received} received by filter, "
                   f"{c.dropped} dropped by kernel" if c else "")
    typer.echo(f"{result.pcap} ({_size(result.pulled.size)}, SHA-256 {result.pulled.sha256[:16]}… "
               f"verified){counts_text}")
    typer.echo(f"{result.metadata}")


def _inspect_while_recording(rec: Recording, stop: threading.Event, printer: _Printer
                             ) -> tuple[str, TcpdumpCounts | None, str]:
    """``record --inspect``: the recording goes on in a thread while ``droidcap inspect`` follows
    the host copy as it grows.  The capture stops when its own end comes (duration, the stream's
    end) — the TUI stays open on it — or when the TUI is quit; the pull follows."""
    from droidcap.tui.app import create_app

    assert rec.pcap is not None
    ended: list[tuple[str, TcpdumpCounts | None, str]] = []
    failed: list[BaseException] = []

    def capture() -> None:
        try:
            reason = rec.wait(stop)
            counts, how = rec.stop_capture()
            ended.append(("inspect closed" if reason == "interrupted" else reason, counts, how))
        except BaseException as err:  # noqa: BLE001 - raised again in the main thread
            failed.append(err)

    worker = threading.Thread(target=capture, name="record-wait", daemon=True)
    printer.hold()
    worker.start()
    try:
        create_app(rec.pcap.with_name(rec.pcap.name + ".part"), follow=True,
                   label=f"recording on {rec.device.serial}").run()
    finally:
        stop.set()
        worker.join(60)
        printer.resume()
    if failed:
        raise failed[0]
    if not ended:
        raise DeviceError(f"the capture on {rec.device.serial} did not stop within 60 s")
    return ended[0]


def _left_behind(rec: Recording | None, what: str) -> str:
    """After a failed or interrupted record: stop tcpdump if it runs, and say what is left where."""
    if rec is None or not rec.start_attempted:
        if rec is not None:
            rec.abandon_live_copy()
        return f"{what}; nothing was left running on the device"
    if rec.pid is None:  # the start itself did not come back: tcpdump may run
        return f"{what}; tcpdump may still run on the device: 'droidcap stop -s {rec.device.serial} --all'"
    try:
        rec.stop_capture()
    except DroidcapError:
        rec.abandon_live_copy()
        return f"{what}; tcpdump may still run on the device: 'droidcap stop -s {rec.device.serial} --all'"
    rec.abandon_live_copy()
    return f"{what}: the capture stays on the device; recover it with '{rec.recovery_hint()}'"


def _transfer_progress(printer: _Printer, what: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        from droidcap.device.record import TransferProgress

        printer.event(TransferProgress(what=what, done=done, total=total))
    return report


@app.command()
def pull(
    remote: Annotated[list[str] | None, typer.Argument(help="Capture names, or absolute device paths.")] = None,
    serial: SerialOpt = None,
    adb: AdbOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every capture droidcap left on the device.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="Only list droidcap's captures on the device.")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to pull into.")] = Path("."),
    keep_on_device: Annotated[bool, typer.Option(help="Do not delete captures after the verified pull.")] = False,
) -> None:
    """Pull captures from the device, verified by size and SHA-256 (stopping them if running)."""
    from droidcap.device import recover

    if not output.is_dir():
        raise fail(f"--output {output} is not a directory")
    printer = _Printer()
    try:
        dev = _device(serial, adb)
        if list_ or (not remote and not all_):
            items = recover.listing(dev)
            if not items:
                typer.echo(f"no droidcap captures on {dev.serial}")
            for item in items:
                size = _size(item.size) if item.size is not None else "no file"
                typer.echo(f"{item.name}  {size}  {'RUNNING' if item.running else 'stopped'}  {item.device_path}")
            if not list_ and items:
                typer.echo("pull them with --all, or name them", err=True)
            return
        names = [r for r in (remote or []) if not r.startswith("/")]
        paths = [r for r in (remote or []) if r.startswith("/")]
        done, failed = _pull_each(dev, recover.select(dev, names, all_=all_), output, printer,
                                  keep_on_device=keep_on_device)
        for path in paths:
            pulled = recover.pull_paths(dev, path, output,
                                        progress=_transfer_progress(printer, f"pulling {path}"))
            printer.close()
            typer.echo(f"{pulled.path} ({_size(pulled.size)}, SHA-256 verified)")
            done += 1
        if not done and not failed:
            typer.echo(f"no droidcap captures on {dev.serial}")
        if failed:
            raise typer.Exit(1)
    except DroidcapError as err:
        printer.close()
        raise fail(str(err), 1) from None


def _pull_each(dev: Device, caps: list[DeviceCapture], output: Path, printer: _Printer, *,
               keep_on_device: bool = False, prefix: str = "") -> tuple[int, int]:
    """Stop (if running) and pull each capture, verified; one that cannot be pulled is said in
    one line and does not keep the others on the device.  (pulled, failed)."""
    from droidcap.device import recover

    done = failed = 0
    for cap in caps:
        try:
            pulled = recover.pull_capture(dev, cap, output, keep_on_device=keep_on_device,
                                          progress=_transfer_progress(printer, f"pulling {cap.name}"))
        except DroidcapError as err:
            printer.close()
            typer.echo(f"droidcap: {cap.name}: {err}", err=True)
            failed += 1
            continue
        printer.close()
        trimmed = f", {pulled.trimmed_bytes} partial bytes trimmed" if pulled.trimmed_bytes else ""
        typer.echo(f"{prefix.format(name=cap.name)}{pulled.path} ({_size(pulled.size)}, "
                   f"SHA-256 verified{trimmed})")
        done += 1
    return done, failed


@app.command()
def stop(
    serial: SerialOpt = None,
    adb: AdbOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also pull captures that already stopped.")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to pull into.")] = Path("."),
) -> None:
    """Stop the captures droidcap started on the device (e.g. after record was killed) and pull them."""
    from droidcap.device import recover

    if not output.is_dir():
        raise fail(f"--output {output} is not a directory")
    printer = _Printer()
    try:
        dev = _device(serial, adb)
        items = [i for i in recover.listing(dev) if i.running or all_]
        if not items:
            typer.echo(f"no running droidcap capture on {dev.serial}")
            return
        from droidcap.device.captures import DeviceCapture

        _, failed = _pull_each(dev, [DeviceCapture(name=i.name) for i in items], output, printer,
                               prefix="stopped {name}: ")
        if failed:
            raise typer.Exit(1)
    except DroidcapError as err:
        printer.close()
        raise fail(str(err), 1) from None
