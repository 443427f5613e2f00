"""AV1 (AV1CodecConfigurationRecord, "av1C" of the AV1-ISOBMFF binding, section 2.3) and VP8/VP9
(VPCodecConfigurationRecord, "vpcC" of the VP-codec ISOBMFF binding, section 2.2)."""

from __future__ import annotations

from typing import Any

from droidcap.rtmp.media.bits import BitReader, Truncated

__all__ = ["parse_av1c", "parse_vpcc"]

AV1_PROFILE_NAMES = {0: "Main", 1: "High", 2: "Professional"}


def _av1_level(seq_level_idx: int) -> float | None:
    if seq_level_idx >= 24:
        return None  # 31 = "maximum parameters", others reserved
    return 2 + (seq_level_idx >> 2) + (seq_level_idx & 3) / 10  # 8 -> 4.0, 13 -> 5.1


def _sequence_header(r: BitReader, out: dict[str, Any]) -> None:
    """AV1 sequence_header_obu() up to max_frame_width/height (AV1 spec 5.5.1)."""
    r.skip(3)  # seq_profile (the record has it)
    r.skip(1)  # still_picture
    if r.flag():  # reduced_still_picture_header
        r.skip(5)
    else:
        decoder_model_info = False
        buffer_delay_length = 0
        if r.flag():  # timing_info_present_flag
            r.skip(64)
            if r.flag():  # equal_picture_interval
                r.uvlc()
            decoder_model_info = r.flag()
            if decoder_model_info:
                buffer_delay_length = r.u(5) + 1
                r.skip(32 + 5 + 5)
        initial_display_delay = r.flag()
        for _ in range(r.u(5) + 1):  # operating points
            r.skip(12)
            if r.u(5) > 7:
                r.skip(1)
            if decoder_model_info and r.flag():
                r.skip(2 * buffer_delay_length + 1)
            if initial_display_delay and r.flag():
                r.skip(4)
    width_bits = r.u(4) + 1
    height_bits = r.u(4) + 1
    out["width"] = r.u(width_bits) + 1
    out["height"] = r.u(height_bits) + 1


def parse_av1c(data: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from an AV1CodecConfigurationRecord: ``profile``, ``level``, ``tier``,
    ``bit_depth``, ``chroma_format`` ("4:2:0"...), ``monochrome`` and, from the sequence header OBU
    in configOBUs, ``width``/``height``."""
    if len(data) < 4:
        raise Truncated(f"AV1CodecConfigurationRecord of {len(data)} bytes is too short")
    if data[0] != 0x81:
        out["config_version"] = data[0] & 0x7F
    profile = data[1] >> 5
    out["profile_idc"] = profile
    out["profile"] = AV1_PROFILE_NAMES.get(profile, f"profile {profile}")
    level = _av1_level(data[1] & 0x1F)
    if level is not None:
        out["level"] = level
    b = data[2]
    out["tier"] = "High" if b & 0x80 else "Main"
    high_bitdepth, twelve_bit = bool(b & 0x40), bool(b & 0x20)
    out["bit_depth"] = 12 if twelve_bit else 10 if high_bitdepth else 8
    if b & 0x10:
        out["monochrome"] = True
    sub_x, sub_y = (b >> 3) & 1, (b >> 2) & 1
    out["chroma_format"] = {(1, 1): 1, (1, 0): 2, (0, 0): 3}.get((sub_x, sub_y), 1)
    # configOBUs: look for the sequence header OBU (type 1)
    r = BitReader(data[4:])
    while r.remaining >= 16:
        header = r.u(8)
        obu_type = (header >> 3) & 0x0F
        if header & 0x04:
            r.skip(8)  # extension header
        size = r.leb128() if header & 0x02 else r.remaining // 8
        if obu_type == 1:
            _sequence_header(r, out)
            return
        r.skip(size * 8)


def parse_vpcc(data: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` from a VPCodecConfigurationRecord: ``profile_idc``, ``level``, ``bit_depth``,
    ``chroma_format``.  A leading FullBox version/flags (``01 00 00 00``, as written inside an MP4
    ``vpcC`` box) is skipped: level 0 does not exist, so it cannot be a real record start."""
    if len(data) >= 12 and data[0] == 1 and data[1:4] == b"\x00\x00\x00":
        data = data[4:]
    if len(data) < 8:
        raise Truncated(f"VPCodecConfigurationRecord of {len(data)} bytes is too short")
    out["profile_idc"] = data[0]
    out["profile"] = f"Profile {data[0]}"
    if data[1]:
        out["level"] = data[1] / 10
    out["bit_depth"] = data[2] >> 4
    subsampling = (data[2] >> 1) & 7
    # 0 = 4:2:0 vertical, 1 = 4:2:0 colocated, 2 = 4:2:2, 3 = 4:4:4
    out["chroma_format"] = {0: 1, 1: 1, 2: 2, 3: 3}.get(subsampling, subsampling)
    if data[2] & 1:
        out["full_range"] = True
