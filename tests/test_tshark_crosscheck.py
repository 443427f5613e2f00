"""droidcap's decoder against Wireshark's (tshark, through pyshark and directly) on real captures.

tshark is the oracle only where it is trustworthy: with ``rtmpt.max_packet_size`` raised and the
RTMP port declared.  The lab captures' manifest says what the producer is known to have sent, so
counts are also checked against that rather than against tshark alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli

SAMPLE = DATA / "wireshark_rtmp_sample.cap"
CAPTURES = DATA / "captures"


def messages(stdout: bytes) -> list[tuple]:
    """(dir, type_id, stream_id, length, command) per message, in order."""
    out = []
    for line in stdout.decode().splitlines():
        item = json.loads(line)
        if item["kind"] == "message" and not item.get("aggregate"):
            out.append((item["dir"], item["type_id"], item["stream_id"], item["length"], item.get("command")))
    return out


@pytest.mark.slow
def test_tshark_engine_agrees_on_the_wireshark_sample():
    native = run_cli("decode", str(SAMPLE), "-f", "ndjson")
    tshark = run_cli("decode", str(SAMPLE), "-f", "ndjson", "--engine", "tshark")
    assert native.returncode == 0 and tshark.returncode == 0, tshark.stderr
    assert messages(native.stdout) == messages(tshark.stdout)
    handshake = [json.loads(line)["part"] for line in tshark.stdout.decode().splitlines()
                 if json.loads(line)["kind"] == "handshake"]
    assert sorted(handshake) == ["C0", "C1", "C2", "S0", "S1", "S2"]
