"""The sans-IO RTMP decoder of one TCP direction.

Feeding and parsing are separate: :meth:`RtmpDecoder.receive_data`,
:meth:`~RtmpDecoder.receive_gap` and :meth:`~RtmpDecoder.receive_eof` only record input;
:meth:`~RtmpDecoder.events` decodes everything it can and returns the events
(:mod:`droidcap.rtmp.events`).  The caller may be a pcap pipeline, a file loop or a test feeding
one byte at a time — the events are the same.

The decoder moves through the phases of :class:`Phase`.  :data:`TRANSITIONS` lists every move;
only :meth:`RtmpDecoder._enter` changes the phase and it checks the table::

    DETECT ──► HANDSHAKE_0 ──► HANDSHAKE_1 ──► HANDSHAKE_2 ──► CHUNKS ◄──► HUNT
       │            │                                 └─► OPAQUE (RTMPE)   ▲
       │            └─ not a version byte ─────────────────────────────────┤
       └─ no handshake (mid-connection) ───────────────────────────────────┘

A gap sends any phase but OPAQUE to HUNT after reporting what it cut short.  Nothing raises:
bytes that cannot be decoded become :class:`~droidcap.rtmp.events.Skipped` events, so the decoder
has no error state and raises no :class:`~droidcap.errors.RtmpProtocolError`; any exception from
it is a bug (the fuzz tests hold it to that).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from droidcap.rtmp import handshake, resync
from droidcap.rtmp.buffer import StreamBuffer
from droidcap.rtmp.chunks import (
    DEFAULT_CHUNK_SIZE,
    MSG,
    MSG_INFERRED,
    OVERSIZE,
    ChunkReader,
    Item,
    MemoryBudget,
    ReaderState,
    Status,
)
from droidcap.rtmp.events import (
    Body,
    Gap,
    HandshakePart,
    Message,
    OversizeMessage,
    RtmpEvent,
    Skipped,
    Synchronised,
)
from droidcap.rtmp.messages import Aggregate, Malformed, parse_body, split_aggregate

__all__ = ["TRANSITIONS", "DecoderCheckpoint", "Phase", "RtmpDecoder"]

_BLOCK = handshake.BLOCK_SIZE
_HUNT_STEP = 1 << 14  # a waiting hunt retries only after this much more data (bounds rescans)
_NO_FRAMING = "no chunk framing recognised (resynchronising)"


class Phase(Enum):
    DETECT = "deciding between handshake and mid-connection start"
    HANDSHAKE_0 = "expecting C0/S0"
    HANDSHAKE_1 = "expecting C1/S1"
    HANDSHAKE_2 = "expecting C2/S2"
    CHUNKS = "reading chunks"
    HUNT = "looking for chunk framing"
    OPAQUE = "RTMPE-encrypted: nothing to decode"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.DETECT: frozenset({Phase.HANDSHAKE_0, Phase.HUNT}),
    Phase.HANDSHAKE_0: frozenset({Phase.HANDSHAKE_1, Phase.HUNT}),
    Phase.HANDSHAKE_1: frozenset({Phase.HANDSHAKE_2, Phase.HUNT}),
    Phase.HANDSHAKE_2: frozenset({Phase.CHUNKS, Phase.OPAQUE, Phase.HUNT}),
    Phase.CHUNKS: frozenset({Phase.HUNT}),
    Phase.HUNT: frozenset({Phase.CHUNKS, Phase.HUNT}),
    Phase.OPAQUE: frozenset(),
}
"""Every phase change the decoder makes (the moves to HUNT from handshake phases are gaps)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecoderCheckpoint:
    """Where a decoder that has read its direction from the handshake on, without a gap, stands
    between two messages: after capture record ``frame`` every message that began is complete.

    ``offset`` is the stream offset (from the direction's first byte, the handshake included) of
    ``pending``, the start of a chunk not yet whole; ``marks`` are ``(stream end offset, frame)``
    of the records ``pending`` came in.  A reader of the same bytes that starts here with
    ``reader``'s framing frames the rest of the direction as this decoder does."""

    frame: int
    offset: int
    pending: bytes
    marks: tuple[tuple[int, int], ...]
    reader: ReaderState


class RtmpDecoder:
    """Decodes one direction of an RTMP connection.

    ``role``: who sends this direction (the client sends C0/C1/C2, the server S0/S1/S2).
    ``expect_handshake``: True/False if the caller knows, None to decide from the first bytes
    (a version byte 3/6 not followed by a believable chunk header means a handshake).
    ``max_message_size``: longer messages are reported as
    :class:`~droidcap.rtmp.events.OversizeMessage` and their bodies skipped.  ``budget``: what
    incomplete messages and chunk stream states may hold, shared with other decoders (the
    pipeline gives all decoders of a capture one); by default the decoder's own, twice
    ``max_message_size``.
    """

    def __init__(
        self,
        *,
        role: Literal["client", "server"],
        expect_handshake: bool | None = None,
        max_message_size: int = 16 * 1024 * 1024,
        budget: MemoryBudget | None = None,
    ) -> None:
        self._role = role
        self._budget = MemoryBudget(2 * max_message_size) if budget is None else budget
        self._names = ("C0", "C1", "C2") if role == "client" else ("S0", "S1", "S2")
        self._max_message_size = max_message_size
        self._buf = StreamBuffer()
        self._gaps: deque[tuple[int, int, int, float]] = deque()  # (offset, size, frame, time)
        self._eof = False
        self._out: list[RtmpEvent] = []
        self._items: list[Item] = []
        self._reader = self._new_reader(DEFAULT_CHUNK_SIZE, strict=False, from_start=True)
        self._confirmed = True  # False while framing rests on a guess: messages are uncertain
        self._known_chunk_size: int | None = None  # for a hunt: the size from before a gap
        # csid -> message stream id from before the last gap or loss of framing: the best guess
        # for messages on a csid whose fmt 0 header has not been seen since (still uncertain)
        self._prior_stream_ids: dict[int, int] = {}
        self._skipped = 0  # bytes dropped by the current hunt, reported when it ends
        self._hunt_retry = 0  # absolute offset a waiting hunt needs data up to
        self._wait = 0  # CHUNKS: bytes needed past the read position before reading again
        self._opaque = False
        self._hunted = False  # ever lost (or never had) framing from the handshake on
        self._phase = Phase.DETECT
        self._step: Callable[[int, bool], bool] = self._detect
        if expect_handshake:
            self._enter(Phase.HANDSHAKE_0)
        elif expect_handshake is not None:
            self._start_hunt(chunk_size=None)

    # -- input -----------------------------------------------------------------------------

    def receive_data(self, data: bytes, *, frame: int, time: float) -> None:
        """Record bytes of this direction (in stream order, after TCP reassembly)."""
        if data:
            self._buf.feed(data, frame, time)

    def receive_gap(self, size: int, *, frame: int, time: float) -> None:
        """Record that ``size`` bytes are missing from the stream at this point."""
        self._gaps.append((self._buf.base + len(self._buf.data), size, frame, time))

    def receive_eof(self) -> None:
        """No more input will come; :meth:`events` then reports whatever was left incomplete."""
        self._eof = True

    @property
    def bytes_received(self) -> int:
        """Bytes of the direction received so far (gaps not counted)."""
        return self._buf.base + len(self._buf.data)

    @property
    def last_frame(self) -> int:
        """The capture record that delivered the last byte received (0 before any)."""
        return self._buf.last_origin()[0]

    def checkpoint(self, max_pending: int, *, frame: int | None = None) -> DecoderCheckpoint | None:
        """Where the decoder stands, if it has read the direction from its handshake without a
        gap or a loss of framing, no message is incomplete and at most ``max_pending`` bytes wait
        for the next :meth:`events`; else None.  Call it after :meth:`events`.

        ``frame``: a later record than the last one received, up to which the caller knows no
        byte of this direction came (an idle direction's state holds until its next byte)."""
        if self._phase is not Phase.CHUNKS or self._hunted or self._gaps:
            return None
        buf = self._buf
        if len(buf.data) - buf.pos > max_pending:
            return None
        state = self._reader.idle_state()
        if state is None:
            return None
        offset = buf.offset
        return DecoderCheckpoint(
            frame=self.last_frame if frame is None else frame,
            offset=offset,
            pending=bytes(buf.data[buf.pos :]),
            marks=buf.marks_after(offset),
            reader=state,
        )

    # -- output ----------------------------------------------------------------------------

    def events(self) -> Sequence[RtmpEvent]:
        """Decode what has been received and return the events, in stream order.

        A trailing :class:`~droidcap.rtmp.events.Skipped` is held back until the next call
        shows whether the skip goes on (runs of skips become one event); after
        :meth:`receive_eof` nothing is held.  A sequence, not a generator: most TCP segments
        complete no chunk, and the caller on the hot path tests for emptiness cheaply."""
        buf = self._buf
        if self._wait and len(buf.data) - buf.pos < self._wait and not (self._gaps or self._eof):
            return ()  # the next chunk is not complete yet
        while True:
            end = len(buf.data)
            gap_at = None
            if self._gaps:
                gap_at = self._gaps[0][0] - buf.base
                end = gap_at
            final = self._eof or gap_at is not None  # nothing more will join these bytes
            while self._step(end, final):
                pass
            if gap_at is None:
                break
            self._take_gap(gap_at)
        if self._eof:
            self._finish()
        buf.compact()
        out = self._out
        if out and type(out[-1]) is Skipped and not self._eof:
            self._out = [out.pop()]  # the next skip of the same kind may extend it
        else:
            self._out = []
        return out

    # -- phases: each returns True if it changed phase (so the next one should run) -----------

    def _detect(self, end: int, final: bool) -> bool:
        buf = self._buf
        head = bytes(buf.data[buf.pos : min(end, buf.pos + 12)])
        if len(head) < 12 and not final:
            return False
        if (
            head
            and head[0] in handshake.RTMP_VERSIONS
            and not resync.plausible_start(head, self._max_message_size)
        ):
            self._enter(Phase.HANDSHAKE_0)
        else:
            self._start_hunt(chunk_size=None)
        return True

    def _handshake0(self, end: int, final: bool) -> bool:
        buf = self._buf
        if buf.pos >= end:
            return False
        version = buf.data[buf.pos]
        if version not in handshake.RTMP_VERSIONS:
            self._start_hunt(chunk_size=None)
            return True
        buf.pos += 1
        self._emit_part(self._names[0], version=version)
        self._opaque = version != 3
        self._enter(Phase.HANDSHAKE_1)
        return True

    def _handshake1(self, end: int, final: bool) -> bool:
        block = self._block(end)
        if block is None:
            return False
        scheme, layout = "plain", None
        if not self._opaque:
            digest = handshake.client_digest if self._role == "client" else handshake.server_digest
            found = digest(block)
            if found is not None:
                scheme, layout = "digest", found[0]
        self._emit_part(
            self._names[1],
            epoch=int.from_bytes(block[:4], "big"),
            field2=int.from_bytes(block[4:8], "big"),
            scheme=scheme,
            digest_layout=layout,
            payload=block,
        )
        self._enter(Phase.HANDSHAKE_2)
        return True

    def _handshake2(self, end: int, final: bool) -> bool:
        block = self._block(end)
        if block is None:
            return False
        self._emit_part(
            self._names[2],
            epoch=int.from_bytes(block[:4], "big"),
            field2=int.from_bytes(block[4:8], "big"),
            payload=block,
        )
        self._enter(Phase.OPAQUE if self._opaque else Phase.CHUNKS)
        return True

    def _block(self, end: int) -> bytes | None:
        buf = self._buf
        if end - buf.pos < _BLOCK:
            return None
        block = bytes(buf.data[buf.pos : buf.pos + _BLOCK])
        buf.pos += _BLOCK
        return block

    def _emit_part(self, part: str, **fields: object) -> None:
        frame, time = self._buf.origin()
        self._out.append(HandshakePart(part=part, frame=frame, time=time, **fields))  # type: ignore[arg-type]

    def _opaque_bytes(self, end: int, final: bool) -> bool:
        buf = self._buf
        if end > buf.pos:
            size = end - buf.pos
            buf.pos = end
            self._skip_event(size, "RTMPE-encrypted (C0/S0 version 6, 8 or 9)")
        return False

    def _chunks(self, end: int, final: bool) -> bool:
        buf = self._buf
        reader = self._reader
        items = self._items
        while True:
            # unconfirmed: one chunk at a time, a suspicious message must stop the reading at once
            limit = -1 if self._confirmed else 1
            pos, status = reader.read(buf.data, buf.pos, end, items, limit, final=final)
            if items:
                for item in items:
                    if not self._deliver(item):
                        items.clear()
                        buf.pos = item[1]
                        self._skipped += len(item[7])
                        self._lose_sync("message body did not parse while synchronising")
                        return True
                items.clear()
            buf.pos = pos
            if not self._confirmed and (reader.continuations or reader.chunk_size_set):
                self._confirm()
            if status is Status.LIMIT:
                continue
            if status is Status.DESYNC:
                assert reader.desync is not None
                self._lose_sync(reader.desync.value)
                return True
            self._wait = reader.need
            return False

    def _hunt(self, end: int, final: bool) -> bool:
        buf = self._buf
        if buf.base + end < self._hunt_retry and not final:
            return False
        found = resync.hunt(
            buf.data,
            buf.pos,
            end,
            chunk_size=self._known_chunk_size,
            max_message_size=self._max_message_size,
            final=final,
        )
        if isinstance(found, resync.Wait):
            self._skipped += found.skip_to - buf.pos
            buf.pos = found.skip_to
            self._hunt_retry = buf.base + end + _HUNT_STEP
            if final:
                self._skipped += end - buf.pos
                buf.pos = end
                self._flush_skipped()
            return False
        self._skipped += found.offset - buf.pos
        buf.pos = found.offset
        self._flush_skipped()
        self._reader = self._new_reader(found.chunk_size, strict=not found.confirmed)
        self._confirmed = found.confirmed
        frame, time = buf.origin(buf.pos + 1)
        self._out.append(
            Synchronised(
                frame=frame, time=time, chunk_size=found.chunk_size, confirmed=found.confirmed
            )
        )
        self._enter(Phase.CHUNKS)
        return True

    # -- messages --------------------------------------------------------------------------

    def _deliver(self, item: Item) -> bool:
        """Turn one reader item into events; False if it proves the framing wrong."""
        kind = item[0]
        frame, time = self._buf.origin(item[1])
        if kind == MSG or kind == MSG_INFERRED:
            _, _, csid, fmt, timestamp, type_id, stream_id, body = item
            uncertain = not self._confirmed
            if kind == MSG_INFERRED:  # csid not anchored by a fmt 0 header since the hunt
                uncertain = True
                stream_id = self._prior_stream_ids.get(csid, 0)
            if type_id == 22:
                self._aggregate(frame, time, csid, fmt, timestamp, stream_id, body, uncertain)
                return True
            parsed = parse_body(type_id, body)
            if uncertain and type(parsed) is Malformed:
                return False
            self._out.append(
                Message(
                    frame=frame,
                    time=time,
                    csid=csid,
                    fmt=fmt,
                    timestamp=timestamp,
                    type_id=type_id,
                    stream_id=stream_id,
                    length=len(body),
                    body=parsed,
                    uncertain=uncertain,
                )
            )
        elif kind == OVERSIZE:
            _, _, csid, fmt, timestamp, type_id, stream_id, length = item
            self._out.append(
                OversizeMessage(
                    frame=frame,
                    time=time,
                    csid=csid,
                    fmt=fmt,
                    type_id=type_id,
                    stream_id=stream_id,
                    length=length,
                    timestamp=timestamp,
                )
            )
        else:
            self._skip_event(item[2], item[3], frame, time)
        return True

    def _aggregate(
        self,
        frame: int,
        time: float,
        csid: int,
        fmt: int,
        timestamp: int,
        stream_id: int,
        body: bytes | bytearray,
        uncertain: bool,
    ) -> None:
        """Report an aggregate as the wire message it is (its length and how many sub-messages
        it holds, ``malformed`` if its body ends badly), then each complete sub-message
        (``aggregate=True``), so both the wire sequence and the media can be read."""
        parts, problem = split_aggregate(body, timestamp)
        out = self._out
        out.append(
            Message(
                frame=frame,
                time=time,
                csid=csid,
                fmt=fmt,
                timestamp=timestamp,
                type_id=22,
                stream_id=stream_id,
                length=len(body),
                body=Aggregate(
                    sub_messages=len(parts),
                    malformed=problem,
                    raw_head=None if problem is None else body[:32].hex(),
                ),
                uncertain=uncertain,
            )
        )
        for part in parts:
            sub: Body
            if part.type_id == 22:
                sub = Malformed(
                    reason="aggregate inside an aggregate", raw_head=part.body[:32].hex()
                )
            else:
                sub = parse_body(part.type_id, part.body)
            out.append(
                Message(
                    frame=frame,
                    time=time,
                    csid=csid,
                    fmt=fmt,
                    timestamp=part.timestamp,
                    type_id=part.type_id,
                    stream_id=stream_id,
                    length=len(part.body),
                    body=sub,
                    uncertain=uncertain,
                    aggregate=True,
                )
            )

    # -- transitions -----------------------------------------------------------------------

    def _enter(self, phase: Phase) -> None:
        assert phase in TRANSITIONS[self._phase], (self._phase, phase)
        self._phase = phase
        self._step = _STEPS[phase].__get__(self)
        self._wait = 0

    def _start_hunt(self, *, chunk_size: int | None) -> None:
        self._hunted = True
        self._known_chunk_size = chunk_size
        self._confirmed = False
        self._hunt_retry = 0
        self._enter(Phase.HUNT)

    def _lose_sync(self, reason: str) -> None:
        """Framing broke in CHUNKS: report what was cut short and look for framing again."""
        self._report_pending(f"incomplete message dropped ({reason})")
        self._start_hunt(chunk_size=self._reader.chunk_size if self._confirmed else None)

    def _confirm(self) -> None:
        self._confirmed = True
        self._reader.strict = False
        frame, time = self._buf.origin()
        self._out.append(
            Synchronised(frame=frame, time=time, chunk_size=self._reader.chunk_size, confirmed=True)
        )

    def _take_gap(self, gap_at: int) -> None:
        buf = self._buf
        left = gap_at - buf.pos
        phase = self._phase
        if phase is Phase.HUNT:
            self._skipped += left
            buf.pos = gap_at
            self._flush_skipped()
        elif left:
            buf.pos = gap_at
            self._skip_event(left, f"cut short by a gap while {phase.value}")
        self._report_pending("incomplete message cut short by a gap")
        _, size, frame, time = self._gaps.popleft()
        self._out.append(Gap(frame=frame, time=time, size=size))
        if phase is Phase.OPAQUE:
            return
        known = phase in (Phase.CHUNKS, Phase.HUNT) and self._confirmed
        self._start_hunt(chunk_size=self._reader.chunk_size if known else None)

    def _finish(self) -> None:
        """End of stream: report everything left incomplete."""
        buf = self._buf
        left = len(buf.data) - buf.pos
        if self._phase is Phase.HUNT:
            self._skipped += left
            buf.pos += left
            self._flush_skipped()
            return
        if left:
            buf.pos += left
            self._skip_event(left, f"stream ended while {self._phase.value}")
        self._report_pending("stream ended inside this message")

    # -- helpers ---------------------------------------------------------------------------

    def _report_pending(self, reason: str) -> None:
        reader = self._reader
        prior = self._prior_stream_ids
        for csid, st in reader.streams.items():
            if st.anchored:
                prior[csid] = st.stream_id
        for csid, st in reader.pending():
            self._skip_event(
                st.received,
                f"{reason}: csid {csid}, type {st.type_id}, {st.received} of {st.length} bytes",
            )
        reader.reset_streams()

    def _flush_skipped(self) -> None:
        if self._skipped:
            self._skip_event(self._skipped, _NO_FRAMING)
            self._skipped = 0

    def _skip_event(
        self, size: int, reason: str, frame: int | None = None, time: float | None = None
    ) -> None:
        """Report skipped bytes; a run of skips with the same reason becomes one event (a
        mid-connection capture of a live stream may skip every media message for a while)."""
        if frame is None or time is None:
            frame, time = self._buf.origin()
        out = self._out
        if out:
            last = out[-1]
            if type(last) is Skipped and last.reason == reason:
                size += last.size
                out.pop()
        out.append(Skipped(frame=frame, time=time, size=size, reason=reason))

    def _new_reader(
        self, chunk_size: int, *, strict: bool, from_start: bool = False
    ) -> ChunkReader:
        return ChunkReader(
            chunk_size=chunk_size,
            strict=strict,
            from_start=from_start,
            max_message_size=self._max_message_size,
            budget=self._budget,
        )


_STEPS: dict[Phase, Callable[[RtmpDecoder, int, bool], bool]] = {
    Phase.DETECT: RtmpDecoder._detect,
    Phase.HANDSHAKE_0: RtmpDecoder._handshake0,
    Phase.HANDSHAKE_1: RtmpDecoder._handshake1,
    Phase.HANDSHAKE_2: RtmpDecoder._handshake2,
    Phase.CHUNKS: RtmpDecoder._chunks,
    Phase.HUNT: RtmpDecoder._hunt,
    Phase.OPAQUE: RtmpDecoder._opaque_bytes,
}
