"""record() end to end on virtual devices: nginx-rtmp, an ffmpeg publisher, the device's player."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from droidcap.decode import iter_items
from droidcap.device.record import Phase, RecordOptions, record
from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.commands import Command
from droidcap.rtmp.events import Message
from droidcap.session import SessionTracker

from tests.device.conftest import no_tcpdump_left

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def _commands(pcap: Path) -> list[str]:
    names = []
    for item in iter_items(pcap):
        if isinstance(item, DecodedEvent) and isinstance(item.event, Message) \
                and isinstance(item.event.body, Command):
            names.append(item.event.body.command)
    return names


@pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)
@pytest.mark.parametrize("profile", ["magisk", "emulator"])
def test_record_play_captures_the_whole_session(profile, device_for, adb_server, rtmp_server,
                                               rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=30)
    vdev, dev = device_for(profile)
    events = []
    out = tmp_path / "cap.pcap"
    result = record(dev, RecordOptions(play=rtmp_server.url(host=vdev.host_address), duration=6, output=out),
                    on_event=events.append)
    assert result.pcap == out and out.exists() and not out.with_name("cap.pcap.part").exists()
    names = _commands(out)
    assert names[:1] == ["connect"] and "play" in names, names
    tracker = SessionTracker()
    for item in iter_items(out):
        tracker.feed(item)
    player = [s for s in tracker.summaries() if s.role == "player"]
    assert player, [s.role for s in tracker.summaries()]
    reached = {m.name for m in player[0].milestones}
    assert {"handshake_done", "connect_result", "play_start", "first_video_keyframe"} <= reached
    meta = json.loads(result.metadata.read_text())
    assert meta["file"]["sha256"] == result.pulled.sha256
    assert meta["tcpdump"]["source"] == "ours" and meta["tcpdump"]["abi"] == "x86_64"
    assert meta["tcpdump_counts"]["captured"] > 0
    assert "not (tcp port" in meta["filter"]  # adb over TCP is never captured
    assert any(isinstance(e, Phase) and "playing" in e.text for e in events)
    assert no_tcpdump_left(adb_server, vdev.serial)
    ls = adb_server.run("shell", "ls /data/local/tmp/droidcap/captures", serial=vdev.serial)
    assert ls.stdout.strip() == b""  # deleted on the device once verified
