"""AAC AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1): object type, sampling frequency (table or
explicit 24-bit), channel configuration, SBR/PS (explicit and backward-compatible signalling)."""

from __future__ import annotations

from typing import Any

from droidcap.rtmp.media.bits import BitReader, Truncated

__all__ = ["OBJECT_TYPE_NAMES", "SAMPLING_FREQUENCIES", "parse_audio_specific_config"]

SAMPLING_FREQUENCIES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)

OBJECT_TYPE_NAMES = {
    1: "Main",
    2: "LC",
    3: "SSR",
    4: "LTP",
    5: "HE-AAC",
    6: "Scalable",
    17: "ER AAC LC",
    19: "ER AAC LTP",
    20: "ER AAC Scalable",
    22: "ER BSAC",
    23: "ER AAC LD",
    29: "HE-AACv2",
    39: "ER AAC ELD",
    42: "USAC",
}

_GA_TYPES = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})


def _object_type(r: BitReader) -> int:
    aot = r.u(5)
    return 32 + r.u(6) if aot == 31 else aot


def _frequency(r: BitReader) -> int | None:
    index = r.u(4)
    if index == 0x0F:
        return r.u(24)
    return SAMPLING_FREQUENCIES[index] if index < len(SAMPLING_FREQUENCIES) else None


def parse_audio_specific_config(data: bytes, out: dict[str, Any]) -> None:
    """Fill ``out`` with ``audio_object_type``, ``aac_profile``, ``sample_rate``,
    ``channel_config``, ``aac_channels`` and, when signalled, ``sbr``, ``ps`` and
    ``sbr_sample_rate``.  Raises :class:`Truncated` (fields so far already in ``out``)."""
    r = BitReader(data[:64])
    aot = _object_type(r)
    out["audio_object_type"] = aot
    out["aac_profile"] = OBJECT_TYPE_NAMES.get(aot, f"AOT {aot}")
    rate = _frequency(r)
    if rate is not None:
        out["sample_rate"] = rate
    channel_config = r.u(4)
    out["channel_config"] = channel_config
    if 1 <= channel_config <= 7:
        out["aac_channels"] = 8 if channel_config == 7 else channel_config
    if aot in (5, 29):  # explicit hierarchical signalling: SBR (and PS)
        out["sbr"] = True
        if aot == 29:
            out["ps"] = True
        ext_rate = _frequency(r)
        if ext_rate is not None:
            out["sbr_sample_rate"] = ext_rate
        base = _object_type(r)
        out["base_object_type"] = base
        return
    if aot not in _GA_TYPES or channel_config == 0:
        return  # a program_config_element or non-GA config: stop at the basics
    # GASpecificConfig
    try:
        r.skip(1)  # frameLengthFlag
        if r.flag():  # dependsOnCoreCoder
            r.skip(14)
        extension = r.flag()
        if aot in (6, 20):
            r.skip(3)
        if extension:
            if aot == 22:
                r.skip(16)
            elif aot in (17, 19, 20, 23):
                r.skip(3)
            r.skip(1)
        # backward-compatible SBR / PS signalling
        if r.remaining >= 16 and r.u(11) == 0x2B7:
            ext_aot = _object_type(r)
            if ext_aot == 5:
                if r.flag():
                    out["sbr"] = True
                    out["aac_profile"] = "HE-AAC"
                    ext_rate = _frequency(r)
                    if ext_rate is not None:
                        out["sbr_sample_rate"] = ext_rate
                    if r.remaining >= 12 and r.u(11) == 0x548 and r.flag():
                        out["ps"] = True
                        out["aac_profile"] = "HE-AACv2"
                else:
                    out["sbr"] = False
    except Truncated:
        pass  # the optional tail is often cut short; the basics are complete
