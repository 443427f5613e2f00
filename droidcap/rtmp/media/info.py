"""The payload types of audio (8) and video (9) messages: :class:`AudioInfo`, :class:`VideoInfo`.

Both are frozen, slotted, keyword-only dataclasses with ``json_fields()`` (the
:class:`droidcap.rtmp.events.Body` contract).  The commonly used fields are typed attributes;
codec-specific extras (``bit_depth``, ``sbr``, ``tier``, ``metadata``...) live in ``details``
and are merged flat into ``json_fields()``.  Field names: docs/protocol-notes.md, "Media".
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = ["AudioInfo", "VideoInfo", "build"]


def _json_fields(self: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(self, name)
        if value is None or value is False:
            continue
        if name == "tracks":
            out[name] = [dict(t) for t in value]
        elif name == "nalu_types":
            out[name] = list(value)
        else:
            out[name] = value
    for key, value in self.details.items():
        out.setdefault(key, value)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioInfo:
    """What an audio message body says about itself (see docs/protocol-notes.md, "Media")."""

    codec: str | None = None
    sound_format: int | None = None  # legacy 4-bit SoundFormat (9 = enhanced ExHeader)
    sound_rate: int | None = None  # Hz as signalled by the legacy header: 5512/11025/22050/44100
    sound_size: int | None = None  # 8 or 16 (bits)
    channels: int | None = None  # 1 or 2 from the legacy header; codec configs may say more
    aac_packet_type: str | None = None  # "sequence_header" / "raw"
    packet_type: str | None = None  # enhanced AudioPacketType
    fourcc: str | None = None
    multitrack: str | None = None  # "one_track" / "many_tracks" / "many_tracks_many_codecs"
    track_id: int | None = None
    aac_profile: str | None = None
    sample_rate: int | None = None  # from the codec config (ASC, OpusHead, STREAMINFO, MP3 header)
    channel_config: int | None = None  # AAC channelConfiguration
    data_size: int | None = None  # payload bytes after the tag headers
    tracks: tuple[dict[str, Any], ...] | None = None  # every track of a multitrack message
    empty: bool = False
    malformed: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The body's bytes as received, for writing it out again (FLV export); not part of the JSON.
    payload: bytes = field(default=b"", repr=False, compare=False)

    def json_fields(self) -> dict[str, Any]:
        return _json_fields(self, _AUDIO_NAMES)


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoInfo:
    """What a video message body says about itself (see docs/protocol-notes.md, "Media")."""

    codec: str | None = None
    codec_id: int | None = None  # legacy 4-bit CodecID
    fourcc: str | None = None
    frame_type: str | None = None
    video_command: str | None = None  # "start_seek" / "end_seek" on command frames
    avc_packet_type: str | None = (
        None  # legacy AVC/HEVC: "sequence_header"/"nalu"/"end_of_sequence"
    )
    packet_type: str | None = None  # enhanced VideoPacketType
    composition_time: int | None = None  # ms, signed 24-bit
    multitrack: str | None = None
    track_id: int | None = None
    profile: str | None = None
    level: float | None = None
    width: int | None = None
    height: int | None = None
    nal_length_size: int | None = None
    sps_count: int | None = None
    nalu_types: tuple[int, ...] | None = None  # NAL unit types in order, at most 32
    nalu_count: int | None = None
    data_size: int | None = None
    tracks: tuple[dict[str, Any], ...] | None = None
    empty: bool = False
    malformed: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The body's bytes as received, for writing it out again (FLV export); not part of the JSON.
    payload: bytes = field(default=b"", repr=False, compare=False)

    def json_fields(self) -> dict[str, Any]:
        return _json_fields(self, _VIDEO_NAMES)


_NOT_JSON = ("details", "payload")
_AUDIO_NAMES = tuple(f.name for f in fields(AudioInfo) if f.name not in _NOT_JSON)
_VIDEO_NAMES = tuple(f.name for f in fields(VideoInfo) if f.name not in _NOT_JSON)
_AUDIO_SET = frozenset(_AUDIO_NAMES)
_VIDEO_SET = frozenset(_VIDEO_NAMES)


_Info = TypeVar("_Info", "AudioInfo", "VideoInfo")


def build(cls: type[_Info], f: dict[str, Any], payload: bytes = b"") -> _Info:
    """Make ``cls`` from a flat dict: known names become attributes, the rest ``details``;
    ``payload`` is the body the fields were read from."""
    known = _AUDIO_SET if cls is AudioInfo else _VIDEO_SET
    kwargs: dict[str, Any] = {"payload": payload}
    details: dict[str, Any] = {}
    for key, value in f.items():
        if key in known:
            kwargs[key] = value
        else:
            details[key] = value
    if "tracks" in kwargs:
        kwargs["tracks"] = tuple(kwargs["tracks"])
    if "nalu_types" in kwargs:
        kwargs["nalu_types"] = tuple(kwargs["nalu_types"])
    return cls(**kwargs, details=details)
