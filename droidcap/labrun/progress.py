"""The live progress table of ``droidcap lab run``: one row per run (state, elapsed, milestones).

On a terminal it redraws in place (rich, which Textual already brings); elsewhere (CI logs) it
prints one line whenever a run changes state, so a log shows the same story without redraws.
"""

from __future__ import annotations

import threading
import time
from typing import Self, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from droidcap.labrun.results import RunResult
from droidcap.labrun.runner import LabEvent, RunUpdate


class ProgressTable:
    def __init__(self, stream: TextIO) -> None:
        self._console = Console(file=stream)
        self._rows: dict[str, tuple[str, str, str, float, str]] = {}
        self._last_state: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._stream = stream

    def __enter__(self) -> Self:
        if self._console.is_terminal:
            self._live = Live(self._table(), console=self._console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def __call__(self, event: LabEvent) -> None:
        spec = event.spec
        run = f"{spec.scenario.name} #{spec.repetition}"
        device = f"{spec.target.serial} ({spec.target.model or '?'})"
        if isinstance(event, RunUpdate):
            row = (run, device, event.state, event.elapsed, " ".join(event.milestones[-4:]))
        else:
            row = (run, device, event.status.value, event.seconds, event.reason or "")
        with self._lock:
            self._rows[spec.run_id] = row
            if self._live is not None:
                self._live.update(self._table())
            elif self._last_state.get(spec.run_id) != row[2]:
                self._last_state[spec.run_id] = row[2]
                print(f"{time.strftime('%H:%M:%S')} {spec.run_id}: {row[2]}"
                      + (f" — {row[4]}" if row[4] and isinstance(event, RunResult) else ""),
                      file=self._stream, flush=True)

    def _table(self) -> Table:
        table = Table(box=None, header_style="bold")
        for col in ("run", "device", "state", "elapsed", "milestones / result"):
            table.add_column(col)
        for run, device, state, elapsed, text in self._rows.values():
            table.add_row(run, device, state, f"{elapsed:5.1f} s", text[:80])
        return table


__all__ = ["ProgressTable"]
