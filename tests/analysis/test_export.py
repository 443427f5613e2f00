"""Exports checked by the real tools: the FLV by ffprobe, ffmpeg and flvmeta (and our own
spec-based reader), its frame count and duration against the decoded messages; the pcap by
decoding it again."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from droidcap.analysis.flv import enhanced_hevc, file_header, tag
from droidcap.decode import iter_items
from droidcap.errors import NoMediaError
from droidcap.export import export_flv, export_ndjson, export_pcap
from droidcap.pipeline import DecodedEvent
from droidcap.render.records import event_record
from droidcap.rtmp.events import Message
from droidcap.summarise import summarise
from tests.analysis.flvread import read_flv
from tests.conftest import DATA

CAPTURES = DATA / "captures"
# Every kind of connection: ffmpeg/GStreamer publishers, ffmpeg/rtmpdump players, node-media-server,
# 128-byte chunks, a mid-connection start, TCP gaps, a 3 s pause.
CASES = [("captures", "nginx_ffmpeg_players.pcap"), ("captures", "nms_ffmpeg_players.pcap"),
         ("captures", "nginx_gst_publisher.pcap"), ("captures", "nginx_chunk128_acks_mtu1500.pcap"),
         ("captures", "nginx_midconnection.pcap"), ("captures", "nginx_mtu1500_gap.pcap"),
         ("summary", "nginx_publisher_pause3s.pcap")]


def connections(folder: str, name: str) -> list[tuple[str, str, int]]:
    summary = summarise(DATA / folder / name)
    return [(folder, name, c.conn) for c in summary.connections]


# The publisher of the mid-connection capture has no sequence header at all (tested below).
ALL = [case for folder, name in CASES for case in connections(folder, name)
       if case != ("captures", "nginx_midconnection.pcap", 2)]


def tool(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)


def decoded_media(path: Path, conn: int, direction: str) -> list[Message]:
    return [i.event for i in iter_items(path) if type(i) is DecodedEvent and i.connection.conn == conn
            and i.dir.value == direction and type(i.event) is Message and i.event.type_id in (8, 9)]


@pytest.mark.parametrize(("folder", "name", "conn"), ALL)
def test_flv_passes_ffprobe_ffmpeg_and_flvmeta(folder, name, conn, tmp_path):
    src = DATA / folder / name
    out = tmp_path / "out.flv"
    result = export_flv(src, conn, out)
    r = result.report
    probe = tool("ffprobe", "-v", "error", "-count_frames", "-show_entries",
                 "stream=codec_type,nb_read_frames:format=duration", "-of", "json", str(out))
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    decode = tool("ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-f", "null", "-")
    assert decode.returncode == 0 and decode.stdout == "" and decode.stderr == "", decode.stderr
    check = tool("flvmeta", "--check", str(out))
    assert check.returncode == 0 and re.search(r"^0 error\(s\)", check.stdout, re.MULTILINE), check.stdout
    # The file as the spec says: onMetaData first, sequence headers before coded frames.
    flv = read_flv(out)
    mid = "midconnection" in name
    assert flv.tags[0].type == 18 and flv.tags[0].data[3:13] == b"onMetaData" or mid  # onMetaData was before
    assert result.left_out == (("audio",) if mid else ())  # its AAC sequence header came before the capture
    assert flv.flags == (1 if mid else 5)
    for kind, coded in ((9, "video_packet"), (8, "audio_packet")):
        packets = [getattr(t, coded) for t in flv.tags if t.type == kind]
        assert not packets or packets.index(0) < packets.index(1)
    # Frame counts and duration against the decoded messages.
    streams = {s["codec_type"]: int(s["nb_read_frames"]) for s in json.loads(probe.stdout)["streams"]}
    media = decoded_media(src, conn, result.direction)
    coded_video = [m for m in media if m.type_id == 9 and m.body.avc_packet_type == "nalu"]
    coded_audio = [m for m in media if m.type_id == 8 and m.body.aac_packet_type == "raw"]
    assert streams["video"] == r.video_frames == len(flv.coded_video())
    assert r.video_frames + sum(d.track == "video" for d in r.dropped) == len(coded_video)
    if not mid:
        assert streams["audio"] == r.audio_packets == len(flv.coded_audio())
        assert r.audio_packets + sum(d.track == "audio" for d in r.dropped) == len(coded_audio)
    last = max(t.timestamp for t in flv.tags if t.type in (8, 9))
    assert float(json.loads(probe.stdout)["format"]["duration"]) == pytest.approx(last / 1000, abs=0.05)
    if "gap" not in name and not mid:
        assert r.dropped_count == 0
        assert last == max(m.timestamp for m in media) - min(m.timestamp for m in media)


def test_flv_of_a_connection_without_sequence_headers_is_refused(tmp_path):
    with pytest.raises(NoMediaError, match="no sequence header in the capture"):
        export_flv(CAPTURES / "nginx_midconnection.pcap", 2, tmp_path / "x.flv")
    assert not list(tmp_path.iterdir())  # no half file left behind


def test_flv_after_a_gap_drops_the_damaged_frames_and_says_so(tmp_path):
    result = export_flv(CAPTURES / "nginx_mtu1500_gap.pcap", 0, tmp_path / "gap.flv")
    dropped = result.report.dropped
    assert dropped and {d.reason for d in dropped} == {"after_gap"}
    assert all(d.frame >= 1401 for d in dropped)  # nothing before the gap is lost
    flv = read_flv(tmp_path / "gap.flv")
    stamps = [t.timestamp for t in flv.tags if t.type == 9]
    assert stamps == sorted(stamps)


def test_flv_tag_layout():
    head = file_header(has_audio=True, has_video=False)
    assert head == b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00"
    t = tag(9, 0x12345678, b"\x17\x01\x00\x00\x21xyz")
    assert t[:11] == bytes([9, 0, 0, 8, 0x34, 0x56, 0x78, 0x12, 0, 0, 0])
    assert t[11:-4] == b"\x17\x01\x00\x00\x21xyz" and t[-4:] == (19).to_bytes(4, "big")


def test_legacy_hevc_becomes_enhanced_rtmp_keeping_composition_time():
    seq = bytes([0x1C, 0, 0, 0, 0]) + b"HVCC"
    frame = bytes([0x2C, 1, 0, 0, 0x28]) + b"NALS"
    assert enhanced_hevc(seq) == bytes([0x90]) + b"hvc1" + b"HVCC"
    assert enhanced_hevc(frame) == bytes([0xA1]) + b"hvc1" + b"\x00\x00\x28" + b"NALS"


def comparable(path: Path, conn: int) -> list[dict]:
    """A connection's decoded items without what depends on the file (frame numbers, conn index),
    each named by its sender: a capture that starts mid-connection tells client from server by the
    other flows of the same server, which a one-connection file does not have."""
    out = []
    for item in iter_items(path):
        if type(item) is DecodedEvent and item.connection.conn == conn:
            record = event_record(item)
            client, server, direction = record.pop("client"), record.pop("server"), record.pop("dir")
            record["sender"] = client if direction == "c2s" else server
            for key in ("conn", "frame"):
                record.pop(key)
            out.append(record)
    return out


@pytest.mark.parametrize(("folder", "name", "conn"), [
    ("captures", "nginx_ffmpeg_players.pcap", 2), ("captures", "nginx_any_sll2.pcap", 0),
    ("captures", "nginx_ipv6.pcap", 1), ("captures", "nginx_mtu1500_gap.pcap", 0),
    ("captures", "nginx_midconnection.pcap", 1)])
def test_exported_pcap_decodes_to_the_same_messages(folder, name, conn, tmp_path):
    src = DATA / folder / name
    out = tmp_path / "conn.pcap"
    exported = export_pcap(src, conn, out)
    assert exported.packets > 0
    assert comparable(out, 0) == comparable(src, conn)
    probe = tool("tshark", "-n", "-r", str(out), "-T", "fields", "-e", "tcp.stream")
    assert probe.returncode == 0 and set(probe.stdout.split()) == {"0"}  # one TCP flow, as tshark sees it
    assert len(probe.stdout.split()) == exported.packets


def test_ndjson_export_is_the_connections_decode(tmp_path):
    src = CAPTURES / "nginx_ffmpeg_players.pcap"
    out = tmp_path / "c1.ndjson"
    exported = export_ndjson(src, 1, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == exported.records > 100 and {line["conn"] for line in lines} == {1}
