"""Video message bodies: the legacy FLV VideoTagHeader (with AVC, and HEVC under the
non-standard CodecID 12) and the Enhanced RTMP ExVideoTagHeader (FourCC codecs avc1, hvc1, av01,
vp09, vp08; metadata; multitrack).  :func:`parse_video` never raises."""

from __future__ import annotations

import struct
from typing import Any

from droidcap.errors import AmfError
from droidcap.rtmp.media.audio import MULTITRACK_TYPES, enhanced_tracks
from droidcap.rtmp.media.av1 import parse_av1c, parse_vpcc
from droidcap.rtmp.media.avc import parse_avcc
from droidcap.rtmp.media.bits import BitReader, Truncated
from droidcap.rtmp.media.hevc import parse_hvcc
from droidcap.rtmp.media.info import VideoInfo, build

__all__ = ["CODEC_NAMES", "MULTITRACK_TYPES", "VIDEO_FOURCC_NAMES", "parse_video"]

FRAME_TYPES = {
    1: "keyframe",
    2: "inter",
    3: "disposable_inter",
    4: "generated_keyframe",
    5: "command",
}
CODEC_NAMES = {
    1: "JPEG",
    2: "Sorenson H.263",
    3: "Screen video",
    4: "VP6",
    5: "VP6 alpha",
    6: "Screen video v2",
    7: "AVC",
    12: "HEVC",  # not in the FLV spec: the common Chinese-CDN extension, laid out like AVC
}
VIDEO_FOURCC_NAMES = {
    "avc1": "AVC",
    "hvc1": "HEVC",
    "av01": "AV1",
    "vp09": "VP9",
    "vp08": "VP8",
}
AVC_PACKET_TYPES = {0: "sequence_header", 1: "nalu", 2: "end_of_sequence"}
PACKET_TYPES = {
    0: "sequence_start",
    1: "coded_frames",
    2: "sequence_end",
    3: "coded_frames_x",
    4: "metadata",
    5: "mpeg2ts_sequence_start",
    6: "multitrack",
    7: "modex",
}
VIDEO_COMMANDS = {0: "start_seek", 1: "end_seek"}
MAX_NALU_TYPES = 32

_H263_SIZES = {2: (352, 288), 3: (176, 144), 4: (128, 96), 5: (320, 240), 6: (160, 120)}


def _si24(data: Any, o: int) -> int:
    if o + 3 > len(data):
        raise Truncated("composition time truncated")
    v: int = (data[o] << 16) | (data[o + 1] << 8) | data[o + 2]
    return v - 0x1000000 if v & 0x800000 else v


def _nalus(data: Any, hevc: bool, length_size: int, f: dict[str, Any]) -> None:
    """NAL unit types of a length-prefixed access unit (at most MAX_NALU_TYPES listed)."""
    types: list[int] = []
    count = 0
    o = 0
    end = len(data)
    while o < end:
        if o + length_size > end:
            raise Truncated(f"NAL unit length truncated at offset {o} (length size {length_size})")
        n = int.from_bytes(data[o : o + length_size], "big")
        o += length_size
        if n == 0 or o + n > end:
            f["nalu_types"] = types
            f["nalu_count"] = count
            raise Truncated(
                f"NAL unit of {n} bytes at offset {o} does not fit the {end}-byte body "
                f"(NAL length size {length_size} assumed)"
            )
        count += 1
        if len(types) < MAX_NALU_TYPES:
            types.append((data[o] >> 1) & 0x3F if hevc else data[o] & 0x1F)
        o += n
    f["nalu_types"] = types
    f["nalu_count"] = count


def _h263(data: Any, f: dict[str, Any]) -> None:
    """Sorenson H.263 picture header (the FLV spec's H263VIDEOPACKET)."""
    r = BitReader(data[:16])
    if r.u(17) != 1:
        raise Truncated("H.263 picture start code missing")
    r.skip(5 + 8)  # version, temporal reference
    size = r.u(3)
    if size == 0:
        w, h = r.u(8), r.u(8)
    elif size == 1:
        w, h = r.u(16), r.u(16)
    elif size in _H263_SIZES:
        w, h = _H263_SIZES[size]
    else:
        raise Truncated(f"H.263 reserved picture size {size}")
    f["width"], f["height"] = w, h
    f["picture_type"] = {0: "I", 1: "P", 2: "disposable_P"}.get(r.u(2), "reserved")


def _screen(data: Any, f: dict[str, Any]) -> None:
    if len(data) < 4:
        raise Truncated("screen video header truncated")
    f["width"] = ((data[0] & 0x0F) << 8) | data[1]
    f["height"] = ((data[2] & 0x0F) << 8) | data[3]


def _vp6(data: Any, adjust: int, f: dict[str, Any]) -> None:
    """VP6 key frame header: macroblock rows/columns (frame size before the FLV adjustment)."""
    if len(data) < 2 or data[0] & 0x80:
        return  # inter frame: no size
    o = 0
    if data[0] & 1 or not data[1] & 0x06:  # separated coefficients / no filter header
        o = 2
    if o + 4 > len(data):
        raise Truncated("VP6 key frame header truncated")
    rows, cols = data[o + 2], data[o + 3]
    f["width"] = cols * 16 - (adjust >> 4)
    f["height"] = rows * 16 - (adjust & 0x0F)


def _legacy(data: Any, f: dict[str, Any], nal_length_size: int) -> None:
    b0 = data[0]
    frame, codec = b0 >> 4, b0 & 0x0F
    f["codec"] = CODEC_NAMES.get(codec, f"reserved({codec})")
    f["codec_id"] = codec
    f["frame_type"] = FRAME_TYPES.get(frame, f"reserved({frame})")
    if frame == 5:
        if len(data) >= 2:
            f["video_command"] = VIDEO_COMMANDS.get(data[1], f"reserved({data[1]})")
        return
    if codec in (7, 12):
        if len(data) < 5:
            raise Truncated(f"{f['codec']} header needs 5 bytes, body has {len(data)}")
        packet = data[1]
        f["avc_packet_type"] = AVC_PACKET_TYPES.get(packet, f"reserved({packet})")
        f["composition_time"] = _si24(data, 2)
        payload = data[5:]
        f["data_size"] = len(payload)
        if packet == 0:
            (parse_avcc if codec == 7 else parse_hvcc)(payload, f)
        elif packet == 1:
            _nalus(payload, codec == 12, nal_length_size, f)
        return
    f["data_size"] = len(data) - 1
    if codec == 2:
        _h263(data[1:], f)
    elif codec in (3, 6):
        _screen(data[1:], f)
    elif codec == 4:
        _vp6(data[2:], data[1], f)
    elif codec == 5:
        _vp6(data[5:], data[1], f)


def _metadata(data: Any, t: dict[str, Any]) -> None:
    from droidcap.rtmp import amf0

    try:
        values = amf0.decode_values(data, max_depth=16, max_items=10_000)
    except AmfError as e:
        raise Truncated(f"metadata: {e}") from None
    meta: dict[str, Any] = {}
    for i in range(0, len(values) - 1, 2):
        meta[str(values[i])] = values[i + 1]
    t["metadata"] = meta


def _track_factory(nal_length_size: int) -> Any:
    def track(packet: int, fourcc: str, data: Any, t: dict[str, Any]) -> None:
        t["data_size"] = len(data)
        if packet == 0:  # SequenceStart
            if fourcc == "avc1":
                parse_avcc(data, t)
            elif fourcc == "hvc1":
                parse_hvcc(data, t)
            elif fourcc == "av01":
                parse_av1c(data, t)
            elif fourcc in ("vp09", "vp08"):
                parse_vpcc(data, t)
        elif packet in (1, 3):  # CodedFrames, CodedFramesX
            if fourcc in ("avc1", "hvc1"):
                if packet == 1:
                    t["composition_time"] = _si24(data, 0)
                    data = data[3:]
                else:
                    t["composition_time"] = 0
                t["data_size"] = len(data)
                _nalus(data, fourcc == "hvc1", nal_length_size, t)
        elif packet == 4:
            _metadata(data, t)

    return track


def _enhanced(data: Any, f: dict[str, Any], nal_length_size: int) -> None:
    b0 = data[0]
    frame, packet = (b0 >> 4) & 7, b0 & 0x0F
    f["frame_type"] = FRAME_TYPES.get(frame, f"reserved({frame})")
    if packet != 4 and frame == 5:
        # a command frame: the command byte follows at once, no FourCC, no body
        f["packet_type"] = PACKET_TYPES.get(packet, f"reserved({packet})")
        f["video_command"] = VIDEO_COMMANDS.get(data[1], f"reserved({data[1]})")
        return
    enhanced_tracks(
        data, packet, 1, f, 6, VIDEO_FOURCC_NAMES, PACKET_TYPES, _track_factory(nal_length_size)
    )


def parse_video(body: bytes | bytearray | memoryview, *, nal_length_size: int = 4) -> VideoInfo:
    """Describe a video message body.  Never raises: an empty body gives ``empty=True``; a
    malformed one gives the fields decoded so far and ``malformed`` (why).

    ``nal_length_size`` is the NAL unit length prefix size used to list the NAL unit types of
    AVC/HEVC coded frames; it comes from the stream's sequence header (almost always 4).
    """
    f: dict[str, Any] = {}
    if not body:
        return VideoInfo(empty=True)
    data = body if isinstance(body, (bytes, memoryview)) else bytes(body)
    if nal_length_size not in (1, 2, 3, 4):
        nal_length_size = 4
    try:
        if data[0] & 0x80:
            _enhanced(data, f, nal_length_size)
        else:
            _legacy(data, f, nal_length_size)
    except (Truncated, IndexError, struct.error) as e:
        f["malformed"] = "body truncated" if isinstance(e, IndexError) else str(e)
    return build(VideoInfo, f, bytes(data))
