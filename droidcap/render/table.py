"""The session ladder a human reads: per connection, one line per step, media runs collapsed.

Connections interleave in a capture, but a reader wants each one's story in one piece, so lines
are kept per connection (at most :data:`LINES_CAP` each; media runs are one line however long)
and printed when the capture ends, followed by that connection's milestones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TextIO

from droidcap.capture.events import Direction
from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.events import Gap, HandshakePart, Message, OversizeMessage, Skipped, Synchronised
from droidcap.rtmp.messages import Malformed
from droidcap.session import MAX_TRACKED_CONNECTIONS, NO_RESULT_EXPECTED, ConnectionSummary

LINES_CAP = 5_000
TOTAL_LINES_CAP = 100_000  # over all connections: many connections must not add up unbounded


@dataclass(slots=True)
class _LinesLeft:
    """Ladder lines still allowed over all connections (shared by the ladders)."""

    left: int = TOTAL_LINES_CAP
ARROW = {Direction.C2S: "->", Direction.S2C: "<-"}


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_code(args: list[Any]) -> str | None:
    for value in args:
        if isinstance(value, dict):
            code = value.get("code")
            if isinstance(code, str):
                return code
    return None


def describe_message(msg: Message) -> str:
    """One line saying what a message is, the way the RTMP flow diagrams name steps."""
    if type(msg.body) is Malformed:
        return _describe_malformed(msg, msg.body)
    f = msg.body.json_fields()
    t = msg.type_id
    if t in (20, 17):
        command = f.get("command", "?")
        args = f.get("args") or []
        txn = f.get("transaction_id")
        txn_text = "" if txn is None else f"#{txn:g} " if isinstance(txn, (int, float)) else ""
        detail = ""
        if command == "connect" and args and isinstance(args[0], dict):
            obj = args[0]
            detail = " ".join(f"{k}={_short(obj[k], 50)}" for k in ("app", "tcUrl", "flashVer") if k in obj)
        elif command in ("play", "publish", "releaseStream", "FCPublish", "FCUnpublish", "deleteStream",
                         "getStreamLength", "FCSubscribe"):
            detail = " ".join(_short(a, 40) for a in args[1:] if a is not None)
        elif command in ("_result", "_error", "onStatus"):
            detail = _status_code(args) or " ".join(_short(a, 30) for a in args[1:] if a is not None)
        return f"{command} {txn_text}{detail}".rstrip()
    if t in (18, 15):
        name = f.get("name", "?")
        values = f.get("values") or []
        if name == "@setDataFrame" and values:
            rest = values[1:]
            return f"@setDataFrame {values[0]} {_short(rest[0] if rest else '', 70)}".rstrip()
        if name == "onMetaData":
            return f"onMetaData {_short(values[0] if values else '', 70)}"
        return f"{name} {_short(values, 50)}" if values else str(name)
    if t == 1:
        return f"Set Chunk Size {f.get('chunk_size')}"
    if t == 2:
        return f"Abort csid {f.get('abort_csid')}"
    if t == 3:
        return f"Acknowledgement {f.get('sequence')}"
    if t == 5:
        return f"Window Ack Size {f.get('ack_window')}"
    if t == 6:
        return f"Set Peer Bandwidth {f.get('bandwidth')} ({f.get('limit_type')})"
    if t == 4:
        event = f.get("event", "?")
        extra = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("event",))
        return f"User Control {event} {extra}".rstrip()
    if t in (8, 9):
        kind = "audio" if t == 8 else "video"
        packet = f.get("avc_packet_type") or f.get("aac_packet_type") or f.get("packet_type") or ""
        details = " ".join(str(f[k]) for k in ("codec", "profile", "level") if f.get(k) is not None)
        if f.get("width"):
            details += f" {f['width']}x{f['height']}"
        if f.get("sample_rate"):
            details += f" {f['sample_rate']} Hz"
        if f.get("channel_config") or f.get("channels"):
            details += f" ch {f.get('channel_config') or f.get('channels')}"
        return f"{kind} {packet.replace('_', ' ')} {details}".strip()
    if t == 19 or t == 16:
        return f"shared object {f.get('so_name')} {_short(f.get('so_events'), 50)}"
    if t == 22:
        text = f"aggregate of {f.get('sub_messages')} sub-messages ({msg.length} bytes)"
        return text + (f" (malformed: {f['malformed']})" if "malformed" in f else "")
    return f"{msg.type_name} ({msg.length} bytes)"


_CONTROL_NAMES = {1: "Set Chunk Size", 2: "Abort", 3: "Acknowledgement", 4: "User Control",
                 5: "Window Ack Size", 6: "Set Peer Bandwidth"}


def _describe_malformed(msg: Message, body: Malformed) -> str:
    """A body that did not parse has none of its fields: name the message and say why, instead
    of printing the missing fields as None."""
    if msg.type_id == 1:  # the chunk layer applies only a 4-byte size in 1..0x7fffffff
        if msg.length == 4:
            return f"Set Chunk Size {int(body.raw_head, 16)} (invalid, ignored)"
        return f"Set Chunk Size (malformed, ignored: {body.reason})"
    return f"{_CONTROL_NAMES.get(msg.type_id, msg.type_name)} (malformed: {body.reason})"


def _is_aggregate_of_media(msg: Message) -> bool:
    """An aggregate that parsed joins the media run its sub-messages belong to (counted as one
    wire message); a malformed one gets a line of its own."""
    return msg.type_id == 22 and "malformed" not in msg.body.json_fields()


def _is_media_frame(msg: Message) -> bool:
    """Audio/video frames collapse into runs; sequence headers and configs stay visible."""
    if msg.type_id not in (8, 9):
        return False
    f = msg.body.json_fields()
    packet = f.get("avc_packet_type") or f.get("aac_packet_type") or f.get("packet_type")
    return packet not in ("sequence_header", "sequence_start", "end_of_sequence", "sequence_end", "metadata")


@dataclass(slots=True)
class _Run:
    """A run of media messages in one connection."""

    first_time: float
    first_frame: int
    last_time: float = 0.0
    last_frame: int = 0
    audio: int = 0
    video: int = 0
    keyframes: int = 0
    aggregates: int = 0  # wire messages that carried some of the run's frames
    dirs: set[Direction] = field(default_factory=set)
    uncertain: bool = False


@dataclass(slots=True)
class _Ladder:
    origin: float
    budget: _LinesLeft
    lines: list[str] = field(default_factory=list)
    dropped: int = 0
    run: _Run | None = None

    def add(self, time: float, frame: int | str, arrow: str, text: str) -> None:
        if len(self.lines) >= LINES_CAP or self.budget.left <= 0:
            self.dropped += 1
            return
        self.budget.left -= 1
        self.lines.append(f"  {(time - self.origin) * 1000:>11.3f}  {frame!s:>8}  {arrow:^3}  {text}")


class TableRenderer:
    """Collects ladders as items arrive; :meth:`write` prints them with the session summaries."""

    def __init__(self) -> None:
        self._ladders: dict[int, _Ladder] = {}
        self._budget = _LinesLeft()

    def feed(self, item: DecodedEvent) -> None:
        conn = item.connection
        ladder = self._ladders.get(conn.conn)
        if ladder is None:
            if len(self._ladders) >= MAX_TRACKED_CONNECTIONS:
                return  # not summarised either (see session.MAX_TRACKED_CONNECTIONS)
            ladder = self._ladders[conn.conn] = _Ladder(origin=conn.opened_time, budget=self._budget)
            if conn.syn_seen:
                ladder.add(conn.opened_time, conn.opened_frame, "->", "TCP SYN")
        ev = item.event
        if type(ev) is Message and (_is_media_frame(ev) or _is_aggregate_of_media(ev)):
            run = ladder.run
            if run is None:
                run = ladder.run = _Run(first_time=ev.time, first_frame=ev.frame)
            run.last_time, run.last_frame = ev.time, ev.frame
            run.dirs.add(item.dir)
            run.uncertain |= ev.uncertain
            if ev.type_id == 22:
                run.aggregates += 1
            elif ev.type_id == 8:
                run.audio += 1
            else:
                run.video += 1
                if ev.body.json_fields().get("frame_type") == "keyframe":
                    run.keyframes += 1
            return
        self._close_run(ladder)
        arrow = ARROW[item.dir]
        if type(ev) is Message:
            mark = "? " if ev.uncertain else ""
            ladder.add(ev.time, ev.frame, arrow, mark + describe_message(ev))
        elif type(ev) is HandshakePart:
            bits = [ev.part]
            if ev.version is not None:
                bits.append(f"version {ev.version}")
            if ev.scheme:
                bits.append(ev.scheme + (f" layout {ev.digest_layout}" if ev.digest_layout is not None else ""))
            ladder.add(ev.time, ev.frame, arrow, " ".join(bits))
        elif type(ev) is Gap:
            ladder.add(ev.time, ev.frame, arrow, f"!! gap: {ev.size} bytes never captured")
        elif type(ev) is Skipped:
            ladder.add(ev.time, ev.frame, arrow, f"!! skipped {ev.size} bytes: {ev.reason}")
        elif type(ev) is OversizeMessage:
            ladder.add(ev.time, ev.frame, arrow, f"!! {ev.length}-byte message over the size limit, body skipped")
        elif type(ev) is Synchronised:
            state = "confirmed" if ev.confirmed else "inferred"
            ladder.add(ev.time, ev.frame, arrow, f".. synchronised mid-stream, chunk size {ev.chunk_size} ({state})")

    @staticmethod
    def _close_run(ladder: _Ladder) -> None:
        run = ladder.run
        if run is None:
            return
        ladder.run = None
        parts = []
        if run.video:
            parts.append(f"video x{run.video}" + (f" ({run.keyframes} key)" if run.keyframes else ""))
        if run.audio:
            parts.append(f"audio x{run.audio}")
        what = ", ".join(parts) or "no audio or video"
        if run.aggregates:
            what += f" in {run.aggregates} aggregate message(s)"
        arrow = "<->" if len(run.dirs) > 1 else ARROW[next(iter(run.dirs))]
        span = run.last_time - run.first_time
        mark = "? " if run.uncertain else ""
        ladder.add(run.first_time, run.first_frame, arrow,
                   f"{mark}{what} over {span:.3f} s (to frame {run.last_frame})")

    def write(self, out: TextIO, summaries: list[ConnectionSummary]) -> None:
        for summary in summaries:
            ladder = self._ladders.get(summary.conn) or _Ladder(origin=summary.first_time, budget=self._budget)
            self._close_run(ladder)
            out.write(_heading(summary) + "\n")
            out.write(f"  {'+ms':>11}  {'frame':>8}  dir  step\n")
            for line in ladder.lines:
                out.write(line + "\n")
            if ladder.dropped:
                out.write(f"  ... {ladder.dropped} more steps not shown (use --format ndjson)\n")
            out.write(_milestones(summary) + "\n")
            problems = _problems(summary)
            if problems:
                out.write(f"  problems: {problems}\n")
            out.write("\n")


def _heading(s: ConnectionSummary) -> str:
    bits = [f"conn {s.conn}: client {s.client} -> server {s.server}", s.role]
    app = s.connect.get("app")
    if app is not None:
        bits.append(f"app {app!r}")
    names = [st.name for st in s.streams if st.name]
    if names:
        bits.append("stream " + ", ".join(repr(n) for n in names))
    if s.outer:
        bits.append("via " + " > ".join(s.outer))
    if s.mid_connection:
        bits.append("capture starts mid-connection")
    return " | ".join(bits)


_END_TEXT = {
    "open": "still open at the end of the capture (no FIN or RST)",
    "half_closed": "half closed: one side never sent FIN or RST before the capture ended",
    "evicted": "no longer followed: too many TCP flows open at once (no FIN or RST seen)",
}


def _milestones(s: ConnectionSummary) -> str:
    parts = [f"{m.name} +{(m.time - s.first_time) * 1000:.1f} ms" for m in s.milestones]
    text = "  milestones: " + (", ".join(parts) if parts else "none reached")
    end = _END_TEXT.get(s.state)
    if end is not None:
        text += (f"\n  end: {end}; last activity +{(s.last_time - s.first_time) * 1000:.1f} ms"
                 f" (frame {s.last_frame})")
    return text


def _problems(s: ConnectionSummary) -> str:
    bits = []
    if s.gaps:
        bits.append(f"{s.gaps} gap(s), {s.gap_bytes} bytes missing")
    if s.skipped_bytes:
        bits.append(f"{s.skipped_bytes} bytes skipped")
    if s.oversize:
        bits.append(f"{s.oversize} oversize message(s)")
    if s.uncertain:
        bits.append(f"{s.uncertain} message(s) inferred (uncertain)")
    if s.handshake and "mismatch" in (s.handshake.c2_echo, s.handshake.s2_echo):
        bits.append(f"handshake echo mismatch (C2 {s.handshake.c2_echo}, S2 {s.handshake.s2_echo})")
    unanswered = [t.command for t in s.transactions if t.result is None and t.command not in NO_RESULT_EXPECTED]
    if unanswered:
        bits.append("unanswered: " + ", ".join(unanswered[:5]))
    errors = [t.command for t in s.transactions if t.result == "_error"]
    if errors:
        bits.append("_error for: " + ", ".join(errors[:5]))
    return "; ".join(bits)
