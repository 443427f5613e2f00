"""Memory bounds of the RTMP layer that hold across connections, not just per direction.

Every decoder of a capture shares one MemoryBudget for incomplete messages and chunk stream
states (the pipeline gives them one).  Chunks larger than PIECEWISE_AT are taken in pieces, so
a huge Set Chunk Size cannot make a receive buffer hold a whole message outside the budget.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.rtmp.chunks import PIECEWISE_AT, STREAM_COST, MemoryBudget
from droidcap.rtmp.decoder import RtmpDecoder
from droidcap.rtmp.events import Message, Skipped
from tests.rtmp import rtmpgen

HANDSHAKE = b"\x03" + rtmpgen.plain_block(1) + rtmpgen.plain_block(2, seed=4)
MIB = 1024 * 1024


def big_chunk_stream(size: int, *, seed: int = 0) -> bytes:
    """A server direction: handshake, Set Chunk Size 8 MiB, one video message of ``size`` bytes
    in a single chunk, then a small audio message."""
    w = rtmpgen.ChunkWriter()
    body = b"\x17\x01" + random.Random(seed).randbytes(size - 2)
    return (HANDSHAKE + w.set_chunk_size(8 * MIB) + w.message(6, 9, 1, 40, body)
            + w.message(4, 8, 1, 41, b"\xaf\x01" + b"a" * 30))


def feed_in_segments(decoder: RtmpDecoder, data: bytes, segment: int = 1448) -> list:
    events = []
    for i in range(0, len(data), segment):
        decoder.receive_data(data[i : i + segment], frame=i // segment + 1, time=0.0)
        events.extend(decoder.events())
    return events


def test_a_big_chunk_is_taken_in_pieces_within_the_budget():
    budget = MemoryBudget(8 * MIB)
    decoder = RtmpDecoder(role="server", budget=budget)
    data = big_chunk_stream(3 * MIB)
    peak = 0
    events = []
    for i in range(0, len(data), 1448):
        decoder.receive_data(data[i : i + 1448], frame=i // 1448 + 1, time=0.0)
        events.extend(decoder.events())
        peak = max(peak, budget.used)
    video = [e for e in events if isinstance(e, Message) and e.type_id == 9]
    assert [v.length for v in video] == [3 * MIB]
    assert peak >= 3 * MIB - PIECEWISE_AT  # held in the message body, counted
    assert budget.used == 3 * STREAM_COST  # csids 2, 6 and 4: their states, no bytes left over
    assert any(isinstance(e, Message) and e.type_id == 8 for e in events)


def test_connections_sharing_a_budget_cannot_hold_more_than_it():
    """Two connections each in the middle of a 3 MiB single-chunk message, a 4 MiB budget:
    the second message is dropped (and said to be), not buffered."""
    budget = MemoryBudget(4 * MIB)
    first, second = (RtmpDecoder(role="server", budget=budget) for _ in range(2))
    data = big_chunk_stream(3 * MIB)
    half = len(data) - 1 * MIB  # both stop 1 MiB before the end of the big chunk
    feed_in_segments(first, data[:half])
    events = feed_in_segments(second, data[:half])
    assert budget.used <= budget.limit
    second.receive_eof()  # a trailing skip is held back until the decoder knows it has ended
    events += second.events()
    skipped = [e for e in events if isinstance(e, Skipped)]
    assert skipped and "bytes held in incomplete messages" in skipped[0].reason
    rest = feed_in_segments(first, data[half:])
    assert [e.length for e in rest if isinstance(e, Message) and e.type_id == 9] == [3 * MIB]


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=300_000), max_size=12), size=st.sampled_from([70_000, 200_000]))
def test_pieces_or_whole_the_same_events(cuts, size):
    data = big_chunk_stream(size, seed=size)
    whole = rtmpgen.without_origin(rtmpgen.feed(data, role="server"))
    split = rtmpgen.without_origin(rtmpgen.feed(data, role="server", cuts=sorted(set(c for c in cuts if c < len(data)))))
    assert split == whole
    assert any(isinstance(e, Message) and e.length == size for e in whole)


def test_an_interrupted_dropped_message_is_not_reported_twice():
    """An oversize message is announced once (OversizeMessage); a new header on its csid before it
    ends must not report its already-announced bytes again as skipped."""
    w = rtmpgen.ChunkWriter(chunk_size=128)
    first = w.chunks(4, 9, 1, 0, b"\x17" + bytes(2999))  # 3000 bytes: over the 1000-byte limit
    data = HANDSHAKE + first[0] + first[1] + w.message(4, 8, 1, 10, b"\xaf\x01" + b"a" * 20, fmt=0)
    events = rtmpgen.feed(data, role="server", max_message_size=1000)[3:]
    assert [type(e).__name__ for e in events] == ["OversizeMessage", "Message"]


def test_a_direction_keeps_little_once_it_has_read():
    """Many connections each stopped inside a big chunk: what a decoder keeps outside the budget
    is a few kilobytes, not the chunk (white box: the receive buffer's size)."""
    budget = MemoryBudget(64 * MIB)
    decoder = RtmpDecoder(role="server", budget=budget)
    data = big_chunk_stream(3 * MIB)[: 2 * MIB]  # stop inside the big chunk
    feed_in_segments(decoder, data, segment=64 * 1024)
    assert len(decoder._buf.data) < 16 * 1024
    assert budget.used > 2 * MIB - 16 * 1024  # the message so far is in the budget instead
