"""Protocol control messages (types 1, 2, 3, 5, 6) and User Control (type 4).

Each parser takes the whole message body and returns a frozen body object whose ``json_fields()``
gives the ndjson fields; a body of the wrong size raises :class:`BodyError`, which the message
layer turns into a ``Malformed`` body — one bad control message never stops the stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CHUNK_SIZE",
    "USER_CONTROL_EVENTS",
    "Abort",
    "Acknowledgement",
    "BodyError",
    "SetChunkSize",
    "SetPeerBandwidth",
    "UserControl",
    "WindowAckSize",
    "parse_abort",
    "parse_acknowledgement",
    "parse_set_chunk_size",
    "parse_set_peer_bandwidth",
    "parse_user_control",
    "parse_window_ack_size",
]

MAX_CHUNK_SIZE = 0x7FFFFFFF
"""The protocol maximum: Set Chunk Size's top bit must be zero (RTMP spec 5.4.1)."""

_U32 = struct.Struct(">I").unpack_from
_U16 = struct.Struct(">H").unpack_from


class BodyError(ValueError):
    """A message body does not have the shape its type requires (internal; never escapes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetChunkSize:
    chunk_size: int

    def json_fields(self) -> dict[str, Any]:
        return {"chunk_size": self.chunk_size}


@dataclass(frozen=True, slots=True, kw_only=True)
class Abort:
    abort_csid: int

    def json_fields(self) -> dict[str, Any]:
        return {"abort_csid": self.abort_csid}


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    sequence: int

    def json_fields(self) -> dict[str, Any]:
        return {"sequence": self.sequence}


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowAckSize:
    ack_window: int

    def json_fields(self) -> dict[str, Any]:
        return {"ack_window": self.ack_window}


_LIMIT_TYPES = {0: "hard", 1: "soft", 2: "dynamic"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPeerBandwidth:
    bandwidth: int
    limit_type: str  # "hard", "soft", "dynamic" or "unknown(N)"

    def json_fields(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "limit_type": self.limit_type}


USER_CONTROL_EVENTS: dict[int, str] = {
    0: "stream_begin",
    1: "stream_eof",
    2: "stream_dry",
    3: "set_buffer_length",
    4: "stream_is_recorded",
    6: "ping_request",
    7: "ping_response",
    31: "buffer_empty",
    32: "buffer_ready",
}
"""User Control event types with a known layout (RTMP spec 7.1.7; 31/32 from FMS)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserControl:
    """A User Control event.  Only the fields of its layout are set; an unknown event type (the
    Wireshark sample has type 8) keeps its bytes after the type in ``raw``."""

    event: str
    event_type: int
    event_stream_id: int | None = None
    buffer_length: int | None = None
    ping_timestamp: int | None = None
    raw: bytes | None = None

    def json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "event_type": self.event_type}
        if self.event_stream_id is not None:
            out["event_stream_id"] = self.event_stream_id
        if self.buffer_length is not None:
            out["buffer_length"] = self.buffer_length
        if self.ping_timestamp is not None:
            out["ping_timestamp"] = self.ping_timestamp
        if self.raw is not None:
            out["raw"] = self.raw.hex()
        return out


def _u32_body(body: bytes | bytearray, what: str) -> int:
    if len(body) != 4:
        raise BodyError(f"{what} body is {len(body)} bytes, expected 4")
    return int(_U32(body, 0)[0])


def parse_set_chunk_size(body: bytes | bytearray) -> SetChunkSize:
    value = _u32_body(body, "Set Chunk Size")
    if value == 0 or value > MAX_CHUNK_SIZE:
        raise BodyError(f"invalid chunk size {value:#x} (must be 1..0x7fffffff)")
    return SetChunkSize(chunk_size=value)


def parse_abort(body: bytes | bytearray) -> Abort:
    return Abort(abort_csid=_u32_body(body, "Abort"))


def parse_acknowledgement(body: bytes | bytearray) -> Acknowledgement:
    return Acknowledgement(sequence=_u32_body(body, "Acknowledgement"))


def parse_window_ack_size(body: bytes | bytearray) -> WindowAckSize:
    return WindowAckSize(ack_window=_u32_body(body, "Window Acknowledgement Size"))


def parse_set_peer_bandwidth(body: bytes | bytearray) -> SetPeerBandwidth:
    if len(body) != 5:
        raise BodyError(f"Set Peer Bandwidth body is {len(body)} bytes, expected 5")
    kind = body[4]
    return SetPeerBandwidth(
        bandwidth=int(_U32(body, 0)[0]), limit_type=_LIMIT_TYPES.get(kind, f"unknown({kind})")
    )


def parse_user_control(body: bytes | bytearray) -> UserControl:
    if len(body) < 2:
        raise BodyError(f"User Control body is {len(body)} bytes, shorter than its event type")
    event_type = int(_U16(body, 0)[0])
    name = USER_CONTROL_EVENTS.get(event_type)
    size = len(body)
    if name is None:
        return UserControl(event="unknown", event_type=event_type, raw=bytes(body[2:]))
    if event_type == 3:
        if size < 10:
            raise BodyError(f"User Control set_buffer_length body is {size} bytes, expected 10")
        sid, length = _U32(body, 2)[0], _U32(body, 6)[0]
        return UserControl(
            event=name, event_type=event_type, event_stream_id=sid, buffer_length=length
        )
    if size < 6:
        raise BodyError(f"User Control {name} body is {size} bytes, expected 6")
    value = int(_U32(body, 2)[0])
    if event_type in (6, 7):
        return UserControl(event=name, event_type=event_type, ping_timestamp=value)
    return UserControl(event=name, event_type=event_type, event_stream_id=value)
