"""Audio message bodies: the legacy FLV AudioTagHeader and the Enhanced RTMP ExAudioTagHeader
(FourCC codecs, multichannel config, multitrack).  :func:`parse_audio` never raises."""

from __future__ import annotations

import struct
from typing import Any

from droidcap.rtmp.media.aac import parse_audio_specific_config
from droidcap.rtmp.media.bits import BitReader, Truncated
from droidcap.rtmp.media.info import AudioInfo, build

__all__ = ["AUDIO_FOURCC_NAMES", "SOUND_FORMAT_NAMES", "parse_audio"]

SOUND_FORMAT_NAMES = {
    0: "PCM",
    1: "ADPCM",
    2: "MP3",
    3: "PCM LE",
    4: "Nellymoser 16kHz mono",
    5: "Nellymoser 8kHz mono",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    9: "ExHeader",
    10: "AAC",
    11: "Speex",
    14: "MP3 8kHz",
    15: "Device-specific",
}
SOUND_RATES = (5512, 11025, 22050, 44100)

AUDIO_FOURCC_NAMES = {
    "mp4a": "AAC",
    "Opus": "Opus",
    "fLaC": "FLAC",
    "ac-3": "AC-3",
    "ec-3": "E-AC-3",
    ".mp3": "MP3",
}
PACKET_TYPES = {
    0: "sequence_start",
    1: "coded_frames",
    2: "sequence_end",
    4: "multichannel_config",
    5: "multitrack",
    7: "modex",
}
MULTITRACK_TYPES = {0: "one_track", 1: "many_tracks", 2: "many_tracks_many_codecs"}
CHANNEL_ORDERS = {0: "unspecified", 1: "native", 2: "custom"}

_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MP3_L3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_MODES = ("stereo", "joint_stereo", "dual_channel", "mono")


def _mp3_header(data: Any, out: dict[str, Any]) -> None:
    """MPEG audio frame header (first frame of the payload)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return
    version = (data[1] >> 3) & 3  # 0 = 2.5, 2 = 2, 3 = 1
    layer = 4 - ((data[1] >> 1) & 3)
    rate_index = (data[2] >> 2) & 3
    if version == 1 or layer == 4 or rate_index == 3:
        return
    out["mpeg_version"] = {3: "1", 2: "2", 0: "2.5"}[version]
    out["mpeg_layer"] = layer
    out["sample_rate"] = _MP3_RATES[version][rate_index]
    if layer == 3:
        kbps = _MP3_L3_KBPS[3 if version == 3 else 2][data[2] >> 4] if data[2] >> 4 < 15 else 0
        if kbps:
            out["bitrate_kbps"] = kbps
    out["channel_mode"] = _MP3_MODES[data[3] >> 6]


def _opus_head(data: Any, out: dict[str, Any]) -> None:
    """RFC 7845 5.1 identification header."""
    if bytes(data[:8]) != b"OpusHead" or len(data) < 19:
        raise Truncated("Opus sequence start is not an OpusHead of 19+ bytes")
    out["channels"] = data[9]
    out["pre_skip"] = data[10] | (data[11] << 8)
    out["sample_rate"] = struct.unpack_from("<I", data, 12)[0]


def _flac_streaminfo(data: Any, out: dict[str, Any]) -> None:
    data = bytes(data[:64])
    if data[:4] == b"fLaC":
        data = data[4:]
    if len(data) >= 38 and data[0] & 0x7F == 0 and data[1:4] == b"\x00\x00\x22":
        data = data[4:]  # METADATA_BLOCK_HEADER of the STREAMINFO block
    r = BitReader(data)
    r.skip(16 + 16 + 24 + 24)
    out["sample_rate"] = r.u(20)
    out["channels"] = r.u(3) + 1
    out["bits_per_sample"] = r.u(5) + 1


def _legacy(data: Any, f: dict[str, Any]) -> None:
    b0 = data[0]
    fmt = b0 >> 4
    f["codec"] = SOUND_FORMAT_NAMES.get(fmt, f"reserved({fmt})")
    f["sound_format"] = fmt
    f["sound_rate"] = SOUND_RATES[(b0 >> 2) & 3]
    f["sound_size"] = 16 if b0 & 2 else 8
    f["channels"] = 2 if b0 & 1 else 1
    if fmt == 10:
        if len(data) < 2:
            raise Truncated("AAC packet type missing")
        packet = data[1]
        f["aac_packet_type"] = {0: "sequence_header", 1: "raw"}.get(packet, f"reserved({packet})")
        f["data_size"] = len(data) - 2
        if packet == 0:
            parse_audio_specific_config(data[2:], f)
    else:
        f["data_size"] = len(data) - 1
        if fmt in (2, 14):
            _mp3_header(data[1:], f)


def _track(packet: int, fourcc: str, data: Any, t: dict[str, Any]) -> None:
    """One enhanced audio track body."""
    t["data_size"] = len(data)
    if packet == 0:  # SequenceStart
        if fourcc == "mp4a":
            parse_audio_specific_config(data, t)
        elif fourcc == "Opus":
            _opus_head(data, t)
        elif fourcc == "fLaC":
            _flac_streaminfo(data, t)
    elif packet == 4:  # MultichannelConfig
        order = data[0]
        t["channel_order"] = CHANNEL_ORDERS.get(order, f"reserved({order})")
        t["channels"] = data[1]
        if order == 2:
            if len(data) < 2 + data[1]:
                raise Truncated("custom channel mapping truncated")
            t["channel_mapping"] = list(data[2 : 2 + data[1]])
        elif order == 1:
            if len(data) < 6:
                raise Truncated("channel mask truncated")
            t["channel_mask"] = int.from_bytes(data[2:6], "big")
    elif packet == 1 and fourcc == ".mp3":
        _mp3_header(data, t)


def _skip_modex(data: Any, o: int, packet: int) -> tuple[int, int, dict[str, Any]]:
    """Walk ModEx (packet type 7) prefixes; return the real packet type, offset and extras."""
    extras: dict[str, Any] = {}
    while packet == 7:
        size = data[o] + 1
        o += 1
        if size == 256:
            size = int.from_bytes(data[o : o + 2], "big") + 1
            o += 2
        mod = data[o : o + size]
        if len(mod) < size:
            raise Truncated("ModEx data truncated")
        o += size
        mod_type, packet = data[o] >> 4, data[o] & 0x0F
        o += 1
        if mod_type == 0 and size >= 3:  # TimestampOffsetNano
            extras["timestamp_offset_ns"] = int.from_bytes(mod[:3], "big")
    return packet, o, extras


def _fourcc(data: Any, o: int) -> str:
    raw = bytes(data[o : o + 4])
    if len(raw) < 4:
        raise Truncated("FourCC truncated")
    return raw.decode("latin-1")


def enhanced_tracks(
    data: Any,
    packet: int,
    o: int,
    f: dict[str, Any],
    multitrack_packet: int,
    fourcc_names: dict[str, str],
    packet_names: dict[int, str],
    track: Any,
) -> None:
    """Shared by audio and video: the (multi)track loop of an enhanced body."""
    packet, o, extras = _skip_modex(data, o, packet)
    f.update(extras)
    multitrack = None
    fourcc = ""
    if packet == multitrack_packet:
        b = data[o]
        o += 1
        multitrack, packet = b >> 4, b & 0x0F
        f["multitrack"] = MULTITRACK_TYPES.get(multitrack, f"reserved({multitrack})")
        if multitrack > 2:
            raise Truncated(f"reserved multitrack type {multitrack}")
        if multitrack != 2:
            fourcc = _fourcc(data, o)
            o += 4
    else:
        fourcc = _fourcc(data, o)
        o += 4
    f["packet_type"] = packet_names.get(packet, f"reserved({packet})")
    if multitrack is None:
        f["fourcc"] = fourcc
        f["codec"] = fourcc_names.get(fourcc, fourcc)
        track(packet, fourcc, data[o:], f)
        return
    tracks: list[dict[str, Any]] = []
    f["tracks"] = tracks
    while o < len(data) and len(tracks) < 64:
        if multitrack == 2:
            fourcc = _fourcc(data, o)
            o += 4
        t: dict[str, Any] = {
            "track_id": data[o],
            "fourcc": fourcc,
            "codec": fourcc_names.get(fourcc, fourcc),
        }
        o += 1
        tracks.append(t)
        end = len(data)
        if multitrack != 0:
            if o + 3 > len(data):
                raise Truncated("track size truncated")
            end = o + 3 + int.from_bytes(data[o : o + 3], "big")
            o += 3
            if end > len(data):
                raise Truncated(f"track {t['track_id']} of {end - o} bytes truncated")
        track(packet, fourcc, data[o:end], t)
        o = end
        if multitrack == 0:
            break
    if tracks:  # the first track speaks for the message
        for key, value in tracks[0].items():
            f.setdefault(key, value)


def parse_audio(body: bytes | bytearray | memoryview) -> AudioInfo:
    """Describe an audio message body.  Never raises: an empty body gives ``empty=True``; a
    malformed one gives the fields decoded so far and ``malformed`` (why)."""
    f: dict[str, Any] = {}
    if not body:
        return AudioInfo(empty=True)
    data = body if isinstance(body, (bytes, memoryview)) else bytes(body)
    try:
        if data[0] >> 4 == 9:
            f["sound_format"] = 9
            enhanced_tracks(data, data[0] & 0x0F, 1, f, 5, AUDIO_FOURCC_NAMES, PACKET_TYPES, _track)
        else:
            _legacy(data, f)
    except (Truncated, IndexError, struct.error) as e:
        f["malformed"] = "body truncated" if isinstance(e, IndexError) else str(e)
    return build(AudioInfo, f, bytes(data))
