"""A reassembler resumed at a ResumePoint delivers a direction's stream from exactly that byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.capture import FlowOpened, StreamData
from droidcap.capture.events import Direction, Record
from droidcap.capture.files import iter_records
from droidcap.capture.tcp import TcpReassembler

CAPTURES = Path(__file__).parent.parent / "data" / "captures"


@pytest.mark.parametrize("name", ["nginx_ffmpeg_players", "nginx_mtu1500_reordered"])
def test_a_resumed_reassembler_gives_the_rest_of_the_stream(name: str) -> None:
    records = [r for r in iter_records(CAPTURES / f"{name}.pcap") if isinstance(r, Record)]
    whole = TcpReassembler()
    opened: FlowOpened | None = None
    stream, ends_at = bytearray(), []  # the first flow's client-to-server bytes; (end, frame) per event
    for record in records:
        for ev in whole.feed(record):
            if isinstance(ev, FlowOpened) and opened is None:
                opened = ev
            if isinstance(ev, StreamData) and opened and ev.flow == opened.flow and ev.dir is Direction.C2S:
                stream += ev.data
                ends_at.append((len(stream), ev.frame))
    assert opened is not None and len(ends_at) > 20
    start = whole.stream_start(opened.flow, Direction.C2S)
    assert start is not None
    for end, frame in ends_at[len(ends_at) // 3::max(1, len(ends_at) // 5)]:
        resumed = TcpReassembler(resume=(start.advanced(end),))
        flow, sender, rest = None, None, bytearray()
        for record in records[max(0, frame - 50):]:  # from a few records before: their bytes are old
            for ev in resumed.feed(record):
                if isinstance(ev, FlowOpened) and flow is None and {ev.client, ev.server} == {
                        opened.client, opened.server}:
                    flow = ev.flow  # picked up mid-connection: the first sender counts as client
                    sender = Direction.C2S if ev.client == opened.client else Direction.S2C
                if isinstance(ev, StreamData) and ev.flow == flow and ev.dir is sender:
                    rest += ev.data
        assert len(rest) == len(stream) - end and bytes(rest) == bytes(stream[end:])


def test_a_resume_point_applies_even_when_the_re_read_starts_at_the_syn() -> None:
    """A re-read from the connection's first record sees its SYN: the resume point still counts
    (the TUI's walks resume from checkpoints taken right after a handshake)."""
    records = [r for r in iter_records(CAPTURES / "nginx_ffmpeg_players.pcap") if isinstance(r, Record)]
    whole = TcpReassembler()
    opened: FlowOpened | None = None
    stream = bytearray()
    for record in records:
        for ev in whole.feed(record):
            if isinstance(ev, FlowOpened) and opened is None:
                opened = ev
            if isinstance(ev, StreamData) and opened and ev.flow == opened.flow and ev.dir is Direction.S2C:
                stream += ev.data
    assert opened is not None and opened.syn_seen and len(stream) > 3073
    start = whole.stream_start(opened.flow, Direction.S2C)
    assert start is not None
    resumed = TcpReassembler(resume=(start.advanced(3073),))
    rest = bytearray()
    for record in records[opened.frame - 1:]:  # from the SYN on
        for ev in resumed.feed(record):
            if isinstance(ev, StreamData) and ev.flow == 0 and ev.dir is Direction.S2C:
                rest += ev.data
    assert bytes(rest) == bytes(stream[3073:])
