"""The committed captures are what MANIFEST.json says they are (no lab needed: file checks only)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from droidcap.rtmplab.pcapedit import read_pcap, tcp_segments
from droidcap.rtmplab.players import flv_tag_counts

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text())["captures"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_capture_matches_manifest(name: str) -> None:
    entry = MANIFEST[name]
    path = CAPTURES / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    pcap = read_pcap(path)
    assert pcap.linktype == entry["link"]["linktype"]
    assert len(pcap.records) == entry["packets"]
    segs = tcp_segments(pcap)
    port = entry["server"]["port"]
    assert all(port in (s.sport, s.dport) for s in segs)
    assert entry["publisher"]["client_port"] in {s.sport for s in segs}
    if entry["realistic_mtu"]:
        assert max(s.payload_len for s in segs) <= 1448
    if entry["starts_mid_connection"]:
        assert not any(s.flags & 0x02 for s in segs)
    else:
        assert sum(1 for s in segs if s.flags == 0x02) == 1 + len(entry["players"])  # one SYN per peer
    assert (CAPTURES / entry["tshark"]["file"]).read_text().startswith("frame.number\t")


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if MANIFEST[n]["publisher"]["flv_copy"]))
def test_publisher_flv_copy_matches_manifest(name: str) -> None:
    pub = MANIFEST[name]["publisher"]
    counts = flv_tag_counts(CAPTURES / pub["flv_copy"])
    assert {str(k): v for k, v in counts.items()} == pub["flv_tags_sent"]
    if pub["kind"] == "ffmpeg":
        assert counts[9] == pub["video"]["frames_published"] + 2  # + sequence header + end of sequence
        assert counts[8] == pub["audio"]["packets_published"] + 1  # + AAC sequence header


def test_gap_capture_lacks_exactly_the_listed_segments() -> None:
    gap = MANIFEST["nginx_mtu1500_gap"]
    source = read_pcap(CAPTURES / MANIFEST[gap["edits"]["source"].removesuffix(".pcap")]["file"])
    edited = read_pcap(CAPTURES / gap["file"])
    removed = {f for r in gap["edits"]["removed"] for f in r["original_frames"]}
    assert len(edited.records) == len(source.records) - len(removed)
    kept = [r.data for r in source.records if r.frame not in removed]
    assert [r.data for r in edited.records] == kept


def test_reordered_capture_has_one_swap_and_one_duplicate() -> None:
    entry = MANIFEST["nginx_mtu1500_reordered"]
    edits = entry["edits"]
    source = read_pcap(CAPTURES / edits["source"])
    edited = read_pcap(CAPTURES / entry["file"])
    assert len(edited.records) == len(source.records) + 1
    data = [r.data for r in edited.records]
    a, b = edits["swapped"]["original_frames"]
    src = {r.frame: r.data for r in source.records}
    assert data.index(src[b]) < data.index(src[a])
    assert data.count(src[edits["duplicated"]["original_frame"]]) == 2
