"""The lab result as Markdown: one table row per run, then what went wrong, for a person (or a
CI job summary)."""

from __future__ import annotations

from droidcap.labrun.results import LabResult, RunResult, Status

_MARK = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR",
         Status.INTERRUPTED: "INTERRUPTED", Status.PENDING: "pending"}
_TIMINGS = ("handshake_done", "connect_result", "play_start", "first_video_keyframe")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ms(run: RunResult, name: str) -> str:
    value = next((m.after_ms for m in run.milestones if m.name == name), None)
    return f"{value:.0f}" if value is not None else ""


def render_markdown(result: LabResult) -> str:
    wall = (result.ended or result.started) - result.started
    busy = sum(r.seconds for r in result.results)
    lines = [f"# Lab {result.lab_name}", "",
             (f"{result.count(Status.PASSED)} passed, {result.count(Status.FAILED)} failed, "
             f"{result.count(Status.ERROR)} errors"
             + (f", {result.count(Status.INTERRUPTED)} interrupted" if result.count(Status.INTERRUPTED) else "")
             + (f", {result.count(Status.PENDING)} pending" if result.count(Status.PENDING) else "")
             + f"; wall time {wall:.1f} s for {busy:.1f} s of runs"
             + (" (interrupted)" if result.interrupted else "")), "",
             ("| result | scenario | adb server | serial | model | ABI | run (s) | handshake (ms) "
              "| connect (ms) | Play.Start (ms) | first keyframe (ms) |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.results:
        t = r.spec.target
        lines.append("| " + " | ".join(_cell(x) for x in (
            _MARK[r.status], f"{r.spec.scenario.name} #{r.spec.repetition}", t.server, t.serial,
            t.model, ",".join(t.abis[:1]), f"{r.seconds:.1f}", *(_ms(r, n) for n in _TIMINGS))) + " |")
    problems = [r for r in result.results if r.status not in (Status.PASSED, Status.PENDING)]
    if problems:
        lines += ["", "## What went wrong", ""]
        for r in problems:
            lines.append(f"- **{_MARK[r.status]}** {r.spec.scenario.name} on {r.spec.target.serial} "
                         f"({r.spec.target.server}): {_cell(r.reason or '')}")
    lines.append("")
    return "\n".join(lines)


__all__ = ["render_markdown"]
