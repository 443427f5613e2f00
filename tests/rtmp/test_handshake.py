"""Handshake: C0/C1/C2 and S0/S1/S2 parts, plain and digest schemes, echo checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.rtmp import handshake
from droidcap.rtmp.events import HandshakePart, Message, Skipped
from tests.rtmp import rtmpgen

DATA = Path(__file__).resolve().parents[1] / "data"


def _streams(name: str) -> tuple[bytes, bytes]:
    if name == "fq":
        return (DATA / "fq/client_stream").read_bytes(), (DATA / "fq/server_stream").read_bytes()
    if name == "ffmpeg":
        return (
            (DATA / "fq/ffmpeg_client_stream").read_bytes(),
            (DATA / "fq/ffmpeg_server_stream").read_bytes(),
        )
    return (
        (DATA / "wireshark_sample_c2s.bin").read_bytes(),
        (DATA / "wireshark_sample_s2c.bin").read_bytes(),
    )


def _parts(events: list) -> dict[str, HandshakePart]:
    return {e.part: e for e in events if isinstance(e, HandshakePart)}


def test_flash_fms_digest_handshake() -> None:
    c2s, s2c = _streams("fq")
    client = _parts(rtmpgen.feed(c2s, role="client"))
    server = _parts(rtmpgen.feed(s2c, role="server"))
    assert list(client) == ["C0", "C1", "C2"] and list(server) == ["S0", "S1", "S2"]
    assert client["C0"].version == server["S0"].version == 3
    # Flash Player 10 (0x80000302 = 128.0.3.2-style version field) signs C1 in layout 1,
    # FMS 3.0.3.333 (0x03000301) signs S1 in layout 0.
    assert (client["C1"].scheme, client["C1"].digest_layout) == ("digest", 1)
    assert (server["S1"].scheme, server["S1"].digest_layout) == ("digest", 0)
    assert server["S1"].field2 == 0x03000301
    assert client["C1"].epoch == 0x00076B26
    assert len(client["C1"].payload) == 1536
    # S2 answers C1 with an HMAC keyed by C1's digest (68-byte FMS key), C2 answers S1 (62-byte
    # Flash Player key): both verified.
    assert handshake.check_echo(client["C1"].payload, server["S2"].payload) == "digest"
    assert handshake.check_echo(server["S1"].payload, client["C2"].payload) == "digest"
    assert handshake.check_echo(client["C1"].payload, client["C2"].payload) == "mismatch"


def test_ffmpeg_digest_client_plain_server() -> None:
    c2s, s2c = _streams("ffmpeg")
    client = _parts(rtmpgen.feed(c2s, role="client"))
    server = _parts(rtmpgen.feed(s2c, role="server"))
    assert (client["C1"].scheme, client["C1"].digest_layout) == ("digest", 0)
    assert client["C1"].field2 == 0x09007C02
    assert server["S1"].scheme == "plain" and server["S1"].digest_layout is None
    # ffmpeg in listen mode answers with plain copies
    assert handshake.check_echo(client["C1"].payload, server["S2"].payload) == "exact"
    assert handshake.check_echo(server["S1"].payload, client["C2"].payload) == "exact"


def test_wireshark_sample_odd_echoes_are_reported_not_rejected() -> None:
    c2s, s2c = _streams("wireshark")
    client = _parts(rtmpgen.feed(c2s, role="client"))
    server = _parts(rtmpgen.feed(s2c, role="server"))
    assert client["C1"].scheme == server["S1"].scheme == "plain"
    # The echoes copy the random part but rewrite bytes 4..7 (time2): still an exact echo.
    assert client["C2"].payload[4:8] != server["S1"].payload[4:8]
    assert handshake.check_echo(server["S1"].payload, client["C2"].payload) == "exact"
    assert handshake.check_echo(client["C1"].payload, server["S2"].payload) == "exact"


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("server", [False, True])
def test_generated_digest_blocks(layout: int, server: bool) -> None:
    block = rtmpgen.digest_block(server=server, layout=layout)
    finder = handshake.server_digest if server else handshake.client_digest
    other = handshake.client_digest if server else handshake.server_digest
    found = finder(block)
    assert found is not None and found[0] == layout
    assert other(block) is None
    echo = rtmpgen.digest_echo(block, server=not server, layout=layout)
    assert handshake.check_echo(block, echo) == "digest"
    tampered = echo[:-1] + bytes([echo[-1] ^ 1])
    assert handshake.check_echo(block, tampered) == "mismatch"
    flipped = bytearray(block)
    flipped[100] ^= 0xFF
    if finder(bytes(flipped)) is not None:  # byte 100 may be the digest block's offset bytes
        pytest.fail("a modified block must not verify")


def test_echo_helper_edge_cases() -> None:
    block = rtmpgen.plain_block(7)
    assert handshake.check_echo(block, block) == "exact"
    assert handshake.check_echo(block, b"\0" * 8 + block[8:]) == "exact"
    assert handshake.check_echo(block, rtmpgen.plain_block(7, seed=9)) == "mismatch"
    assert handshake.check_echo(block, block[:100]) == "mismatch"


def _plain_session(role: str, version: int = 3) -> bytes:
    w = rtmpgen.ChunkWriter()
    return (
        bytes([version])
        + rtmpgen.plain_block(1234)
        + rtmpgen.plain_block(99, seed=5)
        + w.message(3, 20, 0, 0, rtmpgen.command("connect", 1, {"app": "live"}))
    )


@pytest.mark.parametrize("expect", [True, None])
def test_plain_handshake_parts_and_first_message(expect: bool | None) -> None:
    events = rtmpgen.feed(_plain_session("client"), role="client", expect_handshake=expect)
    assert [type(e).__name__ for e in events] == ["HandshakePart"] * 3 + ["Message"]
    c0, c1, c2, msg = events
    assert (c0.part, c0.version) == ("C0", 3)
    assert (c1.part, c1.epoch, c1.field2, c1.scheme) == ("C1", 1234, 0, "plain")
    assert (c2.part, c2.epoch) == ("C2", 99)
    assert msg.body.json_fields()["command"] == "connect"
    assert not msg.uncertain


def test_server_role_names() -> None:
    events = rtmpgen.feed(_plain_session("server"), role="server")
    assert [e.part for e in events if isinstance(e, HandshakePart)] == ["S0", "S1", "S2"]


def test_rtmpe_is_reported_and_skipped() -> None:
    data = _plain_session("client", version=6)
    events = rtmpgen.feed(data, role="client")
    assert events[0].version == 6
    assert not any(isinstance(e, Message) for e in events)
    skipped = [e for e in events if isinstance(e, Skipped)]
    assert sum(e.size for e in skipped) == len(data) - 1 - 2 * 1536
    assert "RTMPE" in skipped[0].reason


def test_bad_version_with_expected_handshake_falls_back_to_resync() -> None:
    w = rtmpgen.ChunkWriter()
    payload = b"".join(
        w.message(3, 20, 0, i, rtmpgen.command("onStatus", 0, None, {"code": "x" * i}))
        for i in range(6)
    )
    data = b"\x11" * 40 + payload
    events = rtmpgen.feed(data, role="server", expect_handshake=True)
    assert isinstance(events[0], Skipped) and events[0].size == 40
    msgs = [e for e in events if isinstance(e, Message)]
    assert [m.body.json_fields()["args"][1]["code"] for m in msgs] == ["x" * i for i in range(6)]


def test_auto_mode_tells_mid_connection_from_handshake() -> None:
    w = rtmpgen.ChunkWriter()
    # csid 3 fmt 0 starts with byte 0x03, like C0
    data = w.message(3, 20, 0, 0, rtmpgen.command("_result", 1, None, {"code": "ok"}))
    data += w.message(3, 20, 0, 5, rtmpgen.command("onBWDone", 0, None))
    data += w.message(3, 20, 0, 9, rtmpgen.command("_result", 2, None, 1))
    assert data[0] == 3
    events = rtmpgen.feed(data, role="server")
    assert not any(isinstance(e, HandshakePart) for e in events)
    names = [e.body.json_fields()["command"] for e in events if isinstance(e, Message)]
    assert names == ["_result", "onBWDone", "_result"]
