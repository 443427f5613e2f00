"""Rebuilding AMF values from tshark's position-tagged fields (droidcap.tshark_amf).

The tokens here are what tshark reports for bodies encoded by droidcap's own AMF0 encoder: the
helper walks the encoding and emits, per value, the fields Wireshark's AMF dissector shows, at
their byte positions — then shuffles them, as pyshark's per-name grouping does.
"""

from __future__ import annotations

import random
import struct

import pytest

from droidcap.rtmp import amf0
from droidcap.rtmp.amf_types import UNDEFINED, EcmaArray
from droidcap.tshark_amf import values_from_tokens


def tokens_for(body: bytes) -> list[tuple[int, str, str]]:
    """The fields tshark's AMF0 dissector reports for ``body``, at their positions."""
    out: list[tuple[int, str, str]] = []

    def string(pos: int, name: str = "amf.string") -> int:
        (n,) = struct.unpack_from(">H", body, pos)
        out.append((pos, "amf.stringlength", str(n)))
        out.append((pos + 2, name, body[pos + 2 : pos + 2 + n].decode()))
        return pos + 2 + n

    def members(pos: int) -> int:
        while body[pos : pos + 3] != b"\x00\x00\x09":
            pos = value(string(pos))
        out.append((pos, "amf.end_of_object_marker", ""))
        return pos + 3

    def value(pos: int) -> int:
        marker = body[pos]
        out.append((pos, "amf.amf0_type", f"0x{marker:02x}"))
        pos += 1
        if marker == 0x00:
            (x,) = struct.unpack_from(">d", body, pos)
            out.append((pos, "amf.number", f"{x:.17g}"))
            return pos + 8
        if marker == 0x01:
            out.append((pos, "amf.boolean", "1" if body[pos] else "0"))
            return pos + 1
        if marker == 0x02:
            return string(pos)
        if marker == 0x03:
            out.append((pos - 1, "amf.object", ""))
            return members(pos)
        if marker in (0x05, 0x06):
            return pos
        if marker == 0x08:
            (n,) = struct.unpack_from(">I", body, pos)
            out.append((pos, "amf.arraylength", str(n)))
            return members(pos + 4)
        if marker == 0x0A:
            (n,) = struct.unpack_from(">I", body, pos)
            out.append((pos, "amf.arraylength", str(n)))
            pos += 4
            for _ in range(n):
                pos = value(pos)
            return pos
        if marker == 0x10:
            return members(string(pos, "amf.classname"))
        raise AssertionError(f"marker {marker:#x} not modelled")

    pos = 0
    while pos < len(body):
        pos = value(pos)
    return out


VALUES = [
    ["connect", 1, {"app": "live", "tcUrl": "rtmp://h/live", "fpad": False, "capabilities": 239.5}],
    ["_result", 4, None, 1],
    ["onStatus", 0, None, {"level": "status", "code": "NetStream.Play.Start", "details": ""}],
    ["@setDataFrame", "onMetaData", EcmaArray(width=640, height=360, stereo=True, duration=0)],
    ["deep", {"a": {"b": [1, "two", {"c": None}, []]}}, [[], [[]]]],
    ["undef", dict(UNDEFINED), -0.0, 1e300, 2.0**53 + 2],
    ["typed", {"$class": "flex.Thing", "x": 1}],
    ["empty", "", {"": "", "k": ""}, EcmaArray({"": 0})],
]


@pytest.mark.parametrize("values", VALUES, ids=lambda v: str(v[0]))
def test_rebuilds_what_was_encoded_whatever_the_field_order(values):
    body = amf0.encode_values(*values)
    expected = amf0.decode_values(body)
    tokens = tokens_for(body)
    random.Random(len(body)).shuffle(tokens)  # pyshark groups fields by name
    rebuilt = values_from_tokens(tokens)
    assert rebuilt.complete
    assert rebuilt.values == expected
    assert len(expected) == len(values)


def test_a_value_it_cannot_place_stops_the_rebuild_and_keeps_what_came_before():
    tokens = [(0, "amf.amf0_type", "0x02"), (3, "amf.string", "onStatus"),
              (10, "amf.amf0_type", "0x0b"), (11, "amf.date", "Nov 23, 2026 11:00:00 UTC"),
              (21, "amf.amf0_type", "0x00"), (22, "amf.number", "1")]
    rebuilt = values_from_tokens(tokens)
    assert rebuilt.values == ["onStatus"]
    assert not rebuilt.complete


def test_a_truncated_object_is_incomplete_not_an_error():
    body = amf0.encode_values("x", {"a": 1, "b": 2})
    tokens = [t for t in tokens_for(body) if t[1] != "amf.end_of_object_marker"]
    rebuilt = values_from_tokens(tokens)
    assert rebuilt.values == ["x"] and not rebuilt.complete


def test_no_tokens_no_values():
    assert values_from_tokens([]).values == [] and values_from_tokens([]).complete
