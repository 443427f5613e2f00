"""From a reassembled message (type id + body bytes) to a typed body object.

Chunk framing never depends on a body, so a body that does not parse is reported as
:class:`Malformed` and decoding goes on with the next message.  Aggregate messages (22) are split
into their FLV-tag-like sub-messages by :func:`split_aggregate`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from droidcap.errors import AmfError
from droidcap.rtmp import commands, control, media
from droidcap.rtmp.events import Body

__all__ = ["Aggregate", "AggregatePart", "Malformed", "Unknown", "parse_body", "split_aggregate"]

_HEAD = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Malformed:
    """A body that does not parse as its type says; ``raw_head`` is the hex of its first 32
    bytes."""

    reason: str
    raw_head: str

    def json_fields(self) -> dict[str, Any]:
        return {"malformed": self.reason, "raw_head": self.raw_head}


@dataclass(frozen=True, slots=True, kw_only=True)
class Unknown:
    """A message type this decoder has no parser for."""

    raw_length: int
    raw_head: str

    def json_fields(self) -> dict[str, Any]:
        return {"raw_length": self.raw_length, "raw_head": self.raw_head}


def _amf3(parse: Callable[..., Body]) -> Callable[[bytes | bytearray], Body]:
    return lambda body: parse(body, amf3_format=True)


_PARSERS: dict[int, Callable[[bytes | bytearray], Body]] = {
    1: control.parse_set_chunk_size,
    2: control.parse_abort,
    3: control.parse_acknowledgement,
    4: control.parse_user_control,
    5: control.parse_window_ack_size,
    6: control.parse_set_peer_bandwidth,
    8: media.parse_audio,
    9: media.parse_video,
    15: _amf3(commands.parse_data),
    16: _amf3(commands.parse_shared_object),
    17: _amf3(commands.parse_command),
    18: commands.parse_data,
    19: commands.parse_shared_object,
    20: commands.parse_command,
}


def parse_body(type_id: int, body: bytes | bytearray) -> Body:
    """The typed body of a message of ``type_id`` (never raises).  Aggregates (22) are not
    parsed here: the decoder splits them with :func:`split_aggregate`."""
    parse = _PARSERS.get(type_id)
    if parse is None:
        return Unknown(raw_length=len(body), raw_head=body[:_HEAD].hex())
    try:
        return parse(body)
    except (control.BodyError, AmfError) as exc:
        return Malformed(reason=str(exc), raw_head=body[:_HEAD].hex())


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregate:
    """The body of an aggregate message (22) as the wire carries it: one message, whose
    ``sub_messages`` the decoder reports after it, each marked ``aggregate``.

    ``malformed`` says why the body ended badly (the sub-messages before that point still
    stand); ``raw_head`` is then the hex of its first 32 bytes."""

    sub_messages: int
    malformed: str | None = None
    raw_head: str | None = None

    def json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sub_messages": self.sub_messages}
        if self.malformed is not None:
            out["malformed"] = self.malformed
            out["raw_head"] = self.raw_head
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregatePart:
    """One sub-message of an aggregate, its timestamp already rebased."""

    type_id: int
    timestamp: int
    body: bytes | bytearray


_TAG = struct.Struct(">BHBHBB3x")  # type, size (hi16, lo8), ts (hi16, lo8), ts extension, sid
_TAG_SIZE = 11
_BACK_POINTER = 4


def split_aggregate(
    body: bytes | bytearray, timestamp: int
) -> tuple[list[AggregatePart], str | None]:
    """Split an aggregate body into its sub-messages: each is an FLV tag header (type, 3-byte
    size, 3+1-byte timestamp, 3-byte stream id), the body, and a 4-byte back pointer.

    Sub-message timestamps are rebased so that the first one gets the aggregate message's
    ``timestamp`` and the others keep their offsets from it (what FMS, nginx-rtmp and ffmpeg do).
    Returns the parts that parsed and, if the body ends badly, why (the parts before it stand).
    """
    parts: list[AggregatePart] = []
    end = len(body)
    o = 0
    first: int | None = None
    while o < end:
        if o + _TAG_SIZE > end:
            return parts, f"aggregate sub-message header at offset {o} is cut short"
        kind, size_hi, size_lo, ts_hi, ts_lo, ts_ext = _TAG.unpack_from(body, o)
        size = (size_hi << 8) | size_lo
        sub_ts = (ts_ext << 24) | (ts_hi << 8) | ts_lo
        start = o + _TAG_SIZE
        if start + size > end:
            return parts, f"aggregate sub-message of {size} bytes at offset {o} runs past the body"
        if first is None:
            first = sub_ts
        parts.append(
            AggregatePart(
                type_id=kind,
                timestamp=(timestamp + sub_ts - first) & 0xFFFFFFFF,
                body=body[start : start + size],
            )
        )
        o = start + size + _BACK_POINTER
    return parts, None
