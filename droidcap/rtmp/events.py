"""Events the RTMP decoder yields, one decoder per TCP direction.

Every event carries ``frame`` (1-based capture record in which it completed) and ``time`` (epoch
seconds of that record).  Message bodies are typed payload objects; each has ``json_fields()``
returning the flat, JSON-able fields it contributes to droidcap's ndjson schema (docs/ndjson.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Body(Protocol):
    """What every message payload type offers."""

    def json_fields(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakePart:
    """C0/C1/C2 or S0/S1/S2.

    ``version`` is set on C0/S0.  On C1/S1/C2/S2, ``epoch`` is the 4-byte time field and ``field2``
    the next 4 bytes (zero in a plain handshake, a Flash/FMS version in a digest one).  ``scheme`` is
    "plain" or "digest" on C1/S1 (``digest_layout`` 0 or 1 when an HMAC-SHA256 digest with the
    public key checked out).  ``payload`` keeps the 1536 bytes of C1/S1/C2/S2 so the session can
    check the echoes across directions; it is not part of the JSON.
    """

    part: str
    frame: int
    time: float
    version: int | None = None
    epoch: int | None = None
    field2: int | None = None
    scheme: str | None = None
    digest_layout: int | None = None
    payload: bytes = field(default=b"", repr=False)

    def json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"part": self.part}
        for name in ("version", "epoch", "field2", "scheme", "digest_layout"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One complete RTMP message (or one sub-message of an aggregate, ``aggregate=True``)."""

    frame: int
    time: float
    csid: int
    fmt: int  # fmt of the chunk that started the message
    timestamp: int  # absolute, milliseconds, after deltas and extended timestamps
    type_id: int
    stream_id: int
    length: int
    body: Body
    uncertain: bool = False  # inferred while resynchronising a mid-connection capture
    aggregate: bool = False

    @property
    def type_name(self) -> str:
        return MESSAGE_TYPE_NAMES.get(self.type_id, f"unknown({self.type_id})")


@dataclass(frozen=True, slots=True, kw_only=True)
class OversizeMessage:
    """A message longer than the decoder's ``max_message_size``: reported with its header, its
    body skipped (not buffered)."""

    frame: int
    time: float
    csid: int
    fmt: int
    type_id: int
    stream_id: int
    length: int
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Bytes missing from the TCP stream; the decoder resynchronises after them."""

    frame: int
    time: float
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """Bytes the decoder could not interpret and skipped (``reason`` says why)."""

    frame: int
    time: float
    size: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Synchronised:
    """A mid-connection decoder found a chunk boundary it trusts; ``chunk_size`` as inferred."""

    frame: int
    time: float
    chunk_size: int
    confirmed: bool


RtmpEvent = HandshakePart | Message | OversizeMessage | Gap | Skipped | Synchronised


MESSAGE_TYPE_NAMES: dict[int, str] = {
    1: "set_chunk_size",
    2: "abort",
    3: "acknowledgement",
    4: "user_control",
    5: "window_ack_size",
    6: "set_peer_bandwidth",
    8: "audio",
    9: "video",
    15: "data_amf3",
    16: "shared_object_amf3",
    17: "command_amf3",
    18: "data_amf0",
    19: "shared_object_amf0",
    20: "command_amf0",
    22: "aggregate",
}
