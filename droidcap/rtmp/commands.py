"""AMF-carrying messages: commands (20/17), data (18/15) and shared objects (19/16).

The AMF value codecs belong to :mod:`droidcap.rtmp.amf0` / :mod:`droidcap.rtmp.amf3`; this module
only knows how RTMP frames AMF values into messages.  The AMF3 message types (17, 15, 16) start
with one format byte (0) followed by AMF0 values that may switch to AMF3 through the 0x11 marker,
which the AMF0 decoder handles; a body without that byte is decoded as pure AMF3.

Errors surface as :class:`~droidcap.rtmp.control.BodyError` or :class:`~droidcap.errors.AmfError`;
the message layer turns both into a ``Malformed`` body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from droidcap.rtmp import amf0, amf3
from droidcap.rtmp.control import BodyError

__all__ = [
    "SHARED_OBJECT_EVENTS",
    "Command",
    "Data",
    "SharedObject",
    "parse_command",
    "parse_data",
    "parse_shared_object",
]

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """``command`` name, ``transaction_id``, then ``args``: the command object (often null)
    first, then the remaining arguments."""

    command: str
    transaction_id: Any
    args: list[Any]

    def json_fields(self) -> dict[str, Any]:
        return {"command": self.command, "transaction_id": self.transaction_id, "args": self.args}


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """A data message: ``name`` ("@setDataFrame", "onMetaData", "|RtmpSampleAccess", ...) and the
    values after it."""

    name: str
    values: list[Any]

    def json_fields(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values}


SHARED_OBJECT_EVENTS: dict[int, str] = {
    1: "use",
    2: "release",
    3: "request_change",
    4: "change",
    5: "success",
    6: "send_message",
    7: "status",
    8: "clear",
    9: "remove",
    10: "request_remove",
    11: "use_success",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedObject:
    """A shared object message.  ``so_events`` are dicts with ``type`` (name), ``type_id`` and,
    when the event has data, ``data``: a name→value dict for (request_)change, a name for
    success/remove/request_remove, the AMF values for send_message/status, hex otherwise."""

    so_name: str
    so_version: int
    persistent: bool
    so_events: list[dict[str, Any]]

    def json_fields(self) -> dict[str, Any]:
        return {
            "so_name": self.so_name,
            "so_version": self.so_version,
            "persistent": self.persistent,
            "so_events": self.so_events,
        }


def _values(body: bytes | bytearray, amf3_format: bool) -> list[Any]:
    if amf3_format:
        if body[:1] == b"\x00":
            return amf0.decode_values(memoryview(body)[1:])
        return amf3.decode_values(body)
    return amf0.decode_values(body)


def parse_command(body: bytes | bytearray, *, amf3_format: bool = False) -> Command:
    values = _values(body, amf3_format)
    if len(values) < 2 or not isinstance(values[0], str):
        raise BodyError("command does not start with a name string and a transaction id")
    return Command(command=values[0], transaction_id=values[1], args=values[2:])


def parse_data(body: bytes | bytearray, *, amf3_format: bool = False) -> Data:
    values = _values(body, amf3_format)
    if not values or not isinstance(values[0], str):
        raise BodyError("data message does not start with a name string")
    return Data(name=values[0], values=values[1:])


def _utf8(body: bytes | bytearray, o: int, what: str) -> tuple[str, int]:
    if o + 2 > len(body):
        raise BodyError(f"shared object {what} length runs past the body")
    n = _U16(body, o)[0]
    o += 2
    if o + n > len(body):
        raise BodyError(f"shared object {what} of {n} bytes runs past the body")
    return body[o : o + n].decode("utf-8", "replace"), o + n


def _event_data(kind: int, data: bytes | bytearray) -> Any:
    if kind in (3, 4):  # name/value pairs
        pairs: dict[str, Any] = {}
        o = 0
        while o < len(data):
            name, o = _utf8(data, o, "property name")
            value, o = amf0.decode_value(data, o)
            pairs[name] = value
        return pairs
    if kind in (5, 9, 10):
        return _utf8(data, 0, "property name")[0]
    if kind in (6, 7):
        return amf0.decode_values(data)
    return data.hex()


def parse_shared_object(body: bytes | bytearray, *, amf3_format: bool = False) -> SharedObject:
    if amf3_format and body[:1] == b"\x00":
        body = body[1:]
    name, o = _utf8(body, 0, "name")
    if o + 12 > len(body):
        raise BodyError("shared object header (version, flags) runs past the body")
    version, flags = _U32(body, o)[0], _U32(body, o + 4)[0]
    o += 12
    events: list[dict[str, Any]] = []
    while o < len(body):
        if o + 5 > len(body):
            raise BodyError("shared object event header runs past the body")
        kind, size = body[o], _U32(body, o + 1)[0]
        o += 5
        if o + size > len(body):
            raise BodyError(f"shared object event of {size} bytes runs past the body")
        event: dict[str, Any] = {
            "type": SHARED_OBJECT_EVENTS.get(kind, "unknown"),
            "type_id": kind,
        }
        if size:
            event["data"] = _event_data(kind, body[o : o + size])
        events.append(event)
        o += size
    return SharedObject(so_name=name, so_version=version, persistent=flags == 2, so_events=events)
