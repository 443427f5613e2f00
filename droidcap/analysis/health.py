"""Media health of the streams of one RTMP connection, measured from its decoded messages.

Standard library only, sans-IO: :class:`MediaHealthTracker` is fed a connection's messages (with
the capture time of each relative to the connection's start) and :meth:`~MediaHealthTracker.result`
freezes what it measured into :class:`StreamHealth` figures, one per (direction, message stream
id) that carried media or metadata.  Memory is bounded: per stream a fixed set of counters, one
entry per second of capture (at most :data:`MAX_WINDOWS`) and at most :data:`MAX_EVENTS` listed
timestamp anomalies and stalls (the counts stay exact).

Definitions (docs/summary.md repeats them for the JSON):

- Frame rate: coded video frames (not sequence headers, end-of-sequence or command frames) over
  the span of their RTMP timestamps, ``(n - 1) * 1000 / (last - first)``.
- Bitrates: the bytes of every audio or video message (= the FLV tag data sizes) over the time
  their timestamps cover, ``span * n / (n - 1)`` (the last frame lasts as long as the others).
  ``*_kbps_min``/``*_kbps_max`` are over the 1 s windows of capture time between the stream's
  first and last window (those two are partial and left out).
- Keyframe interval: between consecutive keyframes, in milliseconds of timestamp and in frames.
- Drift: at each media message once both tracks were seen, the latest video timestamp minus the
  latest audio timestamp (positive: video ahead).
- Stall: no audio or video message arrived (capture time) for longer than the threshold; it is
  ``waiting_on_ack`` when the sender had sent 90% of its acknowledgement window (Window Ack Size
  or the peer's Set Peer Bandwidth) since the last Acknowledgement and the next one arrived
  during the silence.
- Timestamps: a message whose timestamp is below the previous one of its track goes backwards; one
  more than ``jump_ms`` after it jumps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from droidcap.rtmp.commands import Data
from droidcap.rtmp.control import Acknowledgement, SetPeerBandwidth, WindowAckSize
from droidcap.rtmp.events import Message
from droidcap.rtmp.media import AudioInfo, VideoInfo

MAX_WINDOWS = 86_400
ACK_WINDOW_FULL = 0.9  # sent this share of the acknowledgement window: the sender may wait
MAX_EVENTS = 100

_VIDEO_CONFIGURED = frozenset({"AVC", "HEVC", "AV1", "VP9", "VP8"})
_SEQUENCE_START = frozenset({"sequence_header", "sequence_start"})
_CODED = frozenset({"nalu", "coded_frames", "coded_frames_x"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """A place in the capture: the record (1-based frame number), its time, and how long after
    the connection's start (its SYN, or its first captured packet)."""

    frame: int
    time: float
    after_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "time": self.time, "after_ms": self.after_ms}


@dataclass(frozen=True, slots=True, kw_only=True)
class Stall:
    """No media arrived for ``duration_ms``: from the message at ``start`` to the one at ``end``."""

    start: Where
    end: Where
    duration_ms: float
    # The sender had (nearly) filled its acknowledgement window and the receiver's
    # Acknowledgement arrived during the silence: the sender was waiting on it.
    waiting_on_ack: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(), "end": self.end.to_json(), "duration_ms": self.duration_ms,
                "waiting_on_ack": self.waiting_on_ack}


@dataclass(frozen=True, slots=True, kw_only=True)
class TimestampAnomaly:
    """A timestamp that goes ``backwards`` or ``jump``s forward within one track."""

    track: str  # "audio" or "video"
    kind: str  # "backwards" or "jump"
    previous_ms: int
    timestamp_ms: int
    where: Where

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "kind": self.kind, "previous_ms": self.previous_ms,
                "timestamp_ms": self.timestamp_ms, "where": self.where.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """One second of capture time, counted from the connection's start (``second``)."""

    second: int
    video_kbps: float
    audio_kbps: float
    video_frames: int
    drift_ms: int | None  # the largest drift (by magnitude) in the window

    def to_json(self) -> dict[str, Any]:
        return {"second": self.second, "video_kbps": self.video_kbps, "audio_kbps": self.audio_kbps,
                "video_frames": self.video_frames, "drift_ms": self.drift_ms}


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceHeader:
    """Whether the codec configuration came before the first coded frame: ``state`` is "ok",
    "late" (``frames_before`` coded frames came first), "missing" or "not_needed" (a codec
    without one)."""

    state: str
    frames_before: int
    where: Where | None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "frames_before": self.frames_before,
                "where": None if self.where is None else self.where.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoHealth:
    codec: str | None
    profile: str | None
    level: float | None
    width: int | None
    height: int | None
    frames: int  # coded frames
    keyframes: int
    bytes: int  # every video message body
    first_timestamp_ms: int
    frame_rate: float | None
    video_kbps: float | None
    video_kbps_min: float | None
    video_kbps_max: float | None
    keyframe_interval_ms_mean: float | None
    keyframe_interval_ms_max: int | None
    keyframe_interval_frames_mean: float | None
    keyframe_interval_frames_max: int | None
    max_keyframe_interval_where: Where | None  # the keyframe that ends the longest interval
    first_keyframe: Where | None
    sequence_header: SequenceHeader
    malformed: int  # bodies that did not parse as their header says

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioHealth:
    codec: str | None
    profile: str | None  # AAC profile
    sample_rate: int | None
    channels: int | None
    packets: int  # coded packets
    bytes: int
    first_timestamp_ms: int
    audio_kbps: float | None
    audio_kbps_min: float | None
    audio_kbps_max: float | None
    sequence_header: SequenceHeader
    malformed: int

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """A value onMetaData declared next to what was measured; ``off_pct`` how far apart."""

    name: str  # "framerate", "videodatarate", "audiodatarate", "width", "height"
    declared: float
    measured: float
    off_pct: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "declared": self.declared, "measured": self.measured, "off_pct": self.off_pct}


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamHealth:
    """The media of one message stream in one direction."""

    dir: str  # "c2s" (publisher → server) or "s2c" (server → player)
    stream_id: int
    video: VideoHealth | None
    audio: AudioHealth | None
    metadata: dict[str, Any] | None  # the first onMetaData's values
    metadata_state: str  # "ok" (before the first media), "late", "missing"
    metadata_where: Where | None
    declared: tuple[Declared, ...]
    stalls: tuple[Stall, ...]  # the first MAX_EVENTS
    stall_count: int
    max_stall_ms: float  # 0 without a stall
    ack_window_stalls: int  # stalls with waiting_on_ack
    max_drift_ms: int | None  # by magnitude, with its sign
    max_drift_where: Where | None
    timestamp_anomalies: tuple[TimestampAnomaly, ...]  # the first MAX_EVENTS
    timestamps_backwards: int
    timestamp_jumps: int
    first_media: Where | None
    last_media: Where | None
    windows: tuple[Window, ...]

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


def as_json(obj: Any) -> dict[str, Any]:
    """A slotted result dataclass as a JSON-able dict, field by field (nested results too)."""
    out: dict[str, Any] = {}
    for name in obj.__slots__:
        out[name] = json_value(getattr(obj, name))
    return out


def json_value(value: Any) -> Any:
    """A result, a tuple of them, or a plain value, JSON-able."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return value


@dataclass(slots=True)
class TimestampAnchor:
    """Places the timestamps of ``uncertain`` messages of one track on the stream's clock.

    After a TCP gap (or at the start of a mid-connection capture) the decoder has not seen a full
    chunk header, so a message's timestamp is the sum of the deltas since it resynchronised, not
    the stream's clock.  The first such message of a run is placed where the capture time says it
    belongs (the previous timestamp plus the capture time elapsed since it), and the rest of the
    run keeps that offset; a message with a full header ends the run.
    """

    offset: int | None = None
    last_ts: int | None = None  # the last timestamp given out
    last_time: float = 0.0

    def place(self, ts: int, time: float, uncertain: bool) -> int:
        if not uncertain:
            self.offset = None
            placed = ts
        else:
            if self.offset is not None and self.last_ts is not None and ts + self.offset < self.last_ts:
                self.offset = None  # restarted again (another gap): anchor anew
            if self.offset is None:
                expected = ts if self.last_ts is None else self.last_ts + max(0, round((time - self.last_time) * 1000))
                self.offset = expected - ts
            placed = ts + self.offset
        self.last_ts, self.last_time = placed, time
        return placed


@dataclass(slots=True)
class _Track:
    """Counters of one track (audio or video) of a stream."""

    first_ts: int | None = None
    min_ts: int = 0
    max_ts: int = 0
    last_ts: int | None = None
    count: int = 0  # coded frames / packets
    messages: int = 0
    bytes: int = 0
    malformed: int = 0
    config: Any = None  # the sequence header's body
    config_where: Where | None = None
    coded_before_config: int = 0
    needs_config: bool = False
    anchor: TimestampAnchor = field(default_factory=TimestampAnchor)


@dataclass(slots=True)
class _StreamState:
    dir: str
    stream_id: int
    video: _Track = field(default_factory=_Track)
    audio: _Track = field(default_factory=_Track)
    keyframes: int = 0
    last_keyframe_ts: int | None = None
    last_keyframe_index: int = 0
    kf_ms_total: int = 0
    kf_frames_total: int = 0
    kf_intervals: int = 0
    kf_ms_max: int | None = None
    kf_frames_max: int | None = None
    kf_max_where: Where | None = None
    first_keyframe: Where | None = None
    metadata: dict[str, Any] | None = None
    metadata_where: Where | None = None
    metadata_late: bool = False
    last_media: Where | None = None
    first_media: Where | None = None
    stalls: list[Stall] = field(default_factory=list)
    stall_count: int = 0
    max_stall_ms: float = 0.0
    ack_window_stalls: int = 0
    max_drift: int | None = None
    max_drift_where: Where | None = None
    anomalies: list[TimestampAnomaly] = field(default_factory=list)
    backwards: int = 0
    jumps: int = 0
    # second → [video bytes, audio bytes, video frames, drift or None]
    windows: dict[int, list[Any]] = field(default_factory=dict)


class MediaHealthTracker:
    """Feed one connection's messages with :meth:`feed`; :meth:`result` gives its streams."""

    def __init__(self, *, start_time: float, stall_ms: float = 200.0, jump_ms: float = 1000.0) -> None:
        """``start_time``: the connection's start (epoch seconds) that ``after_ms`` counts from."""
        self._start = start_time
        self._stall_s = stall_ms / 1000.0
        self._jump_ms = jump_ms
        self._streams: dict[tuple[str, int], _StreamState] = {}
        # Acknowledgement windows, per sending direction: the window it must respect (its own
        # Window Ack Size, or the peer's Set Peer Bandwidth), bytes sent since the peer last
        # acknowledged, and the last Acknowledgement it got (time, whether the window was full).
        self._window: dict[str, int] = {}
        self._since_ack = {"c2s": 0, "s2c": 0}
        self._last_ack: dict[str, tuple[float, bool]] = {}

    def where(self, frame: int, time: float) -> Where:
        return Where(frame=frame, time=time, after_ms=round((time - self._start) * 1000, 3))

    def feed(self, direction: str, msg: Message) -> None:
        type_id = msg.type_id
        if not msg.aggregate:  # an aggregate's bytes are counted once, as the wire message
            self._since_ack[direction] = self._since_ack.get(direction, 0) + msg.length
        if type_id == 8 or type_id == 9:
            self._media(self._stream(direction, msg.stream_id), msg)
        elif type_id == 18 or type_id == 15:
            body = msg.body
            if isinstance(body, Data) and is_metadata(body):
                state = self._stream(direction, msg.stream_id)
                if state.metadata is None:
                    state.metadata = metadata_values(body)
                    state.metadata_where = self.where(msg.frame, msg.time)
                    state.metadata_late = state.first_media is not None
        elif type_id in (3, 5, 6):
            self._ack_window(direction, msg)

    def _ack_window(self, direction: str, msg: Message) -> None:
        other = "s2c" if direction == "c2s" else "c2s"
        body = msg.body
        if isinstance(body, WindowAckSize) and body.ack_window > 0:
            self._window[direction] = min(self._window.get(direction, body.ack_window), body.ack_window)
        elif isinstance(body, SetPeerBandwidth) and body.bandwidth > 0:
            self._window[other] = min(self._window.get(other, body.bandwidth), body.bandwidth)
        elif isinstance(body, Acknowledgement):  # acknowledges what the other side sent
            window = self._window.get(other)
            full = window is not None and self._since_ack[other] >= ACK_WINDOW_FULL * window
            self._last_ack[other] = (msg.time, full)
            self._since_ack[other] = 0

    def _stream(self, direction: str, stream_id: int) -> _StreamState:
        key = (direction, stream_id)
        state = self._streams.get(key)
        if state is None:
            state = self._streams[key] = _StreamState(dir=direction, stream_id=stream_id)
        return state

    def _media(self, s: _StreamState, msg: Message) -> None:
        body = msg.body
        is_video = msg.type_id == 9
        track = s.video if is_video else s.audio
        here = self.where(msg.frame, msg.time)
        track.messages += 1
        track.bytes += msg.length
        if not isinstance(body, (AudioInfo, VideoInfo)) or body.malformed is not None:
            track.malformed += 1
        if isinstance(body, (AudioInfo, VideoInfo)) and body.empty:
            return
        self._arrival(s, here)
        ts = track.anchor.place(msg.timestamp, msg.time, msg.uncertain)
        coded = self._classify(s, track, body, is_video, here)
        second = int(here.after_ms // 1000)
        window = s.windows.get(second)
        if window is None and len(s.windows) < MAX_WINDOWS:
            window = s.windows[second] = [0, 0, 0, None]
        if window is not None:
            window[0 if is_video else 1] += msg.length
        if not coded:
            return
        self._timestamp(s, track, "video" if is_video else "audio", ts, here)
        track.count += 1
        if is_video:
            if window is not None:
                window[2] += 1
            if isinstance(body, VideoInfo) and body.frame_type in ("keyframe", "generated_keyframe"):
                self._keyframe(s, ts, here)
        if s.video.last_ts is not None and s.audio.last_ts is not None:
            drift = s.video.last_ts - s.audio.last_ts
            if s.max_drift is None or abs(drift) > abs(s.max_drift):
                s.max_drift, s.max_drift_where = drift, here
            if window is not None and (window[3] is None or abs(drift) > abs(window[3])):
                window[3] = drift

    def _classify(self, s: _StreamState, track: _Track, body: Any, is_video: bool, here: Where) -> bool:
        """Note a sequence header; True for a coded frame or packet."""
        if isinstance(body, VideoInfo):
            if body.frame_type == "command" or body.video_command is not None:
                return False
            kind = body.avc_packet_type or body.packet_type
            needs = body.codec in _VIDEO_CONFIGURED
        elif isinstance(body, AudioInfo):
            kind = body.aac_packet_type or body.packet_type
            needs = body.codec is not None and (body.codec.startswith("AAC") or body.sound_format == 9)
        else:
            return False
        if needs:
            track.needs_config = True
        if kind in _SEQUENCE_START:
            if track.config is None:
                track.config, track.config_where = body, here
            return False
        if kind is not None and kind not in _CODED and kind != "raw":
            return False  # end of sequence, metadata, multitrack parts without frames
        if track.config is None:
            track.coded_before_config += 1
        return True

    def _arrival(self, s: _StreamState, here: Where) -> None:
        last = s.last_media
        if last is None:
            s.first_media = here
        elif here.time - last.time > self._stall_s:
            ack = self._last_ack.get(s.dir)
            waiting = ack is not None and ack[1] and last.time < ack[0] <= here.time
            stall = Stall(start=last, end=here, duration_ms=round((here.time - last.time) * 1000, 3),
                          waiting_on_ack=waiting)
            s.stall_count += 1
            s.ack_window_stalls += waiting
            if len(s.stalls) < MAX_EVENTS:
                s.stalls.append(stall)
            s.max_stall_ms = max(s.max_stall_ms, stall.duration_ms)
        s.last_media = here

    def _timestamp(self, s: _StreamState, track: _Track, name: str, ts: int, here: Where) -> None:
        previous = track.last_ts
        if previous is None:
            track.first_ts = track.min_ts = track.max_ts = ts
        else:
            kind = None
            if ts < previous:
                kind = "backwards"
                s.backwards += 1
            elif ts - previous > self._jump_ms:
                kind = "jump"
                s.jumps += 1
            if kind is not None and len(s.anomalies) < MAX_EVENTS:
                s.anomalies.append(TimestampAnomaly(track=name, kind=kind, previous_ms=previous,
                                                    timestamp_ms=ts, where=here))
            track.min_ts = min(track.min_ts, ts)
            track.max_ts = max(track.max_ts, ts)
        track.last_ts = ts

    def _keyframe(self, s: _StreamState, ts: int, here: Where) -> None:
        s.keyframes += 1
        index = s.video.count  # this frame's index among coded frames (counted after this call)
        if s.first_keyframe is None:
            s.first_keyframe = here
        if s.last_keyframe_ts is not None:
            ms = ts - s.last_keyframe_ts
            frames = index - s.last_keyframe_index
            s.kf_intervals += 1
            s.kf_ms_total += ms
            s.kf_frames_total += frames
            if s.kf_ms_max is None or ms > s.kf_ms_max:
                s.kf_ms_max, s.kf_max_where = ms, here
            if s.kf_frames_max is None or frames > s.kf_frames_max:
                s.kf_frames_max = frames
        s.last_keyframe_ts = ts
        s.last_keyframe_index = index

    # -- results -------------------------------------------------------------------------------

    def result(self) -> tuple[StreamHealth, ...]:
        return tuple(self._freeze(s) for s in self._streams.values())

    def _freeze(self, s: _StreamState) -> StreamHealth:
        # Every second from the first media to the last, the silent ones as zeros: a stall shows.
        first = min(s.windows, default=0)
        span = range(first, min(max(s.windows, default=-1), first + MAX_WINDOWS - 1) + 1)
        empty = [0, 0, 0, None]
        windows = tuple(
            Window(second=sec, video_kbps=round(w[0] * 8 / 1000, 3), audio_kbps=round(w[1] * 8 / 1000, 3),
                   video_frames=w[2], drift_ms=w[3])
            for sec in span for w in (s.windows.get(sec, empty),)
        )
        inner = windows[1:-1]
        video = self._video(s, inner) if s.video.messages else None
        audio = self._audio(s, inner) if s.audio.messages else None
        metadata_state = "missing" if s.metadata is None else "late" if s.metadata_late else "ok"
        return StreamHealth(
            dir=s.dir, stream_id=s.stream_id, video=video, audio=audio,
            metadata=s.metadata, metadata_state=metadata_state, metadata_where=s.metadata_where,
            declared=_declared(s.metadata, video, audio),
            stalls=tuple(s.stalls), stall_count=s.stall_count, max_stall_ms=s.max_stall_ms,
            ack_window_stalls=s.ack_window_stalls,
            max_drift_ms=s.max_drift, max_drift_where=s.max_drift_where,
            timestamp_anomalies=tuple(s.anomalies), timestamps_backwards=s.backwards,
            timestamp_jumps=s.jumps, first_media=s.first_media, last_media=s.last_media,
            windows=windows,
        )

    def _video(self, s: _StreamState, inner: tuple[Window, ...]) -> VideoHealth:
        t = s.video
        config = t.config if isinstance(t.config, VideoInfo) else None
        n = t.count
        span = t.max_ts - t.min_ts
        rates = [w.video_kbps for w in inner]
        return VideoHealth(
            codec=_first(config, "codec"), profile=_first(config, "profile"),
            level=_first(config, "level"), width=_first(config, "width"), height=_first(config, "height"),
            frames=n, keyframes=s.keyframes, bytes=t.bytes,
            first_timestamp_ms=t.first_ts if t.first_ts is not None else 0,
            frame_rate=round((n - 1) * 1000 / span, 3) if n > 1 and span > 0 else None,
            video_kbps=_kbps(t.bytes, n, span),
            video_kbps_min=min(rates) if rates else None,
            video_kbps_max=max(rates) if rates else None,
            keyframe_interval_ms_mean=round(s.kf_ms_total / s.kf_intervals, 3) if s.kf_intervals else None,
            keyframe_interval_ms_max=s.kf_ms_max,
            keyframe_interval_frames_mean=round(s.kf_frames_total / s.kf_intervals, 3) if s.kf_intervals else None,
            keyframe_interval_frames_max=s.kf_frames_max,
            max_keyframe_interval_where=s.kf_max_where,
            first_keyframe=s.first_keyframe,
            sequence_header=_sequence_header(t),
            malformed=t.malformed,
        )

    def _audio(self, s: _StreamState, inner: tuple[Window, ...]) -> AudioHealth:
        t = s.audio
        config = t.config if isinstance(t.config, AudioInfo) else None
        rates = [w.audio_kbps for w in inner]
        channels = None
        if config is not None:
            channels = config.channel_config or config.channels
        return AudioHealth(
            codec=_first(config, "codec"), profile=_first(config, "aac_profile"),
            sample_rate=_first(config, "sample_rate") or _first(config, "sound_rate"),
            channels=channels, packets=t.count, bytes=t.bytes,
            first_timestamp_ms=t.first_ts if t.first_ts is not None else 0,
            audio_kbps=_kbps(t.bytes, t.count, t.max_ts - t.min_ts),
            audio_kbps_min=min(rates) if rates else None,
            audio_kbps_max=max(rates) if rates else None,
            sequence_header=_sequence_header(t),
            malformed=t.malformed,
        )


def _first(config: Any, name: str) -> Any:
    return None if config is None else getattr(config, name)


def _kbps(size: int, n: int, span_ms: int) -> float | None:
    """Bytes over the time ``n`` frames cover: their timestamp span plus one frame's share."""
    if n < 2 or span_ms <= 0:
        return None
    return round(size * 8 / (span_ms * n / (n - 1)), 3)


def _sequence_header(t: _Track) -> SequenceHeader:
    if t.config is not None:
        state = "late" if t.coded_before_config else "ok"
    else:
        state = "missing" if t.needs_config else "not_needed"
    return SequenceHeader(state=state, frames_before=t.coded_before_config, where=t.config_where)


def is_metadata(body: Data) -> bool:
    """An onMetaData: as a player receives it, or as a publisher sends it (@setDataFrame)."""
    return body.name == "onMetaData" or (body.name == "@setDataFrame" and body.values[:1] == ["onMetaData"])


def metadata_values(body: Data) -> dict[str, Any]:
    values = body.values[1:] if body.name == "@setDataFrame" else body.values
    return next((v for v in values if isinstance(v, dict)), {})


def _declared(meta: dict[str, Any] | None, video: VideoHealth | None,
              audio: AudioHealth | None) -> tuple[Declared, ...]:
    if not meta:
        return ()
    pairs: list[tuple[str, Any, float | int | None]] = []
    if video is not None:
        pairs += [("framerate", meta.get("framerate", meta.get("fps")), video.frame_rate),
                  ("videodatarate", meta.get("videodatarate"), video.video_kbps),
                  ("width", meta.get("width"), video.width),
                  ("height", meta.get("height"), video.height)]
    if audio is not None:
        pairs += [("audiodatarate", meta.get("audiodatarate"), audio.audio_kbps),
                  ("audiosamplerate", meta.get("audiosamplerate"), audio.sample_rate)]
    out = []
    for name, declared, measured in pairs:
        if isinstance(declared, bool) or not isinstance(declared, (int, float)) or declared <= 0:
            continue
        if measured is None:
            continue
        off = round(abs(measured - declared) * 100 / declared, 2)
        out.append(Declared(name=name, declared=declared, measured=measured, off_pct=off))
    return tuple(out)
