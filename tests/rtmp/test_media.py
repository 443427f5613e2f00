"""Audio/video message bodies: real sequence headers made by ffmpeg (tests/data/media/README.md),
hand-built Enhanced RTMP headers, and hostile input."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.rtmp import amf0
from droidcap.rtmp.media import AudioInfo, VideoInfo, parse_audio, parse_video

MEDIA = Path(__file__).resolve().parents[1] / "data" / "media"


def flv_tags(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag type, body) of every tag of an FLV file."""
    assert data[:3] == b"FLV"
    o = int.from_bytes(data[5:9], "big") + 4
    while o + 11 <= len(data):
        tag_type = data[o] & 0x1F
        size = int.from_bytes(data[o + 1 : o + 4], "big")
        yield tag_type, data[o + 11 : o + 11 + size]
        o += 11 + size + 4


def first(path: str, tag_type: int, **match: object) -> dict[str, object]:
    """json_fields() of the first tag of ``tag_type`` whose fields include ``match``."""
    parse = parse_audio if tag_type == 8 else parse_video
    for t, body in flv_tags((MEDIA / path).read_bytes()):
        if t == tag_type:
            fields = parse(body).json_fields()
            if all(fields.get(k) == v for k, v in match.items()):
                json.dumps(fields, allow_nan=False)
                return fields
    raise AssertionError(f"no tag {tag_type} with {match} in {path}")


def mp4_box(path: str, name: bytes) -> bytes:
    data = (MEDIA / path).read_bytes()
    i = data.find(name)
    assert i >= 4
    return data[i + 4 : i - 4 + int.from_bytes(data[i - 4 : i], "big")]


def ex_video(frame: int, packet: int) -> int:
    return 0x80 | (frame << 4) | packet


# -- legacy FLV, from ffmpeg -------------------------------------------------------------------


def test_avc_high_sequence_header_and_frames() -> None:
    head = first("avc_high_aac.flv", 9, avc_packet_type="sequence_header")
    assert {
        k: head[k] for k in ("codec", "frame_type", "composition_time", "profile", "level")
    } == {
        "codec": "AVC",
        "frame_type": "keyframe",
        "composition_time": 0,
        "profile": "High",
        "level": 3.0,
    }
    assert (head["width"], head["height"]) == (640, 360)
    assert head["nal_length_size"] == 4 and head["sps_count"] == 1 and head["pps_count"] == 1
    assert head["chroma_format"] == 1 and head["bit_depth"] == 8
    key = first("avc_high_aac.flv", 9, avc_packet_type="nalu", frame_type="keyframe")
    assert 5 in key["nalu_types"]  # an IDR slice
    inter = first("avc_high_aac.flv", 9, avc_packet_type="nalu", frame_type="inter")
    assert inter["nalu_types"] == [1]
    assert inter["composition_time"] > 0  # B-frames reorder: pts after dts
    assert first("avc_high_aac.flv", 9, avc_packet_type="end_of_sequence")["data_size"] == 0


def test_aac_lc_sequence_header_and_raw() -> None:
    head = first("avc_high_aac.flv", 8, aac_packet_type="sequence_header")
    assert {
        k: head[k]
        for k in (
            "codec",
            "sound_rate",
            "sound_size",
            "channels",
            "aac_profile",
            "sample_rate",
            "channel_config",
        )
    } == {
        "codec": "AAC",
        "sound_rate": 44100,
        "sound_size": 16,
        "channels": 2,
        "aac_profile": "LC",
        "sample_rate": 44100,
        "channel_config": 2,
    }
    raw = first("avc_high_aac.flv", 8, aac_packet_type="raw")
    assert raw["data_size"] > 0 and "aac_profile" not in raw


def test_avc_baseline_with_cropping_and_mp3() -> None:
    head = first("avc_baseline_crop_mp3.flv", 9, avc_packet_type="sequence_header")
    assert (head["profile"], head["level"], head["width"], head["height"]) == (
        "Constrained Baseline",
        1.3,
        322,
        242,
    )
    mp3 = first("avc_baseline_crop_mp3.flv", 8)
    assert (mp3["codec"], mp3["sample_rate"], mp3["channels"], mp3["channel_mode"]) == (
        "MP3",
        22050,
        1,
        "mono",
    )
    assert (mp3["mpeg_version"], mp3["mpeg_layer"], mp3["bitrate_kbps"]) == ("2", 3, 32)


def test_avc_high444_scaling_matrices_interlaced() -> None:
    head = first("avc_high444_cqm_interlaced.flv", 9, avc_packet_type="sequence_header")
    assert (head["profile"], head["level"], head["chroma_format"]) == (
        "High 4:4:4 Predictive",
        2.1,
        3,
    )
    assert (head["width"], head["height"], head["interlaced"]) == (352, 288, True)


def test_sorenson_h263_and_nellymoser() -> None:
    key = first("h263_nellymoser.flv", 9, frame_type="keyframe")
    assert (key["codec"], key["width"], key["height"], key["picture_type"]) == (
        "Sorenson H.263",
        176,
        144,
        "I",
    )
    assert first("h263_nellymoser.flv", 9, frame_type="inter")["picture_type"] == "P"
    audio = first("h263_nellymoser.flv", 8)
    assert (audio["codec"], audio["sound_rate"], audio["channels"]) == ("Nellymoser", 22050, 1)


def test_screen_video_and_speex() -> None:
    video = first("screen_speex.flv", 9)
    assert (video["codec"], video["width"], video["height"]) == ("Screen video", 64, 48)
    audio = first("screen_speex.flv", 8)
    assert (audio["codec"], audio["sound_format"], audio["channels"]) == ("Speex", 11, 1)


def test_every_tag_of_every_file_parses_cleanly() -> None:
    n = 0
    for path in MEDIA.glob("*.flv"):
        for t, body in flv_tags(path.read_bytes()):
            if t in (8, 9):
                info = (parse_audio if t == 8 else parse_video)(body)
                assert info.malformed is None, (path.name, info)
                json.dumps(info.json_fields(), allow_nan=False)
                n += 1
    assert n > 20


# -- HEVC, AV1, VP9, Opus, FLAC via Enhanced RTMP (records from ffmpeg's MP4/Ogg/FLAC output) ------


def test_hevc_legacy_codec_12_and_enhanced_hvc1() -> None:
    hvcc = mp4_box("hevc.mp4", b"hvcC")
    legacy = parse_video(b"\x1c\x00\x00\x00\x00" + hvcc).json_fields()
    enhanced = parse_video(bytes([ex_video(1, 0)]) + b"hvc1" + hvcc).json_fields()
    for f in (legacy, enhanced):
        assert (f["codec"], f["profile"], f["tier"], f["level"]) == ("HEVC", "Main", "Main", 2.0)
        assert (f["width"], f["height"]) == (426, 240)  # 432 coded, conformance window crops 6
        assert (f["vps_count"], f["sps_count"], f["pps_count"], f["nal_length_size"]) == (
            1,
            1,
            1,
            4,
        )
    assert legacy["avc_packet_type"] == "sequence_header" and legacy["codec_id"] == 12
    assert (enhanced["fourcc"], enhanced["packet_type"], enhanced["frame_type"]) == (
        "hvc1",
        "sequence_start",
        "keyframe",
    )


def test_hevc_rext_10_bit_with_temporal_sub_layers() -> None:
    hvcc = mp4_box("hevc_main422_10_layers.mp4", b"hvcC")
    f = parse_video(bytes([ex_video(1, 0)]) + b"hvc1" + hvcc).json_fields()
    assert (f["profile"], f["chroma_format"], f["bit_depth"]) == ("Rext", 2, 10)
    assert (f["width"], f["height"], f["level"]) == (200, 112, 2.0)
    assert "malformed" not in f


def test_av1_and_vp9_configuration_records() -> None:
    av1 = parse_video(bytes([ex_video(1, 0)]) + b"av01" + mp4_box("av1.mp4", b"av1C")).json_fields()
    assert (av1["codec"], av1["profile"], av1["level"], av1["bit_depth"]) == ("AV1", "Main", 2.0, 8)
    assert (av1["width"], av1["height"], av1["chroma_format"]) == (200, 120, 1)
    vp9 = parse_video(bytes([ex_video(1, 0)]) + b"vp09" + mp4_box("vp9.mp4", b"vpcC")).json_fields()
    assert (vp9["codec"], vp9["profile"], vp9["bit_depth"], vp9["chroma_format"]) == (
        "VP9",
        "Profile 0",
        8,
        1,
    )


def test_opus_and_flac_sequence_start() -> None:
    ogg = (MEDIA / "opus.ogg").read_bytes()
    head = ogg[ogg.find(b"OpusHead") :][:19]
    opus = parse_audio(b"\x90Opus" + head).json_fields()
    assert (opus["codec"], opus["packet_type"], opus["channels"], opus["sample_rate"]) == (
        "Opus",
        "sequence_start",
        2,
        48000,
    )
    flac = parse_audio(b"\x90fLaC" + (MEDIA / "flac.flac").read_bytes()).json_fields()
    assert (flac["codec"], flac["sample_rate"], flac["channels"], flac["bits_per_sample"]) == (
        "FLAC",
        32000,
        1,
        16,
    )
    assert parse_audio(b"\x91Opus\x01\x02\x03").json_fields()["packet_type"] == "coded_frames"


# -- hand-built vectors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asc", "expected"),
    [
        # HE-AAC, backward-compatible signalling: LC 24 kHz + sync extension 0x2b7, SBR 48 kHz
        (
            "131056e598",
            {"aac_profile": "HE-AAC", "sample_rate": 24000, "sbr": True, "sbr_sample_rate": 48000},
        ),
        # HE-AAC, explicit: AOT 5, 24 kHz, stereo, extension 48 kHz, underlying AOT 2
        (
            "2b118800",
            {
                "aac_profile": "HE-AAC",
                "audio_object_type": 5,
                "sbr_sample_rate": 48000,
                "base_object_type": 2,
            },
        ),
        # HE-AACv2, explicit: AOT 29, 24 kHz, mono, extension 48 kHz, AOT 2
        (
            "eb098800",
            {"aac_profile": "HE-AACv2", "ps": True, "channel_config": 1, "sample_rate": 24000},
        ),
        # explicit 24-bit sampling frequency (index 15): 12345 Hz, LC, 5.1 channels
        (
            "1780181cb0",
            {"aac_profile": "LC", "sample_rate": 12345, "channel_config": 6, "aac_channels": 6},
        ),
        # escaped object type 31 + 6 bits: AOT 42 (USAC), 48 kHz, stereo
        ("f94640", {"aac_profile": "USAC", "audio_object_type": 42, "sample_rate": 48000}),
        # channel configuration 7 means 8 channels
        ("11b8", {"channel_config": 7, "aac_channels": 8, "sample_rate": 48000}),
    ],
)
def test_audio_specific_configs(asc: str, expected: dict[str, object]) -> None:
    fields = parse_audio(b"\xaf\x00" + bytes.fromhex(asc)).json_fields()
    assert "malformed" not in fields
    assert {k: fields.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("byte", "codec", "rate", "size", "channels"),
    [
        (0x2F, "MP3", 44100, 16, 2),
        (0x22, "MP3", 5512, 16, 1),
        (0x75, "G.711 A-law", 11025, 8, 2),
        (0x86, "G.711 mu-law", 11025, 16, 1),
        (0x0A, "PCM", 22050, 16, 1),
        (0x3E, "PCM LE", 44100, 16, 1),
        (0x12, "ADPCM", 5512, 16, 1),
        (0x42, "Nellymoser 16kHz mono", 5512, 16, 1),
        (0x52, "Nellymoser 8kHz mono", 5512, 16, 1),
        (0xBA, "Speex", 22050, 16, 1),
        (0xE2, "MP3 8kHz", 5512, 16, 1),
        (0xF2, "Device-specific", 5512, 16, 1),
        (0xC2, "reserved(12)", 5512, 16, 1),
    ],
)
def test_legacy_audio_header_bits(
    byte: int, codec: str, rate: int, size: int, channels: int
) -> None:
    info = parse_audio(bytes([byte, 0]))
    assert (info.codec, info.sound_rate, info.sound_size, info.channels) == (
        codec,
        rate,
        size,
        channels,
    )
    assert info.malformed is None


def test_legacy_video_codecs_and_commands() -> None:
    cmd = parse_video(b"\x57\x01")
    assert (cmd.frame_type, cmd.video_command, cmd.codec) == ("command", "end_seek", "AVC")
    assert parse_video(b"\x52\x00").video_command == "start_seek"
    assert parse_video(b"\x32\x00").frame_type == "disposable_inter"
    assert parse_video(b"\x47\x01\x00\x00\x00").frame_type == "generated_keyframe"
    nalu = parse_video(b"\x27\x01\xff\xff\xf6" + struct.pack(">I", 2) + b"\x41\x9a")
    assert (nalu.composition_time, nalu.nalu_types, nalu.nalu_count) == (-10, (1,), 1)
    two_byte = parse_video(b"\x17\x01\x00\x00\x00\x00\x02\x65\x88\x00\x01\x06", nal_length_size=2)
    assert two_byte.nalu_types == (5, 6) and two_byte.malformed is None
    # VP6: adjustment byte 0x12 (2 px horizontal, 1 vertical), key frame 20 rows x 30 columns
    vp6 = parse_video(b"\x14\x12" + b"\x00\x06\x14\x1e\x14\x1e")
    assert (vp6.codec, vp6.width, vp6.height) == ("VP6", 30 * 16 - 1, 20 * 16 - 2)
    vp6a = parse_video(b"\x15\x00\x00\x00\x10" + b"\x01\x06\x00\x10\x0a\x0b")
    assert (vp6a.codec, vp6a.width, vp6a.height) == ("VP6 alpha", 11 * 16, 10 * 16)
    assert parse_video(b"\x16\x10\x40\x10\x30").json_fields()["codec"] == "Screen video v2"
    assert parse_video(b"\x16\x10\x40\x10\x30").width == 64
    assert parse_video(b"\x1f\x00").codec == "reserved(15)"


def test_nalu_list_is_bounded() -> None:
    body = b"\x27\x01\x00\x00\x00" + (struct.pack(">I", 1) + b"\x09") * 1000
    info = parse_video(body)
    assert info.nalu_count == 1000 and len(info.nalu_types or ()) == 32
    bad = parse_video(b"\x27\x01\x00\x00\x00" + struct.pack(">I", 100) + b"\x41")
    assert bad.malformed and "length size 4" in bad.malformed


def _avcc() -> bytes:
    for t, body in flv_tags((MEDIA / "avc_high_aac.flv").read_bytes()):
        if t == 9 and body[1] == 0:
            return body[5:]
    raise AssertionError


def test_enhanced_avc_coded_frames_and_metadata() -> None:
    start = parse_video(bytes([ex_video(1, 0)]) + b"avc1" + _avcc()).json_fields()
    assert (start["codec"], start["profile"], start["width"], start["height"]) == (
        "AVC",
        "High",
        640,
        360,
    )
    frames = parse_video(
        bytes([ex_video(2, 1)]) + b"avc1" + b"\x00\x00\x28" + struct.pack(">I", 2) + b"\x41\x9a"
    )
    assert (frames.packet_type, frames.composition_time, frames.nalu_types) == (
        "coded_frames",
        40,
        (1,),
    )
    framesx = parse_video(
        bytes([ex_video(1, 3)]) + b"hvc1" + struct.pack(">I", 3) + b"\x26\x01\xaf"
    )
    assert (framesx.packet_type, framesx.composition_time, framesx.nalu_types) == (
        "coded_frames_x",
        0,
        (19,),  # IDR_W_RADL
    )
    color = {"colorConfig": {"bitDepth": 10, "colorPrimaries": 9}, "hdrCll": {"maxFall": 400}}
    meta = parse_video(bytes([ex_video(0, 4)]) + b"hvc1" + amf0.encode_values("colorInfo", color))
    assert meta.packet_type == "metadata"
    assert meta.json_fields()["metadata"] == {"colorInfo": color}
    end = parse_video(bytes([ex_video(1, 2)]) + b"av01")
    assert (end.packet_type, end.codec, end.malformed) == ("sequence_end", "AV1", None)
    command = parse_video(bytes([ex_video(5, 1), 0]))
    assert (command.frame_type, command.video_command, command.fourcc) == (
        "command",
        "start_seek",
        None,
    )
    ts = parse_video(bytes([ex_video(0, 5)]) + b"av01" + b"\x01\x02")
    assert ts.packet_type == "mpeg2ts_sequence_start" and ts.data_size == 2


def test_enhanced_multitrack_video() -> None:
    avcc = _avcc()
    hvcc = mp4_box("hevc.mp4", b"hvcC")
    one = parse_video(bytes([ex_video(1, 6), 0x00]) + b"avc1" + b"\x03" + avcc)
    assert (one.multitrack, one.track_id, one.width, one.packet_type) == (
        "one_track",
        3,
        640,
        "sequence_start",
    )
    many = parse_video(
        bytes([ex_video(1, 6), 0x10])
        + b"avc1"
        + b"\x00"
        + len(avcc).to_bytes(3, "big")
        + avcc
        + b"\x01"
        + len(avcc).to_bytes(3, "big")
        + avcc
    )
    assert many.multitrack == "many_tracks" and many.malformed is None
    assert [t["track_id"] for t in many.tracks or ()] == [0, 1]
    assert all(t["width"] == 640 for t in many.tracks or ())
    mixed = parse_video(
        bytes([ex_video(1, 6), 0x20])
        + b"avc1\x00"
        + len(avcc).to_bytes(3, "big")
        + avcc
        + b"hvc1\x01"
        + len(hvcc).to_bytes(3, "big")
        + hvcc
    )
    fields = mixed.json_fields()
    assert fields["multitrack"] == "many_tracks_many_codecs"
    assert [(t["codec"], t["width"]) for t in fields["tracks"]] == [("AVC", 640), ("HEVC", 426)]
    assert (fields["codec"], fields["width"]) == ("AVC", 640)  # the first track speaks
    json.dumps(fields, allow_nan=False)
    cut = parse_video(bytes([ex_video(1, 6), 0x10]) + b"avc1\x00\x00\x01\x00" + avcc[:10])
    assert cut.malformed and "truncated" in cut.malformed


def test_enhanced_audio_multitrack_multichannel_modex() -> None:
    asc = bytes.fromhex("1210")
    many = parse_audio(
        b"\x95\x10mp4a" + b"\x00\x00\x00\x02" + asc + b"\x01\x00\x00\x02" + bytes.fromhex("1190")
    ).json_fields()
    assert many["multitrack"] == "many_tracks" and many["packet_type"] == "sequence_start"
    assert [(t["track_id"], t["sample_rate"], t["channel_config"]) for t in many["tracks"]] == [
        (0, 44100, 2),
        (1, 48000, 2),
    ]
    native = parse_audio(b"\x94Opus\x01\x06\x00\x00\x00\x3f").json_fields()
    assert (
        native["packet_type"],
        native["channel_order"],
        native["channels"],
        native["channel_mask"],
    ) == (
        "multichannel_config",
        "native",
        6,
        0x3F,
    )
    custom = parse_audio(b"\x94ac-3\x02\x02\x01\x00").json_fields()
    assert (custom["codec"], custom["channel_mapping"]) == ("AC-3", [1, 0])
    # ModEx: TimestampOffsetNano 1000 ns, then a coded frame
    modex = parse_audio(b"\x97\x02\x00\x03\xe8\x01Opus\xaa").json_fields()
    assert (modex["timestamp_offset_ns"], modex["packet_type"], modex["codec"]) == (
        1000,
        "coded_frames",
        "Opus",
    )


def test_empty_bodies() -> None:
    assert parse_audio(b"").empty and parse_video(memoryview(b"")).empty
    assert parse_audio(b"").json_fields() == {"empty": True}
    assert parse_video(b"").json_fields() == {"empty": True}
    assert isinstance(parse_audio(bytearray()), AudioInfo)
    assert isinstance(parse_video(b""), VideoInfo)


def test_every_prefix_of_real_headers_is_reported_not_raised() -> None:
    bodies: list[tuple[int, bytes]] = []
    for path in ("avc_high_aac.flv", "h263_nellymoser.flv", "avc_high444_cqm_interlaced.flv"):
        for t, body in flv_tags((MEDIA / path).read_bytes()):
            if t in (8, 9) and len(body) < 200:
                bodies.append((t, body))
    bodies.append((9, bytes([ex_video(1, 0)]) + b"hvc1" + mp4_box("hevc.mp4", b"hvcC")[:200]))
    bodies.append((9, bytes([ex_video(1, 0)]) + b"av01" + mp4_box("av1.mp4", b"av1C")))
    for t, body in bodies:
        parse = parse_audio if t == 8 else parse_video
        full = parse(body)
        for n in range(1, len(body)):
            info = parse(memoryview(body)[:n])
            json.dumps(info.json_fields(), allow_nan=False)
        assert full.codec is not None


@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=120))
def test_random_bodies_never_raise(body: bytes) -> None:
    for info in (
        parse_audio(body),
        parse_video(body),
        parse_video(b"\x17\x00\x00\x00\x00" + body),
        parse_video(b"\x90hvc1" + body),
        parse_audio(b"\xaf\x00" + body),
    ):
        json.dumps(info.json_fields(), allow_nan=False)


def _media_messages(stream: str) -> list[tuple[int, AudioInfo | VideoInfo]]:
    from droidcap.rtmp.decoder import RtmpDecoder
    from droidcap.rtmp.events import Message

    decoder = RtmpDecoder(role="server")
    decoder.receive_data((MEDIA.parent / "fq" / stream).read_bytes(), frame=1, time=0.0)
    decoder.receive_eof()
    return [
        (e.type_id, e.body)
        for e in decoder.events()
        if isinstance(e, Message) and e.type_id in (8, 9)
    ]


def test_real_rtmp_media_through_the_message_decoder() -> None:
    """Wireshark's sample (fq server_stream): Sorenson H.263 320x240 + Nellymoser; ffmpeg's
    stream: AAC LC.  Every body parses without a malformed note."""
    media = _media_messages("server_stream")
    video = [b for t, b in media if t == 9]
    audio = [b for t, b in media if t == 8]
    assert all(isinstance(b, VideoInfo) and b.malformed is None for b in video)
    keys = [b for b in video if b.frame_type == "keyframe"]
    assert len(keys) == 10 and {(b.width, b.height) for b in keys} == {(320, 240)}
    assert {b.frame_type for b in video} == {"keyframe", "inter", "disposable_inter", "command"}
    assert sorted(b.video_command for b in video if b.frame_type == "command") == [
        "end_seek",
        "start_seek",
    ]
    assert sum(b.empty for b in audio) == 1  # the empty audio message a server sends at play
    assert {(b.codec, b.channels) for b in audio if not b.empty} == {("Nellymoser", 1)}
    aac = [b for t, b in _media_messages("ffmpeg_server_stream") if t == 8]
    assert isinstance(aac[0], AudioInfo)
    assert (aac[0].aac_packet_type, aac[0].aac_profile, aac[0].sample_rate) == (
        "sequence_header",
        "LC",
        44100,
    )
    assert len(aac) > 100 and all(b.aac_packet_type == "raw" for b in aac[1:])
