"""AMF0: spec vectors, real captured command messages, round trips, hostile input."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.errors import AmfError, DroidcapError
from droidcap.rtmp import amf0
from droidcap.rtmp.amf_types import EcmaArray

DATA = Path(__file__).resolve().parents[1] / "data"


def rtmp_message(stream: bytes, body_offset: int, chunk_size: int = 128) -> tuple[int, bytes]:
    """(type id, body) of the message whose fmt-0 chunk (1-byte basic header) ends at
    ``body_offset``, with the fmt-3 continuation headers removed."""
    h = body_offset - 12
    assert stream[h] >> 6 == 0, "not a fmt 0 chunk header"
    csid = stream[h] & 0x3F
    length = int.from_bytes(stream[h + 4 : h + 7], "big")
    out = bytearray()
    o = body_offset
    while len(out) < length:
        take = min(chunk_size, length - len(out))
        out += stream[o : o + take]
        o += take
        if len(out) < length:
            assert stream[o] == 0xC0 | csid
            o += 1
    return stream[h + 7], bytes(out)


# -- spec vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00" + struct.pack(">d", 1.0), 1),
        (b"\x00" + struct.pack(">d", 1.5), 1.5),
        (b"\x00" + struct.pack(">d", -0.0), 0),
        (b"\x00" + struct.pack(">d", 2.0**60), 2.0**60),  # beyond 2**53: stays a float
        (b"\x00" + struct.pack(">d", math.nan), "NaN"),
        (b"\x00" + struct.pack(">d", math.inf), "Infinity"),
        (b"\x00" + struct.pack(">d", -math.inf), "-Infinity"),
        (b"\x01\x00", False),
        (b"\x01\x01", True),
        (b"\x01\x07", True),  # any non-zero is true
        (b"\x02\x00\x00", ""),
        (b"\x02\x00\x03abc", "abc"),
        (b"\x02\x00\x02\xc3\xa9", "é"),
        (b"\x02\x00\x02\xff\xfe", "\ufffd\ufffd"),  # invalid UTF-8 is replaced, not an error
        (b"\x0c\x00\x00\x00\x03abc", "abc"),
        (b"\x05", None),
        (b"\x06", {"$undefined": True}),
        (b"\x0d", {"$unsupported": True}),
        (b"\x03\x00\x01a\x05\x00\x00\x09", {"a": None}),
        (b"\x03\x00\x00\x09", {}),
        (b"\x08\x00\x00\x00\x01\x00\x011\x02\x00\x01x\x00\x00\x09", {"1": "x"}),
        (b"\x0a\x00\x00\x00\x02\x05\x01\x01", [None, True]),
        (b"\x0b" + struct.pack(">dh", 1e12, -60), {"$date": 1000000000000, "tz": -60}),
        (b"\x0f\x00\x00\x00\x04<a/>", {"$xml": "<a/>"}),
        (b"\x10\x00\x03Foo\x00\x01x\x01\x00\x00\x00\x09", {"$class": "Foo", "x": False}),
        (b"\x11\x04\x05", 5),  # switch to AMF3: integer 5
        (b"\x11\x06\x07abc", "abc"),
    ],
)
def test_spec_vectors(raw: bytes, expected: object) -> None:
    assert amf0.decode_values(raw) == [expected]
    value, end = amf0.decode_value(raw, 0)
    assert value == expected and end == len(raw)
    assert type(amf0.decode_values(raw)[0]) is type(expected)
    json.dumps(amf0.decode_values(raw), allow_nan=False)


def test_decode_value_walks_offsets_and_accepts_memoryview() -> None:
    raw = memoryview(amf0.encode_values("a", 2, None, {"k": [1]}))
    o = 0
    seen = []
    while o < len(raw):
        v, o = amf0.decode_value(raw, o)
        seen.append(v)
    assert seen == ["a", 2, None, {"k": [1]}]
    assert amf0.decode_values(bytearray(raw)) == seen


def test_references_resolve_and_cycles_become_ref() -> None:
    # object #0 {a: 1}, strict array #1 [ref 0, ref 0]
    raw = (
        b"\x03\x00\x01a\x00" + struct.pack(">d", 1) + b"\x00\x00\x09"
        b"\x0a\x00\x00\x00\x02\x07\x00\x00\x07\x00\x00"
    )
    first, second = amf0.decode_values(raw)
    assert first == {"a": 1}
    assert second == [{"a": 1}, {"a": 1}]
    assert second[0] is first
    # object #0 whose member refers to itself
    cyc = b"\x03\x00\x04self\x07\x00\x00\x00\x00\x09"
    assert amf0.decode_values(cyc) == [{"self": {"$ref": 0}}]
    json.dumps(amf0.decode_values(cyc))
    with pytest.raises(AmfError, match="reference 3"):
        amf0.decode_values(b"\x07\x00\x03")


def test_ecma_array_without_end_marker_is_tolerated_but_truncation_is_not() -> None:
    assert amf0.decode_values(b"\x08\x00\x00\x00\x01\x00\x01a\x05") == [{"a": None}]
    with pytest.raises(AmfError):
        amf0.decode_values(b"\x08\x00\x00\x00\x02\x00\x01a\x05")  # promised 2, has 1
    with pytest.raises(AmfError):
        amf0.decode_values(b"\x03\x00\x01a\x05")  # objects always need the end marker


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00",  # short number
        b"\x01",
        b"\x02\x00",
        b"\x02\x00\x05abc",
        b"\x0c\xff\xff\xff\xffabc",  # 4 GB long string announced
        b"\x0f\x7f\xff\xff\xff",
        b"\x0a\xff\xff\xff\xff\x05",  # 4 G element strict array announced
        b"\x08\xff\xff\xff\xff",
        b"\x03\x00\x01",
        b"\x03\xff\xff",
        b"\x0b\x00\x00",
        b"\x10\x00\x09Foo",
        b"\x04",  # movieclip: reserved
        b"\x09",  # bare object end
        b"\x0e",  # recordset: reserved
        b"\x12",
        b"\xff",
        b"\x11",  # AMF3 switch with nothing after it
        b"\x11\x0a\x07\x07Foo",  # AMF3 externalizable
    ],
)
def test_malformed_raises_amf_error(raw: bytes) -> None:
    with pytest.raises(AmfError) as info:
        amf0.decode_values(raw)
    assert isinstance(info.value, DroidcapError)
    assert "\n" not in str(info.value)


def test_depth_bomb_rejected_cheaply() -> None:
    bomb = b"\x0a\x00\x00\x00\x01" * 100_000 + b"\x05"
    t = time.perf_counter()
    with pytest.raises(AmfError, match="deeper than 64"):
        amf0.decode_values(bomb)
    assert time.perf_counter() - t < 0.1
    nested = b"\x03\x00\x01a" * 65 + b"\x05" + b"\x00\x00\x09" * 65
    with pytest.raises(AmfError, match="deeper"):
        amf0.decode_values(nested)
    ok = b"\x03\x00\x01a" * 64 + b"\x05" + b"\x00\x00\x09" * 64
    assert amf0.decode_values(ok)
    # a caller asking for absurd depth still gets an AmfError, not RecursionError
    deep = b"\x0a\x00\x00\x00\x01" * 50_000 + b"\x05"
    with pytest.raises(AmfError):
        amf0.decode_values(deep, max_depth=10**9)


def test_item_limit_and_reference_bomb() -> None:
    with pytest.raises(AmfError, match="more than 10 values"):
        amf0.decode_values(b"\x05" * 11, max_items=10)
    assert len(amf0.decode_values(b"\x05" * 10, max_items=10)) == 10
    # each array holds two references to the previous one: 2**n nodes for JSON from 9n bytes
    raw = bytearray(b"\x0a\x00\x00\x00\x01\x05")
    for i in range(40):
        raw += b"\x0a\x00\x00\x00\x02\x07" + struct.pack(">H", i) + b"\x07" + struct.pack(">H", i)
    t = time.perf_counter()
    with pytest.raises(AmfError, match="more than"):
        amf0.decode_values(bytes(raw))
    assert time.perf_counter() - t < 1.0


# -- real messages ------------------------------------------------------------------------------


def test_connect_from_wireshark_sample() -> None:
    stream = (DATA / "wireshark_sample_c2s.bin").read_bytes()
    type_id, body = rtmp_message(stream, 3085)
    assert type_id == 20
    assert amf0.decode_values(body) == [
        "connect",
        1,
        {
            "app": "StreamPlayer/",
            "flashVer": "WIN 9,0,47,0",
            "swfUrl": "file://",
            "tcUrl": "rtmp://fc432.streamedia.info/StreamPlayer/",
            "fpad": False,
            "audioCodecs": 615,
            "videoCodecs": 124,
            "videoFunction": 1,
            "pageUrl": {"$undefined": True},
        },
    ]


def test_connect_from_fq_client_stream_has_optional_user_object() -> None:
    stream = (DATA / "fq" / "client_stream").read_bytes()
    type_id, body = rtmp_message(stream, 3085)
    assert type_id == 20 and len(body) == 513
    name, txn, cmd, extra = amf0.decode_values(body)
    assert (name, txn) == ("connect", 1)
    assert cmd["tcUrl"] == "rtmp://cp70278.edgefcs.net:1935/ondemand/content-vod-storage1/"
    assert cmd["capabilities"] == 15 and cmd["objectEncoding"] == 0
    assert extra == {
        "shimHost": "http://cdn1.ustream.tv/swf/4/viewer.182.swf",
        "videoName": "0/1/1/1514/1514287/1_192254_1514287",
        "autoPlay": True,
    }


def test_ffmpeg_result_and_metadata() -> None:
    stream = (DATA / "fq" / "ffmpeg_server_stream").read_bytes()
    _, body = rtmp_message(stream, 3140)
    assert amf0.decode_values(body) == [
        "_result",
        1,
        {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
        {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 0,
        },
    ]
    type_id, body = rtmp_message(stream, 3595)
    assert type_id == 18
    name, event, meta = amf0.decode_values(body)
    assert (name, event) == ("@setDataFrame", "onMetaData")
    assert meta["audiocodecid"] == 10
    assert meta["audiosamplerate"] == 44100
    assert meta["stereo"] is True
    assert meta["encoder"].startswith("Lavf")
    json.dumps(meta, allow_nan=False)


def test_commands_found_in_all_streams_decode() -> None:
    """Every single-chunk AMF0 command/data message behind a fmt-0 header in the raw fq streams
    decodes to a name and (commands) a transaction id."""
    n = 0
    for name in ("client_stream", "server_stream", "ffmpeg_client_stream", "ffmpeg_server_stream"):
        stream = (DATA / "fq" / name).read_bytes()
        start = 0
        while (i := stream.find(b"\x02\x00", start)) >= 0:
            start = i + 1
            h = i - 12
            if h < 0 or stream[h] >> 6 != 0 or stream[h + 7] not in (18, 20):
                continue
            length = int.from_bytes(stream[h + 4 : h + 7], "big")
            if length > 128:
                continue
            values = amf0.decode_values(stream[i : i + length])
            assert isinstance(values[0], str)
            if stream[h + 7] == 20:
                assert isinstance(values[1], int)
            n += 1
    assert n >= 6


# -- encoder and round trips -------------------------------------------------------------------


def test_encoder_bytes() -> None:
    assert amf0.encode_values("connect", 1.0) == (
        b"\x02\x00\x07connect\x00" + struct.pack(">d", 1.0)
    )
    assert amf0.encode_values(None, True, False) == b"\x05\x01\x01\x01\x00"
    assert amf0.encode_values({"a": None}) == b"\x03\x00\x01a\x05\x00\x00\x09"
    assert amf0.encode_values(EcmaArray(a=None)) == b"\x08\x00\x00\x00\x01\x00\x01a\x05\x00\x00\x09"
    assert amf0.encode_values([None]) == b"\x0a\x00\x00\x00\x01\x05"
    assert amf0.encode_values({"$undefined": True}) == b"\x06"
    assert amf0.encode_values({"$date": 0, "tz": 0}) == b"\x0b" + bytes(10)
    assert amf0.encode_values("x" * 70000)[:5] == b"\x0c\x00\x01\x11\x70"
    assert amf0.encode_values(amf0.Avmplus(5)) == b"\x11\x04\x05"
    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    assert amf0.decode_values(amf0.encode_values(when)) == [
        {"$date": int(when.timestamp() * 1000), "tz": 0}
    ]
    with pytest.raises(AmfError):
        amf0.encode_values(object())


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just({"$undefined": True})
    | st.just({"$unsupported": True})
    | st.builds(
        lambda ms, tz: {"$date": ms, "tz": tz}, st.integers(-(2**40), 2**40), st.integers(-720, 720)
    )
    | st.builds(lambda s: {"$xml": s}, st.text(max_size=10))
)
keys = st.text(max_size=8).filter(lambda k: not k.startswith("$"))
amf_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(keys, children, max_size=5)
    | st.builds(EcmaArray, st.dictionaries(keys, children, max_size=5))
    | st.builds(
        lambda cls, d: {"$class": cls, **d},
        st.text(min_size=1, max_size=8),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(amf_values, max_size=4))
def test_round_trip(values: list[object]) -> None:
    decoded = amf0.decode_values(amf0.encode_values(*values))
    assert decoded == values
    json.dumps(decoded, allow_nan=False)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_amf_error(raw: bytes) -> None:
    try:
        values = amf0.decode_values(raw)
    except AmfError:
        return
    json.dumps(values, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(amf_values, st.data())
def test_mutated_valid_input_only_amf_error(value: object, data: st.DataObject) -> None:
    raw = bytearray(amf0.encode_values(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        json.dumps(amf0.decode_values(bytes(raw[:cut])), allow_nan=False)
    except AmfError:
        pass
