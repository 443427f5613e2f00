"""What a lab run produces: one :class:`RunResult` per device × scenario × repetition.

Frozen values, so reports (JSON, Markdown, JUnit, HTML) are pure functions of them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from droidcap.device.adb import ServerAddress
from droidcap.labrun.expectations import Verdict
from droidcap.labrun.labfile import Scenario


class Status(enum.StrEnum):
    PENDING = "pending"          #: not started yet (an interrupted lab leaves these)
    PASSED = "passed"            #: captured, and every expectation held
    FAILED = "failed"            #: an expectation did not hold, or the device cannot capture
    ERROR = "error"              #: infrastructure: adb, the device vanished, a timeout
    INTERRUPTED = "interrupted"  #: stopped by Ctrl-C; what was captured is kept and analysed


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A device as the lab sees it: which adb server has it, its serial, what it is."""

    server: ServerAddress
    serial: str
    model: str = ""
    abis: tuple[str, ...] = ()
    release: str = ""
    sdk: int = 0
    serialno: str = ""

    @property
    def token(self) -> str:
        """``HOST_PORT.SERIAL`` with only letters, digits and ``_``: JUnit classnames and paths."""
        return f"{_safe(str(self.server))}.{_safe(self.serial)}"

    def to_json(self) -> dict[str, Any]:
        return {"adb": str(self.server), "serial": self.serial, "model": self.model,
                "abis": list(self.abis), "release": self.release, "sdk": self.sdk,
                "serialno": self.serialno}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    scenario: Scenario
    target: Target
    repetition: int  #: 1-based

    @property
    def run_id(self) -> str:
        return f"{self.scenario.name}/{self.target.token}/r{self.repetition}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Milestone:
    name: str
    after_ms: float  #: after the connection's start (its SYN), as in the summary


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    spec: RunSpec
    status: Status
    reason: str | None = None        #: why it failed or errored, in one line
    error_type: str | None = None    #: the error's class, for JUnit's type attribute
    attempts: int = 0
    started: float | None = None     #: epoch seconds
    ended: float | None = None
    connection: int | None = None    #: the capture's connection the expectations were checked on
    figures: dict[str, Any] | None = None
    milestones: tuple[Milestone, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    artefacts: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()      #: warnings of the capture and of earlier attempts

    @property
    def seconds(self) -> float:
        return (self.ended - self.started) if self.started and self.ended else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"run": self.spec.run_id, "scenario": self.spec.scenario.name,
                "repetition": self.spec.repetition, "device": self.spec.target.to_json(),
                "status": self.status.value, "reason": self.reason, "error_type": self.error_type,
                "attempts": self.attempts, "started": self.started, "ended": self.ended,
                "seconds": round(self.seconds, 3), "connection": self.connection,
                "figures": self.figures,
                "milestones": {m.name: round(m.after_ms, 3) for m in self.milestones},
                "expectations": [v.to_json() for v in self.verdicts],
                "artefacts": {k: str(p) for k, p in self.artefacts.items()},
                "notes": list(self.notes)}


@dataclass(frozen=True, slots=True, kw_only=True)
class LabResult:
    lab_name: str
    lab_path: Path
    started: float
    ended: float | None
    results: tuple[RunResult, ...]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return all(r.status is Status.PASSED for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when every expectation held, else 1 (2, a bad lab file, is raised before a run)."""
        return 0 if self.ok and not self.interrupted else 1

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "droidcap.lab/1", "lab": self.lab_name, "lab_file": str(self.lab_path),
                "started": self.started, "ended": self.ended, "interrupted": self.interrupted,
                "wall_seconds": round((self.ended or self.started) - self.started, 3),
                "counts": {s.value: self.count(s) for s in Status},
                "runs": [r.to_json() for r in self.results]}


__all__ = ["LabResult", "Milestone", "RunResult", "RunSpec", "Status", "Target"]
