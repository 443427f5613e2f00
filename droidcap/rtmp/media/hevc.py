"""H.265/HEVC: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1) and the SPS fields
droidcap reports (ITU-T H.265, 7.3.2.2): profile, tier, level, chroma format, bit depth, width and
height after the conformance window."""

from __future__ import annotations

from typing import Any

from droidcap.rtmp.media.bits import BitReader, Truncated, unescape_rbsp

__all__ = ["PROFILE_NAMES", "parse_hvcc", "parse_sps"]

PROFILE_NAMES = {
    1: "Main",
    2: "Main 10",
    3: "Main Still Picture",
    4: "Rext",
    5: "High Throughput",
    6: "Multiview Main",
    7: "Scalable Main",
    8: "3D Main",
    9: "Screen Extended",
    10: "Scalable Rext",
    11: "High Throughput Screen Extended",
}

NALU_TYPE_NAMES = {32: "vps", 33: "sps", 34: "pps", 35: "aud", 39: "sei_prefix", 40: "sei_suffix"}


def _profile(profile_idc: int, tier: int, level_idc: int, out: dict[str, Any]) -> None:
    out["profile_idc"] = profile_idc
    out["profile"] = PROFILE_NAMES.get(profile_idc, f"profile {profile_idc}")
    out["tier"] = "High" if tier else "Main"
    out["level"] = round(level_idc / 30, 1)  # general_level_idc is 30 x the level (93 -> 3.1)


def parse_sps(nal: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from an SPS NAL unit (with its two-byte NAL header)."""
    rbsp = unescape_rbsp(nal)
    if len(rbsp) < 2 or (rbsp[0] >> 1) & 0x3F != 33:
        raise Truncated("not an HEVC SPS NAL unit")
    r = BitReader(rbsp[2:])
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.skip(1)  # sps_temporal_id_nesting_flag
    # then profile_tier_level with profilePresentFlag 1 and max_sub_layers_minus1 sub-layers:
    r.skip(2)  # general_profile_space
    tier = r.u(1)
    profile_idc = r.u(5)
    r.skip(32 + 48)  # compatibility flags, progressive/interlaced/... and constraint flags
    level_idc = r.u(8)
    _profile(profile_idc, tier, level_idc, out)
    sub_profile = []
    sub_level = []
    for _ in range(max_sub_layers_minus1):
        sub_profile.append(r.flag())
        sub_level.append(r.flag())
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))
    for i in range(max_sub_layers_minus1):
        if sub_profile[i]:
            r.skip(88)
        if sub_level[i]:
            r.skip(8)
    r.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = r.ue()
    if chroma_format_idc > 3:
        raise Truncated(f"chroma_format_idc {chroma_format_idc} out of range")
    separate_colour_plane = False
    if chroma_format_idc == 3:
        separate_colour_plane = r.flag()
    out["chroma_format"] = chroma_format_idc
    width = r.ue()
    height = r.ue()
    if r.flag():  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        chroma = 0 if separate_colour_plane else chroma_format_idc
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = 2 if chroma == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise Truncated(f"conformance window leaves a {width}x{height} picture")
    out["width"] = width
    out["height"] = height
    out["bit_depth"] = 8 + r.ue()


def parse_hvcc(data: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from an HEVCDecoderConfigurationRecord: ``profile``, ``tier``, ``level``,
    ``chroma_format``, ``bit_depth``, ``nal_length_size``, ``vps_count``/``sps_count``/
    ``pps_count`` and the first SPS's ``width``/``height``."""
    if len(data) < 23:
        raise Truncated(f"HEVCDecoderConfigurationRecord of {len(data)} bytes is too short")
    if data[0] != 1:
        out["config_version"] = data[0]
    _profile(data[1] & 0x1F, (data[1] >> 5) & 1, data[12], out)
    out["chroma_format"] = data[16] & 3
    out["bit_depth"] = (data[17] & 7) + 8
    out["nal_length_size"] = (data[21] & 3) + 1
    n_arrays = data[22]
    o = 23
    first_sps = None
    counts = {32: 0, 33: 0, 34: 0}
    for _ in range(n_arrays):
        if o + 3 > len(data):
            raise Truncated("hvcC NAL unit array truncated")
        nal_type = data[o] & 0x3F
        n = int.from_bytes(data[o + 1 : o + 3], "big")
        o += 3
        for _ in range(n):
            if o + 2 > len(data):
                raise Truncated("hvcC NAL unit length truncated")
            size = int.from_bytes(data[o : o + 2], "big")
            o += 2
            if o + size > len(data):
                raise Truncated(f"hvcC NAL unit of {size} bytes truncated")
            if nal_type == 33 and first_sps is None:
                first_sps = data[o : o + size]
            o += size
        if nal_type in counts:
            counts[nal_type] += n
    out["vps_count"], out["sps_count"], out["pps_count"] = counts[32], counts[33], counts[34]
    if first_sps is not None:
        sps: dict[str, Any] = {}
        try:
            parse_sps(first_sps, sps)
        finally:
            for key in ("width", "height"):
                if key in sps:
                    out[key] = sps[key]
