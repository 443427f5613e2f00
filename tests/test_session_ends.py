"""A connection's end is its own: ``closed`` is its FIN or RST, never the end of the capture.

The capture here is built from a real one (tests/data/captures/nginx_ffmpeg_players.pcap): the
publisher's connection without its closing RST — as if tcpdump had been stopped while it was
live — followed by the two players' connections moved fifteen years later, so the capture ends
long after the publisher's last packet.  Every milestone and summary figure of each connection
must stay within that connection's own few seconds.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from droidcap.decode import decode_to, iter_items
from droidcap.rtmplab.pcapedit import Pcap, read_pcap, tcp_segment, write_pcap
from droidcap.session import ConnectionSummary
from tests.conftest import DATA

SOURCE = DATA / "captures" / "nginx_ffmpeg_players.pcap"
PUBLISHER_PORT = 45680  # client port of the publisher (MANIFEST.json)
LATER = 15 * 365 * 24 * 3600  # seconds the players are moved forward
SPAN = 60.0  # every connection of the source lasts well under a minute


def far_apart(tmp_path: Path) -> tuple[Path, float]:
    """The built capture, and the time of the publisher's last captured packet."""
    pcap = read_pcap(SOURCE)
    old, new = [], []
    for record in pcap.records:
        segment = tcp_segment(pcap, record)
        assert segment is not None
        if PUBLISHER_PORT in (segment.sport, segment.dport):
            if not segment.flags & 0x05:  # drop its FIN/RST: it never closed in this capture
                old.append(record)
        else:
            new.append(replace(record, ts_sec=record.ts_sec + LATER))
    records = tuple(replace(r, frame=n) for n, r in enumerate([*old, *new], start=1))
    path = tmp_path / "far_apart.pcap"
    write_pcap(path, Pcap(endian=pcap.endian, nanosecond=pcap.nanosecond, header=pcap.header,
                          linktype=pcap.linktype, records=records))
    last = old[-1]
    return path, last.ts_sec + last.ts_frac / (1e9 if pcap.nanosecond else 1e6)


def document(path: Path) -> dict:
    out = io.StringIO()
    decode_to(out, iter_items(path), fmt="json")
    return json.loads(out.getvalue())


def table(path: Path) -> str:
    out = io.StringIO()
    decode_to(out, iter_items(path), fmt="table")
    return out.getvalue()


def summaries(path: Path) -> list[ConnectionSummary]:
    out = io.StringIO()
    return decode_to(out, iter_items(path), fmt="ndjson").summaries


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    return far_apart(tmp_path_factory.mktemp("ends"))


def test_an_unclosed_connection_is_open_at_the_end_with_its_own_last_activity(capture) -> None:
    path, last_packet = capture
    (publisher,) = [s for s in summaries(path) if s.client.endswith(f":{PUBLISHER_PORT}")]
    assert publisher.role == "publisher"
    assert publisher.milestone("closed") is None
    assert publisher.state == "open" and publisher.open_at_end
    assert publisher.ends == {"c2s": "eof", "s2c": "eof"}
    # its last activity is its own last packet's, not the capture's end fifteen years on
    assert last_packet - 5 < publisher.last_time <= last_packet
    assert publisher.last_time - publisher.first_time < SPAN


def test_every_figure_of_every_connection_stays_within_its_own_span(capture) -> None:
    path, _ = capture
    doc = document(path)
    conns = doc["connections"]
    assert len(conns) == 3
    for conn in conns:
        assert conn["last_time"] - conn["first_time"] < SPAN, conn["conn"]
        assert 0 <= conn["last_activity"]["after_ms"] < SPAN * 1000
        for name, milestone in conn["milestones"].items():
            assert 0 <= milestone["after_ms"] < SPAN * 1000, (conn["conn"], name)
        for txn in conn["transactions"]:
            assert txn["latency_ms"] is None or 0 <= txn["latency_ms"] < SPAN * 1000
    players = [c for c in conns if c["role"] == "player"]
    assert len(players) == 2
    for player in players:  # they did close, with their own FIN/RST
        assert player["state"] == "closed" and not player["open_at_end"]
        assert set(player["ends"].values()) <= {"fin", "rst"}
        # closed is its first FIN or RST; the other side may still answer after it
        assert player["milestones"]["closed"]["after_ms"] <= player["last_activity"]["after_ms"]
    (publisher,) = [c for c in conns if c["role"] == "publisher"]
    assert "closed" not in publisher["milestones"]
    assert publisher["state"] == "open" and publisher["open_at_end"]
    # the events of the old connection keep their own times too
    assert max(e["time"] for e in doc["events"] if e["conn"] == publisher["conn"]) == publisher["last_time"]


def test_the_table_says_open_at_the_end_with_the_last_activity(capture) -> None:
    path, _ = capture
    text = table(path)
    blocks = text.split("\n\n")
    (publisher,) = [b for b in blocks if f":{PUBLISHER_PORT} ->" in b]
    assert "closed +" not in publisher
    assert "end: still open at the end of the capture (no FIN or RST); last activity +" in publisher
    players = [b for b in blocks if "| player" in b]
    assert len(players) == 2 and all("closed +" in b and "end:" not in b for b in players)
    # no figure in the table is anywhere near the fifteen years between the connections
    for line in text.splitlines():
        for word in line.replace("(", " ").split():
            if word.startswith("+") and word[1:].replace(".", "").isdigit():
                assert float(word[1:]) < SPAN * 1000, line
        first = line.split()[0] if line.split() else ""
        if first.replace(".", "").isdigit():
            assert float(first) < SPAN * 1000, line
