"""Cross-check against real nginx-rtmp / node-media-server captures: the publisher's own count
of FLV tags it sent (tests/data/captures/MANIFEST.json) must equal the audio, video and data
messages decoded from its upload direction."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from droidcap.decode import iter_items
from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.events import Gap, Message, Skipped

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text())["captures"]
COMPLETE = sorted(
    name
    for name, facts in MANIFEST.items()
    if not facts["starts_mid_connection"] and "gap" not in name
)


def upload(name: str) -> list:
    """Events of the publisher's client-to-server direction."""
    port = MANIFEST[name]["publisher"]["client_port"]
    return [
        item.event
        for item in iter_items(CAPTURES / MANIFEST[name]["file"])
        if isinstance(item, DecodedEvent)
        and item.connection.client[1] == port
        and item.dir.name == "C2S"
    ]


@pytest.mark.parametrize("name", COMPLETE)
def test_publisher_tags_all_decoded(name: str) -> None:
    events = upload(name)
    counts = Counter(
        str(e.type_id) for e in events if isinstance(e, Message) and e.type_id in (8, 9, 18)
    )
    assert counts == MANIFEST[name]["publisher"]["flv_tags_sent"]
    assert not [e for e in events if isinstance(e, Skipped | Gap)]
    assert not any(e.uncertain for e in events if isinstance(e, Message))


def test_gap_capture_reports_the_gap_and_recovers_what_follows() -> None:
    events = upload("nginx_mtu1500_gap")
    gaps = [e for e in events if isinstance(e, Gap)]
    (lost,) = [r["bytes_missing"] for r in MANIFEST["nginx_mtu1500_gap"]["edits"]["removed"]
               if r["connection"] == "publisher upload"]
    assert [g.size for g in gaps] == [lost]
    at = events.index(gaps[0])
    media = [e for e in events if isinstance(e, Message) and e.type_id in (8, 9)]
    before = [m for m in media if events.index(m) < at]
    after = [m for m in media if events.index(m) > at]
    # before the gap all certain; after it ffmpeg sends fmt 1/3 headers only: recovered, but
    # stream id (the csid's from before the gap) and timestamp are not known, so uncertain
    assert before and not any(m.uncertain for m in before)
    assert after and all(m.uncertain for m in after)
    assert {m.stream_id for m in after} == {m.stream_id for m in before} == {1}
    sent = MANIFEST["nginx_mtu1500_gap"]["publisher"]["flv_tags_sent"]
    # a few segments lost: one video frame at most, nothing skipped after the gap
    assert int(sent["8"]) + int(sent["9"]) - 2 <= len(media) < int(sent["8"]) + int(sent["9"])
    assert sum(e.size for e in events[at:] if isinstance(e, Skipped)) == 0
    for part in (before, after):
        timestamps = [m.timestamp for m in part if m.type_id == 9]
        assert timestamps == sorted(timestamps)


@pytest.mark.parametrize("name", COMPLETE)
def test_publisher_codec_configuration_matches_what_was_published(name: str) -> None:
    """The AVC sequence header gives the published size and the AAC one the published rate and
    channels; no media message of a clean capture is malformed."""
    events = upload(name)
    published = MANIFEST[name]["publisher"]
    media = [e for e in events if isinstance(e, Message) and e.type_id in (8, 9)]
    assert not [m for m in media if m.body.malformed], name
    avc = [m.body for m in media if m.type_id == 9 and m.body.avc_packet_type == "sequence_header"]
    assert [(v.width, v.height) for v in avc] == [(published["video"]["width"], published["video"]["height"])]
    aac = [m.body for m in media if m.type_id == 8 and m.body.aac_packet_type == "sequence_header"]
    assert [(a.sample_rate, a.channel_config) for a in aac] == [
        (published["audio"]["sample_rate"], published["audio"]["channels"])
    ]
