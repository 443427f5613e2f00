"""What the inspect screen shows, with no Textual in it: an index of a capture's RTMP items.

Standard library only (plus droidcap's own sans-IO layers).  :class:`CaptureIndex` is fed the
pipeline's items in batches (a worker thread decodes, the UI thread adds), keeps every decoded
event in capture order and the few per-row facts that stepping, jumping, filtering and the timeline
need, and answers "which row" questions: next command, next keyframe, first ``connect``, frame N,
next search match.  A :class:`View` is the filtered list of row numbers the Messages pane scrolls
through; it grows in place as the index grows, so a live capture only appends.

An aggregate message (type 22) is one wire row whose sub-messages are its children
(:class:`AggregateRow`): the decoder reports the wire message and then each sub-message, so they
are consecutive rows.  A view shows an aggregate folded (its wire row only) unless its head is in
the view's ``expanded`` set.

Rows are numbered in capture order over all connections (0-based).  The row text is made when a row
is drawn (:func:`row_text`), never for every row up front.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from droidcap.capture.events import CaptureNote, Direction
from droidcap.pipeline import Connection, ConnectionEnded, ConnectionFound, DecodedEvent, PipelineItem
from droidcap.render.records import event_record
from droidcap.render.table import describe_message
from droidcap.rtmp.events import (
    MESSAGE_TYPE_NAMES,
    Gap,
    HandshakePart,
    Message,
    OversizeMessage,
    Skipped,
    Synchronised,
)
from droidcap.rtmp.messages import Malformed
from droidcap.session import ConnectionSummary, SessionTracker
from droidcap.tui.chunkmap import Target

# Row flags, one byte per row: what kind of row and what is wrong with it.
COMMAND = 1  # command or data (AMF) message
MEDIA = 2  # audio or video message
KEYFRAME = 4  # video keyframe
PROBLEM = 8  # gap, skipped bytes, oversize, malformed body
UNCERTAIN = 16  # inferred while resynchronising
HANDSHAKE = 32
CONTROL = 64  # protocol control / user control message
CONFIG = 128  # media decoder configuration (sequence header/start/end): never folded into a run

_NOT_AGGREGATE = COMMAND | MEDIA | HANDSHAKE | CONTROL  # flags an aggregate's wire row never has
_COMMAND_TYPES = frozenset({15, 17, 18, 20})
_CONTROL_TYPES = frozenset({1, 2, 3, 4, 5, 6})
_CONFIG_PACKETS = frozenset({"sequence_header", "sequence_start", "end_of_sequence", "sequence_end",
                             "metadata"})

# Where the jump keys land: a name and the test a row's event must pass.
JUMPS: dict[str, str] = {
    "handshake": "handshake",
    "connect": "connect",
    "createStream": "createStream",
    "play/publish": "play or publish",
    "start": "NetStream.Play.Start or NetStream.Publish.Start",
    "keyframe": "first video keyframe",
}

TIMELINE_BIN = 0.25  # seconds per timeline bucket (columns merge buckets to fit the width)


def command_name(msg: Message) -> str | None:
    """The command (or data handler) name of an AMF message, None for other messages."""
    fields = msg.body.json_fields()
    name = fields.get("command", fields.get("name"))
    return name if isinstance(name, str) else None


def status_code(msg: Message) -> str | None:
    """The ``code`` of an onStatus / _result / _error info object, if it has one."""
    for value in msg.body.json_fields().get("args") or ():
        code = value.get("code") if isinstance(value, dict) else None
        if isinstance(code, str):
            return code
    return None


def flags_of(ev: object) -> int:
    """The row flags of one decoded event."""
    kind = type(ev)
    if kind is Message:
        assert isinstance(ev, Message)
        flags = UNCERTAIN if ev.uncertain else 0
        if type(ev.body) is Malformed or getattr(ev.body, "malformed", None):
            flags |= PROBLEM
        t = ev.type_id
        if t in _COMMAND_TYPES:
            return flags | COMMAND
        if t == 8 or t == 9:
            flags |= MEDIA
            body = ev.body
            packet = (getattr(body, "avc_packet_type", None) or getattr(body, "aac_packet_type", None)
                      or getattr(body, "packet_type", None))
            if packet in _CONFIG_PACKETS:
                return flags | CONFIG
            if t == 9 and getattr(body, "frame_type", None) == "keyframe":
                flags |= KEYFRAME  # a picture, not the decoder configuration sent as a "keyframe"
            return flags
        if t in _CONTROL_TYPES:
            return flags | CONTROL
        return flags
    if kind is HandshakePart:
        return HANDSHAKE
    if kind is Gap or kind is Skipped or kind is OversizeMessage:
        return PROBLEM
    return 0  # Synchronised


def row_text(item: DecodedEvent) -> str:
    """The one-line summary of a row, as the Messages pane and the ladder show it."""
    ev = item.event
    kind = type(ev)
    if kind is Message:
        assert isinstance(ev, Message)
        text = describe_message(ev)
        if ev.type_id in (8, 9):
            text = f"{text} {_size(ev.length)}"
        return text
    if kind is HandshakePart:
        assert isinstance(ev, HandshakePart)
        bits = [ev.part]
        if ev.version is not None:
            bits.append(f"version {ev.version}")
        if ev.scheme:
            bits.append(ev.scheme + (f" layout {ev.digest_layout}" if ev.digest_layout is not None else ""))
        return " ".join(bits)
    if kind is Gap:
        assert isinstance(ev, Gap)
        return f"GAP: {ev.size} bytes never captured"
    if kind is Skipped:
        assert isinstance(ev, Skipped)
        return f"SKIPPED {ev.size} bytes: {ev.reason}"
    if kind is OversizeMessage:
        assert isinstance(ev, OversizeMessage)
        return f"OVERSIZE {ev.length}-byte message over the size limit, body skipped"
    assert isinstance(ev, Synchronised)
    state = "confirmed" if ev.confirmed else "inferred"
    return f"synchronised mid-stream, chunk size {ev.chunk_size} ({state})"


def type_label(item: DecodedEvent) -> str:
    """The short type column: a message type name, or the kind of a non-message row."""
    ev = item.event
    if isinstance(ev, Message):
        return ev.type_name
    if isinstance(ev, OversizeMessage):
        return MESSAGE_TYPE_NAMES.get(ev.type_id, f"unknown({ev.type_id})")
    return _KIND_LABELS[type(ev)]


_KIND_LABELS: dict[type, str] = {HandshakePart: "handshake", Gap: "gap", Skipped: "skipped",
                                 Synchronised: "sync"}


def _media_counts(video: int, keyframes: int, audio: int) -> list[str]:
    """``["video x8 (1 key)", "audio x4"]``: how folded rows count what they hold."""
    parts = []
    if video:
        parts.append(f"video x{video}" + (f" ({keyframes} key)" if keyframes else ""))
    if audio:
        parts.append(f"audio x{audio}")
    return parts


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1048576:.1f} MB"


@dataclass(frozen=True, slots=True, kw_only=True)
class RowFilter:
    """Which rows the Messages pane shows; the index keeps them all."""

    commands_only: bool = False
    collapse_media: bool = False  # runs of audio/video frames of a connection shown as one row
    hide_media: bool = False
    direction: Direction | None = None
    conn: int | None = None
    types: frozenset[str] | None = None  # type labels (type_label) to keep

    @property
    def active(self) -> bool:
        return self != RowFilter()

    def describe(self) -> str:
        bits = []
        if self.commands_only:
            bits.append("commands only")
        if self.hide_media:
            bits.append("no media")
        if self.direction is not None:
            bits.append("client→server" if self.direction is Direction.C2S else "server→client")
        if self.conn is not None:
            bits.append(f"conn {self.conn}")
        if self.types:
            bits.append("type " + ",".join(sorted(self.types)))
        if self.collapse_media:
            bits.append("media runs folded")
        return ", ".join(bits) or "all rows"


@dataclass(slots=True)
class Bitrate:
    """Bytes of audio and video per :data:`TIMELINE_BIN` seconds of one connection."""

    origin: float
    audio: array[int] = field(default_factory=lambda: array("q"))
    video: array[int] = field(default_factory=lambda: array("q"))
    keyframes: set[int] = field(default_factory=set)  # bins holding a keyframe
    problems: set[int] = field(default_factory=set)  # bins holding a gap / skip
    first_row: dict[int, int] = field(default_factory=dict)  # bin -> first row in it

    def add(self, time: float, row: int, flags: int, size: int, type_id: int) -> None:
        b = max(0, int((time - self.origin) / TIMELINE_BIN))
        while len(self.audio) <= b:
            self.audio.append(0)
            self.video.append(0)
        self.first_row.setdefault(b, row)
        if type_id == 8:
            self.audio[b] += size
        elif type_id == 9:
            self.video[b] += size
        if flags & KEYFRAME:
            self.keyframes.add(b)
        if flags & PROBLEM:
            self.problems.add(b)


@dataclass(slots=True)
class AggregateRow:
    """An aggregate wire row (``head``) and its sub-messages, rows ``head + 1`` to ``last``; built
    as the sub-messages arrive, complete when ``last - head == expected``."""

    head: int
    last: int
    expected: int  # sub-messages the wire message holds (its body's count)
    size: int  # the wire message's length
    audio: int = 0
    video: int = 0
    other: int = 0
    keyframes: int = 0
    media_only: bool = True  # every sub-message a plain audio/video frame: it may join a media run

    @property
    def count(self) -> int:
        return self.last - self.head

    def add(self, flags: int, type_id: int) -> None:
        self.last += 1
        if flags & MEDIA:
            if type_id == 8:
                self.audio += 1
            else:
                self.video += 1
            self.keyframes += bool(flags & KEYFRAME)
        else:
            self.other += 1
        if not flags & MEDIA or flags & (CONFIG | PROBLEM):
            self.media_only = False

    def text(self) -> str:
        """``12 sub-messages (video x8 (1 key), audio x4) 40 KB``: what the folded row says."""
        parts = _media_counts(self.video, self.keyframes, self.audio)
        if self.other:
            parts.append(f"other x{self.other}")
        return f"{self.count} sub-messages ({', '.join(parts)}) {_size(self.size)}"


_NO_DETAILS: dict[str, Any] = {}  # shared by every kept media body without extras (never mutated)


def without_payload(item: PipelineItem) -> PipelineItem:
    """The item with its media body's bytes dropped: the index keeps every row for the whole
    capture, and a gigabyte of video must not stay in memory with it (the fields stay; the Hex
    pane re-reads the bytes from the file).  An empty ``details`` dict becomes one shared one,
    64 bytes a row.  The indexing worker calls it before posting a batch, so the batches waiting
    for the UI thread do not hold the video either."""
    if type(item) is not DecodedEvent:
        return item
    assert isinstance(item, DecodedEvent)
    msg = item.event
    if type(msg) is not Message or not getattr(msg.body, "payload", None):
        return item
    assert isinstance(msg, Message)
    body = msg.body
    if getattr(body, "details", None) == {}:
        body = replace(body, payload=b"", details=_NO_DETAILS)  # type: ignore[type-var]
    else:
        body = replace(body, payload=b"")  # type: ignore[type-var]
    return DecodedEvent(connection=item.connection, dir=item.dir, event=replace(msg, body=body))


class CaptureIndex:
    """Every decoded event of a capture in order, with per-row flags, connections and summaries."""

    def __init__(self) -> None:
        self.items: list[DecodedEvent] = []
        self.flags = array("B")
        self.frames = array("q")
        self.conns = array("l")
        self.times = array("d")
        self.connections: list[Connection] = []
        self.ended: dict[int, str] = {}  # conn -> how it ended ("fin", "rst", "eof", ...)
        self.notes: list[CaptureNote] = []
        self.bitrates: dict[int, Bitrate] = {}
        self.problem_counts: dict[int, int] = {}
        self.aggregates: dict[int, AggregateRow] = {}  # wire row -> the aggregate, if it has sub-messages
        self.agg_heads = array("l")  # the keys of ``aggregates``, in order (for bisect)
        self._open_agg: AggregateRow | None = None  # the aggregate whose sub-messages are arriving
        self.done = False
        self.error: str | None = None  # the capture is damaged (or unreadable) from here on
        self._tracker = SessionTracker()
        self._summaries: list[ConnectionSummary] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def settled(self) -> int:
        """How many rows a view may take: all but an aggregate still missing sub-messages (the
        decoder reports them together, so this only holds back a batch cut inside one)."""
        agg = self._open_agg
        return len(self.items) if agg is None else agg.head

    def parent(self, row: int) -> AggregateRow | None:
        """The aggregate ``row`` is a sub-message of, if any."""
        heads = self.agg_heads
        i = bisect_right(heads, row) - 1
        if i < 0:
            return None
        agg = self.aggregates[heads[i]]
        return agg if agg.head < row <= agg.last else None

    def add(self, batch: Iterable[PipelineItem]) -> int:
        """Add pipeline items; returns how many rows they added."""
        before = len(self.items)
        track = self._tracker.feed
        for item in batch:
            track(item)
            kind = type(item)
            if kind is DecodedEvent:
                assert isinstance(item, DecodedEvent)
                kept = item
                ev = item.event
                if type(ev) is Message and getattr(ev.body, "payload", None):
                    kept = without_payload(item)  # type: ignore[assignment]
                    ev = kept.event
                row = len(self.items)
                flags = flags_of(ev)
                conn = item.connection.conn
                self.items.append(kept)
                self.flags.append(flags)
                self.frames.append(ev.frame)
                self.conns.append(conn)
                self.times.append(ev.time)
                if flags & PROBLEM or flags & UNCERTAIN:
                    self.problem_counts[conn] = self.problem_counts.get(conn, 0) + 1
                if self._open_agg is not None or not flags & _NOT_AGGREGATE:  # a cheap pre-test
                    self._track_aggregate(row, ev, flags)
                if flags & (MEDIA | PROBLEM):
                    rate = self.bitrates.get(conn)
                    if rate is None:
                        rate = self.bitrates[conn] = Bitrate(origin=item.connection.opened_time)
                    size = ev.length if isinstance(ev, Message) else 0
                    rate.add(ev.time, row, flags, size, getattr(ev, "type_id", 0))
            elif kind is ConnectionFound:
                assert isinstance(item, ConnectionFound)
                self.connections.append(item.connection)
            elif kind is ConnectionEnded:
                assert isinstance(item, ConnectionEnded)
                self.ended.setdefault(item.connection.conn, item.reason)
            elif kind is CaptureNote:
                assert isinstance(item, CaptureNote)
                if len(self.notes) < 1000:
                    self.notes.append(item)
        self._summaries = None
        return len(self.items) - before

    def _track_aggregate(self, row: int, ev: object, flags: int) -> None:
        """Tie sub-messages to their wire row: an aggregate's sub-messages are the rows right
        after it (anything else ends it, so a broken sequence never swallows later rows)."""
        agg = self._open_agg
        if agg is not None:
            if type(ev) is Message and ev.aggregate and self.conns[row] == self.conns[agg.head]:
                agg.add(flags, ev.type_id)
                if agg.count == agg.expected:
                    self._open_agg = None
                return
            self._open_agg = None
        if type(ev) is Message and ev.type_id == 22 and not ev.aggregate:
            expected = getattr(ev.body, "sub_messages", 0)
            if expected:
                agg = self._open_agg = self.aggregates[row] = AggregateRow(
                    head=row, last=row, expected=expected, size=ev.length)
                self.agg_heads.append(row)

    def summaries(self) -> list[ConnectionSummary]:
        """The session summary of every connection so far (cached until the next :meth:`add`)."""
        if self._summaries is None:
            self._summaries = self._tracker.summaries()
        return self._summaries

    def summary(self, conn: int) -> ConnectionSummary | None:
        return next((s for s in self.summaries() if s.conn == conn), None)

    def relative_time(self, row: int) -> float:
        """Seconds since the row's connection opened."""
        return self.times[row] - self.connections[self.conns[row]].opened_time

    # -- finding rows ---------------------------------------------------------------------------

    def matches_jump(self, row: int, jump: str) -> bool:
        flags = self.flags[row]
        if jump == "handshake":
            return bool(flags & HANDSHAKE)
        if jump == "keyframe":
            return bool(flags & KEYFRAME)
        if not flags & COMMAND:
            return False
        msg = self.items[row].event
        assert isinstance(msg, Message)
        name = command_name(msg)
        if jump == "connect":
            return name == "connect"
        if jump == "createStream":
            return name == "createStream"
        if jump == "play/publish":
            return name in ("play", "play2", "publish")
        if jump == "start":
            return status_code(msg) in ("NetStream.Play.Start", "NetStream.Publish.Start")
        raise ValueError(f"unknown jump {jump!r}")

    def search_text(self, row: int) -> str:
        """What incremental search looks in: the row summary and, for AMF messages, every value."""
        item = self.items[row]
        text = row_text(item)
        if self.flags[row] & COMMAND:
            ev = item.event
            assert isinstance(ev, Message)
            text += " " + json.dumps(ev.body.json_fields(), ensure_ascii=False, default=str)
        return text.lower()

    def record(self, row: int) -> dict[str, Any]:
        """The ndjson object of a row (docs/ndjson.md), as ``droidcap decode`` writes it."""
        return event_record(self.items[row])

    def export(self, rows: Iterable[int], fmt: str, *, conn: int | None = None) -> str:
        """Rows as ndjson (one object a line) or as a JSON document with the connection summary."""
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
        records = [self.record(r) for r in rows]
        if fmt == "ndjson":
            return "".join(dumps(r) + "\n" for r in records)
        if fmt != "json":
            raise ValueError(f"unknown export format {fmt!r}; choose json or ndjson")
        doc: dict[str, Any] = {"events": records}
        if conn is not None:
            summary = self.summary(conn)
            doc["connection"] = None if summary is None else summary.to_json()
        return json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n"

    def hex_target(self, row: int) -> Target:
        """What the Hex pane's walk looks for to find this message's chunks (a Message row)."""
        item = self.items[row]
        ev = item.event
        assert isinstance(ev, Message)
        fields = (ev.csid, ev.type_id, ev.length, ev.timestamp)
        nth, frames, conns, items = 0, self.frames, self.conns, self.items
        back = row - 1
        while back >= 0 and frames[back] == ev.frame:  # the frame's rows are together
            other = items[back]
            twin = other.event
            if (type(twin) is Message and not twin.aggregate and other.dir is item.dir
                    and conns[back] == conns[row]
                    and (twin.csid, twin.type_id, twin.length, twin.timestamp) == fields):
                nth += 1
            back -= 1
        return Target(csid=ev.csid, type_id=ev.type_id, length=ev.length, timestamp=ev.timestamp,
                      frame=ev.frame, nth=nth)

    def rows_of(self, conn: int) -> Iterator[int]:
        conns = self.conns
        return (r for r in range(len(conns)) if conns[r] == conn)


@dataclass(slots=True)
class MediaRun:
    """Audio/video frames of one connection with nothing else of it between them, folded into
    the row of the first (``head``); aggregates of media frames join the run whole."""

    head: int
    last: int
    audio: int = 0
    video: int = 0
    keyframes: int = 0
    aggregates: int = 0  # wire aggregates whose sub-messages are counted in the run
    uncertain: bool = False

    def text(self) -> str:
        parts = _media_counts(self.video, self.keyframes, self.audio)
        carried = f" in {self.aggregates} aggregate(s)" if self.aggregates else ""
        return f"{', '.join(parts)}{carried} (folded, to row {self.last + 1}; Enter unfolds)"


class View:
    """The rows a filter lets through, in order; :meth:`extend` takes the index's new rows.

    With ``collapse_media`` a run of media frames of a connection is one row, its head; ``runs``
    maps a head row to its :class:`MediaRun`.

    An aggregate is its wire row, followed by the sub-messages that pass the filter when its head
    is in ``expanded`` (a set the screen keeps across views, so a filter change keeps what was
    open).  Filters judge an aggregate by what it carries: the wire row is shown when at least one
    of its sub-messages passes (the type ``aggregate`` passes every sub-message).  An aggregate
    whose sub-messages are all plain media frames joins a media run whole."""

    def __init__(self, index: CaptureIndex, row_filter: RowFilter = RowFilter(),
                 expanded: set[int] | None = None) -> None:
        self.index = index
        self.filter = row_filter
        self.expanded = set() if expanded is None else expanded
        self.rows = array("l")
        self.runs: dict[int, MediaRun] = {}
        self._open_runs: dict[int, MediaRun] = {}  # conn -> its run still growing
        self._seen = 0  # index rows already considered
        self._test = self._make_test(row_filter, sub=False)
        self._sub_test = self._make_test(row_filter, sub=True)
        self.extend()

    def __len__(self) -> int:
        return len(self.rows)

    def extend(self) -> int:
        """Take rows the index gained since the last call; returns how many were shown.  Plain
        rows between aggregates go in as ranges, so an unfiltered million rows stay cheap."""
        before = len(self.rows)
        index = self.index
        end = index.settled
        heads, aggregates = index.agg_heads, index.aggregates
        r = self._seen
        i = bisect_left(heads, r)
        while r < end:
            head = heads[i] if i < len(heads) and heads[i] < end else end
            self._take(r, head)
            if head == end:
                break
            r = self._take_aggregate(aggregates[head])
            i += 1
        self._seen = end
        return len(self.rows) - before

    def _take(self, lo: int, hi: int) -> None:
        test = self._test
        if self.filter.collapse_media:
            self._fold(range(lo, hi) if test is None else filter(test, range(lo, hi)))
        elif test is None:
            self.rows.extend(range(lo, hi))
        else:
            self.rows.extend(r for r in range(lo, hi) if test(r))

    def _take_aggregate(self, agg: AggregateRow) -> int:
        """Show one aggregate (or fold it into a media run); returns the row after it."""
        kids = self.children(agg)
        if kids:
            if self.filter.collapse_media and agg.media_only:
                run = self._fold(kids, start=agg.head)  # plain media frames: all in this run
                assert run is not None
                run.aggregates += 1
            else:
                self._open_runs.pop(self.index.conns[agg.head], None)
                self.rows.append(agg.head)
                if agg.head in self.expanded:
                    self.rows.extend(kids)
        return agg.last + 1

    def _fold(self, rows: Iterable[int], *, start: int | None = None) -> MediaRun | None:
        """Add ``rows`` in ``collapse_media`` mode, plain media frames into their connection's
        open run (a new run's head is ``start``, an aggregate's wire row, or the frame); returns
        the run the last row went into."""
        index = self.index
        flags, conns = index.flags, index.conns
        open_runs, append = self._open_runs, self.rows.append
        run: MediaRun | None = None
        for r in rows:
            fl, conn = flags[r], conns[r]
            if not fl & MEDIA or fl & (CONFIG | PROBLEM):
                open_runs.pop(conn, None)
                append(r)
                run = None
                continue
            run = open_runs.get(conn)
            if run is None:
                head = r if start is None else start
                run = open_runs[conn] = self.runs[head] = MediaRun(head=head, last=r)
                append(head)
            run.last = r
            if getattr(index.items[r].event, "type_id", 0) == 8:
                run.audio += 1
            else:
                run.video += 1
            run.keyframes += bool(fl & KEYFRAME)
            run.uncertain |= bool(fl & UNCERTAIN)
        return run

    def _make_test(self, f: RowFilter, *, sub: bool) -> Callable[[int], bool] | None:
        """The filter as a row test, None when it lets everything through; ``sub``: the test of
        sub-messages, which also pass a type filter naming ``aggregate``."""
        if not replace(f, collapse_media=False).active:
            return None
        index = self.index
        flags, conns, items = index.flags, index.conns, index.items
        types = f.types
        if sub and types and "aggregate" in types:
            types = None

        def test(r: int) -> bool:
            fl = flags[r]
            if f.commands_only and not fl & COMMAND:
                return False
            if f.hide_media and fl & MEDIA:
                return False
            if f.conn is not None and conns[r] != f.conn:
                return False
            if f.direction is not None and items[r].dir is not f.direction:
                return False
            return not types or type_label(items[r]) in types

        return test

    # -- aggregates ------------------------------------------------------------------------------

    def children(self, agg: AggregateRow) -> Sequence[int]:
        """The sub-messages of ``agg`` this view shows when it is expanded."""
        kids = range(agg.head + 1, agg.last + 1)
        test = self._sub_test
        return kids if test is None else [r for r in kids if test(r)]

    def _hidden(self, row: int) -> Sequence[int]:
        """The sub-messages folded under shown row ``row`` (none unless it is a folded aggregate)."""
        agg = self.index.aggregates.get(row)
        if agg is None or row in self.expanded or row in self.runs:
            return ()
        return self.children(agg)

    def _shown_at(self, row: int) -> int | None:
        pos = bisect_left(self.rows, row)
        return pos if pos < len(self.rows) and self.rows[pos] == row else None

    def foldable(self, row: int) -> AggregateRow | None:
        """The aggregate Enter folds or unfolds at shown row ``row`` (its wire row or a
        sub-message), None if there is none (or it is folded into a media run)."""
        index = self.index
        agg = index.aggregates.get(row) or index.parent(row)
        if agg is None or agg.head in self.runs or self._shown_at(agg.head) is None:
            return None
        return agg

    def toggle(self, agg: AggregateRow) -> int:
        """Expand a folded aggregate or fold an expanded one, in place (one move of the array's
        tail, not a rebuild); returns the position of its wire row."""
        pos = self._shown_at(agg.head)
        assert pos is not None
        rows = self.rows
        if agg.head in self.expanded:
            self.expanded.discard(agg.head)
            del rows[pos + 1:bisect_right(rows, agg.last)]
        else:
            self.expanded.add(agg.head)
            rows[pos + 1:pos + 1] = array("l", self.children(agg))
        return pos

    def can_show(self, row: int) -> bool:
        """Whether ``row`` is shown, or would be by expanding the aggregate it is folded in."""
        if self._shown_at(row) is not None:
            return True
        agg = self.index.parent(row)
        return (agg is not None and self.foldable(agg.head) is not None
                and (self._sub_test is None or self._sub_test(row)))

    def reveal(self, row: int) -> int:
        """The view position of ``row``, expanding the folded aggregate it is in if that shows it
        (what every jump, search and go-to does: they land on the sub-message, never skip it)."""
        agg = self.index.parent(row)
        if agg is not None and agg.head not in self.expanded and self.can_show(row):
            self.toggle(agg)
        return self.position_of(row)

    def export_rows(self) -> list[int]:
        """The shown rows with the sub-messages folded under them that the filter passes: what
        the filters select, whatever is folded (media runs export their head only)."""
        rows = self.rows
        out: list[int] = []
        done = 0
        for head in self.index.agg_heads:
            pos = self._shown_at(head)
            if pos is not None and (kids := self._hidden(head)):
                out.extend(rows[done:pos + 1])
                out.extend(kids)
                done = pos + 1
        out.extend(rows[done:])
        return out

    # -- finding rows ----------------------------------------------------------------------------

    def position_of(self, row: int) -> int:
        """The view position of index row ``row``, or of the row it is folded under (its
        aggregate's wire row, its media run's head), or of the first shown row after it."""
        pos = bisect_left(self.rows, row)
        if pos < len(self.rows) and self.rows[pos] == row:
            return pos
        agg = self.index.parent(row)
        if agg is not None:
            row = agg.head
            pos = bisect_left(self.rows, row)
            if pos < len(self.rows) and self.rows[pos] == row:
                return pos
        if self.runs:
            # folded into a run of its connection? then the run's head, shown before it
            conn = self.index.conns[row]
            for back in range(pos - 1, max(-1, pos - 64), -1):
                run = self.runs.get(self.rows[back])
                if run is not None and self.index.conns[run.head] == conn and run.head <= row <= run.last:
                    return back
        return min(pos, max(0, len(self.rows) - 1))

    def find(self, start: int, test: Callable[[int], bool], *, forward: bool = True,
             wrap: bool = False) -> int | None:
        """The next (or previous) index row after view position ``start`` passing ``test``,
        sub-messages of folded aggregates included (:meth:`reveal` then shows it)."""
        for row in self._walk(start, forward, wrap):
            if test(row):
                return row
        return None

    def _walk(self, start: int, forward: bool, wrap: bool) -> Iterator[int]:
        """Rows in view order from ``start`` (exclusive), folded sub-messages in their places."""
        rows, hidden = self.rows, self._hidden
        n = len(rows)
        if forward:
            if 0 <= start < n:
                yield from hidden(rows[start])
            for pos in chain(range(start + 1, n), range(min(start + 1, n)) if wrap else ()):
                yield rows[pos]
                yield from hidden(rows[pos])
        else:
            for pos in chain(range(start - 1, -1, -1), range(n - 1, max(start - 1, -1), -1) if wrap else ()):
                yield from reversed(hidden(rows[pos]))
                yield rows[pos]

    def find_frame(self, frame: int) -> int | None:
        """The first shown row of capture frame ``frame`` or later (an aggregate's sub-messages
        share its wire row's frame, so that lands on the wire row)."""
        frames = self.index.frames
        return next((p for p, r in enumerate(self.rows) if frames[r] >= frame), None)

    def find_time(self, seconds: float) -> int | None:
        """The first shown row at least ``seconds`` after its connection opened."""
        index = self.index
        return next((p for p, r in enumerate(self.rows) if index.relative_time(r) >= seconds), None)


def flag_test(mask: int) -> Callable[[CaptureIndex], Callable[[int], bool]]:
    """A row test on the index's flags (for :meth:`View.find`)."""
    return lambda index: (lambda r: bool(index.flags[r] & mask))


def problem_text(index: CaptureIndex, conn: int) -> str:
    """The problems column of the Connections pane."""
    s = index.summary(conn)
    if s is None:
        return ""
    bits = []
    if s.gaps:
        bits.append(f"{s.gaps} gap")
    if s.skipped_bytes:
        bits.append(f"{s.skipped_bytes} B skipped")
    if s.oversize:
        bits.append(f"{s.oversize} oversize")
    if s.uncertain:
        bits.append(f"{s.uncertain} uncertain")
    return ", ".join(bits)


def outcome_text(summary: ConnectionSummary) -> str:
    """The last status code a connection got (Play.Start, StreamNotFound, ...), or its milestone."""
    if summary.statuses:
        code = summary.statuses[-1].code
        return code.replace("NetStream.", "").replace("NetConnection.", "") if code else ""
    last = summary.milestones[-1].name if summary.milestones else "nothing"
    return f"reached {last}"
