"""Where each field of a message body sits in its bytes — sans-IO, standard library only.

The TUI's Details tree shows a body as ``body.json_fields()``; :func:`field_spans` says, for each
node of that tree (keyed by the same path: ``("command",)``, ``("args", 0, "app")``,
``("values", 1, "width")``...), which body bytes carry it, so that the Hex pane can light them.

AMF offsets come from the AMF decoders themselves: :class:`_Amf0` and :class:`_Amf3` are the
decoders' readers with their container loops overridden to note where each member starts and
ends (every scalar, marker, reference and limit is still the decoder's own code), so the spans
cannot drift from what the decoder reads. The hot decode path is untouched: only these
subclasses record anything. Media bodies have fixed header layouts (the FLV tag headers and
their Enhanced RTMP forms); the fields the media parsers derive from the codec payload (profile,
size, NAL unit types...) get the payload's span.

Nothing here raises on a malformed or truncated body: the spans found before the damage stand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from droidcap.errors import AmfError
from droidcap.rtmp import amf0, amf3
from droidcap.rtmp.media import parse_audio, parse_video

__all__ = ["FieldPath", "Span", "field_spans"]

FieldPath = tuple[str | int, ...]  # dict keys and list indices from the root of json_fields()

_COMMANDS = (17, 20)
_DATA = (15, 18)
_AMF3_FORMAT = (15, 17)
_RAW_HEAD = 32  # the bytes a Malformed/Unknown body's raw_head shows


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """Body bytes [start, end) of one field.  For an object property the node reads
    ``name: value``, so ``start`` is its key and ``value_start`` the value's first byte (its type
    marker); elsewhere both are the same."""

    start: int
    value_start: int
    end: int


class _Recorder:
    """The spans found so far and the path of the value being read."""

    __slots__ = ("path", "spans")

    def __init__(self) -> None:
        self.path: list[str | int] = []
        self.spans: dict[FieldPath, Span] = {}

    def add(self, key: str | int, start: int, value_start: int, end: int) -> None:
        self.spans[(*self.path, key)] = Span(start=start, value_start=value_start, end=end)

    def member(self, read: Callable[[int, int], tuple[Any, int]], key: str | int, start: int,
               value_start: int, depth: int) -> tuple[Any, int]:
        """Read the value of member ``key`` with ``read`` (a reader's ``value``) and note it."""
        self.path.append(key)
        value, end = read(value_start, depth)
        self.path.pop()
        self.add(key, start, value_start, end)
        return value, end


class _Amf3(amf3._Reader):
    """The AMF3 reader, noting object members and array items."""

    __slots__ = ("rec",)

    def __init__(self, data: bytes, rec: _Recorder) -> None:
        super().__init__(data, amf3.DEFAULT_MAX_DEPTH, amf3.DEFAULT_MAX_ITEMS)
        self.rec = rec

    def sealed_members(self, o: int, depth: int, out: dict[str, Any], names: list[str]) -> int:
        # a sealed member's name is in the traits (maybe another object's): the value alone
        for name in names:
            out[name], o = self.rec.member(self.value, name, o, o, depth)
        return o

    def dynamic_members(self, o: int, depth: int, out: dict[str, Any]) -> int:
        while True:
            start = o
            key, o = self.string(o)
            if key == "":
                return o
            out[key], o = self.rec.member(self.value, key, start, o, depth)

    def array(self, o: int, depth: int) -> tuple[Any, int]:
        # amf3._Reader.array with its dense loop noting each item: under "$dense" when the
        # array also has named items (how it decodes then)
        h, o = self.u29(o)
        if not h & 1:
            return self._object_ref(h, o), o
        count = h >> 1
        index = self._open(o, depth)
        first_item = self.items
        assoc: dict[str, Any] = {}
        o = self.dynamic_members(o, depth, assoc)
        if count > self.end - o:
            raise AmfError(f"AMF3 array of {count} values at offset {o}, only {self.end - o} bytes left")
        rec = self.rec
        if assoc:
            rec.path.append("$dense")
        dense_start = o
        dense: list[Any] = []
        for i in range(count):
            v, o = rec.member(self.value, i, o, o, depth)
            dense.append(v)
        result: Any = dense
        if assoc:
            rec.path.pop()
            result = assoc
            if dense:
                assoc["$dense"] = dense
                rec.add("$dense", dense_start, dense_start, o)
        self._close(index, result, first_item)
        return result, o


class _Amf0(amf0._Reader):
    """The AMF0 reader, noting object properties (key and value), array items and the class
    name of a typed object; behind the 0x11 marker it reads on with :class:`_Amf3`."""

    __slots__ = ("rec",)

    def __init__(self, data: bytes, rec: _Recorder) -> None:
        super().__init__(data, amf0.DEFAULT_MAX_DEPTH, amf0.DEFAULT_MAX_ITEMS)
        self.rec = rec
        self.amf3 = _Amf3(data, rec)

    def value(self, o: int, depth: int) -> tuple[Any, int]:
        data = self.data
        if o + 3 <= self.end and data[o] == 0x10:  # typed object: "$class" is a node of its own
            e = o + 3 + ((data[o + 1] << 8) | data[o + 2])
            if e <= self.end:
                self.rec.add("$class", o + 1, o + 1, e)
        return super().value(o, depth)

    def properties(self, o: int, depth: int, out: dict[str, Any], what: str,
                   count: int = -1) -> tuple[dict[str, Any], int]:
        # amf0._Reader.properties without its scalar fast paths, so every value passes through
        # value() and is noted; the reference table and limits are the decoder's own
        depth, index, first_item = self.open_container(o, depth)
        data, end, rec = self.data, self.end, self.rec
        n_props = 0
        while True:
            if o + 2 > end:
                if o == end and 0 < count <= n_props:
                    break  # ECMA array without its end marker, as the decoder allows
                raise AmfError(f"AMF0 {what} at offset {o} is truncated (no object-end marker)")
            start = o
            n = (data[o] << 8) | data[o + 1]
            o += 2
            if n == 0 and o < end and data[o] == 0x09:
                o += 1
                break
            if o + n > end:
                raise AmfError(f"AMF0 {what} key of {n} bytes at offset {o}, only {end - o} left")
            key = data[o : o + n].decode("utf-8", "replace")
            out[key], o = rec.member(self.value, key, start, o + n, depth)
            n_props += 1
        self.close_container(index, first_item, out)
        return out, o

    def strict_array(self, o: int, depth: int) -> tuple[list[Any], int]:
        self._need(o, 4, "strict array count")
        count = int.from_bytes(self.data[o : o + 4], "big")
        o += 4
        if count > self.end - o:
            raise AmfError(f"AMF0 strict array of {count} values at offset {o - 5}, "
                           f"only {self.end - o} bytes left")
        depth, index, first_item = self.open_container(o, depth)
        out: list[Any] = []
        for i in range(count):
            v, o = self.rec.member(self.value, i, o, o, depth)
            out.append(v)
        self.close_container(index, first_item, out)
        return out, o


def _amf_message(type_id: int, body: bytes, rec: _Recorder) -> None:
    """Commands: ``command``, ``transaction_id``, then ``args``; data: ``name``, then ``values``
    (the layout of :class:`droidcap.rtmp.commands.Command` / ``Data``)."""
    reader: _Amf0 | _Amf3
    o = 0
    if type_id in _AMF3_FORMAT and body[:1] != b"\x00":
        reader = _Amf3(body, rec)  # no format byte: pure AMF3, as commands._values reads it
    else:
        reader = _Amf0(body, rec)
        o = 1 if type_id in _AMF3_FORMAT else 0
    named: tuple[str, ...] = ("command", "transaction_id") if type_id in _COMMANDS else ("name",)
    rest = "args" if type_id in _COMMANDS else "values"
    rest_start = i = 0
    try:
        while o < len(body):
            if i < len(named):
                rec.path = []
                _, end = rec.member(reader.value, named[i], o, o, 0)
            else:
                if i == len(named):
                    rest_start = o
                rec.path = [rest]
                _, end = rec.member(reader.value, i - len(named), o, o, 0)
                rec.path = []
                rec.add(rest, rest_start, rest_start, end)
            o = end
            i += 1
    except (AmfError, RecursionError):
        pass


_Layout = dict[str, tuple[int, int]]  # a media header field and its [start, end)


def _enhanced(head: _Layout, body: bytes, packet: int, multitrack: int, video: bool) -> int | None:
    """The Enhanced RTMP header after its first byte; the offset of the codec payload, or None
    when the layout is not mapped (ModEx prefixes)."""
    if packet == 7:
        return None
    if packet == multitrack:
        head["multitrack"] = head["packet_type"] = (1, 2)  # the real packet type is in byte 1
        return 2
    head["fourcc"] = head["codec"] = (1, 5)
    if video and packet == 1 and body[1:5] in (b"avc1", b"hvc1"):
        head["composition_time"] = (5, 8)
        return 8
    return 5


def _video_layout(body: bytes) -> tuple[_Layout, int | None]:
    b0 = body[0]
    if b0 & 0x80:
        frame, packet = (b0 >> 4) & 7, b0 & 0x0F
        head = {"frame_type": (0, 1), "packet_type": (0, 1)}
        if packet != 4 and frame == 5:
            head["video_command"] = (1, 2)
            return head, None
        return head, _enhanced(head, body, packet, 6, True)
    head = {"frame_type": (0, 1), "codec": (0, 1), "codec_id": (0, 1)}
    if b0 >> 4 == 5:
        head["video_command"] = (1, 2)
        return head, None
    if b0 & 0x0F in (7, 12):  # AVC, HEVC
        head["avc_packet_type"] = (1, 2)
        head["composition_time"] = (2, 5)
        return head, 5
    return head, 1


def _audio_layout(body: bytes) -> tuple[_Layout, int | None]:
    fmt = body[0] >> 4
    if fmt == 9:
        head = {"sound_format": (0, 1), "packet_type": (0, 1)}
        return head, _enhanced(head, body, body[0] & 0x0F, 5, False)
    head = dict.fromkeys(("codec", "sound_format", "sound_rate", "sound_size", "channels"), (0, 1))
    if fmt == 10:  # AAC
        head["aac_packet_type"] = (1, 2)
        return head, 2
    return head, 1


def _media(type_id: int, body: bytes, rec: _Recorder) -> None:
    """Header fields get their bytes; every other field the parser reports came from the codec
    payload after the header, and gets that."""
    head, payload = (_video_layout if type_id == 9 else _audio_layout)(body)
    names = (parse_video if type_id == 9 else parse_audio)(body).json_fields()
    size = len(body)
    for name in names:
        where = head.get(name)
        if where is None and payload is not None and payload < size and name != "malformed":
            where = (payload, size)
        if where is not None and where[1] <= size:
            rec.add(name, where[0], where[0], where[1])


def field_spans(type_id: int, body: bytes | bytearray | memoryview) -> dict[FieldPath, Span]:
    """The body bytes of each field the Details tree shows for a message of ``type_id``, keyed
    by its path in ``json_fields()``; ``()`` is the whole body.  Fields with no bytes of their
    own (inside an AMF reference, a tagged value such as a date, an AMF3 vector) are absent:
    the bytes of the nearest field above them carry them.  Never raises."""
    data = body if type(body) is bytes else bytes(body)
    rec = _Recorder()
    if not data:
        return rec.spans
    rec.add("raw_head", 0, 0, min(len(data), _RAW_HEAD))
    if type_id in _COMMANDS or type_id in _DATA:
        _amf_message(type_id, data, rec)
    elif type_id in (8, 9):
        _media(type_id, data, rec)
    rec.spans[()] = Span(start=0, value_start=0, end=len(data))
    return rec.spans
