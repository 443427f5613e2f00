"""Real RTMP publishers: ffmpeg (libx264 + AAC) and GStreamer (rtmp2sink, chunk size 128).

Both generate their media (test pattern + tone) so runs need no input files, and both encode with
a short GOP: nginx-rtmp holds video back from a new player until the next keyframe, so with the
default GOP of 250 frames a 4-second player would see no video at all.  ffmpeg runs with
``-loglevel verbose`` because its final per-stream summary ("50 packets muxed") is the exact count
of media packets it sent — a known fact the decoder tests compare against.  Better still, ffmpeg
can write the very FLV tag stream it publishes to a file as well (``-f tee``): libavformat's RTMP
output turns each FLV tag into one RTMP message, so that file lists every message the publisher
sent, byte for byte (``flvflags=no_duration_filesize`` keeps the file's onMetaData identical to
the one on the wire, since a seekable file would otherwise get duration/filesize patched in).
"""

from __future__ import annotations

import math
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from droidcap.rtmplab.errors import LabProcessError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.players import flv_tag_counts
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool

# ffmpeg's rtmp protocol announces this outgoing chunk size right after connect (libavformat/rtmpproto.c).
FFMPEG_CHUNK_SIZE = 4096
_OUT_STREAM = re.compile(
    r"Output stream #\d+:\d+ \((video|audio)\): (\d+) frames encoded(?: \(\d+ samples\))?; "
    r"(\d+) packets muxed \((\d+) bytes\)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublisherSpec:
    """What to publish.  Defaults make a small stream (320x180, 200 kbit/s) for committed captures.

    ``duration`` × ``fps`` is the number of video frames sent; ``gop`` is the keyframe interval in
    frames; ``metadata`` ends up in the ``onMetaData`` the publisher sends (``@setDataFrame``)."""

    duration: float = 4.0
    width: int = 320
    height: int = 180
    fps: int = 25
    gop: int = 25
    video_bitrate: int = 200_000
    audio: bool = True
    audio_rate: int = 44100
    audio_channels: int = 1
    audio_bitrate: int = 64_000
    metadata: tuple[tuple[str, str], ...] = (("title", "droidcap lab"),)

    @property
    def video_frames(self) -> int:
        return round(self.fps * self.duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What a finished publisher reports about itself.

    Counts are media packets handed to the RTMP muxer (ffmpeg's own summary; for GStreamer the
    number of buffers the sources produced); the FLV/RTMP stream adds one sequence-header message
    per track (AVC decoder configuration, AAC AudioSpecificConfig) and one ``@setDataFrame``."""

    kind: str
    url: str
    returncode: int
    video_packets: int | None
    audio_packets: int | None
    video_bytes: int | None = None
    audio_bytes: int | None = None
    chunk_size: int = FFMPEG_CHUNK_SIZE
    flv_copy: Path | None = None
    flv_tags: dict[int, int] | None = None


@dataclass(slots=True)
class Publisher:
    """A running publisher.  :meth:`wait` bounds its run; the registry stops it on failure."""

    kind: str
    url: str
    spec: PublisherSpec
    process: LabProcess
    chunk_size: int
    flv_copy: Path | None = None
    _result: PublishResult | None = field(default=None, repr=False)

    def wait(self, timeout: float | None = None) -> PublishResult:
        """Wait for the publisher to finish (default bound: its duration + 20 s)."""
        if self._result is not None:
            return self._result
        bound = self.spec.duration + 20.0 if timeout is None else timeout
        exit_ = self.process.wait(bound)
        log = self.process.log_text()
        if exit_.returncode != 0:
            raise LabProcessError(f"{self.kind} publisher to {self.url} failed with {exit_.returncode}; "
                                  f"log tail:\n{self.process.log_tail()}")
        if self.kind == "ffmpeg":
            counts = {m.group(1): (int(m.group(3)), int(m.group(4))) for m in _OUT_STREAM.finditer(log)}
            video = counts.get("video", (None, None))
            audio = counts.get("audio", (None, None))
            self._result = PublishResult(kind=self.kind, url=self.url, returncode=exit_.returncode,
                                         video_packets=video[0], video_bytes=video[1],
                                         audio_packets=audio[0], audio_bytes=audio[1],
                                         chunk_size=self.chunk_size, flv_copy=self.flv_copy,
                                         flv_tags=flv_tag_counts(self.flv_copy) if self.flv_copy else None)
        else:
            self._result = PublishResult(kind=self.kind, url=self.url, returncode=exit_.returncode,
                                         video_packets=self.spec.video_frames,
                                         audio_packets=gst_audio_buffers(self.spec) if self.spec.audio else 0,
                                         chunk_size=self.chunk_size, flv_copy=self.flv_copy,
                                         flv_tags=flv_tag_counts(self.flv_copy) if self.flv_copy else None)
        return self._result

    def stop(self) -> None:
        self.process.stop()


def ffmpeg_publish_argv(url: str, spec: PublisherSpec, *, flv_copy: Path | None = None) -> list[str]:
    """The ffmpeg command line of a live publisher (``-re``: real time, as a phone app would);
    with ``flv_copy`` the same FLV tag stream is also written to that file."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "verbose", "-re",
            "-f", "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}"]
    if spec.audio:
        argv += ["-re", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={spec.audio_rate}"]
    argv += ["-t", f"{spec.duration:g}",
             "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
             "-g", str(spec.gop), "-keyint_min", str(spec.gop), "-sc_threshold", "0",
             "-pix_fmt", "yuv420p", "-b:v", str(spec.video_bitrate),
             "-maxrate", str(spec.video_bitrate), "-bufsize", str(spec.video_bitrate)]
    if spec.audio:
        argv += ["-c:a", "aac", "-b:a", str(spec.audio_bitrate), "-ac", str(spec.audio_channels)]
    for key, value in spec.metadata:
        argv += ["-metadata", f"{key}={value}"]
    if flv_copy is None:
        argv += ["-flvflags", "no_duration_filesize", "-f", "flv", url]
    else:
        # The tee muxer does not ask the encoders for global headers as flv does: without this,
        # libx264 and aac put their configuration in-band and the FLV sequence headers are empty
        # (an AVC sequence header of 0 bytes, Annex-B NAL units) — not what a phone sends.
        argv += ["-flags:v", "+global_header"] + (["-flags:a", "+global_header"] if spec.audio else [])
        argv += ["-map", "0:v"] + (["-map", "1:a"] if spec.audio else [])
        slave = "f=flv:flvflags=no_duration_filesize"
        argv += ["-f", "tee", f"[{slave}:onfail=abort]{_tee_escape(url)}|[{slave}]{_tee_escape(str(flv_copy))}"]
    return argv


def _tee_escape(name: str) -> str:
    """Escape the characters the tee muxer's slave list treats specially."""
    return "".join("\\" + c if c in "|[]\\" else c for c in name)


def start_ffmpeg_publisher(reg: ProcessRegistry, url: str, spec: PublisherSpec = PublisherSpec(), *,
                           flv_copy: Path | None = None, netns: NetNamespace | None = None) -> Publisher:
    """Start ffmpeg publishing to ``url``; returns at once (see :meth:`Publisher.wait`).

    ``flv_copy``: also write the published FLV tag stream there (the exact message list)."""
    require_tool("ffmpeg")
    argv = ffmpeg_publish_argv(url, spec, flv_copy=flv_copy)
    # ffmpeg finishes its FLV trailer and the RTMP unpublish on the first SIGINT.
    proc = reg.start("ffmpeg-publisher", netns.wrap(argv) if netns else argv,
                     stop_signal=signal.SIGINT, stop_grace=5.0)
    return Publisher(kind="ffmpeg", url=url, spec=spec, process=proc, chunk_size=FFMPEG_CHUNK_SIZE,
                     flv_copy=flv_copy)


GST_CHUNK_SIZE = 128
_GST_AAC_FRAME = 1024


def gst_audio_buffers(spec: PublisherSpec) -> int:
    """Audio buffers of 1024 samples the GStreamer publisher generates for ``spec.duration``."""
    return math.ceil(spec.audio_rate * spec.duration / _GST_AAC_FRAME)


def gst_publish_argv(url: str, spec: PublisherSpec, *, chunk_size: int = GST_CHUNK_SIZE,
                     flv_copy: Path | None = None) -> list[str]:
    """A gst-launch pipeline: videotestsrc → openh264enc, audiotestsrc → voaacenc, flvmux → rtmp2sink.

    openh264/voaac come from gst-plugins-bad (x264enc would need plugins-ugly).  ``-e`` turns
    SIGINT into an end-of-stream, so the muxer and rtmp2sink close the stream properly.  With
    ``flv_copy`` the muxer's output is teed to a file: rtmp2sink sends each FLV tag as one RTMP
    message, so the file is the publisher's exact message list."""
    video = [
        "videotestsrc", "is-live=true", f"num-buffers={spec.video_frames}", "pattern=smpte", "!",
        f"video/x-raw,width={spec.width},height={spec.height},framerate={spec.fps}/1", "!",
        "openh264enc", f"gop-size={spec.gop}", f"bitrate={spec.video_bitrate}", "!",
        "h264parse", "!", "queue", "!", "mux.",
    ]
    audio = [
        "audiotestsrc", "is-live=true", f"num-buffers={gst_audio_buffers(spec)}",
        f"samplesperbuffer={_GST_AAC_FRAME}", "!",
        f"audio/x-raw,rate={spec.audio_rate},channels={spec.audio_channels}", "!",
        "audioconvert", "!", "voaacenc", f"bitrate={spec.audio_bitrate}", "!", "queue", "!", "mux.",
    ]
    rtmp = ["rtmp2sink", f"location={url}", f"chunk-size={chunk_size}"]
    if flv_copy is None:
        sink = ["flvmux", "name=mux", "streamable=true", "!", *rtmp]
    else:
        sink = ["flvmux", "name=mux", "streamable=true", "!", "tee", "name=t", "!", "queue", "!", *rtmp,
                "t.", "!", "queue", "!", "filesink", f"location={flv_copy}"]
    return ["gst-launch-1.0", "-q", "-e", *sink, *video, *(audio if spec.audio else [])]


def start_gst_publisher(reg: ProcessRegistry, url: str, spec: PublisherSpec = PublisherSpec(), *,
                        chunk_size: int = GST_CHUNK_SIZE, flv_copy: Path | None = None,
                        netns: NetNamespace | None = None) -> Publisher:
    """Start a GStreamer publisher (rtmp2sink, outgoing chunk size ``chunk_size``, default 128)."""
    require_tool("gst-launch-1.0", "gstreamer1.0-tools")
    argv = gst_publish_argv(url, spec, chunk_size=chunk_size, flv_copy=flv_copy)
    proc = reg.start("gst-publisher", netns.wrap(argv) if netns else argv,
                     stop_signal=signal.SIGINT, stop_grace=5.0)
    return Publisher(kind="gstreamer", url=url, spec=spec, process=proc, chunk_size=chunk_size,
                     flv_copy=flv_copy)
