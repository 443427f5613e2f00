"""Write a connection's media as an FLV file (Adobe FLV v10.1, with Enhanced RTMP video headers).

Standard library only, sans-IO: the caller feeds messages and writes the bytes returned.  Two
passes over the messages of one direction: :class:`FlvPlan` learns what the file will hold (which
tracks, the first onMetaData, the first timestamp), then :class:`FlvWriter` turns the messages into
tags.  What the file guarantees:

- the header's audio/video flags say which tracks are present; every tag has stream id 0 and a
  24-bit timestamp plus its extended (upper) byte; PreviousTagSize follows every tag;
- onMetaData is the first tag (the first one the connection carried; later ones are left out);
- audio and video bodies are copied as received, so composition times and codec configuration
  stay exactly as sent; legacy HEVC (CodecID 12) is rewritten to the Enhanced RTMP header
  (FourCC ``hvc1``), the one standard way to carry it; AV1 and other FourCC codecs are enhanced
  already;
- no coded frame of a track comes before that track's sequence header (earlier ones are dropped);
- after a TCP gap the frame it damaged is dropped, and video waits for the next keyframe (frames
  referring to the lost one would decode wrong); every dropped message is reported.

Timestamps are rebased so the file starts at 0: the first media tag written is at 0, the rest
keep their distance from it (timestamps of ``uncertain`` messages are first placed on the stream
clock, see :class:`~droidcap.analysis.health.TimestampAnchor`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from droidcap.analysis.health import TimestampAnchor, is_metadata, metadata_values
from droidcap.rtmp import amf0
from droidcap.rtmp.amf_types import EcmaArray
from droidcap.rtmp.commands import Data
from droidcap.rtmp.events import Message
from droidcap.rtmp.media import AudioInfo, VideoInfo

AUDIO, VIDEO, SCRIPT = 8, 9, 18
_HEADER = struct.Struct(">3sBBI")
_TAG = struct.Struct(">BHBHBB3x")  # type, size (16 + 8), timestamp (16 + 8), extended byte, stream id
_U32 = struct.Struct(">I")
_SEQUENCE_START = frozenset({"sequence_header", "sequence_start"})
_NEEDS_CONFIG = frozenset({"AVC", "HEVC", "AV1", "VP9", "VP8"})
MAX_REPORTED = 1000


def file_header(*, has_audio: bool, has_video: bool) -> bytes:
    """The 9-byte FLV header and PreviousTagSize0."""
    flags = (4 if has_audio else 0) | (1 if has_video else 0)
    return _HEADER.pack(b"FLV", 1, flags, 9) + _U32.pack(0)


def tag(tag_type: int, timestamp: int, payload: bytes) -> bytes:
    """One FLV tag and the PreviousTagSize after it."""
    size = len(payload)
    if size > 0xFFFFFF:
        raise ValueError(f"an FLV tag holds at most 16 MiB, not {size} bytes")
    ts = timestamp & 0xFFFFFFFF
    head = _TAG.pack(tag_type, size >> 8, size & 0xFF, (ts >> 8) & 0xFFFF, ts & 0xFF, ts >> 24)
    return head + payload + _U32.pack(11 + size)


def enhanced_hevc(payload: bytes) -> bytes:
    """A legacy HEVC video body (CodecID 12, laid out like AVC) as an Enhanced RTMP one (hvc1)."""
    frame_type = payload[0] >> 4
    packet = payload[1]
    if packet == 0:  # sequence header → SequenceStart
        return bytes([0x80 | frame_type << 4 | 0]) + b"hvc1" + payload[5:]
    if packet == 1:  # NALUs with a composition time → CodedFrames (SI24 composition time kept)
        return bytes([0x80 | frame_type << 4 | 1]) + b"hvc1" + payload[2:5] + payload[5:]
    return bytes([0x80 | frame_type << 4 | 2]) + b"hvc1"  # end of sequence → SequenceEnd


@dataclass(slots=True)
class FlvPlan:
    """First pass: what the file will hold.  Feed every message of the chosen direction.

    A track whose codec needs a sequence header (AVC, HEVC, AV1, VP8/9, AAC) and never got one
    in the capture (it starts mid-connection) cannot be decoded: it is left out of the file."""

    seen: dict[int, bool] = field(default_factory=lambda: {AUDIO: False, VIDEO: False})
    needs_config: dict[int, bool] = field(default_factory=lambda: {AUDIO: False, VIDEO: False})
    configured: dict[int, bool] = field(default_factory=lambda: {AUDIO: False, VIDEO: False})
    stream_id: int | None = None  # the message stream the media is on (the first certain one seen)
    metadata: dict[str, Any] | None = None

    def feed(self, msg: Message) -> None:
        type_id = msg.type_id
        if type_id in (AUDIO, VIDEO):
            body = msg.body
            if not msg.uncertain:  # an uncertain message's stream id is a guess: take it as ours
                if self.stream_id is None:
                    self.stream_id = msg.stream_id
                elif msg.stream_id != self.stream_id:
                    return
            if not isinstance(body, (AudioInfo, VideoInfo)) or body.empty:
                return
            self.seen[type_id] = True
            if _needs_config(body):
                self.needs_config[type_id] = True
            kind = (body.avc_packet_type if isinstance(body, VideoInfo) else body.aac_packet_type) or body.packet_type
            if kind in _SEQUENCE_START:
                self.configured[type_id] = True
        elif type_id in (15, 18) and self.metadata is None and isinstance(msg.body, Data) and is_metadata(msg.body):
            self.metadata = metadata_values(msg.body)

    def _usable(self, type_id: int) -> bool:
        return self.seen[type_id] and (self.configured[type_id] or not self.needs_config[type_id])

    @property
    def has_audio(self) -> bool:
        return self._usable(AUDIO)

    @property
    def has_video(self) -> bool:
        return self._usable(VIDEO)

    @property
    def has_media(self) -> bool:
        return self.has_audio or self.has_video

    @property
    def unconfigured(self) -> tuple[str, ...]:
        """Tracks present but left out: no sequence header in the capture."""
        return tuple(name for type_id, name in ((VIDEO, "video"), (AUDIO, "audio"))
                     if self.seen[type_id] and not self._usable(type_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """A message left out of the file, and why."""

    track: str
    reason: str  # "damaged", "after_gap", "before_sequence_header"
    frame: int
    timestamp: int

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "reason": self.reason, "frame": self.frame, "timestamp": self.timestamp}


@dataclass(frozen=True, slots=True, kw_only=True)
class FlvReport:
    video_frames: int  # coded video frames written
    audio_packets: int  # coded audio packets written
    tags: int
    first_timestamp_ms: int | None  # in the file (rebased)
    last_timestamp_ms: int | None
    dropped: tuple[Dropped, ...]  # the first MAX_REPORTED
    dropped_count: int


@dataclass(slots=True)
class FlvWriter:
    """Second pass: :meth:`start` gives the header and onMetaData; :meth:`feed` each message of
    the chosen direction (and :meth:`gap` at a TCP gap in it); :meth:`report` at the end."""

    plan: FlvPlan
    _configured: dict[int, bool] = field(default_factory=lambda: {AUDIO: False, VIDEO: False})
    _anchors: dict[int, TimestampAnchor] = field(
        default_factory=lambda: {AUDIO: TimestampAnchor(), VIDEO: TimestampAnchor()})
    _wait_keyframe: bool = False
    _base: int | None = None  # the first written media timestamp: the file starts at 0
    _video: int = 0
    _audio: int = 0
    _tags: int = 0
    _first: int | None = None
    _last: int | None = None
    _dropped: list[Dropped] = field(default_factory=list)
    _dropped_count: int = 0

    def start(self) -> bytes:
        out = file_header(has_audio=self.plan.has_audio, has_video=self.plan.has_video)
        if self.plan.metadata is not None:
            out += self._tag(SCRIPT, 0, amf0.encode_values("onMetaData", EcmaArray(self.plan.metadata)))
        return out

    def gap(self) -> None:
        """Bytes of this direction were lost: video resumes at the next keyframe."""
        if self.plan.has_video:
            self._wait_keyframe = True

    def feed(self, msg: Message) -> bytes:
        type_id = msg.type_id
        if type_id not in (AUDIO, VIDEO):
            return b""
        if not msg.uncertain and self.plan.stream_id is not None and msg.stream_id != self.plan.stream_id:
            return b""
        if not (self.plan.has_video if type_id == VIDEO else self.plan.has_audio):
            return b""  # a track left out (no sequence header anywhere in the capture)
        body = msg.body
        track = "video" if type_id == VIDEO else "audio"
        if not isinstance(body, (AudioInfo, VideoInfo)):
            return self._drop(track, "damaged", msg)
        if body.empty:
            return b""
        if body.malformed is not None:
            if type_id == VIDEO:
                self._wait_keyframe = True
            return self._drop(track, "damaged", msg)
        placed = self._anchors[type_id].place(msg.timestamp, msg.time, msg.uncertain)
        kind = body.avc_packet_type if isinstance(body, VideoInfo) else body.aac_packet_type
        kind = kind or body.packet_type
        payload = body.payload
        if kind in _SEQUENCE_START:
            self._configured[type_id] = True
        elif kind in ("nalu", "coded_frames", "coded_frames_x", "raw", None):
            if not self._configured[type_id] and _needs_config(body):
                return self._drop(track, "before_sequence_header", msg)
            if isinstance(body, VideoInfo):
                if body.frame_type == "command":
                    return b""
                keyframe = body.frame_type in ("keyframe", "generated_keyframe")
                if self._wait_keyframe and not keyframe:
                    return self._drop(track, "after_gap", msg)
                self._wait_keyframe = False
                self._video += 1
            else:
                self._audio += 1
        if isinstance(body, VideoInfo) and body.codec_id == 12:
            payload = enhanced_hevc(payload)
        if self._base is None:
            self._base = placed
        return self._tag(type_id, max(0, placed - self._base), payload)

    def _tag(self, tag_type: int, ts: int, payload: bytes) -> bytes:
        self._tags += 1
        if tag_type != SCRIPT:
            if self._first is None:
                self._first = ts
            self._last = ts if self._last is None else max(self._last, ts)
        return tag(tag_type, ts, payload)

    def _drop(self, track: str, reason: str, msg: Message) -> bytes:
        self._dropped_count += 1
        if len(self._dropped) < MAX_REPORTED:
            self._dropped.append(Dropped(track=track, reason=reason, frame=msg.frame, timestamp=msg.timestamp))
        return b""

    def report(self) -> FlvReport:
        return FlvReport(video_frames=self._video, audio_packets=self._audio, tags=self._tags,
                         first_timestamp_ms=self._first, last_timestamp_ms=self._last,
                         dropped=tuple(self._dropped), dropped_count=self._dropped_count)


def _needs_config(body: AudioInfo | VideoInfo) -> bool:
    if isinstance(body, VideoInfo):
        return body.codec in _NEEDS_CONFIG
    return body.codec is not None and (body.codec.startswith("AAC") or body.sound_format == 9)
