"""Writes every report as results arrive, so an interrupted lab (Ctrl-C, a killed process) still
has a complete report of what ran — each file replaced atomically, never half written."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from droidcap.labrun.reports.html import render_html
from droidcap.labrun.reports.junit import render_junit
from droidcap.labrun.reports.markdown import render_markdown
from droidcap.labrun.results import LabResult, RunResult, RunSpec, Status

REPORT_FILES = {"json": "lab.json", "markdown": "lab.md", "junit": "junit.xml", "html": "lab.html"}


class ReportWriter:
    """``ReportWriter(output, lab_name, lab_path, specs)``; ``add(result)`` per finished run,
    ``finish(lab_result)`` at the end.  Runs not finished yet are in the reports as pending."""

    def __init__(self, output: Path, lab_name: str, lab_path: Path, specs: list[RunSpec]) -> None:
        self.output = Path(output)
        self.output.mkdir(parents=True, exist_ok=True)
        self._lab_name, self._lab_path = lab_name, lab_path
        self._specs = specs
        self._results: dict[str, RunResult] = {}
        self._started = time.time()
        self._lock = threading.Lock()
        self.write(self.current())

    @property
    def paths(self) -> dict[str, Path]:
        return {kind: self.output / name for kind, name in REPORT_FILES.items()}

    def current(self, *, ended: float | None = None, interrupted: bool = False) -> LabResult:
        runs = tuple(self._results.get(s.run_id) or RunResult(spec=s, status=Status.PENDING)
                     for s in self._specs)
        return LabResult(lab_name=self._lab_name, lab_path=self._lab_path, started=self._started,
                         ended=ended or time.time(), results=runs, interrupted=interrupted)

    def add(self, result: RunResult) -> None:
        with self._lock:
            self._results[result.spec.run_id] = result
            self.write(self.current())

    def finish(self, result: LabResult) -> None:
        with self._lock:
            self.write(result)

    def write(self, result: LabResult) -> None:
        paths = self.paths
        _replace(paths["json"], (json.dumps(result.to_json(), indent=1) + "\n").encode())
        _replace(paths["markdown"], render_markdown(result).encode())
        _replace(paths["junit"], render_junit(result))
        _replace(paths["html"], render_html(result).encode())


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["REPORT_FILES", "ReportWriter"]
