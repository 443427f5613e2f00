"""The summary of a capture: per connection who, milestones, statuses, media health, transport,
findings, and the flat :class:`Figures` that lab expectations are checked against.

Standard library only, sans-IO: :class:`SummaryBuilder` is fed the decoder's pipeline items (and,
for retransmissions and zero windows, a :class:`~droidcap.analysis.transport.TcpHealthTracker`
fed the same records); :meth:`SummaryBuilder.result` returns a frozen :class:`CaptureSummary`
whose ``to_json()`` is the documented schema (docs/summary.md, ``schema`` = :data:`SCHEMA`).
Every time is measured from the connection's own start (its SYN, or its first captured packet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from droidcap.analysis.findings import Finding, Thresholds, assess_stream, sort_findings
from droidcap.analysis.health import (
    MediaHealthTracker,
    StreamHealth,
    Where,
    as_json,
    json_value,
)
from droidcap.analysis.meanings import is_failure, meaning
from droidcap.analysis.transport import TcpEvent, TcpHealthTracker, key_of
from droidcap.capture.events import CaptureNote
from droidcap.pipeline import (
    Connection,
    ConnectionFound,
    DecodedEvent,
    PipelineItem,
)
from droidcap.rtmp.commands import Command
from droidcap.rtmp.events import Gap, HandshakePart, Message
from droidcap.session import (
    MAX_TRACKED_CONNECTIONS,
    ConnectionSummary,
    SessionTracker,
    endpoint_text,
)

SCHEMA = "droidcap.summary/1"
MAX_LISTED = 1000
MAX_GAP_FINDINGS = 20  # one finding each; the rest are counted in one


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """An onStatus code or an ``_error`` answer, with what it means."""

    source: str  # "onStatus" or "_error"
    command: str | None  # for "_error": the command it answered
    stream_id: int
    code: str | None
    level: str | None
    description: str | None
    meaning: str
    failure: bool
    where: Where

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Startup:
    """How long each step of starting took, in milliseconds (None: that step is not in the
    capture).  ``time_to_*`` count from the connection's start; the others from the request."""

    handshake_rtt_ms: float | None  # C0+C1 sent → S0+S1 received
    connect_ms: float | None  # connect → its _result/_error
    create_stream_ms: float | None
    play_start_ms: float | None  # play → NetStream.Play.Start
    publish_start_ms: float | None  # publish → NetStream.Publish.Start
    time_to_first_metadata_ms: float | None
    time_to_first_audio_ms: float | None
    time_to_first_video_ms: float | None
    time_to_first_keyframe_ms: float | None  # the first coded keyframe (not a sequence header)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class GapReport:
    dir: str
    size: int  # bytes the capture lacks
    where: Where  # where the stream resumes

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportHealth:
    tcp_gaps: int
    tcp_gap_bytes: int
    gaps: tuple[GapReport, ...]
    skipped_bytes: int  # RTMP bytes the decoder could not place (around gaps)
    retransmissions: int
    retransmitted_bytes: int
    out_of_order: int
    zero_windows: int
    ack_window_stalls: int  # stalls while the sender waited on an RTMP Acknowledgement
    events: tuple[TcpEvent, ...]  # retransmissions, out-of-order and zero-window segments (first ones)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One connection's figures as flat values, named for the lab runner's expectations
    (``play_status``, ``time_to_first_keyframe``, ``no_gaps`` ← ``tcp_gaps == 0``,
    ``min_video_kbps`` ← ``video_kbps_min``, ``max_keyframe_interval`` ←
    ``keyframe_interval_ms_max``, ``max_stall`` ← ``max_stall_ms``).  Media figures are those of
    the connection's main stream (the one with the most video, else audio); None when absent."""

    role: str
    connect_status: str | None
    play_status: str | None  # the first NetStream.Play.* code other than Play.Reset
    publish_status: str | None  # the first NetStream.Publish.* code
    time_to_first_audio_ms: float | None
    time_to_first_video_ms: float | None
    time_to_first_keyframe_ms: float | None
    frame_rate: float | None
    video_kbps: float | None
    video_kbps_min: float | None
    audio_kbps: float | None
    keyframe_interval_ms_mean: float | None
    keyframe_interval_ms_max: int | None
    keyframe_interval_frames_max: int | None
    video_frames: int
    audio_packets: int
    stall_count: int
    max_stall_ms: float
    max_drift_ms: int | None
    tcp_gaps: int
    tcp_gap_bytes: int
    retransmissions: int
    errors: int  # findings of severity "error"
    warnings: int

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionHealth:
    conn: int
    client: str
    server: str
    role: str
    mid_connection: bool
    app: str | None
    tc_url: str | None
    flash_ver: str | None  # the client's flashVer (ffmpeg: "FMLE/3.0 (compatible; Lavf…)")
    server_version: str | None  # fmsVer of the connect _result
    stream_names: tuple[str, ...]  # names played or published
    encoder: str | None  # onMetaData "encoder"
    milestones: dict[str, Where]
    startup: Startup
    statuses: tuple[StatusReport, ...]
    streams: tuple[StreamHealth, ...]
    transport: TransportHealth
    findings: tuple[Finding, ...]
    figures: Figures
    session: ConnectionSummary = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        out = {name: json_value(getattr(self, name)) for name in self.__slots__ if name != "session"}
        out["milestones"] = {name: w.to_json() for name, w in self.milestones.items()}
        return out

    def main_stream(self) -> StreamHealth | None:
        return _main(self.streams)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSummary:
    connections: tuple[ConnectionHealth, ...]
    notes: tuple[str, ...]
    thresholds: Thresholds

    def connection(self, conn: int) -> ConnectionHealth | None:
        return next((c for c in self.connections if c.conn == conn), None)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "thresholds": self.thresholds.to_json(),
                "connections": [c.to_json() for c in self.connections], "notes": list(self.notes)}


def _main(streams: tuple[StreamHealth, ...]) -> StreamHealth | None:
    media = [s for s in streams if s.video is not None or s.audio is not None]
    if not media:
        return None
    return max(media, key=lambda s: (s.video.frames if s.video else -1, s.audio.packets if s.audio else -1))


@dataclass(slots=True)
class _Conn:
    connection: Connection
    media: MediaHealthTracker
    parts: dict[str, float] = field(default_factory=dict)
    gaps: list[GapReport] = field(default_factory=list)
    errors: list[StatusReport] = field(default_factory=list)
    asked: dict[tuple[str, Any], str] = field(default_factory=dict)  # (dir, transaction id) → command
    server_version: str | None = None


class SummaryBuilder:
    """Feed pipeline items with :meth:`feed`; :meth:`result` summarises every connection (or only
    ``only``)."""

    def __init__(self, *, thresholds: Thresholds | None = None, only: int | None = None) -> None:
        self._limits = Thresholds() if thresholds is None else thresholds
        self._only = only
        self._session = SessionTracker()
        self._conns: dict[int, _Conn] = {}
        self._notes: list[str] = []

    def feed(self, item: PipelineItem) -> None:
        if isinstance(item, CaptureNote):
            if len(self._notes) < MAX_LISTED:
                where = "" if item.frame is None else f" (frame {item.frame})"
                self._notes.append(item.message + where)
            return
        conn = item.connection.conn
        if self._only is not None and conn != self._only:
            return
        self._session.feed(item)
        if isinstance(item, ConnectionFound):
            c = item.connection
            if len(self._conns) < MAX_TRACKED_CONNECTIONS:
                self._conns[conn] = _Conn(connection=c, media=MediaHealthTracker(
                    start_time=c.opened_time, stall_ms=self._limits.stall_ms,
                    jump_ms=self._limits.timestamp_jump_ms))
            return
        if not isinstance(item, DecodedEvent):
            return
        state = self._conns.get(conn)
        if state is None:
            return
        ev = item.event
        d = item.dir.value
        if isinstance(ev, Message):
            if ev.type_id in (20, 17):
                self._command(state, d, ev)
            else:
                state.media.feed(d, ev)
        elif isinstance(ev, HandshakePart):
            state.parts.setdefault(ev.part, ev.time)
        elif isinstance(ev, Gap) and len(state.gaps) < MAX_LISTED:
            state.gaps.append(GapReport(dir=d, size=ev.size, where=state.media.where(ev.frame, ev.time)))

    def _command(self, state: _Conn, d: str, msg: Message) -> None:
        body = msg.body
        if not isinstance(body, Command):
            return
        if body.command not in ("_result", "_error"):
            if len(state.asked) < MAX_LISTED:
                state.asked[(d, body.transaction_id)] = body.command
            return
        other = "c2s" if d == "s2c" else "s2c"
        asked = state.asked.get((other, body.transaction_id))
        args = body.args
        if body.command == "_result":
            if asked == "connect" and args and isinstance(args[0], dict):
                version = args[0].get("fmsVer")
                if isinstance(version, str):
                    state.server_version = version
            return
        info = next((a for a in args if isinstance(a, dict) and "code" in a), {})
        code = info.get("code") if isinstance(info.get("code"), str) else None
        level = info.get("level") if isinstance(info.get("level"), str) else None
        description = info.get("description") if isinstance(info.get("description"), str) else None
        text = meaning(code, level) if code else f"the server answered {asked or 'a command'} with an error"
        if len(state.errors) < MAX_LISTED:
            state.errors.append(StatusReport(
                source="_error", command=asked, stream_id=msg.stream_id, code=code, level=level,
                description=description, meaning=text, failure=True,
                where=state.media.where(msg.frame, msg.time)))

    def result(self, tcp: TcpHealthTracker | None = None) -> CaptureSummary:
        sessions = {s.conn: s for s in self._session.summaries()}
        out = []
        for conn, state in self._conns.items():
            session = sessions.get(conn)
            if session is not None:
                out.append(self._connection(state, session, tcp))
        notes = list(self._notes)
        if self._session.untracked:
            notes.append(f"more than {MAX_TRACKED_CONNECTIONS} RTMP connections: the first "
                         f"{MAX_TRACKED_CONNECTIONS} are summarised")
        return CaptureSummary(connections=tuple(out), notes=tuple(notes), thresholds=self._limits)

    def _connection(self, state: _Conn, s: ConnectionSummary, tcp: TcpHealthTracker | None) -> ConnectionHealth:
        c = state.connection
        where = state.media.where
        milestones = {m.name: where(m.frame, m.time) for m in s.milestones}
        streams = state.media.result()
        statuses = tuple(
            StatusReport(source="onStatus", command=None, stream_id=st.stream_id, code=st.code,
                         level=st.level, description=st.description, meaning=meaning(st.code, st.level),
                         failure=is_failure(st.code, st.level), where=where(st.frame, st.time))
            for st in s.statuses
        ) + tuple(state.errors)
        statuses = tuple(sorted(statuses, key=lambda r: r.where.frame))
        main = _main(streams)
        startup = self._startup(state, s, milestones, main)
        transport = self._transport(state, s, tcp, streams)
        findings = self._findings(s, statuses, streams, transport, milestones)
        v = main.video if main is not None else None
        a = main.audio if main is not None else None
        connect_status = next((t.result for t in s.transactions if t.command == "connect"), None)
        connect_info = next((t.info for t in s.transactions if t.command == "connect"), None)
        if isinstance(connect_info, list):
            code = next((i.get("code") for i in connect_info if isinstance(i, dict) and "code" in i), None)
            if isinstance(code, str):
                connect_status = code
        figures = Figures(
            role=s.role,
            connect_status=connect_status,
            play_status=next((r.code for r in statuses if r.code and r.code.startswith("NetStream.Play.")
                              and r.code != "NetStream.Play.Reset"), None),
            publish_status=next((r.code for r in statuses if r.code and r.code.startswith("NetStream.Publish.")), None),
            time_to_first_audio_ms=startup.time_to_first_audio_ms,
            time_to_first_video_ms=startup.time_to_first_video_ms,
            time_to_first_keyframe_ms=startup.time_to_first_keyframe_ms,
            frame_rate=v.frame_rate if v else None,
            video_kbps=v.video_kbps if v else None,
            video_kbps_min=v.video_kbps_min if v else None,
            audio_kbps=a.audio_kbps if a else None,
            keyframe_interval_ms_mean=v.keyframe_interval_ms_mean if v else None,
            keyframe_interval_ms_max=v.keyframe_interval_ms_max if v else None,
            keyframe_interval_frames_max=v.keyframe_interval_frames_max if v else None,
            video_frames=v.frames if v else 0,
            audio_packets=a.packets if a else 0,
            stall_count=main.stall_count if main else 0,
            max_stall_ms=main.max_stall_ms if main else 0.0,
            max_drift_ms=main.max_drift_ms if main else None,
            tcp_gaps=transport.tcp_gaps,
            tcp_gap_bytes=transport.tcp_gap_bytes,
            retransmissions=transport.retransmissions,
            errors=sum(f.severity == "error" for f in findings),
            warnings=sum(f.severity == "warning" for f in findings),
        )
        names = tuple(n.name for n in s.streams if n.name)
        encoder = next((m.metadata.get("encoder") for m in streams
                        if m.metadata and isinstance(m.metadata.get("encoder"), str)), None)
        return ConnectionHealth(
            conn=c.conn, client=endpoint_text(c.client), server=endpoint_text(c.server), role=s.role,
            mid_connection=s.mid_connection, app=_text(s.connect.get("app")),
            tc_url=_text(s.connect.get("tcUrl")), flash_ver=_text(s.connect.get("flashVer")),
            server_version=state.server_version, stream_names=names, encoder=encoder,
            milestones=milestones, startup=startup, statuses=statuses, streams=streams,
            transport=transport, findings=findings, figures=figures, session=s,
        )

    @staticmethod
    def _startup(state: _Conn, s: ConnectionSummary, ms: dict[str, Where], main: StreamHealth | None) -> Startup:
        def between(first: str, then: str) -> float | None:
            a, b = ms.get(first), ms.get(then)
            return None if a is None or b is None else round(b.after_ms - a.after_ms, 3)

        def after(name: str) -> float | None:
            w = ms.get(name)
            return None if w is None else w.after_ms

        def latency(command: str) -> float | None:
            return next((t.latency_ms for t in s.transactions if t.command == command), None)

        # The first coded keyframe: the session's milestone can be the AVC sequence header, whose
        # frame type also says keyframe.
        keyframe = main.video.first_keyframe if main is not None and main.video is not None else None
        sent, heard = state.parts.get("C1"), state.parts.get("S1")
        return Startup(
            handshake_rtt_ms=None if sent is None or heard is None else round((heard - sent) * 1000, 3),
            connect_ms=latency("connect"), create_stream_ms=latency("createStream"),
            play_start_ms=between("play", "play_start"), publish_start_ms=between("publish", "publish_start"),
            time_to_first_metadata_ms=after("first_metadata"), time_to_first_audio_ms=after("first_audio"),
            time_to_first_video_ms=after("first_video"),
            time_to_first_keyframe_ms=(keyframe.after_ms if keyframe is not None
                                       else after("first_video_keyframe")),
        )

    @staticmethod
    def _transport(state: _Conn, s: ConnectionSummary, tcp: TcpHealthTracker | None,
                   streams: tuple[StreamHealth, ...]) -> TransportHealth:
        retrans = retrans_bytes = ooo = zero = 0
        events: list[TcpEvent] = []
        if tcp is not None:
            c = state.connection
            for key in (key_of(c.client, c.server), key_of(c.server, c.client)):
                d = tcp.direction(key)
                retrans += d.retransmissions
                retrans_bytes += d.retransmitted_bytes
                ooo += d.out_of_order
                zero += d.zero_windows
                events.extend(d.events)
        events.sort(key=lambda e: e.frame)
        return TransportHealth(
            tcp_gaps=s.gaps, tcp_gap_bytes=s.gap_bytes, gaps=tuple(state.gaps),
            skipped_bytes=s.skipped_bytes, retransmissions=retrans, retransmitted_bytes=retrans_bytes,
            out_of_order=ooo, zero_windows=zero, ack_window_stalls=sum(st.ack_window_stalls for st in streams),
            events=tuple(events),
        )

    def _findings(self, s: ConnectionSummary, statuses: tuple[StatusReport, ...],
                  streams: tuple[StreamHealth, ...], transport: TransportHealth,
                  ms: dict[str, Where]) -> tuple[Finding, ...]:
        out: list[Finding] = []
        for r in statuses:
            if r.failure:
                label = r.code or f"_error to {r.command}"
                out.append(Finding(severity="error", code="status_failure", message=f"{label}: {r.meaning}",
                                   where=r.where, stream_id=r.stream_id))
        for asked, answer in (("play", "play_start"), ("publish", "publish_start")):
            if asked in ms and answer not in ms and not any(r.failure for r in statuses):
                start = "Play" if asked == "play" else "Publish"
                out.append(Finding(severity="warning", code="not_started",
                                   message=f"{asked} was never answered with {start}.Start "
                                           "in the capture: the stream did not start", where=ms[asked]))
        if s.role == "player" and "play_start" in ms and not any(st.video or st.audio for st in streams):
            out.append(Finding(severity="warning", code="no_media",
                               message="playback started but no audio or video arrived", where=ms["play_start"]))
        for st in streams:
            out.extend(assess_stream(st, self._limits, mid_connection=s.mid_connection))
        out.extend(Finding(severity="warning", code="tcp_gap",
                           message=f"{gap.size} bytes ({gap.dir}) are missing from the capture: the "
                                   "messages in them are lost and the decoder resynchronised after them",
                           where=gap.where, dir=gap.dir)
                   for gap in transport.gaps[:MAX_GAP_FINDINGS])
        if transport.tcp_gaps > MAX_GAP_FINDINGS:
            out.append(Finding(severity="warning", code="tcp_gap",
                               message=f"{transport.tcp_gaps - MAX_GAP_FINDINGS} more gaps "
                                       f"({transport.tcp_gap_bytes} bytes missing in all; a snaplen that cuts "
                                       "packets short looks like this)", where=None))
        if transport.retransmissions:
            out.append(Finding(severity="info", code="retransmissions",
                               message=f"{transport.retransmissions} TCP retransmissions "
                                       f"({transport.retransmitted_bytes} bytes): the network lost or delayed packets",
                               where=None))
        if transport.zero_windows:
            first = next((e for e in transport.events if e.kind == "zero_window"), None)
            out.append(Finding(severity="warning", code="zero_window",
                               message=f"{transport.zero_windows} zero-window segments: a receiver could not keep up "
                                       "and stopped the sender",
                               where=None if first is None else Where(frame=first.frame, time=first.time,
                                   after_ms=round((first.time - s.first_time) * 1000, 3))))
        return sort_findings(out)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
