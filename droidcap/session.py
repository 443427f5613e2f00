"""The streaming engineer's view of an RTMP connection, built from decoded events.

Standard library only.  :class:`SessionTracker` consumes the pipeline's items one at a time and
keeps only a summary per connection (never the messages themselves), so memory stays bounded
whatever the capture size: lists that a hostile capture could grow are capped at
:data:`LIST_CAP` entries with a count of what was dropped, and at most
:data:`MAX_TRACKED_CONNECTIONS` connections are summarised (the rest are counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from droidcap.capture.events import Direction
from droidcap.pipeline import Connection, ConnectionEnded, ConnectionFound, DecodedEvent, PipelineItem
from droidcap.rtmp import handshake as handshake_checks
from droidcap.rtmp.events import Gap, HandshakePart, Message, OversizeMessage, Skipped

LIST_CAP = 10_000

# Milestones in the order a healthy session reaches them (docs/ndjson.md lists them too).
MILESTONES = (
    "tcp_syn",
    "handshake_done",
    "connect",
    "connect_result",
    "create_stream_result",
    "play",
    "publish",
    "play_start",
    "publish_start",
    "first_metadata",
    "first_audio",
    "first_video",
    "first_video_keyframe",
    "closed",
)

# Commands that servers answer with onStatus, or often not at all, rather than _result/_error:
# an unanswered one is normal and not reported as a problem.
NO_RESULT_EXPECTED = frozenset({
    "play", "play2", "publish", "deleteStream", "closeStream", "receiveAudio", "receiveVideo",
    "seek", "pause", "releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "FCUnsubscribe",
    "getStreamLength",
})

CONNECT_FIELDS = ("app", "tcUrl", "flashVer", "swfUrl", "pageUrl", "type", "objectEncoding",
                  "audioCodecs", "videoCodecs", "capabilities", "fpad")


# How a direction's TCP stream ended (capture.events.StreamEnd.reason).  Only the connection's
# own FIN or RST closes it; "eof" (the capture stopped first) and "evicted" (too many flows open
# at once) say when droidcap stopped looking, not anything the connection did.
CLOSING_REASONS = frozenset({"fin", "rst"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Milestone:
    name: str
    time: float
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """A command and the ``_result``/``_error`` that answered it (or None: unanswered)."""

    command: str
    transaction_id: float
    dir: str
    frame: int
    time: float
    result: str | None = None
    result_frame: int | None = None
    result_time: float | None = None
    info: Any = None  # the answer's arguments after the command object (JSON-able)

    @property
    def latency_ms(self) -> float | None:
        return None if self.result_time is None else round((self.result_time - self.time) * 1000, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "transaction_id": self.transaction_id,
            "dir": self.dir,
            "frame": self.frame,
            "time": self.time,
            "result": self.result,
            "result_frame": self.result_frame,
            "latency_ms": self.latency_ms,
            "info": self.info,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """An onStatus (or other server status) seen on a stream."""

    stream_id: int
    code: str
    level: str | None
    description: str | None
    frame: int
    time: float

    def to_json(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "code": self.code, "level": self.level,
                "description": self.description, "frame": self.frame, "time": self.time}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetStream:
    stream_id: int
    action: str | None  # "play" or "publish"
    name: str | None

    def to_json(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "action": self.action, "name": self.name}


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeSummary:
    client_version: int | None
    server_version: int | None
    client_scheme: str | None
    server_scheme: str | None
    c2_echo: str | None  # how C2 relates to S1: "exact", "digest", "mismatch"
    s2_echo: str | None  # how S2 relates to C1

    def to_json(self) -> dict[str, Any]:
        return {"client_version": self.client_version, "server_version": self.server_version,
                "client_scheme": self.client_scheme, "server_scheme": self.server_scheme,
                "c2_echo": self.c2_echo, "s2_echo": self.s2_echo}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSummary:
    conn: int
    client: str
    server: str
    role: str  # "player", "publisher" or "unknown"
    mid_connection: bool
    connect: dict[str, Any]
    handshake: HandshakeSummary | None
    streams: tuple[NetStream, ...]
    transactions: tuple[Transaction, ...]
    statuses: tuple[Status, ...]
    milestones: tuple[Milestone, ...]
    counts: dict[str, dict[str, int]]  # dir → message type → count
    chunk_size: dict[str, int]  # last Set Chunk Size per dir
    gaps: int
    gap_bytes: int
    skipped_bytes: int
    oversize: int
    uncertain: int
    dropped: int  # list entries dropped past LIST_CAP
    first_time: float
    last_time: float  # the connection's own last activity (see ``last_frame``)
    last_frame: int
    ends: dict[str, str | None]  # dir → how its TCP stream ended: CLOSING_REASONS, "eof", "evicted"
    outer: tuple[str, ...] = ()  # the tunnels its packets travelled in, outermost first

    def milestone(self, name: str) -> Milestone | None:
        return next((m for m in self.milestones if m.name == name), None)

    @property
    def state(self) -> str:
        """``closed`` (both directions ended by FIN/RST), ``half_closed`` (one did, the other
        was still open when the capture ended), ``open`` (no FIN/RST: still open when the capture
        ended), ``evicted`` (droidcap stopped following it among too many open flows) or
        ``unknown`` (the engine does not report TCP ends: ``--engine tshark``)."""
        reasons = set(self.ends.values())
        if None in reasons:
            return "unknown"
        if reasons <= CLOSING_REASONS:
            return "closed"
        if "evicted" in reasons:
            return "evicted"
        return "half_closed" if reasons & CLOSING_REASONS else "open"

    @property
    def open_at_end(self) -> bool:
        """A direction was still open when the capture ended (no FIN or RST of its own)."""
        return self.state in ("open", "half_closed")

    def after_ms(self, time: float) -> float:
        """Milliseconds from the connection's opening to ``time``."""
        return round((time - self.first_time) * 1000, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "conn": self.conn,
            "client": self.client,
            "server": self.server,
            "outer": list(self.outer),
            "role": self.role,
            "mid_connection": self.mid_connection,
            "connect": self.connect,
            "handshake": None if self.handshake is None else self.handshake.to_json(),
            "streams": [s.to_json() for s in self.streams],
            "transactions": [t.to_json() for t in self.transactions],
            "statuses": [s.to_json() for s in self.statuses],
            "milestones": {m.name: {"time": m.time, "frame": m.frame, "after_ms": self.after_ms(m.time)}
                           for m in self.milestones},
            "state": self.state,
            "open_at_end": self.open_at_end,
            "ends": self.ends,
            "last_activity": {"time": self.last_time, "frame": self.last_frame,
                              "after_ms": self.after_ms(self.last_time)},
            "counts": self.counts,
            "chunk_size": self.chunk_size,
            "gaps": self.gaps,
            "gap_bytes": self.gap_bytes,
            "skipped_bytes": self.skipped_bytes,
            "oversize": self.oversize,
            "uncertain": self.uncertain,
            "dropped": self.dropped,
            "first_time": self.first_time,
            "last_time": self.last_time,
        }


def endpoint_text(endpoint: tuple[str, int]) -> str:
    """"ip:port", with IPv6 addresses in brackets as URLs write them."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class _ConnState:
    """Mutable accumulator for one connection; :meth:`summary` freezes it."""

    connection: Connection
    first_time: float
    last_time: float
    last_frame: int
    role: str = "unknown"
    connect: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, HandshakePart] = field(default_factory=dict)
    streams: dict[int, NetStream] = field(default_factory=dict)
    open_txns: dict[tuple[str, float], int] = field(default_factory=dict)  # → index in txns
    txns: list[Transaction] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    milestones: dict[str, Milestone] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {"c2s": {}, "s2c": {}})
    chunk_size: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    gap_bytes: int = 0
    skipped_bytes: int = 0
    oversize: int = 0
    uncertain: int = 0
    dropped: int = 0
    ends: dict[str, str | None] = field(default_factory=lambda: {"c2s": None, "s2c": None})

    def mark(self, name: str, time: float, frame: int) -> None:
        if name not in self.milestones:
            self.milestones[name] = Milestone(name=name, time=time, frame=frame)

    def seen(self, time: float, frame: int) -> None:
        """Activity of the connection itself at ``time`` (never the capture's end)."""
        if time >= self.last_time:
            self.last_time, self.last_frame = time, frame

    def keep(self, target: list[Any], item: Any) -> None:
        if len(target) < LIST_CAP:
            target.append(item)
        else:
            self.dropped += 1

    def summary(self) -> ConnectionSummary:
        c = self.connection
        return ConnectionSummary(
            conn=c.conn,
            client=endpoint_text(c.client),
            server=endpoint_text(c.server),
            role=self._role(),
            mid_connection=not c.handshake_seen,
            connect=self.connect,
            handshake=self._handshake(),
            streams=tuple(self.streams.values()),
            transactions=tuple(self.txns),
            statuses=tuple(self.statuses),
            milestones=tuple(sorted(self.milestones.values(), key=lambda m: (m.time, MILESTONES.index(m.name)))),
            counts=self.counts,
            chunk_size=self.chunk_size,
            gaps=self.gaps,
            gap_bytes=self.gap_bytes,
            skipped_bytes=self.skipped_bytes,
            oversize=self.oversize,
            uncertain=self.uncertain,
            dropped=self.dropped,
            first_time=self.first_time,
            last_time=self.last_time,
            last_frame=self.last_frame,
            ends=dict(self.ends),
            outer=c.outer,
        )

    def _role(self) -> str:
        """play/publish decide; without them (mid-connection), the direction media flows in."""
        if self.role != "unknown":
            return self.role
        def media(d: str) -> int:
            return self.counts[d].get("audio", 0) + self.counts[d].get("video", 0)
        if media("s2c") and not media("c2s"):
            return "player"
        if media("c2s") and not media("s2c"):
            return "publisher"
        return "unknown"

    def _handshake(self) -> HandshakeSummary | None:
        p = self.parts
        if not p:
            return None

        def echo(first: str, second: str) -> str | None:
            if first in p and second in p and p[first].payload and p[second].payload:
                return handshake_checks.check_echo(p[first].payload, p[second].payload)
            return None

        return HandshakeSummary(
            client_version=p["C0"].version if "C0" in p else None,
            server_version=p["S0"].version if "S0" in p else None,
            client_scheme=p["C1"].scheme if "C1" in p else None,
            server_scheme=p["S1"].scheme if "S1" in p else None,
            c2_echo=echo("S1", "C2"),
            s2_echo=echo("C1", "S2"),
        )


def _first_dict(args: list[Any]) -> dict[str, Any]:
    for value in args:
        if isinstance(value, dict):
            return value
    return {}


MAX_TRACKED_CONNECTIONS = 10_000
"""Connections summarised at most; a capture with more still decodes them all (ndjson)."""


class SessionTracker:
    """Feed pipeline items with :meth:`feed`; :meth:`summaries` gives one summary per connection."""

    def __init__(self) -> None:
        self._conns: dict[int, _ConnState] = {}
        self.untracked = 0  # connections beyond MAX_TRACKED_CONNECTIONS, not summarised

    def feed(self, item: PipelineItem) -> None:
        if type(item) is DecodedEvent:
            state = self._conns.get(item.connection.conn)
            if state is not None:
                self._event(state, item)
        elif type(item) is ConnectionFound:
            c = item.connection
            if len(self._conns) >= MAX_TRACKED_CONNECTIONS:
                self.untracked += 1
                return
            state = _ConnState(connection=c, first_time=c.opened_time, last_time=c.opened_time,
                               last_frame=c.opened_frame)
            if c.syn_seen:
                state.mark("tcp_syn", c.opened_time, c.opened_frame)
            self._conns[c.conn] = state
        elif type(item) is ConnectionEnded:
            state = self._conns.get(item.connection.conn)
            if state is None:
                return
            state.ends[item.dir.value] = item.reason
            if item.reason in CLOSING_REASONS:  # the connection's own doing: activity, and closed
                state.seen(item.time, item.frame)
                state.mark("closed", item.time, item.frame)

    def summaries(self) -> list[ConnectionSummary]:
        return [state.summary() for state in self._conns.values()]

    def milestones_reached(self, conn: int) -> tuple[Milestone, ...]:
        """The milestones connection ``conn`` has reached so far, in the order reached (cheap:
        for live progress, where building whole summaries per item would cost too much)."""
        state = self._conns.get(conn)
        return tuple(state.milestones.values()) if state is not None else ()

    # -- per event -----------------------------------------------------------------------------

    def _event(self, state: _ConnState, item: DecodedEvent) -> None:
        ev = item.event
        if ev.time >= state.last_time:
            state.last_time, state.last_frame = ev.time, ev.frame
        d = item.dir.value
        if type(ev) is Message:
            counts = state.counts[d]
            name = ev.type_name
            counts[name] = counts.get(name, 0) + 1
            if ev.uncertain:
                state.uncertain += 1
            type_id = ev.type_id
            if type_id == 8:
                state.mark("first_audio", ev.time, ev.frame)
            elif type_id == 9:
                if "first_video_keyframe" not in state.milestones:
                    state.mark("first_video", ev.time, ev.frame)
                    if ev.body.json_fields().get("frame_type") == "keyframe":
                        state.mark("first_video_keyframe", ev.time, ev.frame)
            elif type_id in (20, 17):
                self._command(state, item.dir, ev)
            elif type_id in (18, 15):
                self._data(state, ev)
            elif type_id == 1:
                size = ev.body.json_fields().get("chunk_size")
                if isinstance(size, int):
                    state.chunk_size[d] = size
        elif type(ev) is HandshakePart:
            state.parts[ev.part] = ev
            if ("C2" in state.parts and "S2" in state.parts) and "handshake_done" not in state.milestones:
                state.mark("handshake_done", ev.time, ev.frame)
        elif type(ev) is Gap:
            state.gaps += 1
            state.gap_bytes += ev.size
        elif type(ev) is Skipped:
            state.skipped_bytes += ev.size
        elif type(ev) is OversizeMessage:
            state.oversize += 1

    def _command(self, state: _ConnState, direction: Direction, msg: Message) -> None:
        fields = msg.body.json_fields()
        command = fields.get("command")
        if not isinstance(command, str):
            return
        txn = fields.get("transaction_id")
        args = fields.get("args") or []
        d = direction.value
        if command in ("_result", "_error"):
            if not isinstance(txn, (int, float)):
                return  # answers nothing that was asked
            index = state.open_txns.pop((direction.reverse.value, txn), None)
            if index is None:
                return
            asked = state.txns[index]
            answered = Transaction(
                command=asked.command, transaction_id=asked.transaction_id, dir=asked.dir,
                frame=asked.frame, time=asked.time, result=command, result_frame=msg.frame,
                result_time=msg.time, info=args[1:] if len(args) > 1 else args,
            )
            state.txns[index] = answered
            if command == "_result":
                if asked.command == "connect":
                    state.mark("connect_result", msg.time, msg.frame)
                elif asked.command == "createStream":
                    state.mark("create_stream_result", msg.time, msg.frame)
                    new_id = next(
                        (a for a in args[1:] if isinstance(a, (int, float)) and not isinstance(a, bool)), None
                    )
                    if new_id is not None and len(state.streams) < LIST_CAP:
                        sid = int(new_id)
                        state.streams.setdefault(sid, NetStream(stream_id=sid, action=None, name=None))
            return
        if command == "onStatus":
            info = _first_dict(args[1:]) or _first_dict(args)
            self._status(state, msg, info)
            return
        if isinstance(txn, (int, float)) and txn > 0:
            asked = Transaction(command=command, transaction_id=txn, dir=d, frame=msg.frame, time=msg.time)
            if len(state.txns) < LIST_CAP:
                state.open_txns[(d, txn)] = len(state.txns)
                state.txns.append(asked)
            else:
                state.dropped += 1
        if command == "connect":
            state.mark("connect", msg.time, msg.frame)
            obj = args[0] if args and isinstance(args[0], dict) else {}
            state.connect = {k: obj[k] for k in CONNECT_FIELDS if k in obj}
        elif command in ("play", "publish"):
            state.mark(command, msg.time, msg.frame)
            state.role = "player" if command == "play" else "publisher"
            name = next((a for a in args[1:] if isinstance(a, str)), None)
            if len(state.streams) < LIST_CAP or msg.stream_id in state.streams:
                state.streams[msg.stream_id] = NetStream(stream_id=msg.stream_id, action=command, name=name)

    def _data(self, state: _ConnState, msg: Message) -> None:
        fields = msg.body.json_fields()
        name = fields.get("name")
        values = fields.get("values") or []
        if name == "onMetaData" or (name == "@setDataFrame" and values[:1] == ["onMetaData"]):
            state.mark("first_metadata", msg.time, msg.frame)
        elif name == "onStatus":
            self._status(state, msg, _first_dict(values))

    def _status(self, state: _ConnState, msg: Message, info: dict[str, Any]) -> None:
        code = info.get("code")
        if not isinstance(code, str):
            return
        level = info.get("level")
        description = info.get("description")
        state.keep(state.statuses, Status(
            stream_id=msg.stream_id, code=code,
            level=level if isinstance(level, str) else None,
            description=description if isinstance(description, str) else None,
            frame=msg.frame, time=msg.time,
        ))
        if code == "NetStream.Play.Start":
            state.mark("play_start", msg.time, msg.frame)
        elif code == "NetStream.Publish.Start":
            state.mark("publish_start", msg.time, msg.frame)
