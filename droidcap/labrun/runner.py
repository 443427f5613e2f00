"""Runs a lab: every scenario on its devices, in parallel (bounded), one capture per device.

Why this shape: adb serialises nothing across devices, so runs on different devices overlap
freely, but a device takes one capture at a time (``record`` refuses a second).  So each device
gets a thread that works through its own runs in order, and a semaphore bounds how many capture
at once (``parallel``).  A run's failure is a result, never an exception: a device that vanishes
errors its own runs and the others go on.  :meth:`LabRunner.interrupt` (Ctrl-C) ends every
capture: each running recording stops tcpdump, pulls what exists and is analysed; runs not yet
started are reported as such.  Every result is handed to the reports as it arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from droidcap.analysis import Thresholds
from droidcap.analysis.summary import CaptureSummary, ConnectionHealth
from droidcap.device.device import Device
from droidcap.device.errors import DeviceError, NotRootedError
from droidcap.device.live import LiveMilestone
from droidcap.device.record import (
    CaptureProgress,
    Phase,
    RecordEvent,
    Recording,
    RecordOptions,
    RecordWarning,
    TransferProgress,
)
from droidcap.errors import DroidcapError, NoRtmpError
from droidcap.labrun import artefacts
from droidcap.labrun.expectations import evaluate
from droidcap.labrun.labfile import Lab
from droidcap.labrun.results import (
    LabResult,
    Milestone,
    RunResult,
    RunSpec,
    Status,
)
from droidcap.labrun.selection import discover, plan
from droidcap.summarise import summarise


@dataclass(frozen=True, slots=True, kw_only=True)
class RunUpdate:
    """A run's live state, for the progress table."""

    spec: RunSpec
    state: str                      #: queued, connecting, preparing, capturing, pulling, analysing, or the Status
    elapsed: float                  #: seconds since the run started
    milestones: tuple[str, ...]     #: live RTMP milestones reached so far
    detail: str = ""


LabEvent = RunUpdate | RunResult


class LabRunner:
    """``LabRunner(lab, output).run()`` runs every scenario of ``lab`` and returns the result;
    ``on_event`` sees every :class:`RunUpdate` and each :class:`RunResult` as it arrives."""

    def __init__(self, lab: Lab, output: Path, *, parallel: int | None = None,
                 on_event: Callable[[LabEvent], None] | None = None,
                 on_result: Callable[[RunResult], None] | None = None,
                 thresholds: Thresholds | None = None) -> None:
        self.lab, self.output = lab, Path(output)
        self.parallel = parallel or lab.parallel
        self._on_event = on_event or (lambda e: None)
        self._on_result = on_result or (lambda r: None)
        self.thresholds = thresholds or Thresholds()
        self._interrupted = threading.Event()
        self._active: set[threading.Event] = set()
        self._lock = threading.Lock()
        self.problems: list[str] = []

    # ----- planning
    def plan(self) -> list[RunSpec]:
        """Discover the devices and plan the runs (:class:`NoDevicesError` when none match)."""
        targets, self.problems = discover(self.lab.adb)
        return plan(self.lab, targets)

    # ----- running
    def interrupt(self) -> None:
        """Stop every capture (each is still pulled and analysed) and start no new run."""
        self._interrupted.set()
        with self._lock:
            for event in self._active:
                event.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def run(self, specs: list[RunSpec] | None = None) -> LabResult:
        specs = self.plan() if specs is None else specs
        started = time.time()
        results: dict[str, RunResult] = {}
        per_device: dict[tuple[str, str], list[RunSpec]] = {}
        for spec in specs:
            per_device.setdefault((str(spec.target.server), spec.target.serial), []).append(spec)
            self._on_event(RunUpdate(spec=spec, state="queued", elapsed=0.0, milestones=()))
        gate = threading.BoundedSemaphore(self.parallel)

        def device_worker(queue: list[RunSpec]) -> None:
            for spec in queue:
                with gate:
                    result = self._run_one(spec) if not self.interrupted else RunResult(
                        spec=spec, status=Status.INTERRUPTED, reason="not started: the lab was interrupted")
                with self._lock:
                    results[spec.run_id] = result
                self._on_result(result)
                self._on_event(result)

        threads = [threading.Thread(target=device_worker, args=(q,), name=f"lab-{key[1]}", daemon=True)
                   for key, q in per_device.items()]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # short joins keep the main thread responsive to signals
                t.join(0.2)
        ordered = tuple(results[s.run_id] for s in specs)
        return LabResult(lab_name=self.lab.name, lab_path=self.lab.path, started=started,
                         ended=time.time(), results=ordered, interrupted=self.interrupted)

    def _run_one(self, spec: RunSpec) -> RunResult:
        scenario = spec.scenario
        started = time.time()
        notes: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            run_dir = self.output / "runs" / scenario.name / spec.target.token / (
                f"r{spec.repetition}" + (f"-attempt{attempt}" if attempt > 1 else ""))
            run_dir.mkdir(parents=True, exist_ok=True)
            result = self._attempt(spec, run_dir, started, notes)
            result = replace(result, attempts=attempt, started=started, ended=time.time(),
                             notes=tuple(notes))
            if result.status is not Status.ERROR or attempt > scenario.retries or self.interrupted:
                return result
            notes.append(f"attempt {attempt} errored ({result.reason}); retrying")
            time.sleep(1.0)

    def _attempt(self, spec: RunSpec, run_dir: Path, started: float, notes: list[str]) -> RunResult:
        scenario, target = spec.scenario, spec.target
        stop = threading.Event()
        milestones: list[str] = []
        state = ["connecting"]
        t0 = time.monotonic()

        def update(new_state: str | None = None, detail: str = "") -> None:
            if new_state:
                state[0] = new_state
            self._on_event(RunUpdate(spec=spec, state=state[0], elapsed=time.monotonic() - t0,
                                     milestones=tuple(milestones), detail=detail))

        def on_record(event: RecordEvent) -> None:
            if isinstance(event, LiveMilestone):
                milestones.append(event.name)
                update()
            elif isinstance(event, Phase):
                update("capturing" if event.text.startswith("capturing") else
                       "pulling" if event.text.startswith("pulling") else None, event.text)
            elif isinstance(event, TransferProgress) and event.what == "pulling":
                update("pulling")
            elif isinstance(event, CaptureProgress):
                update()
            elif isinstance(event, RecordWarning):
                notes.append(event.text)

        with self._lock:
            if self.interrupted:
                return RunResult(spec=spec, status=Status.INTERRUPTED,
                                 reason="not started: the lab was interrupted")
            self._active.add(stop)
        timer = threading.Timer(scenario.timeout_s, stop.set)
        timer.daemon = True
        timer.start()
        update("connecting")
        rec: Recording | None = None
        try:
            if not target.model:
                raise DeviceError(f"{target.serial} is not attached to any adb server of the lab "
                                  f"({', '.join(str(a) for a in self.lab.adb)})")
            dev = Device.connect(target.serial, adb=target.server)
            since = artefacts.device_log_time(dev)
            update("preparing")
            rec = Recording(dev, RecordOptions(
                play=scenario.play, player=scenario.player, publish=scenario.publish,
                publisher=scenario.publisher, bpf=scenario.filter,
                interface=scenario.interface, duration=scenario.duration_s,
                output=run_dir / "capture.pcap", live=scenario.live,
                command_line=("droidcap", "lab", "run", str(self.lab.path), spec.run_id)), on_record)
            rec.start()
            reason = rec.wait(stop)
            counts, how = rec.stop_capture()
            update("pulling")
            recorded = rec.collect(reason, counts, how)
            arts = {"pcap": recorded.pcap, "metadata": recorded.metadata}
            arts["logcat"] = artefacts.write_logcat(dev, since, run_dir / "logcat.txt")
        except NotRootedError as err:  # the device under test cannot capture: a failure of it
            return RunResult(spec=spec, status=Status.FAILED, reason=f"cannot capture: {err}",
                             error_type=type(err).__name__)
        except DeviceError as err:
            if rec is not None and rec.pid is not None:
                _stop_quietly(rec)
            return RunResult(spec=spec, status=Status.ERROR, reason=f"while {state[0]}: {err}",
                             error_type=type(err).__name__, artefacts=_existing(run_dir))
        except Exception as err:  # noqa: BLE001 - a bug in one run must not end the others: reported
            if rec is not None and rec.pid is not None:
                _stop_quietly(rec)
            return RunResult(spec=spec, status=Status.ERROR, reason=f"{type(err).__name__}: {err}",
                             error_type=type(err).__name__, artefacts=_existing(run_dir))
        finally:
            timer.cancel()
            with self._lock:
                self._active.discard(stop)
        timed_out = reason == "interrupted" and not self.interrupted
        update("analysing")
        result = self._analyse(spec, arts, run_dir)
        if self.interrupted and reason == "interrupted":
            return replace(result, status=Status.INTERRUPTED,
                           reason="interrupted: the capture up to then was pulled and analysed")
        if timed_out:
            return replace(result, status=Status.ERROR, error_type="Timeout",
                           reason=f"the scenario's timeout ({scenario.timeout_s:g} s) ended the capture")
        return result

    def _analyse(self, spec: RunSpec, arts: dict[str, Path], run_dir: Path) -> RunResult:
        pcap = arts["pcap"]
        try:
            summary = summarise(pcap, thresholds=self.thresholds)
        except NoRtmpError:
            return RunResult(spec=spec, status=Status.FAILED, artefacts=arts,
                             reason="no RTMP connection in the capture: the stream never started")
        except DroidcapError as err:
            return RunResult(spec=spec, status=Status.FAILED, artefacts=arts,
                             reason=f"the capture cannot be read: {err}")
        arts["summary"] = artefacts.write_summary(summary, run_dir / "summary.json")
        arts["ndjson"] = artefacts.write_ndjson(pcap, run_dir / "capture.ndjson")
        role = "player" if spec.scenario.play else "publisher" if spec.scenario.publish else None
        conn = _main_connection(summary, role=role)
        verdicts = tuple(evaluate(e, conn.figures) for e in spec.scenario.expect)
        failed = [v for v in verdicts if not v.held]
        return RunResult(
            spec=spec, status=Status.FAILED if failed else Status.PASSED,
            reason="; ".join(v.message for v in failed) or None,
            error_type="ExpectationFailed" if failed else None,
            connection=conn.conn, figures=conn.figures.to_json(),
            milestones=tuple(Milestone(name=n, after_ms=w.after_ms)
                             for n, w in sorted(conn.milestones.items(), key=lambda kv: kv[1].after_ms)),
            verdicts=verdicts, artefacts=arts)


def _main_connection(summary: CaptureSummary, *, role: str | None) -> ConnectionHealth:
    """The connection expectations are checked on: the first player's (for ``play``), the first
    publisher's (for ``publish``), else the first connection's."""
    return next((c for c in summary.connections if role is None or c.role == role),
                summary.connections[0])


def _stop_quietly(rec: Recording) -> None:
    """After an error: try to stop tcpdump (a vanished device keeps it until it comes back)."""
    try:
        rec.stop_capture()
    except DroidcapError:
        pass
    rec.abandon_live_copy()


def _existing(run_dir: Path) -> dict[str, Path]:
    """What an errored attempt left (a ``.part`` live copy, for instance)."""
    return {p.name: p for p in sorted(run_dir.iterdir())} if run_dir.is_dir() else {}


__all__ = ["LabEvent", "LabRunner", "RunUpdate"]
