"""Expectations over the figures of ``droidcap summary`` (:class:`droidcap.analysis.Figures`).

A lab file names an expectation (``max_stall = "500ms"``); this module says which figure it
reads and how it compares, and evaluates it on a connection's ``Figures`` — the very values
``droidcap summary --json`` prints, never a second computation.  Standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from droidcap.analysis.summary import Figures
from droidcap.labrun.durations import HELP as DURATION_HELP
from droidcap.labrun.durations import format_ms, parse_ms


class Kind(enum.StrEnum):
    EQUALS = "equals"      #: a status code, compared as text
    NO_GAPS = "no_gaps"    #: true: the figure must be 0
    MAX_MS = "max_ms"      #: a duration limit, the figure in ms must not exceed it
    MIN = "min"            #: a number the figure must reach
    MAX = "max"            #: a number the figure must not exceed
    MAX_ABS_MS = "max_abs_ms"  #: a duration limit on the figure's magnitude (drift is signed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    figure: str
    kind: Kind
    unit: str
    what: str


#: expectation name -> the figure it reads.  The table in docs/lab.md is this one.
RULES: dict[str, Rule] = {
    "play_status": Rule(figure="play_status", kind=Kind.EQUALS, unit="",
                        what='a status code, e.g. "NetStream.Play.Start"'),
    "publish_status": Rule(figure="publish_status", kind=Kind.EQUALS, unit="",
                           what='a status code, e.g. "NetStream.Publish.Start"'),
    "connect_status": Rule(figure="connect_status", kind=Kind.EQUALS, unit="",
                           what='a status code, e.g. "NetConnection.Connect.Success"'),
    "no_gaps": Rule(figure="tcp_gaps", kind=Kind.NO_GAPS, unit="", what="true"),
    "max_time_to_first_keyframe": Rule(figure="time_to_first_keyframe_ms", kind=Kind.MAX_MS,
                                       unit="ms", what=DURATION_HELP),
    "max_time_to_first_video": Rule(figure="time_to_first_video_ms", kind=Kind.MAX_MS, unit="ms",
                                    what=DURATION_HELP),
    "max_time_to_first_audio": Rule(figure="time_to_first_audio_ms", kind=Kind.MAX_MS, unit="ms",
                                    what=DURATION_HELP),
    "min_video_kbps": Rule(figure="video_kbps_min", kind=Kind.MIN, unit="kbit/s",
                           what="a number of kbit/s"),
    "min_audio_kbps": Rule(figure="audio_kbps", kind=Kind.MIN, unit="kbit/s",
                           what="a number of kbit/s"),
    "min_frame_rate": Rule(figure="frame_rate", kind=Kind.MIN, unit="fps",
                           what="a number of frames per second"),
    "max_keyframe_interval": Rule(figure="keyframe_interval_ms_max", kind=Kind.MAX_MS, unit="ms",
                                  what=DURATION_HELP),
    "max_stall": Rule(figure="max_stall_ms", kind=Kind.MAX_MS, unit="ms", what=DURATION_HELP),
    "max_drift": Rule(figure="max_drift_ms", kind=Kind.MAX_ABS_MS, unit="ms", what=DURATION_HELP),
    "max_retransmissions": Rule(figure="retransmissions", kind=Kind.MAX, unit="",
                                what="a whole number"),
    "max_errors": Rule(figure="errors", kind=Kind.MAX, unit="", what="a whole number of error findings"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """One line of a scenario's ``[scenario.expect]``: ``name = value``."""

    name: str
    limit: str | float | bool  #: text for statuses, ms for durations, a number, or true

    @property
    def rule(self) -> Rule:
        return RULES[self.name]

    def describe(self) -> str:
        """``max_stall <= 500ms`` — what must hold, for reports."""
        r = self.rule
        if r.kind is Kind.EQUALS:
            return f"{self.name} == {self.limit}"
        if r.kind is Kind.NO_GAPS:
            return "no_gaps (tcp_gaps == 0)"
        if r.kind in (Kind.MAX_MS, Kind.MAX_ABS_MS):
            return f"{r.figure} <= {format_ms(float(self.limit))}"
        op = ">=" if r.kind is Kind.MIN else "<="
        return f"{r.figure} {op} {self.limit:g}{(' ' + r.unit) if r.unit else ''}"


def parse_expectation(name: str, value: Any) -> Expectation | str:
    """The expectation, or what is wrong with ``value`` (for the lab file's error)."""
    rule = RULES[name]
    if rule.kind is Kind.EQUALS:
        return Expectation(name=name, limit=value) if isinstance(value, str) and value else \
            f"must be {rule.what}"
    if rule.kind is Kind.NO_GAPS:
        return Expectation(name=name, limit=True) if value is True else \
            "must be true (leave it out to allow gaps)"
    if rule.kind in (Kind.MAX_MS, Kind.MAX_ABS_MS):
        ms = parse_ms(value) if isinstance(value, str) else None
        return Expectation(name=name, limit=ms) if ms is not None else f"must be {rule.what}"
    whole = rule.kind is Kind.MAX
    ok = isinstance(value, int) if whole else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value < 0:
        return f"must be {rule.what}, not negative"
    return Expectation(name=name, limit=float(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """An expectation evaluated on one run's figures."""

    expectation: Expectation
    held: bool
    actual: str | float | int | None
    message: str  #: one line: what was expected and what was measured

    def to_json(self) -> dict[str, Any]:
        return {"name": self.expectation.name, "expected": self.expectation.describe(),
                "figure": self.expectation.rule.figure, "actual": self.actual, "held": self.held,
                "message": self.message}


def evaluate(expectation: Expectation, figures: Figures) -> Verdict:
    rule = expectation.rule
    actual = getattr(figures, rule.figure)
    limit = expectation.limit
    if actual is None:
        return Verdict(expectation=expectation, held=False, actual=None,
                       message=f"{rule.figure} is not in the capture (expected {expectation.describe()})")
    if rule.kind is Kind.EQUALS:
        held = actual == limit
    elif rule.kind is Kind.NO_GAPS:
        held = actual == 0
    elif rule.kind is Kind.MAX_ABS_MS:
        held = abs(actual) <= float(limit)
    elif rule.kind is Kind.MIN:
        held = actual >= float(limit)
    else:
        held = actual <= float(limit)
    shown = f"{actual:g}{rule.unit and ' ' + rule.unit}" if isinstance(actual, int | float) else actual
    if rule.kind is Kind.NO_GAPS:
        shown = f"{actual} gaps ({figures.tcp_gap_bytes} bytes never seen)"
    verb = "held" if held else "FAILED"
    return Verdict(expectation=expectation, held=held, actual=actual,
                   message=f"{verb}: expected {expectation.describe()}, measured {shown}")


__all__ = ["RULES", "Expectation", "Kind", "Rule", "Verdict", "evaluate", "parse_expectation"]
