"""Whole-chain decoding of the committed lab captures (tests/data/captures, see MANIFEST.json).

Each capture was recorded from real peers (nginx-rtmp or node-media-server, ffmpeg/GStreamer
publishers, ffmpeg/rtmpdump players), and the manifest records what the producers are known to
have sent.  These tests check droidcap's session view against those facts and against tshark's
message lists, run with the options that make tshark trustworthy.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache

import pytest

from droidcap.decode import iter_items
from droidcap.pipeline import DecodedEvent
from droidcap.render.records import event_record
from droidcap.session import ConnectionSummary, SessionTracker
from tests.conftest import DATA

CAPTURES = DATA / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text())["captures"]
COMPLETE = [name for name, entry in MANIFEST.items() if not entry["edits"] and not entry["starts_mid_connection"]]


@cache
def decoded(name: str) -> tuple[list[dict], list[ConnectionSummary]]:
    tracker = SessionTracker()
    records = []
    for item in iter_items(CAPTURES / MANIFEST[name]["file"]):
        tracker.feed(item)
        if type(item) is DecodedEvent:
            records.append(event_record(item))
    return records, tracker.summaries()


def by_client_port(summaries: list[ConnectionSummary], port: int) -> ConnectionSummary:
    (match,) = [s for s in summaries if s.client.endswith(f":{port}")]
    return match


def media_counts(records: list[dict], conn: int, direction: str) -> Counter:
    return Counter(str(r["type_id"]) for r in records
                   if r["conn"] == conn and r["dir"] == direction and r["kind"] == "message")


@pytest.mark.parametrize("name", COMPLETE)
def test_publisher_session_matches_what_was_published(name):
    entry = MANIFEST[name]
    records, summaries = decoded(name)
    publisher = by_client_port(summaries, entry["publisher"]["client_port"])
    assert publisher.role == "publisher"
    assert publisher.connect["app"] == entry["server"]["app"]
    assert [s.name for s in publisher.streams if s.action == "publish"] == [entry["server"]["stream"]]
    assert publisher.gaps == 0 and publisher.skipped_bytes == 0 and publisher.uncertain == 0
    for milestone in ("handshake_done", "connect_result", "create_stream_result", "publish_start",
                      "first_video_keyframe", "first_audio"):
        assert publisher.milestone(milestone) is not None, milestone
    sent = media_counts(records, publisher.conn, "c2s")
    tags = entry["publisher"]["flv_tags_sent"]
    # every FLV tag the publisher sent is one RTMP message: exactly those audio and video counts
    assert sent["8"] == tags["8"] and sent["9"] == tags["9"]
    if entry["publisher"]["kind"] == "ffmpeg":
        assert sent["18"] == tags["18"]
        assert publisher.milestone("first_metadata") is not None


@pytest.mark.parametrize("name", COMPLETE)
def test_players_receive_what_they_demuxed(name):
    entry = MANIFEST[name]
    records, summaries = decoded(name)
    for player_facts in entry["players"]:
        player = by_client_port(summaries, player_facts["client_port"])
        assert player.role == "player"
        assert player.milestone("play_start") is not None
        got = media_counts(records, player.conn, "s2c")
        # the demuxer does not count sequence headers: the wire carries at least what it counted
        if "video_packets_demuxed" in player_facts:
            assert got["9"] >= player_facts["video_packets_demuxed"] > 0
            assert got["8"] >= player_facts["audio_packets_demuxed"] > 0


@pytest.mark.parametrize("name", COMPLETE)
def test_never_fewer_messages_than_tshark(name):
    """tshark (right options) is a lower bound: droidcap must find every message it finds, and
    control/command messages exactly (tshark's known losses are media, see MANIFEST)."""
    entry = MANIFEST[name]
    records, summaries = decoded(name)
    for key, tshark_counts in entry["tshark"]["messages_by_typeid"].items():
        _, port, direction = key.split()
        conn = by_client_port(summaries, int(port)).conn
        ours = media_counts(records, conn, direction)
        for type_id, count in tshark_counts.items():
            if type_id == "20":
                assert ours[type_id] == count, (key, type_id)
            else:
                assert ours[type_id] >= count, (key, type_id)


def test_acknowledgements_tshark_misses_are_plausible():
    """With 128-byte chunks tshark loses most players' Acknowledgements (2 of them found); ours
    must be plausible: each acknowledges more bytes than the one before."""
    records, summaries = decoded("nginx_chunk128_acks_mtu1500")
    acks = [r for r in records if r.get("type") == "acknowledgement"]
    assert len(acks) > 2
    for summary in summaries:
        sequences = [r["sequence"] for r in acks if r["conn"] == summary.conn]
        assert sequences == sorted(set(sequences))


def test_ipv6_endpoints_are_bracketed():
    records, summaries = decoded("nginx_ipv6")
    assert all(s.server.startswith("[::1]:") for s in summaries)
    assert records[0]["client"].startswith("[::1]:")


def test_chunk_size_128_publisher():
    records, summaries = decoded("nginx_gst_publisher")
    publisher = by_client_port(summaries, MANIFEST["nginx_gst_publisher"]["publisher"]["client_port"])
    assert "c2s" not in publisher.chunk_size or publisher.chunk_size["c2s"] == 128


def test_node_media_server_large_chunks():
    records, summaries = decoded("nms_ffmpeg_players")
    sizes = [r["chunk_size"] for r in records if r.get("type") == "set_chunk_size" and r["dir"] == "s2c"]
    assert sizes and max(sizes) >= 60000


def _essentials(records: list[dict]) -> list[tuple]:
    return [(r["conn"], r["dir"], r["kind"], r.get("type_id"), r.get("timestamp"), r.get("length"), r.get("part"))
            for r in records]


def _loose(records: list[dict]) -> list[tuple]:
    return [(r["conn"], r["dir"], r["kind"], r.get("type_id"), r.get("length")) for r in records]


def test_reordered_and_duplicated_segments_change_nothing():
    original, _ = decoded("nginx_mtu1500")
    edited, _ = decoded("nginx_mtu1500_reordered")
    assert _essentials(edited) == _essentials(original)


def test_removed_segments_become_exact_gaps_and_decoding_resumes():
    entry = MANIFEST["nginx_mtu1500_gap"]
    records, summaries = decoded("nginx_mtu1500_gap")
    gaps = sorted(r["size"] for r in records if r["kind"] == "gap")
    assert gaps == sorted(removed["bytes_missing"] for removed in entry["edits"]["removed"])
    original, _ = decoded("nginx_mtu1500")
    for gap in (r for r in records if r["kind"] == "gap"):
        # what follows a gap is accounted for: decoded again, or reported as skipped
        after = [r for r in records if r["conn"] == gap["conn"] and r["dir"] == gap["dir"] and r["frame"] > gap["frame"]]
        assert after and after[0]["kind"] in ("skipped", "sync", "message")
    player_gap = next(r for r in records if r["kind"] == "gap" and r["size"] == 1448)
    assert any(r["kind"] == "message" and r["conn"] == player_gap["conn"] and r["frame"] > player_gap["frame"]
               for r in records), "the player's stream resynchronises after its gap"
    # nothing after a gap is invented: every message decoded is one the full capture has too
    # (uncertain ones after a gap: on a csid without a fmt 0 header since, so their timestamps
    # restart from the deltas seen; everything else must match)
    full = Counter(_essentials(original))
    certain = [r for r in records if r["kind"] == "message" and not r.get("uncertain")]
    for key, count in Counter(_essentials(certain)).items():
        assert full[key] >= count, key
    full_loose = Counter(_loose(original))
    uncertain = [r for r in records if r["kind"] == "message" and r.get("uncertain")]
    for key, count in Counter(_loose(uncertain)).items():
        assert full_loose[key] >= count, key
    # the publisher (fmt 1/3 media headers only) resynchronises after its gap: what was sent is
    # found again but for the video frame the gap cut
    publisher = by_client_port(summaries, entry["publisher"]["client_port"])
    gap = next(r for r in records if r["kind"] == "gap" and r["conn"] == publisher.conn)
    upload = [r for r in records if r["conn"] == publisher.conn and r["dir"] == "c2s"
              and r["kind"] == "message" and r["type_id"] in (8, 9, 18)]
    after = [r for r in upload if r["frame"] > gap["frame"]]
    assert after and all(r.get("uncertain") for r in after)
    assert not any(r.get("uncertain") for r in upload if r["frame"] < gap["frame"])
    tags = sum(entry["publisher"]["flv_tags_sent"].values())
    assert tags - 2 <= len(upload) < tags
    assert not [r for r in records if r["conn"] == publisher.conn and r["dir"] == "c2s"
                and r["kind"] == "skipped" and r["frame"] > gap["frame"]]


def test_capture_started_mid_connection():
    entry = MANIFEST["nginx_midconnection"]
    records, summaries = decoded("nginx_midconnection")
    assert summaries and all(s.mid_connection for s in summaries)
    assert not any(r["kind"] == "handshake" for r in records)
    assert any(r["kind"] == "sync" for r in records)
    server = f"{entry['server']['host']}:{entry['server']['port']}"
    # no SYN, no handshake, no command: the roles still come out right
    assert all(s.server == server for s in summaries)
    for facts in entry["players"]:
        player = by_client_port(summaries, facts["client_port"])
        assert player.role == "player"
        assert 0 < media_counts(records, player.conn, "s2c")["9"]
    # the publisher sends media with fmt 1/3 headers only: its flow is still recognised, its
    # media decoded (uncertain: no fmt 0 header, so stream id and timestamps are guesses)
    publisher = by_client_port(summaries, entry["publisher"]["client_port"])
    assert publisher.role == "publisher"
    upload = [r for r in records if r["conn"] == publisher.conn and r["dir"] == "c2s"
              and r["kind"] == "message"]
    assert upload and all(r.get("uncertain") for r in upload)
    sent = media_counts(records, publisher.conn, "c2s")
    tags = entry["publisher"]["flv_tags_sent"]
    # the capture started after the first messages: a suffix of what was sent, nearly all of it
    assert 0.5 * tags["8"] < sent["8"] <= tags["8"] and 0.5 * tags["9"] < sent["9"] <= tags["9"]
