"""H.264/AVC: AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1) and the sequence parameter
set fields droidcap reports (ITU-T H.264, 7.3.2.1.1): profile, level, chroma format, bit depth,
width and height after frame cropping."""

from __future__ import annotations

from typing import Any

from droidcap.rtmp.media.bits import BitReader, Truncated, unescape_rbsp

__all__ = ["NALU_TYPE_NAMES", "PROFILE_NAMES", "parse_avcc", "parse_sps"]

PROFILE_NAMES = {
    44: "CAVLC 4:4:4 Intra",
    66: "Baseline",
    77: "Main",
    83: "Scalable Baseline",
    86: "Scalable High",
    88: "Extended",
    100: "High",
    110: "High 10",
    118: "Multiview High",
    122: "High 4:2:2",
    128: "Stereo High",
    244: "High 4:4:4 Predictive",
}

NALU_TYPE_NAMES = {
    1: "slice",
    5: "idr",
    6: "sei",
    7: "sps",
    8: "pps",
    9: "aud",
    10: "end_of_sequence",
    11: "end_of_stream",
    12: "filler",
}

# profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def profile_name(profile_idc: int, constraints: int) -> str:
    name = PROFILE_NAMES.get(profile_idc, f"profile {profile_idc}")
    if profile_idc == 66 and constraints & 0x40:
        return "Constrained Baseline"
    if profile_idc in (110, 122, 244) and constraints & 0x10:
        return name + " Intra"
    return name


def _level(level_idc: int) -> float:
    # level_idc is ten times the level number (31 -> 3.1).  Level 1b is signalled as 11 with
    # constraint_set3_flag in Baseline/Main/Extended (or as 9): it shows as 1.1 (or 0.9) here,
    # with ``constraint_flags`` to tell.
    return level_idc / 10


def _scaling_list(r: BitReader, size: int) -> None:
    last = 8
    nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = nxt if nxt != 0 else last


def parse_sps(nal: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from an SPS NAL unit (with its one-byte NAL header): ``profile``,
    ``profile_idc``, ``constraint_flags``, ``level``, ``chroma_format``, ``bit_depth``, ``width``,
    ``height``.
    Raises :class:`Truncated` with the fields found so far in ``out``."""
    rbsp = unescape_rbsp(nal)
    if not rbsp or rbsp[0] & 0x1F != 7:
        raise Truncated("not an SPS NAL unit")
    r = BitReader(rbsp[1:])
    profile_idc = r.u(8)
    constraints = r.u(8)
    level_idc = r.u(8)
    out["profile_idc"] = profile_idc
    out["profile"] = profile_name(profile_idc, constraints)
    out["constraint_flags"] = constraints
    out["level"] = _level(level_idc)
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = False
    bit_depth = 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc > 3:
            raise Truncated(f"chroma_format_idc {chroma_format_idc} out of range")
        if chroma_format_idc == 3:
            separate_colour_plane = r.flag()
        bit_depth = 8 + r.ue()
        r.ue()  # bit_depth_chroma_minus8
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.flag():
                    _scaling_list(r, 16 if i < 6 else 64)
    out["chroma_format"] = chroma_format_idc
    out["bit_depth"] = bit_depth
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.skip(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        cycle = r.ue()
        if cycle > 255:
            raise Truncated(f"num_ref_frames_in_pic_order_cnt_cycle {cycle} > 255")
        for _ in range(cycle):
            r.se()
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.skip(1)  # mb_adaptive_frame_field_flag
    r.skip(1)  # direct_8x8_inference_flag
    crop_l = crop_r = crop_t = crop_b = 0
    if r.flag():  # frame_cropping_flag
        crop_l, crop_r, crop_t, crop_b = r.ue(), r.ue(), r.ue(), r.ue()
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    if chroma_array_type == 0:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        sub_w = 1 if chroma_format_idc == 3 else 2
        sub_h = 2 if chroma_format_idc == 1 else 1
        unit_x, unit_y = sub_w, sub_h * (2 - frame_mbs_only)
    width = width_mbs * 16 - (crop_l + crop_r) * unit_x
    height = (2 - frame_mbs_only) * height_map_units * 16 - (crop_t + crop_b) * unit_y
    if width <= 0 or height <= 0:
        raise Truncated(f"cropping leaves a {width}x{height} picture")
    out["width"] = width
    out["height"] = height
    if not frame_mbs_only:
        out["interlaced"] = True


def parse_avcc(data: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from an AVCDecoderConfigurationRecord: ``profile``, ``profile_idc``,
    ``constraint_flags``, ``level``, ``nal_length_size``, ``sps_count``, ``pps_count`` and the SPS
    fields of the first SPS.  Raises :class:`Truncated`."""
    if len(data) < 6:
        raise Truncated(f"AVCDecoderConfigurationRecord of {len(data)} bytes is too short")
    if data[0] != 1:
        out["config_version"] = data[0]
    profile_idc, constraints, level_idc = data[1], data[2], data[3]
    out["profile_idc"] = profile_idc
    out["profile"] = profile_name(profile_idc, constraints)
    out["constraint_flags"] = constraints
    out["level"] = _level(level_idc)
    out["nal_length_size"] = (data[4] & 3) + 1
    n_sps = data[5] & 0x1F
    out["sps_count"] = n_sps
    o = 6
    first_sps = None
    for _ in range(n_sps):
        if o + 2 > len(data):
            raise Truncated("SPS length truncated")
        n = int.from_bytes(data[o : o + 2], "big")
        o += 2
        if o + n > len(data):
            raise Truncated(f"SPS of {n} bytes truncated")
        if first_sps is None:
            first_sps = data[o : o + n]
        o += n
    if o < len(data):
        out["pps_count"] = data[o]
    if first_sps is not None:
        sps: dict[str, Any] = {}
        try:
            parse_sps(first_sps, sps)
        finally:
            # profile and level come from the record (they repeat the SPS); the SPS adds the rest
            for key, value in sps.items():
                out.setdefault(key, value)
