"""Two lab scenarios the summary must recognise, recorded with real nginx-rtmp, ffmpeg and tcpdump:

- ``pause``: an ffmpeg publisher that is stopped (SIGSTOP) for 3 s mid-stream and then resumed
  (SIGCONT), with an ffmpeg player watching; the facts are the wall-clock times of the two signals.
- ``not_found``: an ffmpeg player asking for a stream nobody publishes.

Used by tests/analysis/test_lab_scenarios.py (rtmplab-marked, recorded fresh) and by
``python tests/analysis/lab_scenarios.py`` to regenerate the small copies committed in
tests/data/summary/ (for the fast tests) with their facts in MANIFEST.json.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from droidcap.rtmplab.capture import Tcpdump
from droidcap.rtmplab.nginx import NginxRtmp
from droidcap.rtmplab.players import start_ffmpeg_player
from droidcap.rtmplab.procs import ProcessRegistry
from droidcap.rtmplab.publishers import PublisherSpec, start_ffmpeg_publisher

PAUSE_S = 3.0
PAUSE_AFTER_S = 2.0  # after the server logged the publish


def record_pause(reg: ProcessRegistry, workdir: Path, out: Path) -> dict[str, Any]:
    server = NginxRtmp.start(reg, workdir / "nginx")
    dump = Tcpdump.start(reg, out, port=server.port)
    spec = PublisherSpec(duration=7.0)
    pub = start_ffmpeg_publisher(reg, server.url("live", "test"), spec)
    server.wait_publishing("test")
    player = start_ffmpeg_player(reg, server.url("live", "test"), seconds=5.0)
    server.wait_playing("test")
    time.sleep(PAUSE_AFTER_S)
    stopped = time.time()
    pub.process.signal(signal.SIGSTOP)
    time.sleep(PAUSE_S)
    resumed = time.time()
    pub.process.signal(signal.SIGCONT)
    result = pub.wait()
    player.wait()
    dump.stop()
    return {"file": out.name, "scenario": "pause", "paused_at": stopped, "resumed_at": resumed,
            "pause_s": round(resumed - stopped, 3), "fps": spec.fps, "gop": spec.gop,
            "video_packets": result.video_packets, "server_port": server.port}


def record_not_found(reg: ProcessRegistry, workdir: Path, out: Path) -> dict[str, Any]:
    """A play of a file nobody has.  nginx-rtmp answers a live play of an unpublished stream with
    Play.Start (and waits for a publisher); its video-on-demand application answers a missing file
    with Play.StreamNotFound."""
    server = NginxRtmp.start(reg, workdir / "nginx-vod")
    dump = Tcpdump.start(reg, out, port=server.port)
    player = start_ffmpeg_player(reg, server.url("vod", "nobody.flv"), seconds=2.0)
    play = player.wait()
    dump.stop()
    return {"file": out.name, "scenario": "not_found", "stream": "nobody.flv",
            "player_returncode": play.returncode, "server_port": server.port}


def main() -> None:
    here = Path(__file__).resolve().parents[1] / "data" / "summary"
    work = Path("/tmp/droidcap-summary-captures")
    work.mkdir(exist_ok=True)
    facts = {}
    with ProcessRegistry(work / "logs") as reg:
        facts["pause"] = record_pause(reg, work, here / "nginx_publisher_pause3s.pcap")
    with ProcessRegistry(work / "logs2") as reg:
        facts["not_found"] = record_not_found(reg, work, here / "nginx_play_not_found.pcap")
    (here / "MANIFEST.json").write_text(json.dumps(facts, indent=2) + "\n")
    json.dump(facts, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
