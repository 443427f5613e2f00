"""The wire bytes of one RTMP message: its chunks, their headers and the frames they arrived in.

Standard library and droidcap's capture layer only.  The decoder reports messages, not where
their bytes were; the Hex and Details panes want the chunk headers, so this module re-reads the
capture for one connection direction (the TCP reassembler gives the same byte stream the decoder
saw) and walks its chunk headers up to the message asked for.  Only what the walk needs is kept
(one partial message per chunk stream), so memory does not grow with the connection.

It walks from the end of the handshake, so it answers for connections whose handshake was
captured and up to the first gap in that direction; otherwise :func:`message_bytes` raises
:class:`Unavailable` saying why (the decoder's resynchronised view is the one to trust there).

Big captures: re-reading from the start of the file to a message at its end would cost a whole
decode.  :class:`RecordCheckpoints` (classic pcap) knows the file offset of every
:data:`CHECKPOINT_EVERY`-th record, so the walk starts at the checkpoint before the connection's
first record and reads only from there.  Inside a long connection the walk also leaves
:class:`WalkCheckpoint` s behind it (every :data:`WALK_CHECKPOINT_BYTES` of the direction, a few
hundred bytes each: the TCP position, the chunk size and each chunk stream's last header), so a
later walk to a message behind the cursor resumes from the checkpoint before it instead of the
connection's start.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from droidcap.capture.events import Direction, FlowOpened, StreamData, StreamEnd, StreamGap
from droidcap.capture.files import iter_flow_events
from droidcap.capture.pcap import HEADER_SIZE, is_pcap_magic
from droidcap.capture.tcp import ResumePoint, TcpReassembler
from droidcap.errors import DroidcapError
from droidcap.rtmp.control import MAX_CHUNK_SIZE
from droidcap.rtmp.decoder import DecoderCheckpoint

HANDSHAKE_BYTES = 1 + 1536 + 1536  # C0+C1+C2 (or S0+S1+S2) before the first chunk
MAX_BYTES = 64 * 1024 * 1024  # a message bigger than this is not copied for the hex
CHECKPOINT_EVERY = 1024  # records between two known file offsets
RECENT = 256  # messages a cursor keeps behind it
WALK_CHECKPOINT_BYTES = 2 * 1024 * 1024  # a direction's bytes between two walk checkpoints
MAX_PENDING = 8 * 1024  # a walk checkpoint keeps at most this much of an unfinished chunk
MAX_WALK_CHECKPOINTS = 16 * 1024  # in a CheckpointBook (a few hundred bytes each)
_SCAN_BLOCK = 8 * 1024 * 1024


class Unavailable(DroidcapError):
    """The chunk bytes of a message cannot be shown (and why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """One chunk of a message: where it sits in :attr:`MessageBytes.data` and on the wire."""

    start: int  # offset of the basic header in MessageBytes.data
    header_size: int
    payload_size: int
    fmt: int
    csid: int
    timestamp_field: int  # the 3-byte field (0xFFFFFF: see extended_timestamp)
    extended_timestamp: int | None
    stream_offset: int  # offset of the chunk in the direction's TCP byte stream
    frames: tuple[int, ...]  # capture records the chunk's bytes arrived in

    @property
    def end(self) -> int:
        return self.start + self.header_size + self.payload_size


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBytes:
    """A message's chunks back to back, headers included, as they were on the wire."""

    data: bytes
    chunks: tuple[Chunk, ...]
    csid: int
    type_id: int
    length: int
    timestamp: int
    frame: int  # the capture record its last byte arrived in

    def is_(self, t: Target) -> bool:
        return (self.csid == t.csid and self.type_id == t.type_id and self.length == t.length
                and self.timestamp == t.timestamp and self.frame == t.frame)


@dataclass(slots=True)
class _Stream:
    """What the walk remembers of a chunk stream: its last header and the message being built."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    ts_field: int = 0
    extended: int | None = None
    received: int = 0
    raw: bytearray = field(default_factory=bytearray)
    chunks: list[Chunk] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The message to find: its header fields, the frame it completed in, and how many messages
    of its direction with the same fields completed in that frame before it (a server may send
    two onMetaData of one length and timestamp in one segment)."""

    csid: int
    type_id: int
    length: int
    timestamp: int
    frame: int
    nth: int = 0


_Header = tuple[int, int, int, int, int, int, int | None]  # a _Stream's header fields


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerState:
    """What a :class:`ChunkWalker` needs to go on from a point where no message is unfinished."""

    base: int  # stream offset (after the handshake) of ``pending``
    pending: bytes  # the start of a chunk not yet whole
    marks: tuple[tuple[int, int], ...]  # (stream end offset, frame) of the records ``pending`` came in
    chunk_size: int
    headers: tuple[tuple[int, _Header], ...]  # (csid, last header fields) per chunk stream


class ChunkWalker:
    """Feed one direction's bytes (after the handshake) in order; :meth:`walk` returns the
    messages whose last chunk has been read since the last call."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._marks: list[tuple[int, int]] = []  # (stream end offset, frame) per fed record
        self._chunk_size = 128
        self._streams: dict[int, _Stream] = {}

    @classmethod
    def resumed(cls, state: WalkerState) -> ChunkWalker:
        walker = cls()
        walker._buf, walker._base = bytearray(state.pending), state.base
        walker._marks, walker._chunk_size = list(state.marks), state.chunk_size
        for csid, (ts, delta, length, type_id, stream_id, ts_field, extended) in state.headers:
            walker._streams[csid] = _Stream(timestamp=ts, delta=delta, length=length, type_id=type_id,
                                            stream_id=stream_id, ts_field=ts_field, extended=extended)
        return walker

    @property
    def position(self) -> int:
        """Stream offset (after the handshake) of the next byte to feed."""
        return self._base + len(self._buf)

    def state(self) -> WalkerState | None:
        """The walk's state after the last :meth:`walk`, None while a message is unfinished (or
        too much of a chunk is pending) there."""
        if len(self._buf) > MAX_PENDING or any(st.received for st in self._streams.values()):
            return None
        return WalkerState(
            base=self._base, pending=bytes(self._buf), marks=tuple(self._marks), chunk_size=self._chunk_size,
            headers=tuple((csid, (st.timestamp, st.delta, st.length, st.type_id, st.stream_id, st.ts_field,
                                  st.extended)) for csid, st in self._streams.items()))

    def feed(self, data: bytes, frame: int) -> None:
        self._buf += data
        self._marks.append((self._base + len(self._buf), frame))

    def _frames(self, start: int, end: int) -> tuple[int, ...]:
        return tuple(f for i, (e, f) in enumerate(self._marks)
                     if e > start and (i == 0 or self._marks[i - 1][0] < end))

    def walk(self) -> list[MessageBytes]:
        buf = self._buf
        p = 0
        n = len(buf)
        found: list[MessageBytes] = []
        while True:
            if p >= n:
                break
            b0 = buf[p]
            fmt, csid, q = b0 >> 6, b0 & 0x3F, p + 1
            if csid == 0:
                if q + 1 > n:
                    break
                csid, q = 64 + buf[q], q + 1
            elif csid == 1:
                if q + 2 > n:
                    break
                csid, q = 64 + buf[q] + buf[q + 1] * 256, q + 2
            size = (11, 7, 3, 0)[fmt]
            if q + size > n:
                break
            st = self._streams.get(csid)
            if st is None:
                st = self._streams[csid] = _Stream()
            new_message = st.received == 0
            ts_field = st.ts_field
            if fmt <= 2:
                ts_field = int.from_bytes(buf[q:q + 3], "big")
            if fmt <= 1:
                length = int.from_bytes(buf[q + 3:q + 6], "big")
                type_id = buf[q + 6]
            else:
                length, type_id = st.length, st.type_id
            stream_id = int.from_bytes(buf[q + 7:q + 11], "little") if fmt == 0 else st.stream_id
            q += size
            extended: int | None = None
            if fmt <= 2 and ts_field == 0xFFFFFF:
                if q + 4 > n:
                    break
                extended, q = int.from_bytes(buf[q:q + 4], "big"), q + 4
            elif fmt == 3 and st.extended is not None:
                if q + 4 > n:
                    break  # the repeat some peers send on fmt 3, or payload: wait to see
                if int.from_bytes(buf[q:q + 4], "big") == st.extended:
                    extended, q = st.extended, q + 4
            remaining = length - st.received if not new_message or fmt == 3 else length
            if fmt != 3 and not new_message:
                st.received, st.raw, st.chunks = 0, bytearray(), []  # abandoned message
                remaining = length
            take = min(self._chunk_size, remaining)
            if q + take > n:
                break
            # the chunk is whole: commit it
            value = extended if extended is not None else ts_field
            if fmt <= 2:
                st.ts_field, st.extended = ts_field, extended
            if fmt == 0:
                st.timestamp, st.delta = value, value  # a fmt 3 message after it adds the field
            elif (fmt in (1, 2)) and st.received == 0:
                st.delta = value
                st.timestamp = (st.timestamp + value) & 0xFFFFFFFF
            elif fmt == 3 and st.received == 0:
                st.timestamp = (st.timestamp + (st.delta if st.delta else 0)) & 0xFFFFFFFF
            st.length, st.type_id, st.stream_id = length, type_id, stream_id
            abs_start = self._base + p
            end = q + take
            st.chunks.append(Chunk(
                start=len(st.raw), header_size=q - p, payload_size=take, fmt=fmt, csid=csid,
                timestamp_field=ts_field, extended_timestamp=extended, stream_offset=abs_start,
                frames=self._frames(abs_start, self._base + end)))
            if len(st.raw) + (end - p) <= MAX_BYTES:
                st.raw += buf[p:end]
            st.received += take
            p = end
            if st.received >= length:
                found.append(self._complete(csid, st))
        del buf[:p]
        self._base += p
        while len(self._marks) > 1 and self._marks[0][0] <= self._base:
            self._marks.pop(0)
        return found

    def _complete(self, csid: int, st: _Stream) -> MessageBytes:
        raw, chunks = bytes(st.raw), tuple(st.chunks)
        st.received, st.raw, st.chunks = 0, bytearray(), []
        body = b"".join(raw[c.start + c.header_size:c.end] for c in chunks)
        if st.type_id == 1 and len(body) == 4:  # what the decoder applies (rtmp.chunks)
            size = int.from_bytes(body, "big")
            if 0 < size <= MAX_CHUNK_SIZE:
                self._chunk_size = size
        elif st.type_id == 2 and len(body) == 4:
            aborted = self._streams.get(int.from_bytes(body[:4], "big"))
            if aborted is not None:
                aborted.received, aborted.raw, aborted.chunks = 0, bytearray(), []
        last_frame = chunks[-1].frames[-1] if chunks and chunks[-1].frames else 0
        return MessageBytes(data=raw, chunks=chunks, csid=csid, type_id=st.type_id, length=st.length,
                            timestamp=st.timestamp, frame=last_frame)


class RecordCheckpoints:
    """File offsets of every :data:`CHECKPOINT_EVERY`-th record of a classic pcap file.

    Built by scanning record headers only (a few hundred ms a gigabyte once the file is in the page
    cache); 8 bytes per 1024 records.  A file that is still growing (``--follow``, standard input
    copied to a file) is scanned on where the last scan stopped by :meth:`extend`, over whole
    records only.  :meth:`build` returns None for pcapng (its blocks would need their own scan)
    and for anything that is not a classic pcap."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        order = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        self._incl_len = struct.Struct(order + "I").unpack_from
        self.frames = array("q", [1])  # 1-based frame number of each checkpoint
        self.offsets = array("q", [HEADER_SIZE])  # its file offset
        self._frame, self._pos = 1, HEADER_SIZE  # the next record not scanned yet
        self._size = -1  # the file's size at the last scan

    @classmethod
    def build(cls, path: Path) -> RecordCheckpoints | None:
        with path.open("rb") as file:
            header = file.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or not is_pcap_magic(header):
            return None
        checkpoints = cls(header)
        checkpoints.extend(path)
        return checkpoints

    def extend(self, path: Path) -> None:
        """Scan the records written since the last scan (only whole ones)."""
        size = os.stat(path).st_size
        if size == self._size:
            return  # nothing written since (a followed file is asked on every hex lookup)
        self._size = size
        incl_len, frames, offsets = self._incl_len, self.frames, self.offsets
        frame, pos = self._frame, self._pos
        with path.open("rb") as file:
            block, base = b"", pos  # block holds the file from offset base
            while True:
                rel = pos - base
                if rel + 16 > len(block):
                    file.seek(pos)
                    block, base, rel = file.read(_SCAN_BLOCK), pos, 0
                    if len(block) < 16:
                        break
                after = pos + 16 + incl_len(block, rel + 8)[0]
                if after > size:
                    break  # a record still being written
                pos = after
                frame += 1
                if frame % CHECKPOINT_EVERY == 0:
                    frames.append(frame)
                    offsets.append(pos)
        self._frame, self._pos = frame, pos

    def before(self, frame: int) -> tuple[int, int]:
        """``(frame, file offset)`` of the last checkpoint at or before ``frame``."""
        i = max(0, bisect_right(self.frames, frame) - 1)
        return self.frames[i], self.offsets[i]


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkCheckpoint:
    """A point inside a connection direction a walk can resume from: after capture record
    ``frame``, no message of the direction unfinished.  Messages completing after ``frame`` lie
    after it."""

    frame: int
    tcp: ResumePoint  # the direction's next byte
    walker: WalkerState


def from_decoder(checkpoint: DecoderCheckpoint, stream_start: ResumePoint) -> WalkCheckpoint:
    """The walk checkpoint of a decoder checkpoint (taken while indexing), ``stream_start``
    naming the direction's first byte: the decoder and the walker frame chunks alike, so a walk
    resumed here finds the messages the decoder reported after it."""
    headers = tuple(
        (csid, (ts, delta, length, type_id, stream_id, 0xFFFFFF if ext >= 0 else delta,
                ext if ext >= 0 else None))
        for csid, ts, delta, length, type_id, stream_id, ext in checkpoint.reader.headers)
    return WalkCheckpoint(
        frame=checkpoint.frame,
        tcp=stream_start.advanced(checkpoint.offset + len(checkpoint.pending)),
        walker=WalkerState(
            base=checkpoint.offset - HANDSHAKE_BYTES, pending=checkpoint.pending,
            marks=tuple((end - HANDSHAKE_BYTES, frame) for end, frame in checkpoint.marks),
            chunk_size=checkpoint.reader.chunk_size, headers=headers))


DirectionKey = tuple[object, ...]


def direction_key(client: tuple[str, int], server: tuple[str, int], opened_frame: int,
                  rtmp_dir: Direction) -> DirectionKey:
    """Names one direction of one connection across the indexer and the hex walks."""
    return (client, server, opened_frame, rtmp_dir)


class CheckpointBook:
    """The walk checkpoints of every connection direction, in frame order.  Two threads add to
    it: the indexing worker (the decoder's checkpoints, so that the first look at a message deep
    in a long connection is fast) and the hex walks (their own, in connections or parts the
    decoder could not checkpoint)."""

    def __init__(self, limit: int = MAX_WALK_CHECKPOINTS) -> None:
        """``limit``: checkpoints kept in all; over it, the direction being added to loses every
        second one of its own (walks from there read twice as far, memory stays bounded)."""
        self._frames: dict[DirectionKey, list[int]] = {}
        self._points: dict[DirectionKey, list[WalkCheckpoint]] = {}
        self._limit, self._total = limit, 0
        self._lock = threading.Lock()

    def add(self, key: DirectionKey, checkpoint: WalkCheckpoint) -> None:
        with self._lock:
            frames = self._frames.setdefault(key, [])
            points = self._points.setdefault(key, [])
            i = bisect_right(frames, checkpoint.frame)
            if i and frames[i - 1] == checkpoint.frame:
                return
            frames.insert(i, checkpoint.frame)
            points.insert(i, checkpoint)
            self._total += 1
            if self._total > self._limit and len(frames) > 1:
                self._total -= len(frames) - len(frames[::2])
                self._frames[key], self._points[key] = frames[::2], points[::2]

    def before(self, key: DirectionKey, frame: int) -> WalkCheckpoint | None:
        """The last checkpoint of ``key`` after a record before ``frame``."""
        with self._lock:
            frames = self._frames.get(key)
            if not frames:
                return None
            i = bisect_right(frames, frame - 1)
            return self._points[key][i - 1] if i else None

    def count(self, key: DirectionKey) -> int:
        with self._lock:
            return len(self._frames.get(key, ()))


class _Tail(io.RawIOBase):
    """A pcap file read from a record offset on, behind its own file header."""

    def __init__(self, path: Path, header: bytes, offset: int) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)
        self._head = header

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


class MessageCursor:
    """A walk over one connection direction that can go on: looking up the next message after the
    last one found continues from where the walk stopped instead of re-reading the connection
    (stepping through a long connection costs each message's own bytes).  The last
    :data:`RECENT` messages are kept, so stepping back a little costs nothing either."""

    def __init__(self, events: Iterator[object], *, client: tuple[str, int], server: tuple[str, int],
                 opened_frame: int, rtmp_dir: Direction, frame_base: int,
                 close: Callable[[], None] = lambda: None, reassembler: TcpReassembler | None = None,
                 resume: WalkCheckpoint | None = None,
                 book: CheckpointBook | None = None) -> None:
        """``reassembler``: the one behind ``events`` (its stream start names the TCP position of
        checkpoints); ``resume``: the checkpoint ``events`` start from (read by a reassembler
        resumed at ``resume.tcp``); ``book``: where the walk leaves its own checkpoints."""
        self._events = events
        self._client, self._ends = client, {client, server}
        self._opened_frame, self._rtmp_dir, self._frame_base = opened_frame, rtmp_dir, frame_base
        self._close = close
        self._walker = ChunkWalker() if resume is None else ChunkWalker.resumed(resume.walker)
        self.resumed = resume is not None
        self._flow: int | None = None
        self._tcp_dir: Direction | None = None
        self._skip = HANDSHAKE_BYTES if resume is None else 0
        self.recent: deque[MessageBytes] = deque(maxlen=RECENT)
        self.frame = 0 if resume is None else resume.frame  # the last record of this direction read
        self._broken: str | None = None  # a gap or the end: nothing more can be found
        self._reassembler = reassembler
        self._book = book
        self._key = direction_key(client, server, opened_frame, rtmp_dir)
        self._stream_start: ResumePoint | None = None if resume is None else resume.tcp.advanced(
            -HANDSHAKE_BYTES - resume.walker.base - len(resume.walker.pending))
        self._next_checkpoint = WALK_CHECKPOINT_BYTES if resume is None else \
            resume.walker.base + len(resume.walker.pending) + WALK_CHECKPOINT_BYTES

    def behind(self, target: Target) -> bool:
        """True if ``target`` lies before this walk and was not kept: start a new one."""
        oldest = self.recent[0].frame if self.recent else self.frame + 1
        return target.frame < oldest and not any(m.is_(target) for m in self.recent)

    def find(self, target: Target) -> MessageBytes:
        seen = 0  # messages passed that have the target's fields (see Target.nth)
        for kept in self.recent:
            if kept.is_(target):
                if seen == target.nth:
                    return kept
                seen += 1
        if self._broken is not None:
            raise Unavailable(self._broken)
        for ev in self._events:
            done = self._take(ev)
            self.recent.extend(done)  # all of them: the next lookup may want one after the target
            for message in done:
                if message.is_(target):
                    if seen == target.nth:
                        return message
                    seen += 1
            if any(message.frame > target.frame for message in done):
                raise Unavailable("the message was not found where the decoder reported it")
            if self._broken is not None:
                raise Unavailable(self._broken)
            if self.frame > target.frame + 1:
                break
        raise Unavailable("the message's chunks were not found in the capture")

    def _take(self, ev: object) -> list[MessageBytes]:
        kind = type(ev)
        if kind is FlowOpened:
            assert isinstance(ev, FlowOpened)
            if (self._flow is None and {ev.client, ev.server} == self._ends
                    and (self.resumed or ev.frame + self._frame_base == self._opened_frame)):
                self._flow = ev.flow
                swapped = ev.client != self._client
                self._tcp_dir = self._rtmp_dir.reverse if swapped else self._rtmp_dir
            return []
        if self._flow is None or getattr(ev, "flow", None) != self._flow \
                or getattr(ev, "dir", None) is not self._tcp_dir:
            return []
        if kind is StreamData:
            assert isinstance(ev, StreamData)
            data = ev.data
            frame = ev.frame + self._frame_base
            self.frame = max(self.frame, frame)  # a drained out-of-order segment keeps its older frame
            if self._skip:
                cut = min(self._skip, len(data))
                self._skip -= cut
                data = data[cut:]
            if data:
                self._walker.feed(data, frame)
                found = self._walker.walk()
                if self._book is not None and self._walker.position >= self._next_checkpoint:
                    self._checkpoint(self.frame)
                return found
        elif kind is StreamGap:
            self._broken = "a gap in the capture comes before this message in its direction"
        elif kind is StreamEnd:
            self._broken = "the message's chunks were not found in the capture"
        return []

    def _checkpoint(self, frame: int) -> None:
        """Leave a :class:`WalkCheckpoint` here if the walk is at a point it can resume from and
        the book has none near it (the indexer's, or an earlier walk's)."""
        assert self._book is not None and self._flow is not None and self._tcp_dir is not None
        state = self._walker.state()
        if state is None:
            return  # a message is unfinished: try after the next record
        if self._stream_start is None and self._reassembler is not None:
            self._stream_start = self._reassembler.stream_start(self._flow, self._tcp_dir)
        if self._stream_start is None:
            self._book = None  # no SYN, no TCP position to resume at
            return
        position = self._walker.position
        self._next_checkpoint = position + WALK_CHECKPOINT_BYTES
        near = self._book.before(self._key, frame + 1)
        if near is not None and position - near.walker.base < WALK_CHECKPOINT_BYTES:
            return
        self._book.add(self._key, WalkCheckpoint(
            frame=frame, tcp=self._stream_start.advanced(HANDSHAKE_BYTES + position), walker=state))

    def close(self) -> None:
        self._close()


def open_cursor(path: Path, *, client: tuple[str, int], server: tuple[str, int], opened_frame: int,
                rtmp_dir: Direction, checkpoints: RecordCheckpoints | None = None,
                book: CheckpointBook | None = None, target_frame: int | None = None) -> MessageCursor:
    """A :class:`MessageCursor` over direction ``rtmp_dir`` of the connection between ``client``
    (its RTMP client) and ``server`` that opened at ``opened_frame``; with ``checkpoints`` the
    file is read from the last one before that frame.  With ``checkpoints``, a ``book`` of walk
    checkpoints (the walk adds to it) and the frame of the message wanted, the walk resumes from
    the book's last checkpoint before that message."""
    if checkpoints is None:
        return MessageCursor(iter_flow_events(path), client=client, server=server,
                             opened_frame=opened_frame, rtmp_dir=rtmp_dir, frame_base=0)
    resume: WalkCheckpoint | None = None
    if book is not None and target_frame is not None:
        resume = book.before(direction_key(client, server, opened_frame, rtmp_dir), target_frame)
    first, offset = checkpoints.before(opened_frame if resume is None else resume.frame + 1)
    tail = _Tail(path, checkpoints.header, offset)
    reassembler = TcpReassembler(resume=() if resume is None else (resume.tcp,))
    return MessageCursor(iter_flow_events(io.BufferedReader(tail), reassembler=reassembler),
                         client=client, server=server, opened_frame=opened_frame, rtmp_dir=rtmp_dir,
                         frame_base=first - 1, close=tail.close, reassembler=reassembler, resume=resume,
                         book=book)


def message_bytes(path: Path, *, client: tuple[str, int], server: tuple[str, int], opened_frame: int,
                  rtmp_dir: Direction, target: Target,
                  checkpoints: RecordCheckpoints | None = None) -> MessageBytes:
    """The chunks of ``target`` (a one-off :func:`open_cursor` lookup)."""
    cursor = open_cursor(path, client=client, server=server, opened_frame=opened_frame,
                         rtmp_dir=rtmp_dir, checkpoints=checkpoints)
    try:
        return cursor.find(target)
    finally:
        cursor.close()


class CursorCache:
    """The last few :class:`MessageCursor` s, one per connection direction, behind one lock
    (hex workers are threads; a cursor is walked by one at a time), and the :class:`CheckpointBook`
    their walks resume from."""

    def __init__(self, path: Path, checkpoints: Callable[[], RecordCheckpoints | None], size: int = 4,
                 book: CheckpointBook | None = None) -> None:
        self._path, self._checkpoints, self._size = path, checkpoints, size
        self._cursors: OrderedDict[DirectionKey, MessageCursor] = OrderedDict()
        self.book = CheckpointBook() if book is None else book
        self._lock = threading.Lock()

    def find(self, *, client: tuple[str, int], server: tuple[str, int], opened_frame: int,
             rtmp_dir: Direction, target: Target) -> MessageBytes:
        key = direction_key(client, server, opened_frame, rtmp_dir)

        def walk(target_frame: int | None) -> MessageCursor:
            return open_cursor(self._path, client=client, server=server, opened_frame=opened_frame,
                               rtmp_dir=rtmp_dir, checkpoints=self._checkpoints(), book=self.book,
                               target_frame=target_frame)

        with self._lock:
            cursor = self._cursors.pop(key, None)
            if cursor is not None and (cursor.behind(target) or self._far_behind(cursor, key, target)):
                cursor.close()
                cursor = None
            if cursor is None:
                cursor = walk(target.frame)
            self._cursors[key] = cursor
            while len(self._cursors) > self._size:
                self._cursors.popitem(last=False)[1].close()
            try:
                return cursor.find(target)
            except Unavailable:
                if not cursor.resumed:
                    raise
            # The TCP position is exact, so a resumed walk gives the same bytes or none (a hole
            # it cannot fill from the records after its checkpoint): then walk from the start.
            cursor.close()
            cursor = self._cursors[key] = walk(None)
            return cursor.find(target)

    def _far_behind(self, cursor: MessageCursor, key: DirectionKey, target: Target) -> bool:
        """True if the book has a checkpoint between the cursor and ``target`` far enough ahead
        of the cursor that resuming there reads less than walking on."""
        near = self.book.before(key, target.frame)
        return near is not None and near.frame > cursor.frame + CHECKPOINT_EVERY

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors.values():
                cursor.close()
            self._cursors.clear()
