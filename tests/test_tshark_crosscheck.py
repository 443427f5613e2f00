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
from tests.test_real_sessions import COMPLETE, MANIFEST

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


# -- value for value: the tshark engine's AMF values and media header fields -----------------


AMF_KEYS = ("command", "transaction_id", "args", "name", "values")
MEDIA_KEYS = ("codec", "sound_format", "sound_rate", "sound_size", "channels", "codec_id", "frame_type")


def records(path: Path, engine: str) -> list[dict]:
    """The engine's message records, from the CLI (in a process of its own, see tshark_engine)."""
    done = run_cli("decode", str(path), "-f", "ndjson", "--engine", engine)
    assert done.returncode == 0, done.stderr
    items = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return [r for r in items if r["kind"] == "message" and not r.get("aggregate")]


def up_to_nul(value):
    """tshark shows a string up to its first NUL byte (nginx-rtmp pads `profile` and `level` in
    its onMetaData with 32 NULs); droidcap keeps every byte.  Compare what tshark can show."""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    if isinstance(value, list):
        return [up_to_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: up_to_nul(v) for k, v in value.items()}
    return value


@pytest.mark.slow
@pytest.mark.parametrize("path", [SAMPLE] + [CAPTURES / MANIFEST[name]["file"] for name in COMPLETE],
                         ids=lambda p: p.name)
def test_tshark_engine_rebuilds_the_same_amf_values_and_media_fields(path: Path):
    native = records(path, "native")
    tshark = records(path, "tshark")
    key = lambda r: (r["conn"], r["dir"], r["frame"], r["type_id"], r["length"])  # noqa: E731
    assert [key(r) for r in tshark] == [key(r) for r in native]
    amf_messages = 0
    for ours, theirs in zip(native, tshark):
        if ours["type_id"] in (15, 17, 18, 20):
            amf_messages += 1
            # Every command and data message is rebuilt completely from Wireshark's fields.
            assert ("args" in theirs) or ("values" in theirs), theirs
            for k in AMF_KEYS:
                if k in ours:
                    assert theirs[k] == up_to_nul(ours[k]), (theirs["frame"], k)
        elif ours["type_id"] in (8, 9) and ours["length"]:
            assert {k: theirs[k] for k in MEDIA_KEYS if k in theirs} == {
                k: ours[k] for k in MEDIA_KEYS if k in theirs
            }, theirs["frame"]
            assert "codec" in theirs
    assert amf_messages >= 6


# -- aggregates: one wire message, then its sub-messages ---------------------------------------


def fms_capture(path: Path) -> Path:
    """A pcap of a real Flash Media Server session (tests/data/fq: the two reassembled directions
    of a Wireshark sample capture), re-segmented into Ethernet/IPv4/TCP packets.  The server sends
    its media in five aggregate messages."""
    from tests.capture.capwriter import ACK, FIN, PSH, Conversation, Pkt, ethernet, pcap

    client = (DATA / "fq" / "client_stream").read_bytes()
    server = (DATA / "fq" / "server_stream").read_bytes()
    conv = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 1935))
    packets = [*conv.handshake(), conv.segment(True, client[:1537], ACK | PSH)]  # C0+C1 first
    c, s = 1537, 0
    while c < len(client) or s < len(server):
        if s < len(server):
            packets.append(conv.segment(False, server[s : s + 1400], ACK | PSH))
            s += 1400
        if c < len(client) and (s > 3073 or s >= len(server)):  # after S0+S1+S2
            packets.append(conv.segment(True, client[c : c + 1400], ACK | PSH))
            c += 1400
    packets += [conv.segment(True, flags=FIN | ACK), conv.segment(False, flags=FIN | ACK)]
    path.write_bytes(pcap([Pkt(time=1000 + n / 100, data=ethernet(p)) for n, p in enumerate(packets)]))
    return path


@pytest.mark.slow
def test_tshark_shows_each_aggregate_as_the_wire_message_droidcap_reports(tmp_path: Path):
    path = fms_capture(tmp_path / "fms_aggregates.pcap")
    native = run_cli("decode", str(path), "-f", "ndjson")
    tshark = run_cli("decode", str(path), "-f", "ndjson", "--engine", "tshark")
    assert native.returncode == 0 and tshark.returncode == 0, tshark.stderr
    wire = messages(native.stdout)
    assert wire == messages(tshark.stdout)
    assert sum(1 for m in wire if m[1] == 22) == 5
    # after each aggregate record come exactly its sub-messages, marked aggregate
    items = [json.loads(line) for line in native.stdout.decode().splitlines()]
    items = [r for r in items if r["kind"] == "message"]
    subs = 0
    for i, item in enumerate(items):
        if item["type_id"] == 22:
            n = item["sub_messages"]
            assert n > 0 and all(r.get("aggregate") for r in items[i + 1 : i + 1 + n])
            assert i + 1 + n == len(items) or not items[i + 1 + n].get("aggregate")
            subs += n
    assert subs == sum(1 for r in items if r.get("aggregate")) == 444


def test_the_table_counts_the_aggregates_a_media_run_came_in(tmp_path: Path):
    import io

    from droidcap.decode import decode_to, iter_items

    out = io.StringIO()
    decode_to(out, iter_items(fms_capture(tmp_path / "fms.pcap")), fmt="table")
    runs = [line for line in out.getvalue().splitlines() if "aggregate message(s)" in line]
    assert len(runs) == 1 and "video x101 (10 key), audio x356 in 5 aggregate message(s) over" in runs[0]
