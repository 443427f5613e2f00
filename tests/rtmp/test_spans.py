"""field_spans: every field the Details tree shows maps to the body bytes that decode to it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.decode import iter_items
from droidcap.pipeline import DecodedEvent
from droidcap.rtmp import amf0, amf3
from droidcap.rtmp.amf_types import EcmaArray, is_tagged
from droidcap.rtmp.events import Message
from droidcap.rtmp.media import parse_audio, parse_video
from droidcap.rtmp.messages import parse_body
from droidcap.rtmp.spans import FieldPath, Span, field_spans
from droidcap.tui.chunkmap import CursorCache, Unavailable
from droidcap.tui.model import CaptureIndex
from droidcap.tui.wiremap import WireMap

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = [DATA / "wireshark_rtmp_sample.cap", *sorted((DATA / "captures").glob("*.pcap"))]
AMF_TYPES = (15, 17, 18, 20)
REST = {15: "values", 17: "args", 18: "values", 20: "args"}


@cache
def _amf_messages(path: Path) -> tuple[tuple[int, bytes, dict[str, Any]], ...]:
    """(type id, body, json_fields) of every AMF message of a capture whose chunk bytes can be
    re-read (the chunk walker of the Hex pane gives the bytes the decoder parsed)."""
    out = []
    index = CaptureIndex()
    index.add(iter_items(path))
    cursors = CursorCache(path, lambda: None)
    try:
        for row, item in enumerate(index.items):
            ev = item.event
            if type(ev) is not Message or ev.type_id not in AMF_TYPES or ev.aggregate:
                continue
            c = item.connection
            try:
                raw = cursors.find(client=c.client, server=c.server, opened_frame=c.opened_frame,
                                   rtmp_dir=item.dir, target=index.hex_target(row))
            except Unavailable:
                continue  # mid-connection or after a gap: no chunk framing to re-read
            body = WireMap.of(raw).body(raw.data)
            # the very bytes the decoder parsed, even for twins (nginx sends two onMetaData of
            # one length and timestamp in one segment: Target.nth tells them apart)
            assert parse_body(ev.type_id, body) == ev.body
            out.append((ev.type_id, body, ev.body.json_fields()))
    finally:
        cursors.close()
    return tuple(out)


def _nodes(value: Any, path: FieldPath, prop: bool = False) -> Iterator[tuple[FieldPath, Any, bool]]:
    """Every tree node under ``path`` and whether it is an object property; a tagged value's
    children ride on its bytes."""
    yield path, value, prop
    if isinstance(value, dict) and not is_tagged(value):
        for key, sub in value.items():
            yield from _nodes(sub, (*path, key), True)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _nodes(sub, (*path, i))


def _inside(inner: Span, outer: Span) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def check_amf0(type_id: int, body: bytes, fields: dict[str, Any]) -> int:
    """The property: each node has a span; its value bytes decode (AMF0) to the node's value and
    nothing more; a property's span starts with its key; children lie inside their parent, in
    order, not overlapping.  Returns the number of nodes checked."""
    spans = field_spans(type_id, body)
    whole = spans[()]
    assert (whole.start, whole.end) == (0, len(body))
    checked = 0
    for top, top_value in fields.items():
        for path, value, prop in _nodes(top_value, (top,)):
            if path == (REST[type_id],):
                if not value:
                    assert path not in spans
                    continue
                span = spans[path]
                assert amf0.decode_values(body[span.start:span.end]) == value
            elif path[-1] == "$class":  # a typed object's class name
                span = spans[path]
                assert body[span.start:span.end] == struct.pack(">H", span.end - span.start - 2) + value.encode()
            else:
                span = spans[path]
                assert amf0.decode_values(body[span.value_start:span.end]) == [value], path
                key = path[-1]
                if prop:  # `key: value`
                    assert isinstance(key, str)
                    raw_key = body[span.start + 2:span.value_start]
                    assert raw_key.decode("utf-8", "replace") == key
                    assert body[span.start:span.start + 2] == struct.pack(">H", len(raw_key))
                else:
                    assert span.start == span.value_start
            parent = spans.get(path[:-1], whole)
            assert _inside(span, parent), path
            checked += 1
        _in_order(spans, (top,), top_value)
    return checked


def _in_order(spans: dict[FieldPath, Span], path: FieldPath, value: Any) -> None:
    """Siblings' spans follow each other in the order of the tree (a typed object's class name
    comes before its properties)."""
    if isinstance(value, dict) and not is_tagged(value):
        children = [((*path, k), sub) for k, sub in value.items()]
    elif isinstance(value, list):
        children = [((*path, i), sub) for i, sub in enumerate(value)]
    else:
        return
    ends = [(spans[c].start, spans[c].end) for c, _ in children]
    assert all(a[1] <= b[0] for a, b in pairwise(ends)), path
    for child, sub in children:
        _in_order(spans, child, sub)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_amf_field_of_the_captures_decodes_to_what_the_tree_shows(path: Path) -> None:
    messages = _amf_messages(path)
    if path.name == "nginx_midconnection.pcap":
        assert not messages  # its connections' handshakes were never captured
        return
    assert messages
    assert sum(check_amf0(type_id, body, fields) for type_id, body, fields in messages) > 20


def test_connect_command_name_and_app_of_the_sample() -> None:
    type_id, body, fields = _amf_messages(CAPTURES[0])[0]
    assert (type_id, fields["command"]) == (20, "connect")
    spans = field_spans(type_id, body)
    command = spans[("command",)]
    assert body[command.start:command.end] == b"\x02\x00\x07connect"
    app = spans[("args", 0, "app")]
    assert body[app.start:app.end] == b"\x00\x03app\x02\x00\x0dStreamPlayer/"
    assert app.value_start - app.start == 5  # the key: its length and "app"
    # the command object covers every property and its object-end marker
    obj = spans[("args", 0)]
    assert body[obj.start] == 0x03 and body[obj.end - 3:obj.end] == b"\x00\x00\x09"
    # pageUrl is undefined: the tagged value's own node has the marker, "$undefined" none
    assert body[spans[("args", 0, "pageUrl")].value_start] == 0x06
    assert ("args", 0, "pageUrl", "$undefined") not in spans


def test_ecma_arrays_typed_objects_and_strict_arrays() -> None:
    meta = EcmaArray({"width": 640, "list": [1, "x"], "obj": {"$class": "Cls", "a": True}, "none": None})
    body = amf0.encode_values("@setDataFrame", "onMetaData", meta)
    fields = parse_body(18, body).json_fields()
    assert check_amf0(18, body, fields) == 12
    spans = field_spans(18, body)
    width = spans[("values", 1, "width")]
    assert body[width.start:width.end] == b"\x00\x05width\x00" + struct.pack(">d", 640)
    cls = spans[("values", 1, "obj", "$class")]
    assert body[cls.start:cls.end] == b"\x00\x03Cls"
    item = spans[("values", 1, "list", 1)]
    assert body[item.start:item.end] == b"\x02\x00\x01x"
    ecma = spans[("values", 1)]
    assert body[ecma.start] == 0x08 and body[ecma.end - 3:ecma.end] == b"\x00\x00\x09"
    rest = spans[("values",)]
    assert (rest.start, rest.end) == (spans[("values", 0)].start, len(body))


def test_amf3_behind_the_switch_marker() -> None:
    arg = amf0.Avmplus({"app": "live", "codes": [7, 8], "mix": {"$dense": [True], "k": 3}})
    body = b"\x00" + amf0.encode_values("connect", 1, arg)
    fields = parse_body(17, body).json_fields()
    assert fields["args"] == [{"app": "live", "codes": [7, 8], "mix": {"k": 3, "$dense": [True]}}]
    spans = field_spans(17, body)

    def raw(*path: str | int) -> bytes:
        s = spans[path]
        return body[s.start:s.end]

    assert raw("command") == b"\x02\x00\x07connect"
    assert raw("args", 0)[:2] == b"\x11\x0a" and spans[("args", 0)].end == len(body)
    assert raw("args", 0, "app") == b"\x07app\x06\x09live"  # key (U29 length, bytes), then value
    assert raw("args", 0, "codes") == b"\x0bcodes\x09\x05\x01\x04\x07\x04\x08"
    assert raw("args", 0, "codes", 1) == b"\x04\x08"
    assert raw("args", 0, "mix", "k") == b"\x03k\x04\x03"
    assert raw("args", 0, "mix", "$dense") == raw("args", 0, "mix", "$dense", 0) == b"\x03"
    for path, span in spans.items():
        if len(path) > 2:
            assert _inside(span, spans[path[:-1]])


def test_amf3_sealed_members_and_a_pure_amf3_body() -> None:
    # a typed object "P" with sealed members x and y (the encoder only writes dynamic objects)
    sealed = b"\x0a\x23\x03P\x03x\x03y\x04\x01\x04\x02"
    body = b"\x00" + amf0.encode_values("point", 0) + b"\x11" + sealed
    assert parse_body(17, body).json_fields()["args"] == [{"$class": "P", "x": 1, "y": 2}]
    spans = field_spans(17, body)
    x = spans[("args", 0, "x")]
    assert x.start == x.value_start and body[x.start:x.end] == b"\x04\x01"  # its name is in the traits
    assert ("args", 0, "$class") not in spans
    pure = amf3.encode_values("connect", 1, {"app": "a"})
    spans = field_spans(17, pure)
    assert pure[spans[("command",)].start:spans[("command",)].end] == b"\x06\x0fconnect"
    app = spans[("args", 0, "app")]
    assert pure[app.start:app.end] == b"\x07app\x06\x03a"


def test_truncated_bodies_keep_the_spans_found_before_the_damage() -> None:
    type_id, body, _ = _amf_messages(CAPTURES[0])[0]
    full = field_spans(type_id, body)
    for n in range(len(body)):
        spans = field_spans(type_id, body[:n])
        for path, span in spans.items():
            assert span.end <= n
            if path not in ((), ("raw_head",)):
                assert span == full[path]
    # one byte short of its object-end marker: every property, but not the object
    spans = field_spans(type_id, body[:-1])
    assert ("args", 0, "pageUrl") in spans and ("args", 0) not in spans


_keys = st.text("abcdefghijklmnopqrstuvwxyzé", min_size=1, max_size=6)
_scalars = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
_values = st.recursive(
    _scalars,
    lambda kids: (st.lists(kids, max_size=4) | st.dictionaries(_keys, kids, max_size=4)
                  | st.dictionaries(_keys, kids, max_size=4).map(EcmaArray)
                  | st.dictionaries(_keys, kids, max_size=3).map(lambda d: {"$class": "T", **d})),
    max_leaves=24)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from((17, 18, 20)), st.lists(_values, max_size=4))
def test_any_amf0_message_decodes_span_by_span(type_id: int, args: list[Any]) -> None:
    body = amf0.encode_values(*(("cmd", 2) if type_id != 18 else ("onMetaData",)), *args)
    if type_id == 17:
        body = b"\x00" + body
    fields = parse_body(type_id, body).json_fields()
    check_amf0(type_id, body, fields)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from((1, 8, 9, 15, 17, 18, 20, 22)), st.binary(max_size=64))
def test_any_bytes_give_spans_inside_the_body_and_never_raise(type_id: int, body: bytes) -> None:
    for span in field_spans(type_id, body).values():
        assert 0 <= span.start <= span.value_start <= span.end <= len(body)


# -- media -----------------------------------------------------------------------------------

_HEADER_FIELDS = {"frame_type", "codec", "codec_id", "avc_packet_type", "composition_time", "video_command",
                  "sound_format", "sound_rate", "sound_size", "channels", "aac_packet_type",
                  "packet_type", "fourcc", "multitrack"}


def check_media(type_id: int, body: bytes) -> None:
    """Header fields: the header alone (the body cut after their spans) already says the same;
    the rest: the codec payload after the header."""
    parse = parse_video if type_id == 9 else parse_audio
    fields = parse(body).json_fields()
    spans = field_spans(type_id, body)
    header = {name: spans[(name,)] for name in fields if name in _HEADER_FIELDS}
    end = max(span.end for span in header.values())
    cut = parse(body[:end]).json_fields()
    assert {name: cut.get(name) for name in header} == {name: fields[name] for name in header}
    for name in fields.keys() - header.keys() - {"malformed"}:
        span = spans.get((name,))
        if span is None:  # no payload at all: the field (data_size 0) has no bytes of its own
            assert end == len(body), name
        else:
            assert end <= span.start and span.end == len(body), name


@pytest.mark.parametrize("name", ["nginx_ffmpeg_players", "nginx_gst_publisher", "nms_ffmpeg_players"])
def test_media_fields_of_the_captures(name: str) -> None:
    path = DATA / "captures" / f"{name}.pcap"
    seen: set[tuple[int, str]] = set()
    for item in iter_items(path):
        ev = item.event if isinstance(item, DecodedEvent) else None
        if type(ev) is Message and ev.type_id in (8, 9) and ev.body.json_fields().get("empty") is None:
            payload = ev.body.payload  # type: ignore[attr-defined]
            check_media(ev.type_id, payload)
            seen.add((ev.type_id, str(ev.body.json_fields().get("codec"))))
    assert {t for t, _ in seen} == {8, 9}


def test_enhanced_and_legacy_media_headers() -> None:
    nalu = b"\x00\x00\x00\x02\x26\x01"
    hevc = bytes([0x80 | 0x10 | 1]) + b"hvc1" + b"\x00\x00\x21" + nalu  # keyframe, coded frames
    spans = field_spans(9, hevc)
    assert (spans[("fourcc",)].start, spans[("fourcc",)].end) == (1, 5)
    assert (spans[("composition_time",)].start, spans[("composition_time",)].end) == (5, 8)
    assert (spans[("nalu_types",)].start, spans[("nalu_types",)].end) == (8, len(hevc))
    avc = b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x02\x65\x88"
    spans = field_spans(9, avc)
    assert {p[0]: (s.start, s.end) for p, s in spans.items() if p and p[0] in ("frame_type", "avc_packet_type",
                                                                     "composition_time")} == {
        "frame_type": (0, 1), "avc_packet_type": (1, 2), "composition_time": (2, 5)}
    aac = b"\xaf\x01" + b"\x21\x10"
    spans = field_spans(8, aac)
    assert (spans[("aac_packet_type",)].start, spans[("data_size",)].start) == (1, 2)
    for body, type_id in ((hevc, 9), (avc, 9), (aac, 8), (b"\x17", 9), (b"\x90mp4a", 8)):
        check_media(type_id, body)
