"""Chunk stream framing: basic headers, fmt 0-3, extended timestamps, chunk size, abort,
interleaving, bounded memory."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.rtmp.chunks import ChunkReader, Status
from droidcap.rtmp.decoder import RtmpDecoder
from droidcap.rtmp.events import Message, OversizeMessage, Skipped
from tests.rtmp import rtmpgen

HANDSHAKE = b"\x03" + rtmpgen.plain_block(1) + rtmpgen.plain_block(2, seed=4)


def decode(payload: bytes, **options: object) -> list:
    return rtmpgen.feed(HANDSHAKE + payload, role="server", expect_handshake=True, **options)[3:]


def messages(payload: bytes, **options: object) -> list[Message]:
    events = decode(payload, **options)
    assert all(isinstance(e, Message) for e in events), events
    return events


def audio(n: int, seed: int = 0) -> bytes:
    return b"\xaf\x01" + rtmpgen.random_bytes(n - 2, seed)


@pytest.mark.parametrize("csid", [2, 3, 63, 64, 65, 319, 320, 321, 1000, 65598, 65599])
def test_basic_header_sizes(csid: int) -> None:
    w = rtmpgen.ChunkWriter()
    body = audio(350, csid)
    data = w.set_chunk_size(100)
    data += w.message(csid, 8, 1, 10, body) + w.message(csid, 8, 1, 30, body[:300])
    _, first, second = messages(data)
    assert (first.csid, first.length, first.timestamp, first.fmt) == (csid, 350, 10, 0)
    assert (second.csid, second.length, second.timestamp, second.fmt) == (csid, 300, 30, 1)


def test_header_formats_and_timestamp_deltas() -> None:
    w = rtmpgen.ChunkWriter()
    parts = [
        w.message(4, 9, 1, 1000, b"\x17\x01" + b"a" * 10),  # fmt 0
        w.message(4, 9, 1, 1040, b"\x27\x01" + b"b" * 20),  # fmt 1: new length, delta 40
        w.message(4, 9, 1, 1080, b"\x27\x01" + b"c" * 20),  # fmt 3: same delta, same length
        w.message(4, 9, 1, 1100, b"\x27\x01" + b"d" * 20),  # fmt 2: delta 20
        w.message(4, 9, 1, 1120, b"\x27\x01" + b"e" * 20),  # fmt 3 reuses delta 20
    ]
    msgs = messages(b"".join(parts))
    assert [m.fmt for m in msgs] == [0, 1, 3, 2, 3]
    assert [m.timestamp for m in msgs] == [1000, 1040, 1080, 1100, 1120]
    assert all(m.stream_id == 1 and m.type_id == 9 for m in msgs)


def test_fmt3_new_message_after_fmt0_reuses_the_timestamp_field() -> None:
    # ffmpeg/librtmp semantics: after fmt 0 (ts 50), a fmt 3 message adds the field again
    w = rtmpgen.ChunkWriter()
    data = w.message(5, 8, 1, 50, audio(10)) + w.message(5, 8, 1, 100, audio(10), fmt=3)
    assert [m.timestamp for m in messages(data)] == [50, 100]


@pytest.mark.parametrize("repeat", [True, False])
def test_extended_timestamps_with_and_without_fmt3_repeat(repeat: bool) -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128, ext_on_fmt3=repeat)
    base = 0x01000000 + 7
    bodies = [audio(300, i) for i in range(4)]
    data = b"".join(
        [
            w.message(6, 8, 1, base, bodies[0]),  # fmt 0 extended, 3 chunks
            w.message(6, 8, 1, base + 0x01000000, bodies[1]),  # fmt 2 with extended delta
            w.message(6, 8, 1, base + 0x02000000, bodies[2]),  # fmt 3 new message, repeats
            w.message(6, 8, 1, base + 0x02000010, bodies[3]),  # fmt 2, small delta again
        ]
    )
    msgs = messages(data)
    assert [m.timestamp for m in msgs] == [
        base,
        base + 0x01000000,
        base + 0x02000000,
        base + 0x02000010,
    ]
    assert [m.fmt for m in msgs] == [0, 2, 3, 2]
    assert [m.length for m in msgs] == [300] * 4


def test_ffmpeg_style_timestamp_over_24_bits_on_fmt0() -> None:
    w = rtmpgen.ChunkWriter()
    data = w.message(3, 20, 0, 0xFFFFFF, rtmpgen.command("play", 0, None, "x"))
    (msg,) = messages(data)
    assert msg.timestamp == 0xFFFFFF


def test_set_chunk_size_mid_stream_and_protocol_maximum() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128)
    data = w.message(4, 9, 1, 0, b"\x17" + b"v" * 999)
    data += w.set_chunk_size(4096)
    data += w.message(4, 9, 1, 40, b"\x27" + b"w" * 9999)
    data += w.set_chunk_size(0x7FFFFFFF)
    data += w.message(4, 9, 1, 80, b"\x27" + b"x" * 100_000)
    msgs = messages(data)
    assert [m.type_name for m in msgs] == [
        "video",
        "set_chunk_size",
        "video",
        "set_chunk_size",
        "video",
    ]
    assert msgs[1].body.json_fields() == {"chunk_size": 4096}
    assert msgs[3].body.json_fields() == {"chunk_size": 0x7FFFFFFF}
    assert [m.length for m in msgs[::2]] == [1000, 10000, 100001]


def test_set_chunk_size_with_top_bit_is_reported_and_ignored() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128)
    data = w.message(2, 1, 0, 0, rtmpgen.u32(0x80001000))  # invalid: chunk size stays 128
    data += w.message(4, 9, 1, 0, b"\x17" + b"v" * 500)
    bad, video = messages(data)
    assert "invalid chunk size" in bad.body.json_fields()["malformed"]
    assert video.length == 501


def test_abort_discards_the_partial_message() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128)
    big = w.chunks(4, 9, 1, 0, b"\x17" + b"v" * 499)  # 4 chunks
    data = big[0] + big[1]
    data += rtmpgen.ChunkWriter().message(2, 2, 0, 0, rtmpgen.u32(4))  # Abort csid 4
    data += w.message(4, 9, 1, 40, b"\x27" + b"w" * 99, fmt=0)
    events = decode(data)
    assert isinstance(events[0], Message) and events[0].body.json_fields() == {"abort_csid": 4}
    assert isinstance(events[1], Skipped) and events[1].size == 256
    assert isinstance(events[2], Message) and events[2].length == 100 and events[2].timestamp == 40


def test_interleaved_chunk_streams() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128)
    video = w.chunks(6, 9, 1, 0, b"\x17" + b"v" * 999)
    audio_chunks = [w.chunks(4, 8, 1, 23 * i, audio(200, i)) for i in range(3)]
    stream = []
    for i, chunk in enumerate(video):
        stream.append(chunk)
        if i < 3:
            stream.extend(audio_chunks[i])
    msgs = messages(b"".join(stream))
    assert [(m.csid, m.timestamp) for m in msgs] == [(4, 0), (4, 23), (4, 46), (6, 0)]
    assert msgs[-1].length == 1000


def test_zero_length_message() -> None:
    w = rtmpgen.ChunkWriter()
    data = w.message(4, 8, 1, 0, b"") + w.message(4, 8, 1, 20, audio(5))
    empty, full = messages(data)
    assert empty.length == 0 and empty.body.json_fields().get("empty") is True
    assert full.length == 5 and full.timestamp == 20


def test_oversize_message_is_reported_and_skipped_without_buffering() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=4096)
    data = w.set_chunk_size(4096)
    data += w.message(4, 9, 1, 0, b"\x17" + bytes(200_000))
    data += w.message(4, 9, 1, 40, b"\x27" + b"w" * 99)
    decoder = RtmpDecoder(role="server", expect_handshake=True, max_message_size=10_000)
    decoder.receive_data(HANDSHAKE, frame=1, time=0.0)
    events = list(decoder.events())
    peak = 0
    for i in range(0, len(data), 1448):
        decoder.receive_data(data[i : i + 1448], frame=2, time=1.0)
        events.extend(decoder.events())
        peak = max(peak, len(decoder._buf.data) - decoder._buf.pos, decoder._reader.partial)
    events = events[3:]
    assert isinstance(events[1], OversizeMessage)
    assert (events[1].length, events[1].type_id, events[1].csid) == (200_001, 9, 4)
    assert isinstance(events[2], Message) and events[2].length == 100 and events[2].timestamp == 40
    assert peak < 4096 + 1448 + 64


def test_partial_messages_across_many_csids_are_bounded() -> None:
    w = rtmpgen.ChunkWriter()
    data = w.set_chunk_size(100)
    data += b"".join(w.chunks(10 + i, 9, 1, 0, b"\x17" + bytes(999))[0] for i in range(50))
    events = decode(data, max_message_size=1000)
    # 50 partial messages of 100 bytes each, but at most 2 * 1000 may be held
    dropped = [e for e in events if isinstance(e, Skipped) and "dropped" in e.reason]
    assert len(dropped) >= 30
    ended = [e for e in events if isinstance(e, Skipped) and "stream ended" in e.reason]
    assert sum(e.size for e in ended) <= 2000


def test_new_header_inside_incomplete_message_abandons_it() -> None:
    w = rtmpgen.ChunkWriter(chunk_size=128)
    first = w.chunks(4, 9, 1, 0, b"\x17" + b"v" * 299)
    data = first[0] + w.message(4, 9, 1, 10, b"\x27" + b"w" * 49, fmt=0)
    events = decode(data)
    assert isinstance(events[0], Skipped) and events[0].size == 128
    assert isinstance(events[1], Message) and events[1].length == 50


def test_reader_partial_header_rolls_back() -> None:
    w = rtmpgen.ChunkWriter()
    data = bytearray(w.message(3, 20, 0, 0, rtmpgen.command("play", 0, None, "x")))
    reader = ChunkReader(max_message_size=1 << 20, max_partial=1 << 21)
    out: list = []
    for cut in range(1, 12):  # basic + message header not complete: nothing consumed
        pos, status = reader.read(data, 0, cut, out)
        assert (pos, status, out) == (0, Status.NEED_MORE, [])
    pos, status = reader.read(data, 0, len(data), out)
    assert (pos, status, len(out)) == (len(data), Status.NEED_MORE, 1)


def test_random_splits_of_a_generated_stream() -> None:
    rng = random.Random(5)
    w = rtmpgen.ChunkWriter(chunk_size=128)
    parts = [w.set_chunk_size(1000)]
    for i in range(40):
        parts.append(w.message(4 + i % 3, 8 + i % 2, 1, i * 20, audio(rng.randrange(1, 3000), i)))
        if i == 20:
            parts.append(w.set_chunk_size(77))
    data = HANDSHAKE + b"".join(parts)
    whole = rtmpgen.without_origin(rtmpgen.feed(data, role="server"))
    assert len(whole) == 3 + 42
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 30))
        pieces = rtmpgen.without_origin(rtmpgen.feed(data, role="server", cuts=cuts))
        assert pieces == whole
    bytewise = rtmpgen.feed(data, role="server", cuts=list(range(1, len(data))))
    assert rtmpgen.without_origin(bytewise) == whole
    # each message is attributed to the piece holding its last byte
    ends = [len(HANDSHAKE) + sum(map(len, parts[: i + 1])) for i in range(len(parts))]
    assert [e.frame for e in bytewise[3:]] == ends


def test_struct_sizes_match_the_spec() -> None:
    assert struct.calcsize(">BHBHB") == 7


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([2, 3, 4, 5, 63, 64, 319, 320, 65599]),
            st.sampled_from([3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 20, 23]),
            st.integers(0, 2**32 - 1),
            st.binary(max_size=900),
        ),
        max_size=25,
    ),
    st.integers(1, 1000),
    st.booleans(),
    st.data(),
)
def test_generated_headers_round_trip(
    messages: list[tuple[int, int, int, bytes]], chunk_size: int, repeat: bool, data: st.DataObject
) -> None:
    """Whatever the csids, types, timestamps (extended ones too), bodies and chunk size, every
    message comes back with its header, in order, however the bytes are split."""
    w = rtmpgen.ChunkWriter(ext_on_fmt3=repeat)
    payload = w.set_chunk_size(chunk_size)
    for csid, type_id, ts, body in messages:
        payload += w.message(csid, type_id, 1, ts, body)
    stream = HANDSHAKE + payload
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=30))))
    events = rtmpgen.feed(stream, role="server", cuts=cuts)[4:]
    got = [(e.csid, e.type_id, e.timestamp, e.length, e.stream_id) for e in events]
    assert got == [(c, t, ts, len(b), 1) for c, t, ts, b in messages]


def test_fmt1_on_an_unseen_csid_is_framed_and_inferred_until_fmt0() -> None:
    from droidcap.rtmp.chunks import MSG, MSG_INFERRED

    a, b = audio(200, 1), audio(150, 2)
    data = b"\x44\x00\x00\x17\x00\x00\xc8\x08" + a  # fmt 1, csid 4: delta 23, 200 bytes, audio
    data += b"\xc4" + a  # fmt 3: a new message, same length, same delta
    data += b"\x04\x00\x01\x00\x00\x00\x96\x08\x01\x00\x00\x00" + b  # fmt 0: ts 256, stream 1
    data += b"\xc4" + b
    reader = ChunkReader(chunk_size=4096, max_message_size=1 << 20, max_partial=1 << 21)
    out: list = []
    pos, status = reader.read(data, 0, len(data), out)
    assert (pos, status) == (len(data), Status.NEED_MORE)
    assert [item[:7] for item in out] == [
        (MSG_INFERRED, 208, 4, 1, 23, 8, 0),  # timestamp: the deltas seen; stream id unknown
        (MSG_INFERRED, 409, 4, 3, 46, 8, 0),
        (MSG, 571, 4, 0, 256, 8, 1),
        (MSG, 722, 4, 3, 512, 8, 1),
    ]
    assert [item[7] for item in out] == [a, a, b, b]
