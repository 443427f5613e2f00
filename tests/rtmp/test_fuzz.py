"""The decoder's promise: whatever the bytes, it raises nothing (not even RtmpProtocolError — it
reports Skipped instead), returns in bounded time and keeps bounded memory."""

from __future__ import annotations

import random
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.rtmp import detect
from droidcap.rtmp.decoder import RtmpDecoder
from droidcap.rtmp.events import Gap, HandshakePart, Message, OversizeMessage, Skipped, Synchronised
from tests.rtmp import rtmpgen

DATA = Path(__file__).resolve().parents[1] / "data"
SEEDS = [
    (DATA / "fq/client_stream").read_bytes()[:4000],
    (DATA / "fq/server_stream").read_bytes()[:12000],
    (DATA / "fq/ffmpeg_server_stream").read_bytes()[:8000],
    (DATA / "wireshark_sample_c2s.bin").read_bytes(),
    (DATA / "wireshark_sample_s2c.bin").read_bytes(),
]
KINDS = (HandshakePart, Message, OversizeMessage, Gap, Skipped, Synchronised)


def run(data: bytes, rng: random.Random, **options: object) -> list:
    decoder = RtmpDecoder(role=rng.choice(["client", "server"]), **options)  # type: ignore[arg-type]
    events: list = []
    i = 0
    while i < len(data):
        n = rng.choice([1, 7, 100, 1448, 5000])
        decoder.receive_data(data[i : i + n], frame=i, time=0.0)
        if rng.random() < 0.05:
            decoder.receive_gap(rng.randrange(1, 3000), frame=i, time=0.0)
        events.extend(decoder.events())
        assert len(decoder._buf.data) - decoder._buf.pos < 600_000  # bounded holding
        i += n
    decoder.receive_eof()
    events.extend(decoder.events())
    assert all(isinstance(e, KINDS) for e in events)
    for e in events:
        if isinstance(e, Message):
            e.body.json_fields()
    return events


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 12)):
        op = rng.randrange(4)
        at = rng.randrange(len(out) or 1)
        if op == 0 and out:
            out[at] = rng.randrange(256)
        elif op == 1:
            out[at:at] = rng.randbytes(rng.randrange(1, 40))
        elif op == 2:
            del out[at : at + rng.randrange(1, 200)]
        else:  # a plausible header with a hostile length
            out[at:at] = bytes([rng.choice([2, 3, 4, 0x43, 0x83, 0xC3, 0, 1])]) + rng.randbytes(11)
    return bytes(out)


def test_mutation_loop_with_fixed_seed() -> None:
    rng = random.Random(20261123)
    deadline = time.monotonic() + 25
    runs = 0
    while time.monotonic() < deadline and runs < 3000:
        seed = rng.choice(SEEDS)
        data = mutate(seed, rng)
        if rng.random() < 0.3:
            data = data[rng.randrange(len(data)) :]
        options = {"expect_handshake": rng.choice([None, True, False])}
        if rng.random() < 0.3:
            options["max_message_size"] = rng.choice([10, 300, 5000])
        run(data, rng, **options)
        detect.recognise(data[:16384], seed[:16384])
        runs += 1
    assert runs >= 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=5000), st.integers(0, 2**32), st.sampled_from([None, True, False]))
def test_random_bytes(data: bytes, seed: int, expect: bool | None) -> None:
    run(data, random.Random(seed), expect_handshake=expect)
    detect.recognise(data, data[::-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(2, 65599),
            st.integers(0, 25),
            st.integers(0, 2**32 - 1),
            st.binary(max_size=700),
            st.integers(0, 3),
        ),
        max_size=30,
    ),
    st.integers(1, 5000),
    st.integers(0, 2**32),
)
def test_generated_chunk_streams(messages: list, chunk_size: int, seed: int) -> None:
    """Well-framed streams with arbitrary headers and bodies (forced fmt values included)."""
    w = rtmpgen.ChunkWriter(ext_on_fmt3=seed % 2 == 0)
    parts = [
        b"\x03" + rtmpgen.plain_block(1) + rtmpgen.plain_block(2),
        w.set_chunk_size(chunk_size),
    ]
    seen: set[int] = set()
    for csid, type_id, ts, body, fmt in messages:
        forced = fmt if csid in seen and fmt else None
        parts.append(w.message(csid, type_id, 1, ts, body, fmt=forced))
        seen.add(csid)
    run(b"".join(parts), random.Random(seed))


def test_hostile_lengths_keep_memory_bounded() -> None:
    """Hundreds of csids each announcing a message just under 16 MiB: the bytes held in
    incomplete messages stay under twice the maximum message size (the decoder's own budget);
    the message that would go over it is dropped, and said to be."""
    data = bytearray(b"\x03" + rtmpgen.plain_block(1) + rtmpgen.plain_block(2))
    data += rtmpgen.ChunkWriter().set_chunk_size(60000)
    for csid in range(3, 700):  # first chunks of 16 MiB - 1 byte messages: 42 MB in all
        data += rtmpgen.basic_header(0, csid) + bytes(3) + b"\xff\xff\xff\x09\x01\0\0\0"
        data += b"\x17" + bytes(59999)
    decoder = RtmpDecoder(role="server")
    events = []
    for i in range(0, len(data), 1448):
        decoder.receive_data(bytes(data[i : i + 1448]), frame=1, time=0.0)
        events.extend(decoder.events())
        assert decoder._reader.partial <= 32 << 20
    dropped = [e for e in events if isinstance(e, Skipped) and "dropped" in e.reason]
    assert len(dropped) > 100 and all(e.size > 0 for e in dropped)
