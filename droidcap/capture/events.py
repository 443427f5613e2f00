"""Events of the capture layer: captured records and reassembled TCP streams.

All are frozen, slotted, keyword-only dataclasses: cheap to create in the hot path, impossible to
mutate by accident downstream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# ("10.0.0.1", 1935) or ("::1", 1935): address text as ipaddress would print it.
Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One captured frame, as the file stores it."""

    frame: int  # 1-based record number within the capture
    time: float  # epoch seconds
    linktype: int  # DLT/LINKTYPE_* value of the record's interface
    data: bytes  # captured bytes (may be shorter than orig_len)
    orig_len: int  # length on the wire
    interface: int = 0  # pcapng interface id; 0 for pcap


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureNote:
    """Something the capture layer skipped or could not read, so the user can see it was skipped."""

    frame: int | None
    message: str


class Direction(enum.Enum):
    """Direction within a TCP flow.  The client is the SYN sender; when no SYN was captured, the
    sender of the first captured segment (``FlowOpened.syn_seen`` says which)."""

    C2S = "c2s"
    S2C = "s2c"

    @property
    def reverse(self) -> Direction:
        return Direction.S2C if self is Direction.C2S else Direction.C2S


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOpened:
    flow: int  # 0-based flow index, in order of first appearance
    client: Endpoint
    server: Endpoint
    syn_seen: bool
    frame: int
    time: float
    # Encapsulations around the flow's IP packets (capture.tunnels), outermost first; the
    # endpoints are always the innermost IP/TCP.  Empty for a plain capture.
    outer: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamData:
    """In-order payload bytes of one direction; ``frame`` is the record that delivered the last byte."""

    flow: int
    dir: Direction
    data: bytes
    frame: int
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamGap:
    """``size`` bytes of one direction were never captured; the stream resumes after them."""

    flow: int
    dir: Direction
    size: int
    frame: int
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEnd:
    """One direction ended: ``reason`` is "fin", "rst", "eof" (capture ended first) or "evicted"
    (too many flows open at once: this one was the least recently active; see the tcp module)."""

    flow: int
    dir: Direction
    reason: str
    frame: int
    time: float


FlowEvent = FlowOpened | StreamData | StreamGap | StreamEnd
