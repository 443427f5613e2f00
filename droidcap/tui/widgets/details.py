"""The Details pane: a tree of one row — header, chunks, AMF values, media and handshake fields."""

from __future__ import annotations

from typing import Any

from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.events import Gap, HandshakePart, Message, OversizeMessage, Skipped, Synchronised
from droidcap.rtmp.spans import FieldPath, Span, field_spans
from droidcap.session import ConnectionSummary, endpoint_text
from droidcap.tui.chunkmap import MessageBytes
from droidcap.tui.wiremap import Ranges, WireMap


class DetailsTree(Tree[Ranges | None]):
    """Rebuilt for each selected row; a node's data is the byte ranges it covers in the hex, if
    known (a body field straddling a chunk boundary is one range per chunk)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("(no row)", id=id)
        self.show_root = True
        self.guide_depth = 2

    def show(self, item: DecodedEvent | None, summary: ConnectionSummary | None,
             raw: MessageBytes | None, raw_note: str | None) -> None:
        self.clear()
        if item is None:
            self.root.set_label("(no row)")
            return
        ev = item.event
        c = item.connection
        self.root.set_label(f"frame {ev.frame} · conn {c.conn} · "
                            f"{'client → server' if item.dir.value == 'c2s' else 'server → client'}")
        conn = self.root.add("connection", expand=False)
        conn.add_leaf(f"client {endpoint_text(c.client)}")
        conn.add_leaf(f"server {endpoint_text(c.server)}")
        conn.add_leaf(f"handshake seen: {c.handshake_seen}, SYN seen: {c.syn_seen}")
        kind = type(ev)
        if kind is Message:
            assert isinstance(ev, Message)
            head = self.root.add("message header", expand=True)
            for name in ("csid", "fmt", "timestamp", "type_id", "stream_id", "length"):
                head.add_leaf(f"{name}: {getattr(ev, name)}")
            head.add_leaf(f"type: {ev.type_name}")
            if ev.uncertain:
                head.add_leaf("UNCERTAIN: inferred while resynchronising (stream id / timestamp may be wrong)")
            if ev.aggregate:
                head.add_leaf("sub-message of an aggregate (type 22)")
            self._chunks(raw, raw_note)
            lit = _BodyBytes.of(ev, raw)
            body = self.root.add("body", expand=True, data=lit.ranges(()))
            _add_fields(body, ev.body.json_fields(), lit)
        elif kind is HandshakePart:
            assert isinstance(ev, HandshakePart)
            part = self.root.add(f"handshake {ev.part}", expand=True)
            _add_fields(part, ev.json_fields(), _NO_BYTES)
            if ev.payload:
                part.add_leaf(f"payload: {len(ev.payload)} bytes")
            hs = summary.handshake if summary is not None else None
            if hs is not None:
                if ev.part == "C2":
                    part.add_leaf(f"C2 echoes S1: {hs.c2_echo}")
                if ev.part == "S2":
                    part.add_leaf(f"S2 echoes C1: {hs.s2_echo}")
                if ev.part in ("C1", "S1") and ev.scheme == "digest":
                    part.add_leaf(f"digest verified with layout {ev.digest_layout}")
        elif kind is Gap:
            assert isinstance(ev, Gap)
            self.root.add_leaf(f"GAP: {ev.size} bytes of this direction were never captured")
        elif kind is Skipped:
            assert isinstance(ev, Skipped)
            self.root.add_leaf(f"SKIPPED: {ev.size} bytes: {ev.reason}")
        elif kind is OversizeMessage:
            assert isinstance(ev, OversizeMessage)
            node = self.root.add("oversize message (body not buffered)", expand=True)
            for name in ("csid", "fmt", "timestamp", "type_id", "stream_id", "length"):
                node.add_leaf(f"{name}: {getattr(ev, name)}")
        elif kind is Synchronised:
            assert isinstance(ev, Synchronised)
            self.root.add_leaf(f"synchronised mid-stream: chunk size {ev.chunk_size} "
                               f"({'confirmed' if ev.confirmed else 'inferred'})")
        self.root.expand()

    def _chunks(self, raw: MessageBytes | None, note: str | None) -> None:
        if raw is None:
            self.root.add_leaf(f"chunks: {note or 'reading…'}")
            return
        node = self.root.add(f"chunks ({len(raw.chunks)})", expand=len(raw.chunks) <= 8)
        for i, ch in enumerate(raw.chunks):
            ext = f" ext ts {ch.extended_timestamp}" if ch.extended_timestamp is not None else ""
            frames = ch.frames[0] if len(ch.frames) == 1 else f"{ch.frames[0]}–{ch.frames[-1]}"
            leaf = node.add(f"#{i} fmt {ch.fmt} csid {ch.csid} ts field {ch.timestamp_field}{ext} "
                            f"· {ch.payload_size} B · frame {frames}", data=((ch.start, ch.end),))
            leaf.add_leaf(f"header {ch.header_size} B at stream offset {ch.stream_offset}",
                          data=((ch.start, ch.start + ch.header_size),))


class _BodyBytes:
    """Which hex bytes each body field lights: its span in the body (droidcap.rtmp.spans)
    through the chunks to the wire.  Known once the message's chunk bytes have been read."""

    __slots__ = ("spans", "wire")

    def __init__(self, spans: dict[FieldPath, Span], wire: WireMap | None) -> None:
        self.spans, self.wire = spans, wire

    @classmethod
    def of(cls, ev: Message, raw: MessageBytes | None) -> _BodyBytes:
        if raw is None:
            return _NO_BYTES
        wire = WireMap.of(raw)
        body = wire.body(raw.data)
        if len(body) != ev.length:  # not the message the decoder saw: light nothing
            return _NO_BYTES
        return cls(field_spans(ev.type_id, body), wire)

    def ranges(self, path: FieldPath) -> Ranges | None:
        span = self.spans.get(path)
        if span is None or self.wire is None:
            return None
        return self.wire.ranges(span.start, span.end)


_NO_BYTES = _BodyBytes({}, None)


def _add_fields(node: TreeNode[Ranges | None], fields: dict[str, Any], lit: _BodyBytes) -> None:
    for key, value in fields.items():
        _add_value(node, value, (key,), lit)


def _add_value(node: TreeNode[Ranges | None], value: Any, path: FieldPath, lit: _BodyBytes) -> None:
    """An AMF / JSON value as tree nodes: dicts and lists expand, scalars are leaves.  A node
    whose field has no bytes of its own (inside a reference or a tagged value) lights the bytes
    of the node above it, which carry it."""
    data = lit.ranges(path) or node.data
    name = path[-1]
    if isinstance(value, dict):
        branch = node.add(f"{name} {{{len(value)}}}", expand=len(value) <= 12, data=data)
        for key, sub in value.items():
            _add_value(branch, sub, (*path, key), lit)
    elif isinstance(value, (list, tuple)):
        branch = node.add(f"{name} [{len(value)}]", expand=len(value) <= 12, data=data)
        for i, sub in enumerate(value):
            _add_value(branch, sub, (*path, i), lit)
    else:
        text = repr(value) if isinstance(value, str) else str(value)
        node.add_leaf(f"{name}: {text}", data=data)
