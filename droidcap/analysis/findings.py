"""Findings: what is wrong or worth knowing about a connection, each with a severity, one line
saying what it means, and where in the capture.

Standard library only.  :class:`Thresholds` holds every limit with its documented default
(docs/summary.md); :func:`assess` turns measured figures into :class:`Finding` lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from droidcap.analysis.health import StreamHealth, Where

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """The limits findings are judged by.  Defaults follow what ingest services and flvmeta use."""

    stall_ms: float = 200.0  # no media for longer than this is a stall
    keyframe_interval_ms: float = 4000.0  # a longer keyframe interval warns (Twitch, YouTube: 4 s)
    drift_ms: float = 1000.0  # audio/video drift of this much or more warns (as flvmeta does)
    timestamp_jump_ms: float = 1000.0  # a forward step larger than this within a track is a jump
    declared_off_pct: float = 30.0  # onMetaData frame rate or bitrate this far off the measured warns

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    severity: str  # "error", "warning" or "info"
    code: str  # stable identifier, e.g. "stall", "status_failure" (docs/summary.md lists them)
    message: str  # one line: what happened and what it means
    where: Where | None
    dir: str | None = None
    stream_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "where": None if self.where is None else self.where.to_json(),
                "dir": self.dir, "stream_id": self.stream_id}


MAX_STALL_FINDINGS = 20


def assess_stream(s: StreamHealth, limits: Thresholds, *, mid_connection: bool) -> list[Finding]:
    """The findings of one stream's media."""
    out: list[Finding] = []

    def add(severity: str, code: str, message: str, where: Where | None) -> None:
        out.append(Finding(severity=severity, code=code, message=message, where=where,
                           dir=s.dir, stream_id=s.stream_id))

    v, a = s.video, s.audio
    for track, name in ((v, "video"), (a, "audio")):
        if track is None:
            continue
        seq = track.sequence_header
        if seq.state == "missing":
            add("info" if mid_connection else "warning", "sequence_header_missing",
                f"no {name} sequence header: a decoder cannot start on this {name}"
                + (" (the capture starts mid-connection, after it was sent)" if mid_connection else ""), None)
        elif seq.state == "late":
            add("warning", "sequence_header_late",
                f"{name} sequence header came after {seq.frames_before} coded frames: those cannot be decoded",
                seq.where)
        if track.malformed:
            add("warning", "malformed_media",
                f"{track.malformed} {name} messages do not parse as their headers say", None)
    longest = v.keyframe_interval_ms_max if v is not None else None
    if v is not None and longest is not None and longest > limits.keyframe_interval_ms:
        add("warning", "keyframe_interval_long",
            f"keyframe interval up to {longest / 1000:.2f} s (over "
            f"{limits.keyframe_interval_ms / 1000:g} s): players join and recover slowly; ingest services warn",
            v.max_keyframe_interval_where)
    if v is not None and v.frames and not v.keyframes:
        add("warning", "no_keyframe", "video without a single keyframe: a player can show nothing", None)
    for stall in s.stalls[:MAX_STALL_FINDINGS]:
        text = (f"no media for {stall.duration_ms / 1000:.2f} s (from frame {stall.start.frame} to "
                f"{stall.end.frame}): the player's buffer drains, playback freezes")
        if stall.waiting_on_ack:
            add("warning", "ack_window_stall", text + "; the sender had filled its acknowledgement "
                "window and waited for the receiver's Acknowledgement", stall.start)
        else:
            add("warning", "stall", text, stall.start)
    if s.stall_count > MAX_STALL_FINDINGS:
        add("warning", "stall", f"{s.stall_count - MAX_STALL_FINDINGS} more stalls", None)
    if s.max_drift_ms is not None and abs(s.max_drift_ms) >= limits.drift_ms:
        ahead = "video ahead of audio" if s.max_drift_ms > 0 else "audio ahead of video"
        add("warning", "av_drift", f"audio/video timestamps drift apart by up to {abs(s.max_drift_ms)} ms "
            f"({ahead}): lip sync suffers", s.max_drift_where)
    for anomaly in s.timestamp_anomalies:
        if anomaly.kind == "backwards":
            add("warning", "timestamp_backwards",
                f"{anomaly.track} timestamp goes back from {anomaly.previous_ms} to {anomaly.timestamp_ms} ms: "
                "players may drop frames or stall", anomaly.where)
        else:
            add("warning", "timestamp_jump",
                f"{anomaly.track} timestamp jumps from {anomaly.previous_ms} to {anomaly.timestamp_ms} ms: "
                "a gap in the stream's clock", anomaly.where)
    if (v is not None or a is not None) and s.metadata_state == "missing":
        add("info", "metadata_missing", "no onMetaData: players guess size and rates"
            + (" (the capture starts mid-connection)" if mid_connection else ""), None)
    elif s.metadata_state == "late":
        add("info", "metadata_late", "onMetaData came after the first media", s.metadata_where)
    for d in s.declared:
        exact = d.name in ("width", "height", "audiosamplerate")
        if (exact and d.declared != d.measured) or (not exact and d.off_pct > limits.declared_off_pct):
            add("warning", "declared_mismatch",
                f"onMetaData declares {d.name} {d.declared:g}, measured {d.measured:g} ({d.off_pct:g}% off)",
                s.metadata_where)
    return out


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Errors first, then warnings, then notes; each in capture order."""
    return tuple(sorted(findings, key=lambda f: (SEVERITIES.index(f.severity),
                                                 f.where.frame if f.where is not None else 0)))
