"""An FLV reader for the tests, written from the FLV spec and independent of droidcap: it checks
the structure as it reads (header, PreviousTagSize chain, stream id 0)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tag:
    type: int
    timestamp: int
    data: bytes

    @property
    def video_packet(self) -> int | None:
        """0 sequence header, 1 coded frame, 2 end of sequence (legacy AVC/HEVC and enhanced)."""
        if self.type != 9 or len(self.data) < 2:
            return None
        if self.data[0] & 0x80:  # enhanced: packet type in the low nibble
            return {0: 0, 1: 1, 3: 1, 2: 2}.get(self.data[0] & 0x0F)
        return self.data[1]

    @property
    def keyframe(self) -> bool:
        return self.type == 9 and (self.data[0] >> 4) & 7 == 1

    @property
    def audio_packet(self) -> int | None:
        """AAC: 0 sequence header, 1 raw."""
        if self.type != 8 or len(self.data) < 2:
            return None
        return self.data[1] if self.data[0] >> 4 == 10 else 1


@dataclass(frozen=True)
class Flv:
    flags: int
    tags: list[Tag]

    def coded_video(self) -> list[Tag]:
        return [t for t in self.tags if t.video_packet == 1]

    def coded_audio(self) -> list[Tag]:
        return [t for t in self.tags if t.audio_packet == 1]


def read_flv(path: Path) -> Flv:
    data = path.read_bytes()
    assert data[:3] == b"FLV" and data[3] == 1, "not an FLV v1 header"
    flags = data[4]
    offset = struct.unpack_from(">I", data, 5)[0]
    assert offset == 9
    assert struct.unpack_from(">I", data, 9)[0] == 0, "PreviousTagSize0 must be 0"
    pos = 13
    tags = []
    while pos < len(data):
        assert pos + 11 <= len(data), f"tag header cut at {pos}"
        kind = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        assert data[pos + 8:pos + 11] == b"\0\0\0", "stream id must be 0"
        body = data[pos + 11:pos + 11 + size]
        assert len(body) == size, "tag body cut"
        back = struct.unpack_from(">I", data, pos + 11 + size)[0]
        assert back == 11 + size, f"PreviousTagSize {back} after a {11 + size}-byte tag"
        tags.append(Tag(kind, ts, body))
        pos += 11 + size + 4
    return Flv(flags=flags, tags=tags)
