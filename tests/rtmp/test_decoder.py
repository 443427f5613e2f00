"""RtmpDecoder on real streams and generated ones: every message type, splits, attribution,
aggregates, malformed bodies, end of stream, gaps and mid-connection starts."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.rtmp import amf0
from droidcap.rtmp.decoder import RtmpDecoder
from droidcap.rtmp.events import (
    Gap,
    HandshakePart,
    Message,
    OversizeMessage,
    Skipped,
    Synchronised,
)
from tests.rtmp import rtmpgen

DATA = Path(__file__).resolve().parents[1] / "data"
STREAMS = {
    "fq_client": ("fq/client_stream", "client"),
    "fq_server": ("fq/server_stream", "server"),
    "ffmpeg_client": ("fq/ffmpeg_client_stream", "client"),
    "ffmpeg_server": ("fq/ffmpeg_server_stream", "server"),
    "wireshark_c2s": ("wireshark_sample_c2s.bin", "client"),
    "wireshark_s2c": ("wireshark_sample_s2c.bin", "server"),
}
HANDSHAKE = b"\x03" + rtmpgen.plain_block(1) + rtmpgen.plain_block(2, seed=4)


def load(name: str) -> tuple[bytes, str]:
    path, role = STREAMS[name]
    return (DATA / path).read_bytes(), role


def msgs(events: list) -> list[Message]:
    return [e for e in events if isinstance(e, Message)]


def fields(events: list) -> list[dict]:
    return [m.body.json_fields() for m in msgs(events)]


def strip(message: Message) -> Message:
    return dataclasses.replace(message, frame=0, time=0.0, uncertain=False)


def unanchored(message: Message) -> Message:
    """A message as far as it is known when its csid's fmt 0 header was not seen."""
    return dataclasses.replace(strip(message), timestamp=0, stream_id=0)


# -- real streams ----------------------------------------------------------------------------


def test_fms_flash_server_stream() -> None:
    data, role = load("fq_server")
    events = rtmpgen.feed(data, role=role)
    kinds = Counter((m.type_name, m.aggregate) for m in msgs(events))
    assert kinds == {
        ("aggregate", False): 5,  # the wire messages that carried these 444:
        ("audio", True): 354,
        ("video", True): 90,
        ("video", False): 11,
        ("audio", False): 3,
        ("user_control", False): 7,
        ("command_amf0", False): 7,
        ("set_chunk_size", False): 2,
        ("data_amf0", False): 2,
        ("window_ack_size", False): 1,
        ("set_peer_bandwidth", False): 1,
    }
    assert not [e for e in events if isinstance(e, Skipped | Gap | Synchronised)]
    commands = [f["command"] for f in fields(events) if "command" in f]
    assert commands == [
        "_result",
        "onBWCheck",
        "onBWCheck",
        "_result",
        "onStatus",
        "onStatus",
        "onStatus",
    ]
    result = next(f for f in fields(events) if f.get("command") == "_result")
    assert result["args"][0]["fmsVer"] == "FMS/3,0,3,333"
    assert result["args"][1]["code"] == "NetConnection.Connect.Success"
    data_names = [f["name"] for f in fields(events) if "name" in f]
    assert data_names == ["|RtmpSampleAccess", "onStatus"]
    # the 10 KB onBWCheck comes in 85 chunks of 128
    assert max(m.length for m in msgs(events) if m.type_id == 20) == 10827


def test_aggregate_sub_messages_are_rebased_and_ordered() -> None:
    data, role = load("fq_server")
    messages = msgs(rtmpgen.feed(data, role=role))
    agg = [m for m in messages if m.aggregate]
    assert {m.type_id for m in agg} == {8, 9}
    # each aggregate comes first, as the one wire message it is, then its sub-messages
    wire = [i for i, m in enumerate(messages) if m.type_id == 22]
    for i in wire:
        count = messages[i].body.json_fields()["sub_messages"]
        assert all(m.aggregate for m in messages[i + 1 : i + 1 + count])
        assert i + 1 + count == len(messages) or not messages[i + 1 + count].aggregate
        assert messages[i + 1].timestamp == messages[i].timestamp  # the first is rebased onto it
    assert sum(messages[i].body.json_fields()["sub_messages"] for i in wire) == len(agg)
    assert all(m.stream_id == 1 and m.csid == 5 for m in agg)
    # sub-message timestamps never go back by more than an audio/video interleave
    stamps = [m.timestamp for m in agg]
    assert all(b >= a - 1000 for a, b in itertools.pairwise(stamps))
    assert stamps[-1] > 16000  # the stream plays ~16 s
    assert {m.body.json_fields()["codec"] for m in agg} == {"Nellymoser", "Sorenson H.263"}


def test_client_stream_control_and_commands() -> None:
    data, role = load("fq_client")
    events = rtmpgen.feed(data, role=role)
    kinds = Counter(m.type_name for m in msgs(events))
    assert kinds == {
        "acknowledgement": 74,
        "command_amf0": 12,
        "user_control": 11,
        "window_ack_size": 1,
    }
    connect = fields(events)[0]
    assert connect["command"] == "connect" and connect["transaction_id"] == 1
    assert connect["args"][0]["flashVer"] == "LNX 10,0,32,18"
    acks = [f["sequence"] for f in fields(events) if "sequence" in f]
    assert acks == sorted(acks) and acks[0] == 626175
    pings = [f for f in fields(events) if f.get("event") == "ping_response"]
    assert pings[0]["ping_timestamp"] == 397138595


def test_ffmpeg_server_stream_ends_mid_message() -> None:
    data, role = load("ffmpeg_server")
    events = rtmpgen.feed(data, role=role)
    last = events[-1]
    assert isinstance(last, Skipped) and "stream ended" in last.reason
    metadata = next(f for f in fields(events) if f.get("name") == "@setDataFrame")
    assert metadata["values"][0] == "onMetaData"
    assert metadata["values"][1]["audiosamplerate"] == 44100
    audio = [m for m in msgs(events) if m.type_id == 8]
    assert len(audio) == 410 and audio[0].body.json_fields()["codec"] == "AAC"
    assert [m.timestamp for m in audio] == sorted(m.timestamp for m in audio)


def test_wireshark_sample_user_control_type_8_and_split_connect() -> None:
    c2s, _ = load("wireshark_c2s")
    s2c, _ = load("wireshark_s2c")
    client = rtmpgen.feed(c2s, role="client")
    server = rtmpgen.feed(s2c, role="server")
    connect = msgs(client)[0]
    assert connect.length == 225  # more than 128: split over two chunks
    assert connect.body.json_fields()["args"][0]["app"] == "StreamPlayer/"
    odd = [f for f in fields(server) if f.get("event_type") == 8]
    assert odd == [{"event": "unknown", "event_type": 8, "raw": "000000000000000107e934b0"}]
    failed = fields(server)[-1]
    assert failed["args"][1]["code"] == "NetStream.Play.Failed"
    assert fields(client)[-1] == {
        "event": "set_buffer_length",
        "event_type": 3,
        "event_stream_id": 1,
        "buffer_length": 0,
    }


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_whole_vs_segments_vs_bytes(name: str) -> None:
    data, role = load(name)
    whole = rtmpgen.without_origin(rtmpgen.feed(data, role=role))
    segments = rtmpgen.feed(data, role=role, cuts=list(range(1448, len(data), 1448)))
    assert rtmpgen.without_origin(segments) == whole
    if len(data) < 100_000:
        bytewise = rtmpgen.feed(data, role=role, cuts=list(range(1, len(data))))
        assert rtmpgen.without_origin(bytewise) == whole


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_splits(data: st.DataObject) -> None:
    name = data.draw(
        st.sampled_from(["fq_client", "wireshark_c2s", "wireshark_s2c", "ffmpeg_client"])
    )
    raw, role = load(name)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=40))))
    whole = rtmpgen.without_origin(rtmpgen.feed(raw, role=role))
    assert rtmpgen.without_origin(rtmpgen.feed(raw, role=role, cuts=cuts)) == whole


def test_frame_attribution_is_the_record_with_the_last_byte() -> None:
    data, role = load("wireshark_c2s")
    cuts = [1, 1537, 2000, 3073, 3100, 3300]
    events = rtmpgen.feed(data, role=role, cuts=cuts)
    parts = {e.part: e.frame for e in events if isinstance(e, HandshakePart)}
    assert parts == {"C0": 1, "C1": 2, "C2": 4}
    connect = msgs(events)[0]
    assert connect.frame == 7 and connect.time == 6.0  # 3073 + 12 + 225 + 1 > 3300


# -- message types -----------------------------------------------------------------------------


def session(*messages: bytes) -> list:
    return rtmpgen.feed(HANDSHAKE + b"".join(messages), role="server")[3:]


def test_protocol_control_messages() -> None:
    w = rtmpgen.ChunkWriter()
    events = session(
        w.message(2, 3, 0, 0, rtmpgen.u32(123456)),
        w.message(2, 5, 0, 0, rtmpgen.u32(2500000)),
        w.message(2, 6, 0, 0, rtmpgen.set_peer_bandwidth(2500000, 0)),
        w.message(2, 6, 0, 0, rtmpgen.set_peer_bandwidth(10, 1)),
        w.message(2, 6, 0, 0, rtmpgen.set_peer_bandwidth(10, 2)),
        w.message(2, 6, 0, 0, rtmpgen.set_peer_bandwidth(10, 9)),
        w.message(2, 2, 0, 0, rtmpgen.u32(7)),
        w.message(2, 3, 0, 0, b"\0\0\0"),
    )
    assert fields(events) == [
        {"sequence": 123456},
        {"ack_window": 2500000},
        {"bandwidth": 2500000, "limit_type": "hard"},
        {"bandwidth": 10, "limit_type": "soft"},
        {"bandwidth": 10, "limit_type": "dynamic"},
        {"bandwidth": 10, "limit_type": "unknown(9)"},
        {"abort_csid": 7},
        {"malformed": "Acknowledgement body is 3 bytes, expected 4", "raw_head": "000000"},
    ]


def test_user_control_every_event_type() -> None:
    w = rtmpgen.ChunkWriter()
    bodies = [
        rtmpgen.user_control(0, 1),
        rtmpgen.user_control(1, 1),
        rtmpgen.user_control(2, 1),
        rtmpgen.user_control(3, 1, 3000),
        rtmpgen.user_control(4, 1),
        rtmpgen.user_control(6, 99),
        rtmpgen.user_control(7, 99),
        rtmpgen.user_control(31, 1),
        rtmpgen.user_control(32, 1),
        rtmpgen.user_control(8, raw=b"\0\0\0\0\0\0\0\x01"),
        rtmpgen.user_control(3, 1),
    ]
    events = session(*(w.message(2, 4, 0, 0, b) for b in bodies))
    assert fields(events) == [
        {"event": "stream_begin", "event_type": 0, "event_stream_id": 1},
        {"event": "stream_eof", "event_type": 1, "event_stream_id": 1},
        {"event": "stream_dry", "event_type": 2, "event_stream_id": 1},
        {
            "event": "set_buffer_length",
            "event_type": 3,
            "event_stream_id": 1,
            "buffer_length": 3000,
        },
        {"event": "stream_is_recorded", "event_type": 4, "event_stream_id": 1},
        {"event": "ping_request", "event_type": 6, "ping_timestamp": 99},
        {"event": "ping_response", "event_type": 7, "ping_timestamp": 99},
        {"event": "buffer_empty", "event_type": 31, "event_stream_id": 1},
        {"event": "buffer_ready", "event_type": 32, "event_stream_id": 1},
        {"event": "unknown", "event_type": 8, "raw": "0000000000000001"},
        {
            "malformed": "User Control set_buffer_length body is 6 bytes, expected 10",
            "raw_head": "000300000001",
        },
    ]


def test_commands_data_and_amf3_variants() -> None:
    w = rtmpgen.ChunkWriter()
    meta = {"width": 640, "height": 360, "videocodecid": 7}
    events = session(
        w.message(
            3, 20, 0, 0, rtmpgen.command("connect", 1, {"app": "live", "tcUrl": "rtmp://h/live"})
        ),
        w.message(3, 17, 0, 0, b"\x00" + rtmpgen.command("createStream", 2, None)),
        w.message(5, 20, 1, 0, rtmpgen.command("publish", 0, None, "key", "live")),
        w.message(4, 18, 1, 0, amf0.encode_values("@setDataFrame", "onMetaData", meta)),
        w.message(4, 18, 1, 0, amf0.encode_values("|RtmpSampleAccess", False, False)),
        w.message(4, 15, 1, 0, b"\x00" + amf0.encode_values("onMetaData", meta)),
        w.message(
            5,
            20,
            1,
            0,
            amf0.encode_values("onStatus", 0, None, {"code": "NetStream.Publish.Start"}),
        ),
    )
    assert fields(events) == [
        {
            "command": "connect",
            "transaction_id": 1,
            "args": [{"app": "live", "tcUrl": "rtmp://h/live"}],
        },
        {"command": "createStream", "transaction_id": 2, "args": [None]},
        {"command": "publish", "transaction_id": 0, "args": [None, "key", "live"]},
        {"name": "@setDataFrame", "values": ["onMetaData", meta]},
        {"name": "|RtmpSampleAccess", "values": [False, False]},
        {"name": "onMetaData", "values": [meta]},
        {
            "command": "onStatus",
            "transaction_id": 0,
            "args": [None, {"code": "NetStream.Publish.Start"}],
        },
    ]
    assert [m.type_name for m in msgs(events)][1] == "command_amf3"


def test_shared_object_messages() -> None:
    w = rtmpgen.ChunkWriter()
    change = b"\x00\x01x" + amf0.encode_values(5) + b"\x00\x01y" + amf0.encode_values("z")
    body = rtmpgen.shared_object(
        "chat",
        3,
        True,
        [(1, b""), (4, change), (9, b"\x00\x01x"), (6, amf0.encode_values("hi", 1))],
    )
    events = session(
        w.message(3, 19, 0, 0, body),
        w.message(3, 16, 0, 0, b"\x00" + body),
        w.message(3, 19, 0, 0, body[:10]),
    )
    expected = {
        "so_name": "chat",
        "so_version": 3,
        "persistent": True,
        "so_events": [
            {"type": "use", "type_id": 1},
            {"type": "change", "type_id": 4, "data": {"x": 5, "y": "z"}},
            {"type": "remove", "type_id": 9, "data": "x"},
            {"type": "send_message", "type_id": 6, "data": ["hi", 1]},
        ],
    }
    got = fields(events)
    assert got[:2] == [expected, expected]
    assert "malformed" in got[2]


def test_malformed_amf_does_not_stop_the_stream() -> None:
    w = rtmpgen.ChunkWriter()
    good = rtmpgen.command("play", 0, None, "stream")
    events = session(
        w.message(3, 20, 0, 0, b"\x02\x00\x50abc"),  # string longer than the body
        w.message(3, 20, 0, 0, amf0.encode_values(1.0, 2.0)),  # no command name
        w.message(3, 20, 0, 0, good),
    )
    got = fields(events)
    assert "malformed" in got[0] and got[0]["raw_head"] == "020050616263"
    assert "malformed" in got[1]
    assert got[2]["command"] == "play"


def test_unknown_message_type() -> None:
    w = rtmpgen.ChunkWriter()
    events = session(w.message(3, 7, 0, 0, bytes(range(40))), w.message(3, 0, 0, 0, b""))
    assert fields(events) == [
        {"raw_length": 40, "raw_head": bytes(range(32)).hex()},
        {"raw_length": 0, "raw_head": ""},
    ]
    assert msgs(events)[0].type_name == "unknown(7)"


def test_aggregate_split_with_rebased_timestamps() -> None:
    w = rtmpgen.ChunkWriter()
    body = rtmpgen.aggregate(
        [
            (9, 5000, b"\x17\x01\0\0\0" + b"k" * 50),
            (8, 5010, b"\xaf\x01" + b"a" * 20),
            (9, 5040, b"\x27\x01\0\0\0" + b"p" * 30),
            (18, 5040, amf0.encode_values("onCuePoint", {"t": 1})),
        ]
    )
    events = session(w.message(6, 22, 1, 100, body), w.message(6, 22, 1, 200, body[:-30]))
    subs = msgs(events)
    assert [(m.type_id, m.timestamp, m.length, m.aggregate) for m in subs[:5]] == [
        (22, 100, len(body), False),  # the wire message first
        (9, 100, 55, True),
        (8, 110, 22, True),
        (9, 140, 35, True),
        (18, 140, 29, True),
    ]
    assert subs[0].body.json_fields() == {"sub_messages": 4}
    assert subs[4].body.json_fields()["name"] == "onCuePoint"
    assert all(m.stream_id == 1 and m.csid == 6 for m in subs)
    # a cut aggregate: the aggregate itself, malformed, holding the complete sub-messages after it
    assert [(m.type_id, m.timestamp, m.aggregate) for m in subs[5:]] == [
        (22, 200, False),
        (9, 200, True),
        (8, 210, True),
        (9, 240, True),
    ]
    cut = subs[5].body.json_fields()
    assert cut["sub_messages"] == 3 and "runs past the body" in cut["malformed"]


def test_aggregate_with_extended_sub_timestamps() -> None:
    w = rtmpgen.ChunkWriter()
    body = rtmpgen.aggregate([(8, 0x01000005, b"\xaf\x01a"), (8, 0x01000010, b"\xaf\x01b")])
    subs = msgs(session(w.message(4, 22, 1, 0x01000000, body)))
    assert [m.timestamp for m in subs] == [0x01000000, 0x01000000, 0x0100000B]


def test_oversize_event_fields() -> None:
    w = rtmpgen.ChunkWriter()
    data = w.message(4, 9, 1, 77, b"\x17" + bytes(3000)) + w.message(4, 8, 1, 80, b"\xaf\x01")
    events = rtmpgen.feed(HANDSHAKE + data, role="server", max_message_size=1000)[3:]
    assert events[0] == OversizeMessage(
        frame=1, time=0.0, csid=4, fmt=0, type_id=9, stream_id=1, length=3001, timestamp=77
    )
    assert isinstance(events[1], Message) and events[1].timestamp == 80


# -- gaps and mid-connection ---------------------------------------------------------------------


def _uniform_stream(seed: int, chunk_size: int, count: int = 60) -> tuple[bytes, int]:
    """A session whose messages all use fmt 0 (so any suffix is decodable), mixed sizes."""
    rng = random.Random(seed)
    w = rtmpgen.ChunkWriter()
    parts = [HANDSHAKE, w.set_chunk_size(chunk_size)]
    for i in range(count):
        kind = rng.choice(["audio", "video", "command", "ack"])
        if kind == "audio":
            parts.append(
                w.message(
                    4,
                    8,
                    1,
                    i * 20,
                    b"\xaf\x01" + rtmpgen.random_bytes(rng.randrange(50, 400), i),
                    fmt=0,
                )
            )
        elif kind == "video":
            parts.append(
                w.message(
                    6,
                    9,
                    1,
                    i * 20,
                    b"\x27\x01\0\0\0" + rtmpgen.random_bytes(rng.randrange(100, 20000), i),
                    fmt=0,
                )
            )
        elif kind == "command":
            parts.append(
                w.message(
                    5, 20, 1, i * 20, rtmpgen.command("onStatus", 0, None, {"code": f"c{i}"}), fmt=0
                )
            )
        else:
            parts.append(w.message(2, 3, 0, i * 20, rtmpgen.u32(i * 1000), fmt=0))
    return b"".join(parts), len(HANDSHAKE) + len(parts[1])


@pytest.mark.parametrize("chunk_size", [128, 4096, 60000, 1400])
def test_mid_connection_suffix_matches_full_decode(chunk_size: int) -> None:
    data, start = _uniform_stream(chunk_size, chunk_size)
    full = [strip(m) for m in msgs(rtmpgen.feed(data, role="server"))]
    rng = random.Random(chunk_size)
    for _ in range(6):
        cut = rng.randrange(start, len(data) * 3 // 4)
        tail = data[cut:]
        events = rtmpgen.feed(
            tail, role="server", expect_handshake=False, cuts=list(range(1448, len(tail), 1448))
        )
        got = [strip(m) for m in msgs(events)]
        assert got, cut
        assert got == full[len(full) - len(got) :], cut
        # what came before framing was found is reported as skipped bytes, not as messages
        first_sync = next(i for i, e in enumerate(events) if isinstance(e, Synchronised))
        assert all(isinstance(e, Skipped) for e in events[:first_sync])
        # nothing is certain before a confirmed Synchronised
        confirmed_at = next(
            (i for i, e in enumerate(events) if isinstance(e, Synchronised) and e.confirmed),
            len(events),
        )
        assert all(m.uncertain for m in msgs(events[:confirmed_at]))
        assert not any(m.uncertain for m in msgs(events[confirmed_at:]))
        if any(m.length > chunk_size for m in got[:-1]):
            assert confirmed_at < len(events)
            assert events[confirmed_at].chunk_size == chunk_size


@pytest.mark.parametrize("name", ["fq_server", "fq_client", "wireshark_s2c", "ffmpeg_server"])
def test_mid_connection_real_streams_give_a_subsequence(name: str) -> None:
    data, role = load(name)
    full = [strip(m) for m in msgs(rtmpgen.feed(data, role=role))]
    rng = random.Random(name)
    for _ in range(8):
        cut = rng.randrange(3073, len(data) - 16)
        tail = data[cut:]
        events = rtmpgen.feed(
            tail, role=role, expect_handshake=False, cuts=list(range(1448, len(tail), 1448))
        )
        got = iter(full)
        anchored: set[int] = set()  # csids with a fmt 0 header since the last Synchronised
        for e in events:
            if isinstance(e, Synchronised):
                anchored.clear()
            if not isinstance(e, Message):
                continue
            if e.fmt == 0:
                anchored.add(e.csid)
            if not e.uncertain or e.csid in anchored:
                assert strip(e) in got, (cut, e)  # in order, each one a real message
            else:
                # maybe no fmt 0 header seen for its csid: stream id and timestamp may be
                # guesses (hence uncertain); everything else is a real message's, in order
                assert unanchored(e) in (unanchored(m) for m in got), (cut, e)
        assert sum(e.size for e in events if isinstance(e, Skipped)) <= len(tail)


def test_gap_then_resume() -> None:
    data, _ = _uniform_stream(3, 4096)
    full = msgs(rtmpgen.feed(data, role="server"))
    lost_from, lost_to = len(data) // 2, len(data) // 2 + 5000
    decoder = RtmpDecoder(role="server")
    decoder.receive_data(data[:lost_from], frame=1, time=1.0)
    events = list(decoder.events())
    decoder.receive_gap(lost_to - lost_from, frame=2, time=2.0)
    decoder.receive_data(data[lost_to:], frame=3, time=3.0)
    decoder.receive_eof()
    events += decoder.events()
    gap_at = next(i for i, e in enumerate(events) if isinstance(e, Gap))
    assert events[gap_at] == Gap(frame=2, time=2.0, size=5000)
    before = [strip(m) for m in msgs(events[:gap_at])]
    after = [strip(m) for m in msgs(events[gap_at:])]
    stripped = [strip(m) for m in full]
    assert before == stripped[: len(before)]
    assert after and after == stripped[len(stripped) - len(after) :]
    assert len(before) + len(after) >= len(full) - 4
    sync = next(e for e in events[gap_at:] if isinstance(e, Synchronised))
    assert sync.chunk_size == 4096 and sync.confirmed  # the chunk size survives a gap
    assert not any(m.uncertain for m in msgs(events))


def test_gap_inside_handshake() -> None:
    data, _ = _uniform_stream(4, 128, count=20)
    decoder = RtmpDecoder(role="server")
    decoder.receive_data(data[:1000], frame=1, time=0.0)
    decoder.receive_gap(500, frame=2, time=1.0)
    decoder.receive_data(data[1500:], frame=3, time=2.0)
    decoder.receive_eof()
    events = list(decoder.events())
    assert [type(e).__name__ for e in events[:3]] == ["HandshakePart", "Skipped", "Gap"]
    assert msgs(events)  # messages found again after the lost handshake bytes


def test_eof_reports_incomplete_handshake_and_header() -> None:
    events = rtmpgen.feed(HANDSHAKE[:700], role="client")
    assert isinstance(events[-1], Skipped) and events[-1].size == 699
    w = rtmpgen.ChunkWriter()
    events = rtmpgen.feed(
        HANDSHAKE + w.message(3, 20, 0, 0, rtmpgen.command("x", 1))[:5], role="client"
    )
    assert isinstance(events[-1], Skipped) and events[-1].size == 5


def _ffmpeg_publish(n: int, seed: int = 0) -> tuple[bytes, list[int]]:
    """A publisher's upload as ffmpeg writes it: chunk size 4096, then audio (csid 4) and video
    (csid 6) on stream 1 — fmt 0 for the first message of each csid only, then fmt 1 (length
    changes) and fmt 3 (same length and delta: a new message with a 1-byte header).  Returns the
    bytes and the offset where each media message starts."""
    rng = random.Random(seed)
    w = rtmpgen.ChunkWriter()
    parts = [HANDSHAKE, w.set_chunk_size(4096)]
    starts = []
    audio_len = 0
    for i in range(n):
        starts.append(sum(map(len, parts)))
        if i % 3 == 2:
            size = rng.choice([600, 900, 3000, 5000, 9000])
            body = (b"\x17" if i % 30 == 2 else b"\x27") + b"\x01" + rtmpgen.random_bytes(size, i)
            parts.append(w.message(6, 9, 1, 40 * (i // 3), body, fmt=None if i > 2 else 0))
        else:
            if rng.random() < 0.7:
                audio_len = rng.randrange(150, 260)
            body = b"\xaf\x01" + rtmpgen.random_bytes(audio_len, i)
            parts.append(w.message(4, 8, 1, 23 * i, body, fmt=None if i else 0))
    return b"".join(parts), starts


def test_gap_in_fmt1_only_media_is_recovered_uncertain() -> None:
    # ffmpeg's media after its first message has no fmt 0 header: after a gap only fmt 1/3
    # headers can resynchronise the upload, and what follows is uncertain but not lost
    data, starts = _ffmpeg_publish(120)
    full = msgs(rtmpgen.feed(data, role="client"))
    assert not any(m.uncertain for m in full)
    assert [m.csid for m in full if m.fmt == 0] == [2, 4, 6]
    lost_from, lost_to = starts[40] + 30, starts[43] + 10
    decoder = RtmpDecoder(role="client")
    decoder.receive_data(data[:lost_from], frame=1, time=1.0)
    decoder.receive_gap(lost_to - lost_from, frame=2, time=2.0)
    decoder.receive_data(data[lost_to:], frame=3, time=3.0)
    decoder.receive_eof()
    events = list(decoder.events())
    gap_at = next(i for i, e in enumerate(events) if isinstance(e, Gap))
    before, after = msgs(events[:gap_at]), msgs(events[gap_at:])
    assert not any(m.uncertain for m in before)
    assert [strip(m) for m in before] == [strip(m) for m in full[: len(before)]]
    sync = next(e for e in events[gap_at:] if isinstance(e, Synchronised))
    assert sync.chunk_size == 4096 and sync.confirmed
    # everything after the gap but the message it cut into is found, in order, uncertain,
    # with the csid's stream id from before the gap and everything but the timestamp exact
    assert all(m.uncertain and m.stream_id == 1 for m in after)
    tail = full[len(full) - len(after) :]
    assert [unanchored(m) for m in after] == [unanchored(m) for m in tail]
    # lost: the four messages the gap cut into, and two more: a fmt 1 candidate needs three
    # headers in a row to be trusted, and message 45 (fmt 2 on csid 4) follows message 44
    assert len(before) + len(after) == len(full) - 6
    skipped = sum(e.size for e in events[gap_at:] if isinstance(e, Skipped))
    assert skipped == starts[46] - lost_to
    # timestamps: accumulated from the deltas seen after the gap (the absolute base is lost)
    video = [m for m in after if m.type_id == 9]
    assert all(b.timestamp - a.timestamp == 40 for a, b in itertools.pairwise(video))


def test_fmt0_after_a_gap_makes_a_csid_certain_again() -> None:
    data, starts = _ffmpeg_publish(60)
    w = rtmpgen.ChunkWriter(chunk_size=4096)
    extra = w.message(4, 8, 1, 5000, b"\xaf\x01" + b"x" * 200, fmt=0)
    extra += w.message(4, 8, 1, 5023, b"\xaf\x01" + b"y" * 180)
    video = b"\x27\x01" + b"z" * 500
    extra += b"\x46\x00\x00\x28" + len(video).to_bytes(3, "big") + b"\x09" + video  # fmt 1
    head, rest = data[: starts[20]], data[starts[30] :] + extra
    expected = None
    for cuts in ([], list(range(1, len(rest))), _random_cuts(len(rest), 7)):
        decoder = RtmpDecoder(role="client")
        decoder.receive_data(head, frame=1, time=1.0)
        events = list(decoder.events())
        decoder.receive_gap(starts[30] - starts[20], frame=2, time=2.0)
        last = 0
        for cut in [*cuts, len(rest)]:
            decoder.receive_data(rest[last:cut], frame=3, time=3.0)
            events += decoder.events()
            last = cut
        decoder.receive_eof()
        events += decoder.events()
        if expected is None:
            expected = events
            tail = msgs(events)[-3:]
            assert [(m.csid, m.timestamp, m.uncertain, m.stream_id) for m in tail[:2]] == [
                (4, 5000, False, 1),
                (4, 5023, False, 1),
            ]
            # csid 6 still had no fmt 0 header: its stream id is the one from before the gap
            assert (tail[2].csid, tail[2].uncertain, tail[2].stream_id) == (6, True, 1)
            after = msgs(events[next(i for i, e in enumerate(events) if isinstance(e, Gap)) :])
            assert len(after) > 15
        assert events == expected  # however the bytes after the gap arrive


def _random_cuts(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return sorted(rng.sample(range(1, n), 40))


def test_fmt1_only_media_mid_connection_gives_the_same_events_however_fed() -> None:
    data, starts = _ffmpeg_publish(90, seed=3)
    tail = data[starts[7] + 5 :]
    full = msgs(rtmpgen.feed(data, role="client"))
    whole = rtmpgen.feed(tail, role="client", expect_handshake=False)
    got = msgs(whole)
    assert len(got) >= 80 and all(m.uncertain and m.stream_id == 0 for m in got)
    assert [unanchored(m) for m in got] == [unanchored(m) for m in full[len(full) - len(got) :]]
    expected = rtmpgen.without_origin(whole)
    for cuts in (list(range(1, len(tail))), _random_cuts(len(tail), 1), _random_cuts(len(tail), 2)):
        events = rtmpgen.feed(tail, role="client", expect_handshake=False, cuts=cuts)
        assert rtmpgen.without_origin(events) == expected


# -- checkpoints (the TUI's Hex pane resumes its walks from them) --------------------------------


def test_a_checkpoint_is_taken_only_between_messages_of_a_direction_read_from_its_handshake() -> None:
    data, role = load("fq_server")
    decoder = RtmpDecoder(role=role)
    assert decoder.checkpoint(2048) is None  # nothing read: not in the chunk phase
    taken = []
    for frame, i in enumerate(range(0, len(data), 700), start=1):
        decoder.receive_data(data[i:i + 700], frame=frame, time=float(frame))
        decoder.events()
        point = decoder.checkpoint(2048)
        if point is not None:
            taken.append(point)
            assert point.frame == frame
            assert point.offset + len(point.pending) == decoder.bytes_received == min(len(data), i + 700)
            assert all(end > point.offset for end, _ in point.marks)
    assert len(taken) > 3
    # (tests/tui/test_chunkmap.py resumes walks from such checkpoints and gets identical bytes)
    for point in taken:  # between messages: every csid's last header, none half received
        assert point.reader.chunk_size > 0 and point.reader.headers


def test_no_checkpoint_after_a_gap_or_without_a_handshake() -> None:
    data, role = load("fq_client")
    decoder = RtmpDecoder(role=role)
    decoder.receive_data(data[:5000], frame=1, time=0.0)
    decoder.events()
    decoder.receive_gap(100, frame=2, time=0.0)
    decoder.receive_data(data[5100:], frame=3, time=0.0)
    decoder.events()
    assert decoder.checkpoint(1 << 20) is None
    mid = RtmpDecoder(role=role, expect_handshake=False)
    mid.receive_data(data[3073:], frame=1, time=0.0)
    mid.events()
    assert mid.checkpoint(1 << 20) is None
