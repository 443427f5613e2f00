"""AMF3 decoding and encoding — sans-IO, standard library only.

Decoded values are JSON-able (see :mod:`droidcap.rtmp.amf_types` and docs/protocol-notes.md):
integer (29-bit signed) → ``int``, double → number mapping of ``amf_types.number_value``,
string → ``str``, XML / XMLDocument → ``{"$xml": text}``, date → ``{"$date": ms}``, array → ``list``
(dense only), ``dict`` (associative only) or ``dict`` with ``"$dense": [...]`` (both), object →
``dict`` (``"$class"`` when typed), ByteArray → ``{"$bytes": hex of the first 256 bytes,
"$length": n}``, vectors → ``list``, Dictionary → ``list`` of ``[key, value]`` pairs.
Externalizable objects cannot be decoded without their class: :class:`AmfError`.

The string, object and traits reference tables live for one decode call (one RTMP message).
A reference to an object still being decoded (a cycle) gives ``{"$ref": index}``.  References to
complete objects give the same Python object again and count its size against ``max_items``; string
references count ``1 + len // 64`` items, so a small input cannot expand into a huge JSON output.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from typing import Any

from droidcap.errors import AmfError
from droidcap.rtmp.amf_types import BYTES_PREVIEW, EcmaArray, number_value

__all__ = ["AmfError", "decode_value", "decode_values", "encode_values"]

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ITEMS = 1_000_000

_unpack_double = struct.Struct(">d").unpack_from


class _Reader:
    __slots__ = (
        "data",
        "end",
        "max_depth",
        "max_items",
        "items",
        "strings",
        "objects",
        "object_sizes",
        "traits",
    )

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.end = len(data)
        self.max_depth = max_depth
        self.max_items = max_items
        self.items = 0
        self.strings: list[str] = []
        self.objects: list[Any] = []  # None while still being decoded
        self.object_sizes: list[int] = []
        self.traits: list[tuple[str, bool, list[str]]] = []

    # -- primitives ---------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self.items += n
        if self.items > self.max_items:
            raise AmfError(f"AMF3 data holds more than {self.max_items} values")

    def u29(self, o: int) -> tuple[int, int]:
        data = self.data
        end = self.end
        if o < end and data[o] < 0x80:  # one-byte fast path (most lengths and references)
            return data[o], o + 1
        result = 0
        for _ in range(3):
            if o >= end:
                raise AmfError(f"AMF3 U29 integer truncated at offset {o}")
            b = data[o]
            o += 1
            if b < 0x80:
                return (result << 7) | b, o
            result = (result << 7) | (b & 0x7F)
        if o >= end:
            raise AmfError(f"AMF3 U29 integer truncated at offset {o}")
        return (result << 8) | data[o], o + 1

    def _bytes(self, o: int, n: int, what: str) -> int:
        e = o + n
        if e > self.end:
            raise AmfError(f"AMF3 {what} of {n} bytes at offset {o}, only {self.end - o} left")
        return e

    def string(self, o: int) -> tuple[str, int]:
        """UTF-8-vr: an inline string or a string reference."""
        data = self.data
        if o < self.end and data[o] < 0x80:
            h = data[o]
            o += 1
        else:
            h, o = self.u29(o)
        if not h & 1:
            index = h >> 1
            if index >= len(self.strings):
                raise AmfError(
                    f"AMF3 string reference {index} at offset {o}: "
                    f"only {len(self.strings)} strings so far"
                )
            s = self.strings[index]
            self._count(len(s) >> 6)
            return s, o
        n = h >> 1
        e = o + n
        if e > self.end:
            raise AmfError(f"AMF3 string of {n} bytes at offset {o}, only {self.end - o} left")
        if n == 0:
            return "", e
        s = data[o:e].decode("utf-8", "replace")
        self.strings.append(s)
        return s, e

    def _object_ref(self, h: int, o: int) -> Any:
        index = h >> 1
        if index >= len(self.objects):
            raise AmfError(
                f"AMF3 object reference {index} at offset {o}: "
                f"only {len(self.objects)} objects so far"
            )
        target = self.objects[index]
        if target is None:
            return {"$ref": index}
        self._count(self.object_sizes[index])
        return target

    def _open(self, o: int, depth: int) -> int:
        if depth > self.max_depth:
            raise AmfError(f"AMF3 values nested deeper than {self.max_depth} at offset {o}")
        self.objects.append(None)
        self.object_sizes.append(0)
        return len(self.objects) - 1

    def _close(self, index: int, value: Any, first_item: int) -> None:
        self.objects[index] = value
        self.object_sizes[index] = self.items - first_item + 1

    # -- values -------------------------------------------------------------------------------

    def value(self, o: int, depth: int) -> tuple[Any, int]:
        if o >= self.end:
            raise AmfError(f"AMF3 value expected at offset {o}, data ends")
        m = self.data[o]
        o += 1
        self.items += 1
        if self.items > self.max_items:
            raise AmfError(f"AMF3 data holds more than {self.max_items} values")
        if m == 0x06:
            return self.string(o)
        if m == 0x04:
            n, o = self.u29(o)
            return (n - 0x20000000 if n & 0x10000000 else n), o
        if m == 0x05:
            if o + 8 > self.end:
                raise AmfError(f"AMF3 double at offset {o} truncated")
            return number_value(_unpack_double(self.data, o)[0]), o + 8
        if m == 0x01:
            return None, o
        if m == 0x02:
            return False, o
        if m == 0x03:
            return True, o
        if m == 0x00:
            return {"$undefined": True}, o
        if m == 0x0A:
            return self.object(o, depth + 1)
        if m == 0x09:
            return self.array(o, depth + 1)
        if m == 0x07 or m == 0x0B:
            h, o = self.u29(o)
            if not h & 1:
                return self._object_ref(h, o), o
            n = h >> 1
            e = self._bytes(o, n, "XML")
            v: dict[str, Any] = {"$xml": self.data[o:e].decode("utf-8", "replace")}
            self.objects.append(v)
            self.object_sizes.append(1)
            return v, e
        if m == 0x08:
            h, o = self.u29(o)
            if not h & 1:
                return self._object_ref(h, o), o
            if o + 8 > self.end:
                raise AmfError(f"AMF3 date at offset {o} truncated")
            v = {"$date": number_value(_unpack_double(self.data, o)[0])}
            self.objects.append(v)
            self.object_sizes.append(1)
            return v, o + 8
        if m == 0x0C:
            h, o = self.u29(o)
            if not h & 1:
                return self._object_ref(h, o), o
            n = h >> 1
            e = self._bytes(o, n, "ByteArray")
            v = {"$bytes": self.data[o : o + min(n, BYTES_PREVIEW)].hex(), "$length": n}
            self.objects.append(v)
            self.object_sizes.append(1 + min(n, BYTES_PREVIEW) // 32)
            return v, e
        if 0x0D <= m <= 0x10:
            return self.vector(m, o, depth + 1)
        if m == 0x11:
            return self.dictionary(o, depth + 1)
        raise AmfError(f"AMF3 unknown type marker 0x{m:02x} at offset {o - 1}")

    def array(self, o: int, depth: int) -> tuple[Any, int]:
        h, o = self.u29(o)
        if not h & 1:
            return self._object_ref(h, o), o
        count = h >> 1
        index = self._open(o, depth)
        first_item = self.items
        assoc: dict[str, Any] = {}
        o = self.dynamic_members(o, depth, assoc)
        if count > self.end - o:
            raise AmfError(
                f"AMF3 array of {count} values at offset {o}, only {self.end - o} bytes left"
            )
        dense: list[Any] = []
        for _ in range(count):
            v, o = self.value(o, depth)
            dense.append(v)
        result: Any
        if not assoc:
            result = dense
        elif not dense:
            result = assoc
        else:
            assoc["$dense"] = dense
            result = assoc
        self._close(index, result, first_item)
        return result, o

    def object(self, o: int, depth: int) -> tuple[Any, int]:
        start = o - 1
        h, o = self.u29(o)
        if not h & 1:
            return self._object_ref(h, o), o
        if not h & 2:
            ti = h >> 2
            if ti >= len(self.traits):
                raise AmfError(
                    f"AMF3 traits reference {ti} at offset {start}: "
                    f"only {len(self.traits)} traits so far"
                )
            class_name, dynamic, members = self.traits[ti]
        else:
            externalizable = bool(h & 4)
            class_name, o = self.string(o)
            if externalizable:
                raise AmfError(f"AMF3 cannot decode externalizable class {class_name!r}")
            dynamic = bool(h & 8)
            n_sealed = h >> 4
            if n_sealed > self.end - o:
                raise AmfError(
                    f"AMF3 object with {n_sealed} sealed members at offset {start}, "
                    f"only {self.end - o} bytes left"
                )
            members = []
            for _ in range(n_sealed):
                name, o = self.string(o)
                members.append(name)
            self.traits.append((class_name, dynamic, members))
        index = self._open(o, depth)
        first_item = self.items
        out: dict[str, Any] = {"$class": class_name} if class_name else {}
        if members:
            o = self.sealed_members(o, depth, out, members)
        if dynamic:
            o = self.dynamic_members(o, depth, out)
        self._close(index, out, first_item)
        return out, o

    # The member loops are methods of their own so that droidcap.rtmp.spans can note where each
    # member sits (AMF3 is rare on RTMP: the extra call costs nothing that matters).

    def sealed_members(self, o: int, depth: int, out: dict[str, Any], names: list[str]) -> int:
        """The values of an object's sealed members, in the order of its traits."""
        for name in names:
            out[name], o = self.value(o, depth)
        return o

    def dynamic_members(self, o: int, depth: int, out: dict[str, Any]) -> int:
        """Key/value pairs up to the empty-string key: an object's dynamic members, or the
        associative part of an array."""
        while True:
            key, o = self.string(o)
            if key == "":
                return o
            out[key], o = self.value(o, depth)

    def vector(self, m: int, o: int, depth: int) -> tuple[Any, int]:
        h, o = self.u29(o)
        if not h & 1:
            return self._object_ref(h, o), o
        count = h >> 1
        if o >= self.end:
            raise AmfError(f"AMF3 vector at offset {o} truncated")
        o += 1  # fixed-vector flag
        index = self._open(o, depth)
        first_item = self.items
        out: list[Any]
        if m == 0x10:
            _type_name, o = self.string(o)
            if count > self.end - o:
                raise AmfError(
                    f"AMF3 object vector of {count} at offset {o}, only {self.end - o} bytes left"
                )
            out = []
            for _ in range(count):
                v, o = self.value(o, depth)
                out.append(v)
        else:
            size = 8 if m == 0x0F else 4
            e = self._bytes(o, count * size, "vector")
            self._count(count)
            fmt = {0x0D: "i", 0x0E: "I", 0x0F: "d"}[m]
            out = list(struct.unpack_from(f">{count}{fmt}", self.data, o))
            if m == 0x0F:
                out = [number_value(x) for x in out]
            o = e
        self._close(index, out, first_item)
        return out, o

    def dictionary(self, o: int, depth: int) -> tuple[Any, int]:
        h, o = self.u29(o)
        if not h & 1:
            return self._object_ref(h, o), o
        count = h >> 1
        if o >= self.end:
            raise AmfError(f"AMF3 dictionary at offset {o} truncated")
        o += 1  # weak-keys flag
        if count > (self.end - o) // 2:
            raise AmfError(
                f"AMF3 dictionary of {count} entries at offset {o}, only {self.end - o} bytes left"
            )
        index = self._open(o, depth)
        first_item = self.items
        out: list[Any] = []
        for _ in range(count):
            k, o = self.value(o, depth)
            v, o = self.value(o, depth)
            out.append([k, v])
        self._close(index, out, first_item)
        return out, o


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


def decode_values(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> list[Any]:
    """Decode consecutive AMF3 values until the end of ``data``, sharing one set of reference
    tables.  Raises :class:`AmfError` on malformed, truncated, too deep or too large input."""
    r = _Reader(_as_bytes(data), max_depth, max_items)
    out: list[Any] = []
    o = 0
    try:
        while o < r.end:
            v, o = r.value(o, 0)
            out.append(v)
    except RecursionError:
        raise AmfError("AMF3 values nested too deeply for the Python stack") from None
    return out


def decode_value(
    data: bytes | bytearray | memoryview,
    offset: int = 0,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> tuple[Any, int]:
    """Decode one AMF3 value at ``offset`` (fresh reference tables); return it and the offset
    just past it."""
    if offset < 0:
        raise AmfError(f"AMF3 offset {offset} is negative")
    r = _Reader(_as_bytes(data), max_depth, max_items)
    try:
        return r.value(offset, 0)
    except RecursionError:
        raise AmfError("AMF3 values nested too deeply for the Python stack") from None


# --------------------------------------------------------------------------------------------
# Encoding (for building test messages).  Strings are written by reference after their first
# use, so the encoder exercises the decoder's string table; objects are always written inline.

_pack_double = struct.Struct(">d").pack


def _u29(n: int) -> bytes:
    if n < 0 or n >= 1 << 29:
        raise AmfError(f"AMF3 encode: {n} does not fit a U29")
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return bytes(((n >> 7) | 0x80, n & 0x7F))
    if n < 0x200000:
        return bytes(((n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F))
    return bytes(((n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80, n & 0xFF))


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.strings: dict[str, int] = {}
        self.n_objects = 0

    def string(self, s: str) -> None:
        if s == "":
            self.parts.append(b"\x01")
            return
        index = self.strings.get(s)
        if index is not None:
            self.parts.append(_u29(index << 1))
            return
        self.strings[s] = len(self.strings)
        b = s.encode("utf-8", "surrogatepass")
        self.parts.append(_u29((len(b) << 1) | 1))
        self.parts.append(b)

    def value(self, v: Any, depth: int = 0) -> None:
        if depth > 1000:
            raise AmfError("AMF3 encode: value nested too deeply (cyclic?)")
        depth += 1
        p = self.parts
        if v is None:
            p.append(b"\x01")
        elif v is False:
            p.append(b"\x02")
        elif v is True:
            p.append(b"\x03")
        elif isinstance(v, int) and -(1 << 28) <= v < (1 << 28):
            p.append(b"\x04" + _u29(v & 0x1FFFFFFF))
        elif isinstance(v, (int, float)):
            try:
                p.append(b"\x05" + _pack_double(float(v)))
            except OverflowError:
                raise AmfError(f"AMF3 encode: {v} does not fit a double") from None
        elif isinstance(v, str):
            p.append(b"\x06")
            self.string(v)
        elif isinstance(v, (bytes, bytearray)):
            p.append(b"\x0c" + _u29((len(v) << 1) | 1) + bytes(v))
            self.n_objects += 1
        elif isinstance(v, (list, tuple)):
            p.append(b"\x09" + _u29((len(v) << 1) | 1) + b"\x01")
            self.n_objects += 1
            for item in v:
                self.value(item, depth)
        elif isinstance(v, _dt.datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=_dt.UTC)
            p.append(b"\x08\x01" + _pack_double(v.timestamp() * 1000.0))
            self.n_objects += 1
        elif isinstance(v, dict):
            self.dict_value(v, depth)
        else:
            raise AmfError(f"AMF3 encode: cannot encode {type(v).__name__}")

    def dict_value(self, v: dict[Any, Any], depth: int) -> None:
        p = self.parts
        if len(v) == 1:
            if v.get("$undefined") is True:
                p.append(b"\x00")
                return
            if "$date" in v:
                ms = v["$date"]
                if isinstance(ms, str):
                    ms = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[ms]
                p.append(b"\x08\x01" + _pack_double(float(ms)))
                self.n_objects += 1
                return
            if "$xml" in v:
                b = str(v["$xml"]).encode("utf-8", "surrogatepass")
                p.append(b"\x0b" + _u29((len(b) << 1) | 1) + b)
                self.n_objects += 1
                return
            if "$ref" in v:
                p.append(b"\x0a" + _u29(int(v["$ref"]) << 1))
                return
        if "$dense" in v or isinstance(v, EcmaArray):
            dense = v.get("$dense", [])
            p.append(b"\x09" + _u29((len(dense) << 1) | 1))
            self.n_objects += 1
            for k, item in v.items():
                if k == "$dense" or k == "":
                    continue
                self.string(str(k))
                self.value(item, depth)
            p.append(b"\x01")
            for item in dense:
                self.value(item, depth)
            return
        # anonymous (or typed, with "$class") dynamic object, no sealed members
        p.append(b"\x0a\x0b")
        self.n_objects += 1
        self.string(str(v.get("$class", "")))
        for k, item in v.items():
            if k == "$class" or k == "":
                continue
            self.string(str(k))
            self.value(item, depth)
        p.append(b"\x01")


def encode_values(*values: Any) -> bytes:
    """Encode ``values`` as consecutive AMF3 values sharing one string table.

    ``None`` → null, ``bool`` → false/true, ``int`` in the 29-bit range → integer, other numbers →
    double, ``str`` → string, ``bytes`` → ByteArray, ``list``/``tuple`` → dense array, ``dict`` →
    anonymous dynamic object (typed with ``"$class"``; an array with a ``"$dense"`` list or as an
    :class:`EcmaArray`), ``datetime``/``{"$date": ms}`` → date, ``{"$xml": text}`` → XML,
    ``{"$undefined": True}`` → undefined, ``{"$ref": index}`` → object reference.
    Empty-string keys cannot be written (the empty string ends a dynamic member list).
    """
    w = _Writer()
    for v in values:
        w.value(v)
    return b"".join(w.parts)
