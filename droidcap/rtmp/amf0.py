"""AMF0 (Action Message Format, version 0) decoding and encoding — sans-IO, standard library only.

Decoded values are JSON-able (see :mod:`droidcap.rtmp.amf_types` and docs/protocol-notes.md).
Hostile input is bounded: nesting deeper than ``max_depth`` and more than ``max_items`` decoded
values (references count the size of what they point at) raise :class:`AmfError`, and no length
field is trusted before the bytes it announces are known to be there.

The reference table (marker 0x07) and the AMF3 tables behind marker 0x11 live for one
:func:`decode_values` / :func:`decode_value` call: one RTMP message.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from typing import Any

from droidcap.errors import AmfError
from droidcap.rtmp.amf_types import EcmaArray, number_value

__all__ = ["AmfError", "Avmplus", "decode_value", "decode_values", "encode_values"]

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ITEMS = 1_000_000

_unpack_double = struct.Struct(">d").unpack_from
_unpack_u16 = struct.Struct(">H").unpack_from
_unpack_u32 = struct.Struct(">I").unpack_from
_unpack_date = struct.Struct(">dh").unpack_from

_MARKER_NAMES = {
    0x04: "movieclip",
    0x09: "object-end",
    0x0E: "recordset",
}


class Avmplus:
    """Wrap a value so :func:`encode_values` writes it as AMF3 behind the 0x11 marker."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Avmplus({self.value!r})"


class _Reader:
    __slots__ = ("data", "end", "max_depth", "max_items", "items", "refs", "ref_sizes", "amf3")

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.end = len(data)
        self.max_depth = max_depth
        self.max_items = max_items
        self.items = 0
        self.refs: list[Any] = []  # None while the object is still being decoded
        self.ref_sizes: list[int] = []
        self.amf3: Any = None

    def _need(self, offset: int, n: int, what: str) -> None:
        if offset + n > self.end:
            raise AmfError(
                f"AMF0 {what} at offset {offset} needs {n} bytes, only {self.end - offset} left"
            )

    def _count(self, n: int = 1) -> None:
        self.items += n
        if self.items > self.max_items:
            raise AmfError(f"AMF0 data holds more than {self.max_items} values")

    def string(self, o: int, n: int, what: str) -> tuple[str, int]:
        e = o + n
        if e > self.end:
            raise AmfError(
                f"AMF0 {what} of {n} bytes at offset {o}, only {self.end - o} bytes left"
            )
        return self.data[o:e].decode("utf-8", "replace"), e

    def value(self, o: int, depth: int) -> tuple[Any, int]:
        data = self.data
        if o >= self.end:
            raise AmfError(f"AMF0 value expected at offset {o}, data ends")
        m = data[o]
        o += 1
        self.items += 1
        if self.items > self.max_items:
            raise AmfError(f"AMF0 data holds more than {self.max_items} values")
        if m == 0x02:
            if o + 2 > self.end:
                self._need(o, 2, "string length")
            n = (data[o] << 8) | data[o + 1]
            return self.string(o + 2, n, "string")
        if m == 0x00:
            if o + 8 > self.end:
                self._need(o, 8, "number")
            return number_value(_unpack_double(data, o)[0]), o + 8
        if m == 0x03:
            return self.properties(o, depth, {}, "object")
        if m == 0x05:
            return None, o
        if m == 0x01:
            self._need(o, 1, "boolean")
            return data[o] != 0, o + 1
        if m == 0x08:
            self._need(o, 4, "ECMA array count")
            (count,) = _unpack_u32(data, o)
            return self.properties(o + 4, depth, {}, "ECMA array", count)
        if m == 0x0A:
            return self.strict_array(o, depth)
        if m == 0x06:
            return {"$undefined": True}, o
        if m == 0x0C:
            self._need(o, 4, "long string length")
            (n,) = _unpack_u32(data, o)
            return self.string(o + 4, n, "long string")
        if m == 0x0B:
            self._need(o, 10, "date")
            ms, tz = _unpack_date(data, o)
            return {"$date": number_value(ms), "tz": tz}, o + 10
        if m == 0x10:
            self._need(o, 2, "typed object class name length")
            (n,) = _unpack_u16(data, o)
            name, o = self.string(o + 2, n, "typed object class name")
            return self.properties(o, depth, {"$class": name}, "typed object")
        if m == 0x07:
            self._need(o, 2, "reference")
            (index,) = _unpack_u16(data, o)
            if index >= len(self.refs):
                raise AmfError(
                    f"AMF0 reference {index} at offset {o - 1}: "
                    f"only {len(self.refs)} objects so far"
                )
            target = self.refs[index]
            if target is None:  # a cycle: the object is still being decoded
                return {"$ref": index}, o + 2
            self._count(self.ref_sizes[index])
            return target, o + 2
        if m == 0x0F:
            self._need(o, 4, "XML document length")
            (n,) = _unpack_u32(data, o)
            text, o = self.string(o + 4, n, "XML document")
            return {"$xml": text}, o
        if m == 0x0D:
            return {"$unsupported": True}, o
        if m == 0x11:
            return self.avmplus(o, depth)
        marker = _MARKER_NAMES.get(m)
        if marker is not None:
            raise AmfError(f"AMF0 {marker} marker 0x{m:02x} at offset {o - 1} is not a value")
        raise AmfError(f"AMF0 unknown type marker 0x{m:02x} at offset {o - 1}")

    def open_container(self, o: int, depth: int) -> tuple[int, int, int]:
        """Enter an object or array at ``o``: its depth (checked), its slot in the reference
        table (filled by :meth:`close_container`, so a reference to it inside itself fails), and
        the item count before it."""
        depth += 1
        if depth > self.max_depth:
            raise AmfError(f"AMF0 values nested deeper than {self.max_depth} at offset {o}")
        self.refs.append(None)
        self.ref_sizes.append(0)
        return depth, len(self.refs) - 1, self.items

    def close_container(self, index: int, first_item: int, out: Any) -> None:
        """The container is whole: references to it now resolve, counting its items again."""
        self.refs[index] = out
        self.ref_sizes[index] = self.items - first_item + 1

    def properties(
        self, o: int, depth: int, out: dict[str, Any], what: str, count: int = -1
    ) -> tuple[dict[str, Any], int]:
        depth, index, first_item = self.open_container(o, depth)
        data = self.data
        end = self.end
        n_props = 0
        while True:
            if o + 2 > end:
                if o == end and 0 < count <= n_props:
                    break  # ECMA array without its end marker (seen from some encoders)
                raise AmfError(f"AMF0 {what} at offset {o} is truncated (no object-end marker)")
            n = (data[o] << 8) | data[o + 1]
            o += 2
            if n == 0 and o < end and data[o] == 0x09:
                o += 1
                break
            if o + n > end:
                raise AmfError(f"AMF0 {what} key of {n} bytes at offset {o}, only {end - o} left")
            key = data[o : o + n].decode("utf-8", "replace")
            o += n
            # fast paths for the common scalar members (same checks as value())
            m = data[o] if o < end else -1
            if m == 0x02 and o + 3 <= end:
                n = (data[o + 1] << 8) | data[o + 2]
                e = o + 3 + n
                if e > end:
                    raise AmfError(
                        f"AMF0 string of {n} bytes at offset {o + 3}, only {end - o - 3} bytes left"
                    )
                out[key] = data[o + 3 : e].decode("utf-8", "replace")
                o = e
                self.items += 1
            elif m == 0x00 and o + 9 <= end:
                out[key] = number_value(_unpack_double(data, o + 1)[0])
                o += 9
                self.items += 1
            elif m == 0x01 and o + 2 <= end:
                out[key] = data[o + 1] != 0
                o += 2
                self.items += 1
            else:
                out[key], o = self.value(o, depth)
            if self.items > self.max_items:
                raise AmfError(f"AMF0 data holds more than {self.max_items} values")
            n_props += 1
        self.close_container(index, first_item, out)
        return out, o

    def strict_array(self, o: int, depth: int) -> tuple[list[Any], int]:
        self._need(o, 4, "strict array count")
        (count,) = _unpack_u32(self.data, o)
        o += 4
        if count > self.end - o:  # every value takes at least one byte
            raise AmfError(
                f"AMF0 strict array of {count} values at offset {o - 5}, "
                f"only {self.end - o} bytes left"
            )
        depth, index, first_item = self.open_container(o, depth)
        out: list[Any] = []
        append = out.append
        value = self.value
        for _ in range(count):
            v, o = value(o, depth)
            append(v)
        self.close_container(index, first_item, out)
        return out, o

    def avmplus(self, o: int, depth: int) -> tuple[Any, int]:
        from droidcap.rtmp import amf3

        self.items -= 1  # the 0x11 marker itself is not a value
        if self.amf3 is None:
            self.amf3 = amf3._Reader(self.data, self.max_depth, self.max_items)
        r3 = self.amf3
        r3.items = self.items
        v, o = r3.value(o, depth)
        self.items = r3.items
        return v, o


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


def decode_values(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> list[Any]:
    """Decode consecutive AMF0 values until the end of ``data``.

    Raises :class:`AmfError` on malformed, truncated, too deeply nested (``max_depth``) or too
    large (``max_items`` values in all) input; never anything else.
    """
    r = _Reader(_as_bytes(data), max_depth, max_items)
    out: list[Any] = []
    o = 0
    end = r.end
    try:
        while o < end:
            v, o = r.value(o, 0)
            out.append(v)
    except RecursionError:
        raise AmfError("AMF0 values nested too deeply for the Python stack") from None
    return out


def decode_value(
    data: bytes | bytearray | memoryview,
    offset: int = 0,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> tuple[Any, int]:
    """Decode one AMF0 value at ``offset``; return it and the offset just past it.

    Each call has its own reference table: use :func:`decode_values` for a whole message whose
    later values may refer back to earlier ones.
    """
    r = _Reader(_as_bytes(data), max_depth, max_items)
    if offset < 0:
        raise AmfError(f"AMF0 offset {offset} is negative")
    try:
        return r.value(offset, 0)
    except RecursionError:
        raise AmfError("AMF0 values nested too deeply for the Python stack") from None


# --------------------------------------------------------------------------------------------
# Encoding (used to build RTMP messages in tests and tools)

_pack_double = struct.Struct(">d").pack
_pack_u16 = struct.Struct(">H").pack
_pack_u32 = struct.Struct(">I").pack


def _number(x: float | int | str) -> float:
    if isinstance(x, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[x]
    return float(x)


def _enc_utf8(parts: list[bytes], s: str) -> None:
    b = s.encode("utf-8", "surrogatepass")
    if len(b) > 0xFFFF:
        raise AmfError(f"AMF0 key/class name of {len(b)} bytes is longer than 65535")
    parts.append(_pack_u16(len(b)))
    parts.append(b)


def _enc_props(parts: list[bytes], value: dict[Any, Any], depth: int) -> None:
    for k, v in value.items():
        if k == "$class":
            continue
        _enc_utf8(parts, str(k))
        _enc(parts, v, depth)
    parts.append(b"\x00\x00\x09")


def _enc(parts: list[bytes], v: Any, depth: int) -> None:
    if depth > 1000:
        raise AmfError("AMF0 encode: value nested too deeply (cyclic?)")
    depth += 1
    if v is None:
        parts.append(b"\x05")
    elif v is True:
        parts.append(b"\x01\x01")
    elif v is False:
        parts.append(b"\x01\x00")
    elif isinstance(v, (int, float)):
        try:
            parts.append(b"\x00" + _pack_double(float(v)))
        except OverflowError:
            raise AmfError(f"AMF0 encode: {v} does not fit a double") from None
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        if len(b) <= 0xFFFF:
            parts.append(b"\x02" + _pack_u16(len(b)))
        else:
            parts.append(b"\x0c" + _pack_u32(len(b)))
        parts.append(b)
    elif isinstance(v, EcmaArray):
        parts.append(b"\x08" + _pack_u32(len(v)))
        _enc_props(parts, v, depth)
    elif isinstance(v, dict):
        if len(v) <= 2:
            if v.get("$undefined") is True and len(v) == 1:
                parts.append(b"\x06")
                return
            if "$date" in v and set(v) <= {"$date", "tz"}:
                parts.append(
                    b"\x0b" + _pack_double(_number(v["$date"])) + struct.pack(">h", v.get("tz", 0))
                )
                return
            if "$xml" in v and len(v) == 1:
                b = str(v["$xml"]).encode("utf-8", "surrogatepass")
                parts.append(b"\x0f" + _pack_u32(len(b)))
                parts.append(b)
                return
            if v.get("$unsupported") is True and len(v) == 1:
                parts.append(b"\x0d")
                return
            if "$ref" in v and len(v) == 1:
                parts.append(b"\x07" + _pack_u16(int(v["$ref"])))
                return
        if "$class" in v:
            parts.append(b"\x10")
            _enc_utf8(parts, str(v["$class"]))
        else:
            parts.append(b"\x03")
        _enc_props(parts, v, depth)
    elif isinstance(v, (list, tuple)):
        parts.append(b"\x0a" + _pack_u32(len(v)))
        for item in v:
            _enc(parts, item, depth)
    elif isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        parts.append(b"\x0b" + _pack_double(v.timestamp() * 1000.0) + b"\x00\x00")
    elif isinstance(v, Avmplus):
        from droidcap.rtmp import amf3

        parts.append(b"\x11" + amf3.encode_values(v.value))
    else:
        raise AmfError(f"AMF0 encode: cannot encode {type(v).__name__}")


def encode_values(*values: Any) -> bytes:
    """Encode ``values`` as consecutive AMF0 values.

    ``None`` → null, ``bool`` → boolean, ``int``/``float`` → number, ``str`` → string (long string
    past 65535 UTF-8 bytes), ``dict`` → object (typed object with a ``"$class"`` key),
    :class:`EcmaArray` → ECMA array, ``list``/``tuple`` → strict array, ``datetime`` or
    ``{"$date": ms, "tz": minutes}`` → date, ``{"$undefined": True}`` → undefined,
    ``{"$xml": text}`` → XML document, ``{"$unsupported": True}`` → unsupported,
    ``{"$ref": index}`` → reference, :class:`Avmplus` → 0x11 + AMF3.
    """
    parts: list[bytes] = []
    for v in values:
        _enc(parts, v, 0)
    return b"".join(parts)
