"""Real RTMP players: ffmpeg (``-f null``) and rtmpdump (librtmp, writes an FLV).

Every player is bounded twice: ffmpeg by its own ``-t`` and a wall-clock kill; rtmpdump (whose
``-B`` stop offset is ignored for live streams: it plays until the publisher leaves, then idles for
its ``-m`` timeout) by a SIGINT after its play time, on which it closes the stream and the FLV.
The second bound is not paranoia: when the publisher leaves, nginx-rtmp only sends User Control
"Stream EOF" and ffmpeg 5.1 then waits forever, ignoring SIGTERM.
rtmpdump always runs with ``-v`` (live): without it, it treats the stream as VOD and adds
pause/deleteStream/createStream "resume" traffic that no real player sends.
"""

from __future__ import annotations

import re
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from droidcap.rtmplab.errors import LabTimeoutError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool

_IN_STREAM = re.compile(r"Input stream #\d+:\d+ \((video|audio)\): (\d+) packets read \((\d+) bytes\)")
_STATS_FRAME = re.compile(r"frame=\s*(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayResult:
    """What a finished player received.

    ffmpeg: ``video_packets``/``audio_packets`` from its input summary (``None`` if it had to be
    killed before printing one; ``video_frames`` then comes from its last progress line).
    rtmpdump: tag counts of the FLV it wrote, ``flv_bytes`` its size.  ``how`` tells whether the
    player ended on its own (``exited``), on the polite signal (``signalled``) or was ``killed``."""

    kind: str
    url: str
    returncode: int
    how: str
    video_frames: int
    video_packets: int | None = None
    audio_packets: int | None = None
    flv_path: Path | None = None
    flv_bytes: int | None = None


@dataclass(slots=True)
class Player:
    """A running player; :meth:`wait` returns its :class:`PlayResult` within a hard bound."""

    kind: str
    url: str
    seconds: float
    process: LabProcess
    flv_path: Path | None = None
    started: float = field(default_factory=time.monotonic)
    _result: PlayResult | None = field(default=None, repr=False)

    def wait(self, timeout: float | None = None) -> PlayResult:
        """Wait for the player to end by itself; past ``timeout`` (default: seconds + 15) stop it
        (SIGTERM/SIGINT, then SIGKILL) and report what it got anyway."""
        if self._result is not None:
            return self._result
        bound = self.seconds + 15.0 if timeout is None else timeout
        if self.kind == "rtmpdump":
            # rtmpdump does not stop a live stream by itself: end it after its play time.
            remaining = self.seconds - (time.monotonic() - self.started)
            try:
                exit_ = self.process.wait(max(0.0, remaining))
            except LabTimeoutError:
                exit_ = self.process.stop(signal.SIGINT, grace=3.0)
            self._result = self._summarise(exit_.returncode, exit_.how)
            return self._result
        try:
            exit_ = self.process.wait(bound)
        except LabTimeoutError:
            exit_ = self.process.stop(grace=3.0)
        self._result = self._summarise(exit_.returncode, exit_.how)
        return self._result

    def stop(self) -> PlayResult:
        """End the player now (bounded: SIGKILL after a grace period)."""
        exit_ = self.process.stop()
        self._result = self._summarise(exit_.returncode, exit_.how)
        return self._result

    def _summarise(self, rc: int, how: str) -> PlayResult:
        log = self.process.log_text()
        if self.kind == "ffmpeg":
            packets = {m.group(1): int(m.group(2)) for m in _IN_STREAM.finditer(log)}
            stats = _STATS_FRAME.findall(log)
            video_frames = packets.get("video", int(stats[-1]) if stats else 0)
            return PlayResult(kind=self.kind, url=self.url, returncode=rc, how=how,
                              video_frames=video_frames, video_packets=packets.get("video"),
                              audio_packets=packets.get("audio"))
        assert self.flv_path is not None
        counts = flv_tag_counts(self.flv_path)
        size = self.flv_path.stat().st_size if self.flv_path.exists() else 0
        return PlayResult(kind=self.kind, url=self.url, returncode=rc, how=how,
                          video_frames=counts.get(9, 0), video_packets=counts.get(9, 0),
                          audio_packets=counts.get(8, 0), flv_path=self.flv_path, flv_bytes=size)


def start_ffmpeg_player(reg: ProcessRegistry, url: str, *, seconds: float = 3.0,
                        netns: NetNamespace | None = None) -> Player:
    """``ffmpeg -i URL -t SECONDS -f null -``: decodes what it receives and discards it."""
    require_tool("ffmpeg")
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "verbose", "-stats_period", "0.5",
            "-i", url, "-t", f"{seconds:g}", "-f", "null", "-"]
    proc = reg.start("ffmpeg-player", netns.wrap(argv) if netns else argv,
                     stop_signal=signal.SIGTERM, stop_grace=3.0)
    return Player(kind="ffmpeg", url=url, seconds=seconds, process=proc)


def start_rtmpdump_player(reg: ProcessRegistry, url: str, out: Path, *, seconds: float = 3.0,
                          netns: NetNamespace | None = None) -> Player:
    """``rtmpdump -v -m 5 -r URL -o OUT``: librtmp's live play, saved as FLV, stopped with SIGINT
    ``seconds`` after it started (by :meth:`Player.wait`).

    rtmpdump exits 2 ("incomplete") for a live stream it did not finish: that is normal."""
    require_tool("rtmpdump")
    if "[" in url:
        raise ValueError("rtmpdump (librtmp 2.4) cannot parse IPv6 URLs; use the ffmpeg player")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ["rtmpdump", "-v", "-m", "5", "-r", url, "-o", str(out)]
    proc = reg.start("rtmpdump-player", netns.wrap(argv) if netns else argv,
                     stop_signal=signal.SIGINT, stop_grace=3.0)
    return Player(kind="rtmpdump", url=url, seconds=seconds, process=proc, flv_path=out)


def flv_tag_counts(path: Path) -> dict[int, int]:
    """Count the tags of an FLV file by type (8 audio, 9 video, 18 script); a truncated last tag
    (the player was killed mid-write) is not counted."""
    counts: dict[int, int] = {}
    try:
        data = path.read_bytes()
    except OSError:
        return counts
    if len(data) < 13 or data[:3] != b"FLV":
        return counts
    pos = struct.unpack(">I", data[5:9])[0] + 4
    while pos + 11 <= len(data):
        tag_type = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        end = pos + 11 + size + 4
        if end > len(data):
            break
        counts[tag_type] = counts.get(tag_type, 0) + 1
        pos = end
    return counts
