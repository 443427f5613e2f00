"""The RTMP chunk stream of one direction: chunk headers in, reassembled messages out.

A chunk is a basic header (fmt + chunk stream id in 1, 2 or 3 bytes: csid 2..63, 64..319,
64..65599), a message header of 11/7/3/0 bytes for fmt 0/1/2/3, an optional 4-byte extended
timestamp, and at most ``chunk_size`` payload bytes.  Header fields a chunk omits come from the
previous header of the same csid (:class:`ChunkStream`).

Choices where peers or references differ (see docs/protocol-notes.md):

* Timestamp delta.  fmt 1/2 carry a delta; a fmt 3 chunk that starts a new message reuses the
  *timestamp field* of the last fmt 0/1/2 header of its csid (for fmt 0 that is the absolute
  timestamp) — what ffmpeg and librtmp read and what ffmpeg writes.
* Extended timestamp on fmt 3.  When the last fmt 0/1/2 header of the csid had one, some peers
  repeat the 4 bytes on every fmt 3 chunk (Flash, FMS, ffmpeg, the 2012 spec errata) and some do
  not (old librtmp, Red5).  Like Wireshark, the reader peeks: the bytes are the repeat if they
  equal the last extended timestamp value, payload otherwise.
* A chunk that is not fmt 3 while a message on its csid is incomplete abandons that message
  (reported as skipped bytes).
* A fmt 1 header for a csid never seen is normal from librtmp at the start of a connection
  (the state starts all zero: stream 0, timestamp 0).  After a gap or mid-connection it is
  framed — it gives length and type — and its messages are reported as :data:`MSG_INFERRED`
  (stream id 0, timestamp accumulated from the deltas seen) until a fmt 0 header supplies the
  message stream id and absolute timestamp (ffmpeg sends media with fmt 1/3 headers only).
  fmt 2/3 for such a csid cannot even be framed: the reader stops with
  :attr:`Desync.UNKNOWN_CSID`.

Set Chunk Size and Abort act inside :meth:`ChunkReader.read` before the next chunk is read,
because they change how that chunk is framed.

The reader only frames; bodies are parsed by :mod:`droidcap.rtmp.messages`.  Memory is bounded:
a message longer than ``max_message_size`` is announced and its payload dropped as it streams
past, and the bytes of all incomplete messages, plus a fixed cost per chunk stream, may not
exceed a :class:`MemoryBudget` — the reader's own (``max_partial``), or one shared by every
reader of a capture, so that the bound holds however many connections it has.  A message that
would go over the budget is dropped (reported as skipped bytes); a chunk stream that does not
fit loses the framing (:attr:`Desync.NO_ROOM`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from droidcap.rtmp.control import MAX_CHUNK_SIZE

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MSG",
    "MSG_INFERRED",
    "OVERSIZE",
    "SKIPPED",
    "VALID_TYPES",
    "ChunkReader",
    "ChunkStream",
    "Desync",
    "Item",
    "MemoryBudget",
    "ReaderState",
    "Status",
    "plausible_header",
]

DEFAULT_CHUNK_SIZE = 128

VALID_TYPES = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22})
"""Message type ids a real peer sends; resynchronisation trusts no header with another."""

_CONTROL_LENGTHS = {1: (4, 4), 2: (4, 4), 3: (4, 4), 4: (2, 64), 5: (4, 4), 6: (5, 5)}
_MIN_LENGTHS = {8: 1, 9: 1, 15: 4, 16: 4, 17: 4, 18: 3, 19: 15, 20: 13, 22: 11}
_MAX_STREAM_ID = 0xFFFF
# What a chunk stream's state costs, counted against the budget (a slotted object, its dict
# entry, an empty bytearray): 65599 csids times many connections must not add up unchecked.
STREAM_COST = 256
# A chunk payload larger than this is taken in pieces as it arrives (once its header is read and
# framing is trusted) rather than waited for whole: with a huge chunk size, the receive buffer
# would otherwise hold up to a whole message outside the budget.
PIECEWISE_AT = 8 * 1024
# Chunk streams a reader may always open, budget or not (real peers use fewer than ten): a reader
# that starts afresh after losing the framing can always make progress.
FREE_STREAMS = 16

# Items the reader appends to its output list (plain tuples: they are made per message).
Item = tuple[Any, ...]
MSG = 0  # (MSG, end, csid, fmt, timestamp, type_id, stream_id, body)
OVERSIZE = 1  # (OVERSIZE, end, csid, fmt, timestamp, type_id, stream_id, length)
SKIPPED = 2  # (SKIPPED, end, size, reason)
MSG_INFERRED = 3  # as MSG, for a csid whose fmt 0 header was not seen (stream id 0, timestamp
# accumulated from fmt 1/2 deltas since the first header seen: both unknown in fact)

_H3 = struct.Struct(">BH").unpack_from  # 3-byte big-endian field as (hi8, lo16)
_H7 = struct.Struct(">BHBHB").unpack_from  # timestamp, length, type id
_U32 = struct.Struct(">I").unpack_from
_LE32 = struct.Struct("<I").unpack_from


class Status(Enum):
    """Why :meth:`ChunkReader.read` returned."""

    NEED_MORE = "need more data"
    DESYNC = "lost chunk framing"
    LIMIT = "chunk limit reached"


class Desync(Enum):
    """Why the reader lost framing; ``UNKNOWN_CSID`` is expected after a gap or a mid-connection
    start, the others mean the alignment (or the chunk size guess) was wrong."""

    UNKNOWN_CSID = "chunk for a chunk stream without a full (fmt 0) header"
    IMPLAUSIBLE = "implausible chunk header"
    INTERRUPTED = "new header inside an incomplete message"
    NO_ROOM = "no room for another chunk stream (memory bound reached)"


class MemoryBudget:
    """Bytes that incomplete messages and chunk stream states may hold, across the readers that
    share it.  Each reader adds and returns its own share (``ChunkReader.partial``)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


def plausible_header(
    csid: int, type_id: int, length: int, stream_id: int | None, max_size: int
) -> bool:
    """Would a real peer send a message with this header?  (Used only where alignment is in
    doubt: resynchronisation and the strict reader.)  Every implementation seen sends protocol
    control and User Control messages on csid 2, stream 0, and nothing else there."""
    if type_id not in VALID_TYPES or length > max_size:
        return False
    bounds = _CONTROL_LENGTHS.get(type_id)
    if bounds is not None:
        return csid == 2 and bounds[0] <= length <= bounds[1] and not stream_id
    if csid == 2 or (stream_id is not None and stream_id > _MAX_STREAM_ID):
        return False
    return length >= _MIN_LENGTHS[type_id]


@dataclass(slots=True)
class ChunkStream:
    """Header state of one chunk stream id, and the message it is receiving."""

    timestamp: int = 0
    delta: int = 0  # timestamp field of the last fmt 0/1/2 header
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    ext: int = -1  # extended timestamp of the last fmt 0/1/2 header, -1 if it had none
    fmt: int = 0  # fmt of the chunk that started the current message
    received: int = 0  # bytes of the current message so far; 0 = between messages
    body: bytearray = field(default_factory=bytearray)
    dropping: bool = False  # current message too large: payload is skipped, not kept
    anchored: bool = True  # a fmt 0 header gave stream id and absolute timestamp


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderState:
    """A reader's framing between two messages: its chunk size and each chunk stream's last
    header, ``(csid, timestamp, delta, length, type_id, stream_id, ext)`` with the meaning of
    :class:`ChunkStream`'s fields.  Enough to frame the chunks that follow (the TUI's chunk
    walker resumes from it to find a message's bytes without reading the connection from its
    start)."""

    chunk_size: int
    headers: tuple[tuple[int, int, int, int, int, int, int], ...]


class ChunkReader:
    """Frames chunks and reassembles messages.  ``strict`` (while resynchronising) makes every
    implausible header a :class:`Desync` instead of trusting it."""

    __slots__ = (
        "_cur",
        "_cur_csid",
        "_rest",
        "chunk_size",
        "chunk_size_set",
        "continuations",
        "desync",
        "from_start",
        "headers",
        "budget",
        "max_message_size",
        "need",
        "partial",
        "streams",
        "strict",
    )

    def __init__(
        self,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        strict: bool = False,
        from_start: bool = False,
        max_message_size: int,
        max_partial: int | None = None,
        budget: MemoryBudget | None = None,
    ) -> None:
        """``budget``: shared with other readers; else the reader has its own of ``max_partial``
        bytes."""
        if budget is None:
            if max_partial is None:
                raise TypeError("ChunkReader needs max_partial or a shared budget")
            budget = MemoryBudget(max_partial)
        self.streams: dict[int, ChunkStream] = {}
        self.chunk_size = chunk_size
        self.strict = strict
        self.max_message_size = max_message_size
        self.budget = budget
        self.partial = 0  # this reader's share of the budget: incomplete messages, stream states
        self.desync: Desync | None = None
        self.headers = 0  # chunk headers read
        self.continuations = 0  # fmt 3 chunks continuing a message: proof of the chunk size
        self.chunk_size_set = False  # a Set Chunk Size message was applied
        # Read from the first chunk on (after a handshake): a csid never seen starts from the
        # all-zero state (stream 0, timestamp 0), as librtmp and ffmpeg assume — librtmp sends
        # its first csid 2 message with a fmt 1 header.  Cleared by reset_streams().
        self.from_start = from_start
        self.need = 1  # after NEED_MORE: bytes the next chunk needs at least
        # The chunk being taken in pieces: a dropped message's (skipped as it streams past) or a
        # large one's (see PIECEWISE_AT), and its payload bytes still to come.
        self._cur: ChunkStream | None = None
        self._cur_csid = 0
        self._rest = 0

    def reset_streams(self) -> None:
        """Forget every csid's state (after a gap or skipped bytes: it may be stale)."""
        self.streams.clear()
        self.from_start = False
        self.budget.used -= self.partial
        self.partial = 0
        self._cur = None
        self._rest = 0

    def idle_state(self) -> ReaderState | None:
        """The framing state if no message is incomplete (nor a chunk half taken), else None."""
        if self._rest:
            return None
        streams = self.streams
        for st in streams.values():
            if st.received:
                return None
        return ReaderState(
            chunk_size=self.chunk_size,
            headers=tuple(
                (csid, st.timestamp, st.delta, st.length, st.type_id, st.stream_id, st.ext)
                for csid, st in streams.items()
            ),
        )

    def pending(self) -> list[tuple[int, ChunkStream]]:
        """Incomplete messages, for the end-of-stream report."""
        return [(c, s) for c, s in self.streams.items() if s.received and not s.dropping]

    def read(
        self,
        data: bytes | bytearray,
        pos: int,
        end: int,
        out: list[Item],
        limit: int = -1,
        *,
        final: bool = False,
    ) -> tuple[int, Status]:
        """Read chunks from ``data[pos:end]``, appending items (:data:`MSG`, :data:`OVERSIZE`,
        :data:`SKIPPED`, :data:`MSG_INFERRED`) to ``out``.  Returns the position up to which
        bytes were consumed and why it stopped.  After :attr:`Status.NEED_MORE`, :attr:`need` is
        how many bytes from that position the next chunk needs at least (``final``: no byte will
        follow ``end``, so fewer than 4 bytes after a fmt 3 header cannot be a repeated extended
        timestamp); after :attr:`Status.DESYNC`, :attr:`desync` says why and the position is the
        start of the chunk that did not fit.

        A chunk is consumed whole (header and payload) or not at all, so no state changes
        until its bytes are all there — except for a message being dropped for its size,
        whose payload is skipped as it arrives, and a chunk larger than :data:`PIECEWISE_AT`, which
        is taken in pieces as it arrives (:meth:`_take`)."""
        if self._rest:
            pos = self._take(data, pos, end, out)
            if self._rest:
                self.need = 1
                return pos, Status.NEED_MORE
        streams = self.streams
        strict = self.strict
        max_size = self.max_message_size
        while limit:
            limit -= 1
            if pos >= end:
                self.need = 1
                return pos, Status.NEED_MORE
            b0 = data[pos]
            fmt = b0 >> 6
            csid = b0 & 0x3F
            p = pos + 1
            if csid < 2:
                p += 1 + csid
                if p > end:
                    self.need = p - pos
                    return pos, Status.NEED_MORE
                csid = (
                    data[pos + 1] + 64 if csid == 0 else data[pos + 1] + (data[pos + 2] << 8) + 64
                )
            st = streams.get(csid)
            if fmt == 0:
                if p + 11 > end:
                    self.need = p + 11 - pos
                    return pos, Status.NEED_MORE
                t_hi, t_lo, l_hi, l_lo, type_id = _H7(data, p)
                sid = _LE32(data, p + 7)[0]
                length = (l_hi << 16) | l_lo
                tfield = (t_hi << 16) | t_lo
                if strict and not plausible_header(csid, type_id, length, sid, max_size):
                    self.desync = Desync.IMPLAUSIBLE
                    return pos, Status.DESYNC
                p += 11
            elif fmt == 1:
                if p + 7 > end:
                    self.need = p + 7 - pos
                    return pos, Status.NEED_MORE
                t_hi, t_lo, l_hi, l_lo, type_id = _H7(data, p)
                length = (l_hi << 16) | l_lo
                tfield = (t_hi << 16) | t_lo
                if (strict or st is None) and not plausible_header(
                    csid, type_id, length, None, max_size
                ):
                    self.desync = Desync.IMPLAUSIBLE
                    return pos, Status.DESYNC
                p += 7
            elif st is None:
                self.desync = Desync.UNKNOWN_CSID
                return pos, Status.DESYNC
            elif fmt == 2:
                if p + 3 > end:
                    self.need = p + 3 - pos
                    return pos, Status.NEED_MORE
                t_hi, t_lo = _H3(data, p)
                tfield = (t_hi << 16) | t_lo
                p += 3
            else:
                tfield = -1
            if tfield == 0xFFFFFF:
                if p + 4 > end:
                    self.need = p + 4 - pos
                    return pos, Status.NEED_MORE
                tfield = _U32(data, p)[0]
                ext = tfield
                p += 4
            else:
                ext = -1
                if tfield < 0 and st is not None and st.ext >= 0:
                    if p + 4 > end:
                        if not final:
                            self.need = p + 4 - pos
                            return pos, Status.NEED_MORE
                    elif _U32(data, p)[0] == st.ext:
                        p += 4
            # how much payload, and is it here?
            cont = st is not None and st.received > 0
            if cont and fmt != 3:
                if strict:
                    self.desync = Desync.INTERRUPTED
                    return pos, Status.DESYNC
                cont = False
            if cont:
                n = st.length - st.received  # type: ignore[union-attr]
                dropping = st.dropping  # type: ignore[union-attr]
            else:
                msg_len = length if fmt < 2 else st.length  # type: ignore[union-attr]
                n = msg_len
                dropping = msg_len > max_size
            n = min(n, self.chunk_size)
            piecewise = dropping
            if p + n > end and not dropping:
                if strict or n <= PIECEWISE_AT:
                    self.need = p + n - pos
                    return pos, Status.NEED_MORE
                if p >= end:  # a large chunk: its header and one payload byte will do
                    self.need = p + 1 - pos
                    return pos, Status.NEED_MORE
                piecewise = True
            if (
                st is None
                and len(streams) >= FREE_STREAMS
                and self.budget.used + STREAM_COST > self.budget.limit
            ):
                self.desync = Desync.NO_ROOM
                return pos, Status.DESYNC
            # commit
            self.headers += 1
            if st is None:  # fmt 0, or fmt 1 on a csid never seen (see from_start)
                st = streams[csid] = ChunkStream(anchored=fmt == 0 or self.from_start)
                self.partial += STREAM_COST
                self.budget.used += STREAM_COST
            if cont:
                self.continuations += 1
            else:
                if st.received:
                    if not st.dropping:  # a dropped message's bytes were reported already
                        out.append((SKIPPED, pos, st.received, _interrupted(csid, st)))
                    self._drop(st)
                if fmt == 0:
                    st.stream_id = sid
                    st.anchored = True
                if fmt < 3:
                    st.ext = ext
                    st.delta = tfield
                    if fmt < 2:
                        st.length = length
                        st.type_id = type_id
                st.timestamp = st.delta if fmt == 0 else (st.timestamp + st.delta) & 0xFFFFFFFF
                st.fmt = fmt
                if dropping:
                    st.dropping = True
                    out.append(
                        (OVERSIZE, p, csid, fmt, st.timestamp, st.type_id, st.stream_id, st.length)
                    )
            if piecewise:
                self._cur = st
                self._cur_csid = csid
                self._rest = n
                pos = self._take(data, p, end, out)
                if self._rest:
                    self.need = 1
                    return pos, Status.NEED_MORE
                continue
            pos = p + n
            if not cont and n == st.length:  # the whole message in one chunk
                self._complete(csid, st, bytes(data[p:pos]), pos, out)
                continue
            budget = self.budget
            if budget.used + n > budget.limit:
                self._drop_for_room(st, csid, n, pos, out)
                continue
            st.body += data[p:pos]
            st.received += n
            if st.received == st.length:
                held = st.received - n
                self.partial -= held
                budget.used -= held
                body = bytes(st.body)  # bytes: what the body parsers are fastest with
                st.body = bytearray()
                self._complete(csid, st, body, pos, out)
            else:
                self.partial += n
                budget.used += n
        return pos, Status.LIMIT

    def _take(self, data: bytes | bytearray, p: int, end: int, out: list[Item]) -> int:
        """Take what is here of the chunk in pieces: skip it for a dropped message, else add it
        to the message (completing it with the chunk's last byte), within the budget."""
        st = self._cur
        assert st is not None
        k = min(self._rest, end - p)
        self._rest -= k
        if st.dropping:
            self._skip(st, k)
            return p + k
        budget = self.budget
        if budget.used + k > budget.limit:
            self._drop_for_room(st, self._cur_csid, k, p + k, out)
            return p + k
        st.body += data[p : p + k]
        st.received += k
        self.partial += k
        budget.used += k
        if st.received == st.length:
            self.partial -= st.received
            budget.used -= st.received
            body = bytes(st.body)
            st.body = bytearray()
            self._complete(self._cur_csid, st, body, p + k, out)
        return p + k

    def _drop_for_room(self, st: ChunkStream, csid: int, n: int, at: int, out: list[Item]) -> None:
        """The budget has no room for ``n`` more bytes of this message: drop it — this one, not
        a search for the largest, so the cost is O(1) however many chunk streams hold bytes."""
        out.append((SKIPPED, at, st.received + n, _no_room(csid, self.budget)))
        self.partial -= st.received
        self.budget.used -= st.received
        st.body = bytearray()
        st.dropping = True  # the rest streams past, counted by _skip
        self._skip(st, n)

    def _skip(self, st: ChunkStream, n: int) -> None:
        st.received += n
        if st.received == st.length:
            st.received = 0
            st.dropping = False

    def _drop(self, st: ChunkStream) -> None:
        if not st.dropping:
            self.partial -= st.received
            self.budget.used -= st.received
        st.received = 0
        st.dropping = False
        st.body = bytearray()

    def _complete(
        self, csid: int, st: ChunkStream, body: bytes | bytearray, end: int, out: list[Item]
    ) -> None:
        st.received = 0
        type_id = st.type_id
        out.append(
            (
                MSG if st.anchored else MSG_INFERRED,
                end,
                csid,
                st.fmt,
                st.timestamp,
                type_id,
                st.stream_id,
                body,
            )
        )
        if type_id == 1 and len(body) == 4:
            size = _U32(body, 0)[0]
            if 0 < size <= MAX_CHUNK_SIZE:
                self.chunk_size = size
                self.chunk_size_set = True
        elif type_id == 2 and len(body) == 4:
            target = self.streams.get(_U32(body, 0)[0])
            if target is not None and target.received:
                if not target.dropping:
                    out.append((SKIPPED, end, target.received, "message aborted by the sender"))
                self._drop(target)


def _no_room(csid: int, budget: MemoryBudget) -> str:
    return (
        f"incomplete message on csid {csid} dropped: more than {budget.limit} bytes held in "
        "incomplete messages"
    )


def _interrupted(csid: int, st: ChunkStream) -> str:
    return (
        f"incomplete message on csid {csid} ({st.received} of {st.length} bytes) "
        "abandoned by a new header"
    )
