"""Rebuild AMF values from Wireshark's dissection of them, for ``--engine tshark``.

pyshark flattens a packet's fields per name (every ``amf.string`` together, every
``amf.number`` together) and so loses both the order and the nesting of AMF values.  Each field
still carries its byte position, though, and Wireshark reports the AMF type marker of every value
(``amf.amf0_type``) and the end of every object.  Sorted by position, the fields are a token stream
in encoding order, and the AMF0 grammar rebuilds the values from it: a type marker, then that
type's fields; an object's members are a name (a string with no type marker of its own) and a
value, up to the end marker.  The values are Wireshark's (its text for every number and string),
the structure is the encoding's, and the result has droidcap's AMF value mapping
(docs/protocol-notes.md), so it can be compared with the native decoder's value for value.

Standard library only; it never sees pyshark objects, only ``(position, field name, shown text)``
tokens.  What the grammar cannot place (a type Wireshark shows without its value — dates, AMF3)
ends the rebuild: :func:`values_from_tokens` returns the values before it and says it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from droidcap.rtmp.amf_types import UNDEFINED, UNSUPPORTED, number_value

__all__ = ["AMF_FIELDS", "Rebuilt", "values_from_tokens"]

Token = tuple[int, str, str]
"""(byte position, field name as tshark names it, the field's shown value)."""

AMF_FIELDS = frozenset({
    "amf.amf0_type", "amf.amf3_type", "amf.number", "amf.boolean", "amf.string", "amf.longstring",
    "amf.arraylength", "amf.end_of_object_marker", "amf.object_reference", "amf.classname",
    "amf.xml_doc", "amf.date",
})
"""The fields the rebuild reads; length fields and tree nodes (``amf.object``...) say nothing
the type markers do not."""

_MAX_DEPTH = 64
# Fields that may be empty, and so share their position with whatever follows them (an empty
# string value and the next member's type marker, an empty member name and its value's marker).
_MAYBE_EMPTY = frozenset({"amf.string", "amf.longstring", "amf.classname", "amf.xml_doc"})


def _order(token: Token) -> tuple[int, int]:
    return token[0], 0 if token[1] in _MAYBE_EMPTY else 1


class _Stop(Exception):
    """The tokens do not continue as the grammar expects."""


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """The values rebuilt, in order, and whether every token was accounted for."""

    values: list[Any]
    complete: bool


def values_from_tokens(tokens: Sequence[Token]) -> Rebuilt:
    """The AMF0 values a message body's tokens describe (see the module doc)."""
    ordered = sorted((t for t in tokens if t[1] in AMF_FIELDS), key=_order)
    reader = _Tokens(ordered)
    values: list[Any] = []
    try:
        while not reader.done():
            values.append(reader.value(0))
    except _Stop:
        return Rebuilt(values=values, complete=False)
    return Rebuilt(values=values, complete=True)


class _Tokens:
    __slots__ = ("_tokens", "_i")

    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._i = 0

    def done(self) -> bool:
        return self._i >= len(self._tokens)

    def _peek(self) -> str | None:
        return self._tokens[self._i][1] if self._i < len(self._tokens) else None

    def _take(self, name: str) -> str:
        if self._peek() != name:
            raise _Stop
        text = self._tokens[self._i][2]
        self._i += 1
        return text

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _Stop
        marker = int(self._take("amf.amf0_type"), 16)
        if marker == 0x00:
            return number_value(float(self._take("amf.number")))
        if marker == 0x01:
            return self._take("amf.boolean") not in ("0", "False", "false")
        if marker == 0x02:
            return self._take("amf.string")
        if marker == 0x03:
            return self._members(depth, {})
        if marker == 0x05:
            return None
        if marker == 0x06:
            return dict(UNDEFINED)
        if marker == 0x07:
            return {"$ref": int(self._take("amf.object_reference"))}
        if marker == 0x08:
            self._take("amf.arraylength")  # a hint only: the members run to the end marker
            return self._members(depth, {})
        if marker == 0x0A:
            count = int(self._take("amf.arraylength"))
            return [self.value(depth + 1) for _ in range(count)]
        if marker == 0x0C:
            return self._take("amf.longstring")
        if marker == 0x0D:
            return dict(UNSUPPORTED)
        if marker == 0x0F:
            return {"$xml": self._take("amf.xml_doc")}
        if marker == 0x10:
            return self._members(depth, {"$class": self._take("amf.classname")})
        raise _Stop  # date (shown as text, not milliseconds), AMF3, or unknown

    def _members(self, depth: int, out: dict[str, Any]) -> dict[str, Any]:
        while self._peek() != "amf.end_of_object_marker":
            name = self._take("amf.string")
            out[name] = self.value(depth + 1)
        self._i += 1
        return out
