"""Scripted device-lab runs: one lab file, many devices on several adb servers, in parallel.

``load_lab``/``check_lab`` read and validate a lab file; ``run_lab`` runs it and writes the
reports (JSON, Markdown, JUnit XML, HTML) as results arrive; :class:`LabRunner` is the same run
for callers that handle interruption or progress themselves (``droidcap lab run`` does).  Built on
``droidcap.device.Recording`` and ``droidcap.summarise``; docs/lab.md is the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from droidcap.labrun.errors import LabError, LabFileError, NoDevicesError
from droidcap.labrun.expectations import RULES, Expectation, Verdict
from droidcap.labrun.labfile import DeviceSelector, Lab, Scenario, check_lab, load_lab
from droidcap.labrun.reports import REPORT_FILES, ReportWriter
from droidcap.labrun.results import (
    LabResult,
    Milestone,
    RunResult,
    RunSpec,
    Status,
    Target,
)
from droidcap.labrun.runner import LabEvent, LabRunner, RunUpdate


def run_lab(lab: Lab | Path | str, output: Path | str, *, parallel: int | None = None,
            on_event: Callable[[LabEvent], None] | None = None,
            runner_ready: Callable[[LabRunner], None] | None = None) -> LabResult:
    """Run ``lab`` (a :class:`Lab` or a lab file) with reports in ``output``; the result.

    ``runner_ready`` receives the :class:`LabRunner` before the runs start (to call
    ``interrupt()`` from elsewhere).  Raises :class:`LabFileError` or :class:`NoDevicesError`."""
    lab = lab if isinstance(lab, Lab) else load_lab(lab)
    writer: list[ReportWriter] = []
    runner = LabRunner(lab, Path(output), parallel=parallel, on_event=on_event,
                       on_result=lambda r: writer[0].add(r))  # noqa: PLW0108 - writer comes after
    specs = runner.plan()
    writer.append(ReportWriter(Path(output), lab.name, lab.path, specs))
    if runner_ready is not None:
        runner_ready(runner)
    result = runner.run(specs)
    writer[0].finish(result)
    return result


__all__ = ["REPORT_FILES", "RULES", "DeviceSelector", "Expectation", "Lab", "LabError",
           "LabEvent", "LabFileError", "LabResult", "LabRunner", "Milestone", "NoDevicesError",
           "ReportWriter", "RunResult", "RunSpec", "RunUpdate", "Scenario", "Status", "Target",
           "Verdict", "check_lab", "load_lab", "run_lab"]
