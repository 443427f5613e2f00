"""AMF3: spec vectors (U29, references, traits), round trips, hostile input."""

from __future__ import annotations

import json
import math
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.errors import AmfError
from droidcap.rtmp import amf0, amf3
from droidcap.rtmp.amf_types import EcmaArray


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x04\x00", 0),
        (b"\x04\x7f", 127),
        (b"\x04\x81\x00", 128),
        (b"\x04\xff\x7f", 0x3FFF),
        (b"\x04\x81\x80\x00", 0x4000),
        (b"\x04\xff\xff\x7f", 0x1FFFFF),
        (b"\x04\x80\xc0\x80\x00", 0x200000),
        (b"\x04\xbf\xff\xff\xff", 0x0FFFFFFF),  # largest positive 29-bit integer
        (b"\x04\xc0\x80\x80\x00", -0x10000000),  # smallest
        (b"\x04\xff\xff\xff\xff", -1),
        (b"\x05" + struct.pack(">d", 0.5), 0.5),
        (b"\x05" + struct.pack(">d", 3.0), 3),
        (b"\x05" + struct.pack(">d", math.nan), "NaN"),
        (b"\x00", {"$undefined": True}),
        (b"\x01", None),
        (b"\x02", False),
        (b"\x03", True),
        (b"\x06\x01", ""),
        (b"\x06\x07abc", "abc"),
        (b"\x06\x05\xff\xfe", "\ufffd\ufffd"),
        (b"\x07\x09<a/>", {"$xml": "<a/>"}),
        (b"\x0b\x09<b/>", {"$xml": "<b/>"}),
        (b"\x08\x01" + struct.pack(">d", 1.5e12), {"$date": 1500000000000}),
        (b"\x09\x01\x01", []),
        (b"\x09\x05\x01\x04\x01\x06\x03x", [1, "x"]),
        (b"\x09\x01\x03a\x04\x02\x01", {"a": 2}),
        (b"\x09\x03\x03a\x04\x02\x01\x03", {"a": 2, "$dense": [True]}),
        (b"\x0a\x0b\x01\x03k\x04\x05\x01", {"k": 5}),  # anonymous dynamic object
        (b"\x0c\x07\x00\x01\xff", {"$bytes": "0001ff", "$length": 3}),
        (b"\x0d\x05\x00\xff\xff\xff\xff\x00\x00\x00\x02", [-1, 2]),  # Vector.<int>
        (b"\x0e\x03\x01\xff\xff\xff\xff", [0xFFFFFFFF]),  # Vector.<uint>
        (b"\x0f\x03\x00" + struct.pack(">d", 2.5), [2.5]),  # Vector.<Number>
        (b"\x10\x05\x00\x03*\x04\x01\x06\x03s", [1, "s"]),  # Vector.<*>
        (b"\x11\x03\x00\x06\x03k\x04\x07", [["k", 7]]),  # Dictionary
    ],
)
def test_spec_vectors(raw: bytes, expected: object) -> None:
    assert amf3.decode_values(raw) == [expected]
    assert amf3.decode_value(raw) == (expected, len(raw))
    json.dumps(amf3.decode_values(raw), allow_nan=False)


def test_sealed_typed_object_and_traits_reference() -> None:
    # [Point{x:1,y:2}, Point{x:3,y:4}] — second object reuses traits #0 (U29O-traits-ref = 0b01)
    raw = (
        b"\x09\x05\x01"
        b"\x0a\x23\x0bPoint\x03x\x03y\x04\x01\x04\x02"  # 0x23: 2 sealed, not dynamic, inline
        b"\x0a\x01\x04\x03\x04\x04"
    )
    assert amf3.decode_values(raw) == [
        [{"$class": "Point", "x": 1, "y": 2}, {"$class": "Point", "x": 3, "y": 4}]
    ]


def test_sealed_plus_dynamic_members() -> None:
    raw = b"\x0a\x1b\x07Foo\x03a\x04\x01\x03b\x04\x02\x01"  # 1 sealed (a), dynamic (b)
    assert amf3.decode_values(raw) == [{"$class": "Foo", "a": 1, "b": 2}]


def test_string_object_and_cyclic_references() -> None:
    # string table: "abc" #0; references with U29S-ref 0 -> 0x00
    assert amf3.decode_values(b"\x06\x07abc\x06\x00") == ["abc", "abc"]
    # array #0 [obj #1 {k: 1}, ref obj #1]
    raw = b"\x09\x05\x01\x0a\x0b\x01\x03k\x04\x01\x01\x0a\x02"
    (arr,) = amf3.decode_values(raw)
    assert arr == [{"k": 1}, {"k": 1}] and arr[0] is arr[1]
    # object #0 whose member "me" refers to itself
    assert amf3.decode_values(b"\x0a\x0b\x01\x05me\x0a\x00\x01") == [{"me": {"$ref": 0}}]
    # the empty string is never put in the string table
    with pytest.raises(AmfError, match="string reference 0"):
        amf3.decode_values(b"\x06\x01\x06\x00")
    with pytest.raises(AmfError, match="object reference 3"):
        amf3.decode_values(b"\x0a\x06")
    with pytest.raises(AmfError, match="traits reference 2"):
        amf3.decode_values(b"\x0a\x09")


def test_reference_tables_are_per_call() -> None:
    amf3.decode_values(b"\x06\x07abc")
    with pytest.raises(AmfError):
        amf3.decode_values(b"\x06\x00")


def test_externalizable_is_an_error() -> None:
    with pytest.raises(AmfError, match="externalizable class 'flex.messaging.io.ArrayCollection'"):
        amf3.decode_values(b"\x0a\x07\x43flex.messaging.io.ArrayCollection\x09\x01\x01")


def test_byte_array_preview_is_capped() -> None:
    payload = bytes(range(256)) * 4
    (v,) = amf3.decode_values(amf3.encode_values(payload))
    assert v == {"$bytes": payload[:256].hex(), "$length": 1024}


@pytest.mark.parametrize(
    "raw",
    [
        b"\x04",
        b"\x04\x80",
        b"\x04\xff\xff\xff",
        b"\x05\x00",
        b"\x06\x07ab",
        b"\x06\xff\xff\xff\xff",  # 256 MB string announced
        b"\x09\xff\xff\xff\xff\x01",  # 268 M element array announced
        b"\x09\x03",
        b"\x0a\x0b\x01\x03k",
        b"\x0a\xff\xff\xff\xf3\x01",  # millions of sealed members announced
        b"\x0c\x09ab",
        b"\x0d\xff\xff\xff\xff\x00",
        b"\x0f\x05\x00\x00",
        b"\x10\xff\xff\xff\xff\x00\x01",
        b"\x11\xff\xff\xff\xff\x00",
        b"\x12",
        b"\xff",
        b"\x08\x01\x00",
    ],
)
def test_malformed_raises_amf_error(raw: bytes) -> None:
    t = time.perf_counter()
    with pytest.raises(AmfError):
        amf3.decode_values(raw)
    assert time.perf_counter() - t < 0.05


def test_depth_and_reference_bombs() -> None:
    with pytest.raises(AmfError, match="deeper than 64"):
        amf3.decode_values(b"\x09\x03\x01" * 10_000 + b"\x01")
    assert amf3.decode_values(b"\x09\x03\x01" * 64 + b"\x01")
    with pytest.raises(AmfError):
        amf3.decode_values(b"\x09\x03\x01" * 50_000 + b"\x01", max_depth=10**9)
    # array #i = [ref #(i-1), ref #(i-1)]: exponential JSON from linear input
    raw = bytearray(b"\x09\x01\x01")
    for i in range(40):
        raw += b"\x09\x05\x01\x09" + bytes([i << 1]) + b"\x09" + bytes([i << 1])
    t = time.perf_counter()
    with pytest.raises(AmfError, match="more than"):
        amf3.decode_values(bytes(raw))
    assert time.perf_counter() - t < 1.0
    # one big string referenced many times is charged by its size
    big = "x" * 60_000
    raw = amf3.encode_values(*([big] * 2000))
    assert len(raw) < 70_000
    with pytest.raises(AmfError, match="more than"):
        amf3.decode_values(raw, max_items=100_000)


def test_amf3_inside_amf0_command() -> None:
    """A command_amf3 style body: AMF0 values, objects switched to AMF3 with 0x11; the AMF3
    string table is shared by the values of one message."""
    raw = amf0.encode_values("connect", 1) + b"\x11\x0a\x0b\x01\x07app\x06\x09live\x01\x11\x06\x00"
    assert amf0.decode_values(raw) == ["connect", 1, {"app": "live"}, "app"]


def test_encoder_writes_string_references() -> None:
    raw = amf3.encode_values("abc", "abc", {"abc": "abc"})
    assert raw == b"\x06\x07abc\x06\x00\x0a\x0b\x01\x00\x06\x00\x01"
    assert amf3.decode_values(raw) == ["abc", "abc", {"abc": "abc"}]
    assert amf3.encode_values(2**28) == b"\x05" + struct.pack(">d", 2**28)
    assert amf3.encode_values(-1) == b"\x04\xff\xff\xff\xff"


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just({"$undefined": True})
    | st.builds(lambda ms: {"$date": ms}, st.integers(-(2**40), 2**40))
    | st.builds(lambda s: {"$xml": s}, st.text(max_size=10))
)
keys = st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("$"))
amf_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(keys, children, max_size=5)
    | st.builds(
        lambda d, dense: {**d, "$dense": dense},
        st.dictionaries(keys, children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3),
    )
    | st.builds(EcmaArray, st.dictionaries(keys, children, min_size=1, max_size=5))
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
    decoded = amf3.decode_values(amf3.encode_values(*values))
    assert decoded == values
    json.dumps(decoded, allow_nan=False)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_amf_error(raw: bytes) -> None:
    try:
        values = amf3.decode_values(raw)
    except AmfError:
        return
    json.dumps(values, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(amf_values, st.data())
def test_mutated_valid_input_only_amf_error(value: object, data: st.DataObject) -> None:
    raw = bytearray(amf3.encode_values(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        json.dumps(amf3.decode_values(bytes(raw)), allow_nan=False)
    except AmfError:
        pass
