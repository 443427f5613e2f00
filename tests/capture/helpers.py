"""Feeding packets through the TCP layer and summarising what comes out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from droidcap.capture import (
    CaptureNote,
    Direction,
    FlowEvent,
    Record,
    StreamData,
    StreamEnd,
    StreamGap,
    TcpReassembler,
)

C2S, S2C = Direction.C2S, Direction.S2C


def feed_all(frames: Iterable[bytes | tuple[bytes, int]], *, linktype: int = 101,
             **kw: float) -> list[FlowEvent | CaptureNote]:
    """Feed frames (of ``linktype``; raw IP by default) as records 1..n at n seconds, then
    finish().  A (frame, wire length) pair is a frame the snaplen cut."""
    tcp = TcpReassembler(**kw)
    out: list[FlowEvent | CaptureNote] = []
    for n, item in enumerate(frames, start=1):
        frame, orig_len = item if isinstance(item, tuple) else (item, len(item))
        out.extend(tcp.feed(Record(frame=n, time=float(n), linktype=linktype, data=frame,
                                   orig_len=orig_len)))
    out.extend(tcp.finish())
    return out


def stream(events: Sequence[FlowEvent | CaptureNote], direction: Direction, flow: int = 0) -> list[object]:
    """One direction as a list of bytes (adjacent data joined) and ints (gap sizes)."""
    parts: list[object] = []
    for event in events:
        if getattr(event, "flow", None) != flow or getattr(event, "dir", None) is not direction:
            continue
        if isinstance(event, StreamData):
            if parts and isinstance(parts[-1], bytes):
                parts[-1] += event.data
            else:
                parts.append(event.data)
        elif isinstance(event, StreamGap):
            parts.append(event.size)
    return parts


def ends(events: Sequence[FlowEvent | CaptureNote]) -> list[tuple[int, Direction, str]]:
    return [(e.flow, e.dir, e.reason) for e in events if isinstance(e, StreamEnd)]


def notes(events: Sequence[FlowEvent | CaptureNote]) -> list[str]:
    return [e.message for e in events if isinstance(e, CaptureNote)]
