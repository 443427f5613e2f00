"""Reassembled TCP flows → RTMP connections → per-direction RTMP events.

Standard library only, sans-IO: :class:`RtmpExtractor` is fed the capture layer's flow events and
returns what they completed.  RTMP is recognised on any port by its handshake or by a trial parse
(:mod:`droidcap.rtmp.detect`), so no port list is needed and captures that start mid-connection
still decode.  Until a flow is recognised its first bytes are held (bounded by
:data:`DETECT_LIMIT` per direction) and replayed into the decoders once it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from droidcap.capture.events import (
    CaptureNote,
    Direction,
    Endpoint,
    FlowOpened,
    StreamData,
    StreamEnd,
    StreamGap,
)
from droidcap.rtmp import detect
from droidcap.rtmp.chunks import MemoryBudget
from droidcap.rtmp.decoder import DecoderCheckpoint, RtmpDecoder
from droidcap.rtmp.events import RtmpEvent

# How many bytes of each direction we hold while deciding whether a flow is RTMP.  A handshake
# needs 1537 bytes of each side; a mid-connection trial parse wants a few chunks.
DETECT_LIMIT = 16 * 1024
# ... and how many flow events (gaps count, but hold no bytes) before deciding anyway.
DETECT_MAX_EVENTS = 1024
# Bounds over all flows at once, so that a capture of many flows cannot add up to unbounded
# memory either: undecided flows (the oldest is decided when a new one would go over), the bytes
# they hold together, and the endpoints counted for role inference.
MAX_UNDECIDED_FLOWS = 4096
DETECT_TOTAL_LIMIT = 16 * 1024 * 1024
MAX_COUNTED_ENDPOINTS = 65536
# What incomplete RTMP messages and chunk stream states of all connections may hold together.
PARTIAL_TOTAL_LIMIT = 64 * 1024 * 1024
# Decoder checkpoints (when asked for): one per direction once this many capture records have
# passed since its last one (what a re-read from a checkpoint costs is the records after it, of
# every flow), taken where no message is incomplete and at most CHECKPOINT_PENDING bytes of a
# chunk wait.
CHECKPOINT_EVERY = 4096
CHECKPOINT_PENDING = 2 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """An RTMP connection: one TCP flow whose bytes decode as RTMP.

    ``client``/``server`` are RTMP roles (the side that sends C0/C1 or ``connect`` is the client),
    which may differ from the TCP roles when the SYN was not captured.
    """

    conn: int  # 0-based index, in order of recognition
    flow: int
    client: Endpoint
    server: Endpoint
    syn_seen: bool
    opened_time: float  # time of the SYN, or of the first captured segment
    opened_frame: int
    handshake_seen: bool  # False: the capture starts mid-connection
    outer: tuple[str, ...] = ()  # encapsulations around its packets (tunnels), outermost first


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionFound:
    connection: Connection


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedEvent:
    connection: Connection
    dir: Direction  # RTMP direction: C2S is client → server
    event: RtmpEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionEnded:
    connection: Connection
    dir: Direction
    reason: str
    frame: int
    time: float


PipelineItem = ConnectionFound | DecodedEvent | ConnectionEnded | CaptureNote

_C2S = Direction.C2S
Role = Literal["client", "server"]


@dataclass(slots=True)
class _Pending:
    """A flow not yet recognised: its first bytes per TCP direction, with their frames."""

    opened: FlowOpened
    chunks: list[StreamData | StreamGap | StreamEnd] = field(default_factory=list)
    held: dict[Direction, bytearray] = field(
        default_factory=lambda: {Direction.C2S: bytearray(), Direction.S2C: bytearray()}
    )
    ended: set[Direction] = field(default_factory=set)


@dataclass(slots=True)
class _Live:
    """A recognised connection and its two decoders, one per TCP direction."""

    connection: Connection
    swapped: bool  # RTMP client is the TCP "server" side (no SYN seen, roles inferred)
    c2s: RtmpDecoder  # decodes the TCP client's bytes
    s2c: RtmpDecoder
    ended: int = 0  # directions ended; at 2 the connection is forgotten
    # frame of each TCP direction's last checkpoint (c2s, s2c)
    checkpointed: list[int] = field(default_factory=lambda: [0, 0])

    def decoder(self, tcp_dir: Direction) -> RtmpDecoder:
        # ``is`` rather than a dict keyed by Direction: an Enum's hash is a Python-level call
        return self.c2s if tcp_dir is _C2S else self.s2c

    def rtmp_dir(self, tcp_dir: Direction) -> Direction:
        return tcp_dir.reverse if self.swapped else tcp_dir


CheckpointHandler = Callable[[Connection, Direction, Direction, DecoderCheckpoint], None]
"""Called with a connection, the TCP direction, the RTMP direction and a decoder checkpoint."""


class RtmpExtractor:
    """Feed flow events with :meth:`feed`, call :meth:`finish` at the end of the capture."""

    def __init__(self, *, max_message_size: int = 16 * 1024 * 1024,
                 max_partial_total: int = PARTIAL_TOTAL_LIMIT,
                 on_checkpoint: CheckpointHandler | None = None,
                 checkpoint_every: int | None = None) -> None:
        """``max_partial_total``: what incomplete messages (and chunk stream states) of all
        connections may hold together; never less than two of the largest messages.

        ``on_checkpoint``: given a :class:`~droidcap.rtmp.decoder.DecoderCheckpoint` of each
        direction about every ``checkpoint_every`` capture records (where one can be taken: from
        the handshake on, no gap, between messages), so that a re-reader of the capture can start
        inside a long connection instead of at its start (the TUI's Hex pane); by default
        :data:`CHECKPOINT_EVERY`."""
        self._on_checkpoint = on_checkpoint
        self._checkpoint_every = CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every
        self._max_message_size = max_message_size
        self._budget = MemoryBudget(max(max_partial_total, 2 * max_message_size))
        self._pending: dict[int, _Pending] = {}  # oldest first
        self._held_total = 0  # bytes held by all pending flows
        self._live: dict[int, _Live] = {}
        self._rejected: dict[int, int] = {}  # flow -> directions ended; forgotten at 2
        self._connections = 0
        # How many flows each endpoint takes part in: a listening server's endpoint is shared by
        # its flows, a client's ephemeral port is not (used to tell roles when no SYN was seen).
        self._endpoint_flows: dict[tuple[str, int], int] = {}

    @property
    def connections_found(self) -> int:
        return self._connections

    def feed(self, event: FlowOpened | StreamData | StreamGap | StreamEnd | CaptureNote) -> list[PipelineItem]:
        """The items one flow event completes."""
        return self.feed_batch((event,))

    def feed_batch(
        self, events: Iterable[FlowOpened | StreamData | StreamGap | StreamEnd | CaptureNote]
    ) -> list[PipelineItem]:
        """The items a batch of flow events completes, in order: the same as :meth:`feed` for
        each in turn.

        The hot path.  Consecutive segments of the same direction of a recognised connection
        (about five in a row in a typical capture) are all received before the decoder is asked
        for events, once: the decoder's output does not depend on how its bytes were split
        (tested), and nothing else comes between them, so the order of the items is unchanged.
        """
        out: list[PipelineItem] = []
        extend = out.extend
        find_live = self._live.get
        run: RtmpDecoder | None = None  # decoder that received data since it was last drained
        run_live: _Live | None = None
        run_dir = _C2S
        for event in events:
            if type(event) is StreamData:
                live = find_live(event.flow)
                if live is not None:
                    tcp_dir = event.dir
                    decoder = live.c2s if tcp_dir is _C2S else live.s2c
                    if decoder is not run:
                        if run is not None:
                            extend(self._drain(run_live, run_dir, run))  # type: ignore[arg-type]
                        run, run_live, run_dir = decoder, live, tcp_dir
                    decoder.receive_data(event.data, frame=event.frame, time=event.time)
                    continue
            if run is not None:
                extend(self._drain(run_live, run_dir, run))  # type: ignore[arg-type]
                run = None
            extend(self._feed_other(event))
        if run is not None:
            extend(self._drain(run_live, run_dir, run))  # type: ignore[arg-type]
        return out

    def _feed_other(
        self, event: FlowOpened | StreamData | StreamGap | StreamEnd | CaptureNote
    ) -> list[PipelineItem]:
        """Every event but data of a recognised connection (off the hot path: isinstance, which
        the type checker follows both ways)."""
        if isinstance(event, StreamData):
            if event.flow in self._rejected:
                return []
            return self._hold(event)
        if isinstance(event, FlowOpened):
            self._pending[event.flow] = _Pending(opened=event)
            self._count_endpoints(event)
            return self._decide_oldest()
        if isinstance(event, CaptureNote):
            return [event]
        live = self._live.get(event.flow)
        if live is not None:
            return self._apply(live, event)
        if event.flow in self._pending:
            return self._hold(event)
        if type(event) is StreamEnd and event.flow in self._rejected:
            self._forget_rejected(event.flow, 1)
        return []

    def _count_endpoints(self, event: FlowOpened) -> None:
        counts = self._endpoint_flows
        if len(counts) >= MAX_COUNTED_ENDPOINTS:
            counts.clear()  # only role inference without SYN or handshake relies on it
        for endpoint in (event.client, event.server):
            counts[endpoint] = counts.get(endpoint, 0) + 1

    def _forget_rejected(self, flow: int, ended: int) -> None:
        ended += self._rejected.get(flow, 0)
        if ended >= 2:
            self._rejected.pop(flow, None)
        else:
            self._rejected[flow] = ended

    def _decide_oldest(self) -> list[PipelineItem]:
        """Over a bound for undecided flows: decide the oldest now, on what they have."""
        out: list[PipelineItem] = []
        while self._pending and (
            len(self._pending) > MAX_UNDECIDED_FLOWS or self._held_total > DETECT_TOTAL_LIMIT
        ):
            out.extend(self._decide(next(iter(self._pending)), final=True))
        return out

    def finish(self) -> list[PipelineItem]:
        """The capture ended: give undecided flows a last chance, then flush every decoder."""
        out: list[PipelineItem] = []
        for flow in list(self._pending):
            out.extend(self._decide(flow, final=True))
        for live in self._live.values():
            for tcp_dir in (Direction.C2S, Direction.S2C):
                decoder = live.decoder(tcp_dir)
                decoder.receive_eof()
                out.extend(self._drain(live, tcp_dir, decoder))
        return out

    # -- recognition ---------------------------------------------------------------------------

    def _hold(self, event: StreamData | StreamGap | StreamEnd) -> list[PipelineItem]:
        pending = self._pending.get(event.flow)
        if pending is None:  # data for a flow the capture layer never opened: ignore
            return []
        pending.chunks.append(event)
        if type(event) is StreamData:
            held = pending.held[event.dir]
            room = DETECT_LIMIT - len(held)
            if room > 0:
                before = len(held)
                held += event.data[:room]
                self._held_total += len(held) - before
        elif type(event) is StreamEnd:
            pending.ended.add(event.dir)
        # Decide once either side has said enough: a silent side (a player that only acks) must
        # not keep the flow's bytes held forever.
        final = (
            len(pending.ended) == 2
            or any(len(b) >= DETECT_LIMIT for b in pending.held.values())
            or len(pending.chunks) >= DETECT_MAX_EVENTS
        )
        out = self._decide(event.flow, final=final)
        if self._held_total > DETECT_TOTAL_LIMIT:
            out.extend(self._decide_oldest())
        return out

    def _decide(self, flow: int, *, final: bool) -> list[PipelineItem]:
        pending = self._pending[flow]
        verdict = detect.recognise(bytes(pending.held[Direction.C2S]), bytes(pending.held[Direction.S2C]))
        if verdict is None and not final:
            return []
        del self._pending[flow]
        self._held_total -= sum(len(b) for b in pending.held.values())
        if verdict is None or not verdict.is_rtmp:
            self._forget_rejected(flow, len(pending.ended))
            return []
        return self._start(pending, verdict)

    def _start(self, pending: _Pending, verdict: detect.Verdict) -> list[PipelineItem]:
        opened = pending.opened
        swapped = verdict.client_is_tcp_server
        if not opened.syn_seen and not verdict.handshake:
            # No SYN, no handshake: when one side's endpoint serves several flows, it is the server.
            shared_client = self._endpoint_flows.get(opened.client, 0)
            shared_server = self._endpoint_flows.get(opened.server, 0)
            if shared_client != shared_server:
                swapped = shared_client > shared_server
        client, server = (opened.server, opened.client) if swapped else (opened.client, opened.server)
        connection = Connection(
            conn=self._connections,
            flow=opened.flow,
            client=client,
            server=server,
            syn_seen=opened.syn_seen,
            opened_time=opened.time,
            opened_frame=opened.frame,
            handshake_seen=bool(verdict.handshake),
            outer=opened.outer,
        )
        self._connections += 1
        # The TCP client's bytes are the RTMP client's unless the roles are swapped.
        roles: tuple[Role, Role] = ("server", "client") if swapped else ("client", "server")
        c2s, s2c = (
            RtmpDecoder(
                role=role,
                expect_handshake=verdict.handshake,
                max_message_size=self._max_message_size,
                budget=self._budget,
            )
            for role in roles
        )
        live = _Live(connection=connection, swapped=swapped, c2s=c2s, s2c=s2c)
        self._live[opened.flow] = live
        out: list[PipelineItem] = [ConnectionFound(connection=connection)]
        for event in pending.chunks:
            out.extend(self._apply(live, event))
        return out

    # -- decoding ------------------------------------------------------------------------------

    def _apply(self, live: _Live, event: StreamData | StreamGap | StreamEnd) -> list[PipelineItem]:
        decoder = live.decoder(event.dir)
        if isinstance(event, StreamData):
            decoder.receive_data(event.data, frame=event.frame, time=event.time)
            return self._drain(live, event.dir, decoder)
        if isinstance(event, StreamGap):
            decoder.receive_gap(event.size, frame=event.frame, time=event.time)
            return self._drain(live, event.dir, decoder)
        decoder.receive_eof()
        out = self._drain(live, event.dir, decoder)
        live.ended += 1
        if live.ended == 2:  # both directions over: nothing more will come for this flow
            del self._live[live.connection.flow]
        out.append(
            ConnectionEnded(
                connection=live.connection,
                dir=live.rtmp_dir(event.dir),
                reason=event.reason,
                frame=event.frame,
                time=event.time,
            )
        )
        return out

    def _drain(self, live: _Live, tcp_dir: Direction, decoder: RtmpDecoder) -> list[PipelineItem]:
        rtmp_dir = live.rtmp_dir(tcp_dir)
        connection = live.connection
        out: list[PipelineItem] = [
            DecodedEvent(connection=connection, dir=rtmp_dir, event=ev) for ev in decoder.events()
        ]
        if self._on_checkpoint is not None:
            self._checkpoint(live, tcp_dir, rtmp_dir, decoder)
        return out

    def _checkpoint(self, live: _Live, tcp_dir: Direction, rtmp_dir: Direction,
                    decoder: RtmpDecoder) -> None:
        """Hand over checkpoints of the connection's directions that are due and can be taken.
        A direction idle since its last checkpoint is checkpointed at this direction's frame: no
        byte of it came since (its data before this run of segments was drained when the run
        began), so its state holds up to here."""
        frame = decoder.last_frame
        every = self._checkpoint_every
        i = 0 if tcp_dir is _C2S else 1
        done = live.checkpointed
        if frame - done[i] < every:
            return
        assert self._on_checkpoint is not None
        point = decoder.checkpoint(CHECKPOINT_PENDING)
        if point is None:
            return  # a message is incomplete: try again after the next read
        done[i] = frame
        self._on_checkpoint(live.connection, tcp_dir, rtmp_dir, point)
        other = live.s2c if i == 0 else live.c2s
        if frame - done[1 - i] >= every and other.last_frame <= frame:
            idle = other.checkpoint(CHECKPOINT_PENDING, frame=frame)
            if idle is not None:
                done[1 - i] = frame
                self._on_checkpoint(live.connection, tcp_dir.reverse, rtmp_dir.reverse, idle)
