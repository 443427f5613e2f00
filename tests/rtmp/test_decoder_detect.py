"""RTMP recognition on any port: by handshake, or by a trial decode mid-connection."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from droidcap.rtmp import detect
from droidcap.rtmp.detect import Verdict
from tests.rtmp import rtmpgen

DATA = Path(__file__).resolve().parents[1] / "data"
PAIRS = {
    "fq": ("fq/client_stream", "fq/server_stream"),
    "ffmpeg": ("fq/ffmpeg_client_stream", "fq/ffmpeg_server_stream"),
    "wireshark": ("wireshark_sample_c2s.bin", "wireshark_sample_s2c.bin"),
}


def pair(name: str) -> tuple[bytes, bytes]:
    c, s = PAIRS[name]
    return (DATA / c).read_bytes()[: detect.ENOUGH], (DATA / s).read_bytes()[: detect.ENOUGH]


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_handshake_recognised(name: str) -> None:
    c2s, s2c = pair(name)
    assert detect.recognise(c2s, s2c) == Verdict(is_rtmp=True, handshake=True)
    assert detect.looks_like_rtmp(c2s, s2c) is True


def test_digest_keys_tell_swapped_roles() -> None:
    c2s, s2c = pair("fq")
    assert detect.recognise(s2c, c2s) == Verdict(
        is_rtmp=True, handshake=True, client_is_tcp_server=True
    )


def test_undecided_until_both_blocks_are_there() -> None:
    c2s, s2c = pair("fq")
    assert detect.recognise(c2s[:1000], b"") is None
    assert detect.recognise(c2s[:1537], s2c[:100]) is None
    assert detect.looks_like_rtmp(c2s[:1537], b"") is None


def test_mid_connection_by_trial_decode() -> None:
    c2s, s2c = pair("fq")
    verdict = detect.recognise(c2s[3073 + 40 :], s2c[3073 + 70 :])
    assert verdict == Verdict(is_rtmp=True, handshake=False)
    # the side sending connect/play is the client, even if the capture says otherwise
    assert detect.recognise(s2c[3073 + 70 :], c2s[3073 + 40 :]) == Verdict(
        is_rtmp=True, handshake=False, client_is_tcp_server=True
    )


@pytest.mark.parametrize(
    "c2s, s2c",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500), b"\x16\x03\x03" + bytes(90)),
        (b"SSH-2.0-OpenSSH_9.2\r\n", b"SSH-2.0-OpenSSH_9.2\r\n"),
    ],
)
def test_common_protocols_rejected_at_once(c2s: bytes, s2c: bytes) -> None:
    assert detect.recognise(c2s, s2c) == Verdict(is_rtmp=False)


def test_random_bytes_are_not_rtmp() -> None:
    rng = random.Random(3)
    for _ in range(5):
        a, b = rng.randbytes(detect.ENOUGH), rng.randbytes(detect.ENOUGH)
        assert detect.recognise(a, b) == Verdict(is_rtmp=False)
        assert detect.recognise(a[:3000], b[:3000]) is None  # could still turn out to be


def test_version_byte_without_believable_blocks_is_not_a_handshake() -> None:
    # 0x03 then random bytes in both directions: not plain, no digest
    rng = random.Random(4)
    a = b"\x03" + rng.randbytes(5000)
    b = b"\x03" + rng.randbytes(5000)
    assert detect.recognise(a, b) is None


def test_plain_generated_handshake() -> None:
    c2s = b"\x03" + rtmpgen.plain_block(5)
    s2c = b"\x03" + rtmpgen.plain_block(6) + rtmpgen.plain_block(5)
    assert detect.recognise(c2s, s2c) == Verdict(is_rtmp=True, handshake=True)


def test_mid_connection_fmt1_only_media_is_rtmp() -> None:
    # an ffmpeg publisher's upload after its first messages: fmt 1/3 media headers only, no
    # command; the server sends nothing in return (no evidence either way for the roles)
    w = rtmpgen.ChunkWriter(chunk_size=4096)
    parts = []
    for i in range(60):
        if i % 3 == 2:
            body = b"\x27\x01" + rtmpgen.random_bytes(500 + 37 * i, i)
            parts.append(w.message(6, 9, 1, 40 * i, body))
        else:
            parts.append(w.message(4, 8, 1, 23 * i, b"\xaf\x01" + rtmpgen.random_bytes(180 + i, i)))
    data = b"".join(parts)
    cut = data.index(b"\x44", len(parts[0]) + len(parts[1]) + len(parts[2]) + 100)
    upload = data[cut - 3 :][: detect.ENOUGH]  # mid-chunk start
    assert detect.recognise(upload, b"") == Verdict(is_rtmp=True, handshake=False)
    assert detect.recognise(upload[:100], b"") is None  # not enough to tell yet
