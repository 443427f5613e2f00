"""Build RTMP byte streams for tests: handshakes, chunked messages, control bodies, aggregates.

The writer chooses chunk header formats the way ffmpeg does (fmt 0 for a new csid, another
stream id or a timestamp going back; fmt 1 when length or type change; fmt 2 when only the delta
changes; fmt 3 otherwise) unless a test forces one, and can write extended timestamps with or
without the fmt 3 repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from droidcap.rtmp import amf0
from droidcap.rtmp.handshake import BLOCK_SIZE, FMS_KEY, FP_KEY


def basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes([(fmt << 6) | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 64 <= csid <= 65599:
        v = csid - 64
        return bytes([(fmt << 6) | 1, v & 0xFF, v >> 8])
    raise ValueError(f"csid {csid} out of range")


@dataclass
class _Last:
    timestamp: int
    tfield: int  # timestamp field of the last fmt 0/1/2 header (ext value if extended)
    length: int
    type_id: int
    stream_id: int
    extended: bool


class ChunkWriter:
    """Chunks messages for one direction."""

    def __init__(self, *, chunk_size: int = 128, ext_on_fmt3: bool = True) -> None:
        self.chunk_size = chunk_size
        self.ext_on_fmt3 = ext_on_fmt3
        self._last: dict[int, _Last] = {}

    def chunks(
        self,
        csid: int,
        type_id: int,
        stream_id: int,
        timestamp: int,
        body: bytes,
        *,
        fmt: int | None = None,
    ) -> list[bytes]:
        """The chunks of one message, separately (so a test can interleave them)."""
        last = self._last.get(csid)
        if fmt is None:
            if last is None or stream_id != last.stream_id or timestamp < last.timestamp:
                fmt = 0
            elif len(body) != last.length or type_id != last.type_id:
                fmt = 1
            elif timestamp - last.timestamp != last.tfield:
                fmt = 2
            else:
                fmt = 3
        tfield = (
            timestamp if fmt == 0 or last is None else (timestamp - last.timestamp) & 0xFFFFFFFF
        )
        if fmt == 3:
            assert last is not None
            tfield = last.tfield
            extended = last.extended
        else:
            extended = tfield >= 0xFFFFFF
        field = min(tfield, 0xFFFFFF)
        ext = struct.pack(">I", tfield) if extended else b""
        if fmt == 0:
            head = (
                struct.pack(">I", field)[1:]
                + struct.pack(">I", len(body))[1:]
                + bytes([type_id])
                + struct.pack("<I", stream_id)
            )
        elif fmt == 1:
            head = (
                struct.pack(">I", field)[1:] + struct.pack(">I", len(body))[1:] + bytes([type_id])
            )
        elif fmt == 2:
            head = struct.pack(">I", field)[1:]
        else:
            head = b""
        first_ext = ext if fmt != 3 or self.ext_on_fmt3 else b""
        out = [basic_header(fmt, csid) + head + first_ext + body[: self.chunk_size]]
        cont_ext = ext if self.ext_on_fmt3 else b""
        for i in range(self.chunk_size, len(body), self.chunk_size):
            out.append(basic_header(3, csid) + cont_ext + body[i : i + self.chunk_size])
        if fmt == 0:
            self._last[csid] = _Last(timestamp, tfield, len(body), type_id, stream_id, extended)
        else:
            assert last is not None
            if fmt == 1:
                last.length, last.type_id = len(body), type_id
            if fmt != 3:
                last.tfield, last.extended = tfield, extended
            last.timestamp = timestamp
        return out

    def message(
        self,
        csid: int,
        type_id: int,
        stream_id: int,
        timestamp: int,
        body: bytes,
        *,
        fmt: int | None = None,
    ) -> bytes:
        return b"".join(self.chunks(csid, type_id, stream_id, timestamp, body, fmt=fmt))

    def set_chunk_size(self, size: int, *, timestamp: int = 0) -> bytes:
        """Write Set Chunk Size (csid 2) and use the new size from the next message on."""
        data = self.message(2, 1, 0, timestamp, struct.pack(">I", size))
        self.chunk_size = size
        return data


# -- bodies ------------------------------------------------------------------------------------


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def user_control(event_type: int, *values: int, raw: bytes = b"") -> bytes:
    return struct.pack(">H", event_type) + b"".join(u32(v) for v in values) + raw


def set_peer_bandwidth(bandwidth: int, limit: int) -> bytes:
    return u32(bandwidth) + bytes([limit])


def command(name: str, transaction_id: float, *args: object) -> bytes:
    return amf0.encode_values(name, transaction_id, *args)


def aggregate(parts: list[tuple[int, int, bytes]]) -> bytes:
    """An aggregate body from ``(type_id, timestamp, body)`` sub-messages (FLV tags)."""
    out = bytearray()
    for type_id, timestamp, body in parts:
        tag = (
            bytes([type_id])
            + struct.pack(">I", len(body))[1:]
            + struct.pack(">I", timestamp & 0xFFFFFF)[1:]
            + bytes([timestamp >> 24])
            + b"\0\0\0"
        )
        out += tag + body + u32(len(tag) + len(body))
    return bytes(out)


def shared_object(
    name: str, version: int, persistent: bool, events: list[tuple[int, bytes]]
) -> bytes:
    out = bytearray(struct.pack(">H", len(name)) + name.encode())
    out += u32(version) + u32(2 if persistent else 0) + u32(0)
    for kind, data in events:
        out += bytes([kind]) + u32(len(data)) + data
    return bytes(out)


# -- handshake ---------------------------------------------------------------------------------


def plain_block(epoch: int = 0, seed: int = 1) -> bytes:
    rnd = hashlib.sha256(seed.to_bytes(8, "big")).digest() * (BLOCK_SIZE // 32)
    return u32(epoch) + b"\0\0\0\0" + rnd[: BLOCK_SIZE - 8]


def digest_block(*, server: bool, layout: int, epoch: int = 0, seed: int = 2) -> bytes:
    """A C1 (Flash Player key) or S1 (FMS key) with a valid digest in ``layout`` 0 or 1."""
    key = FMS_KEY[:36] if server else FP_KEY[:30]
    version = b"\x03\x00\x03\x01" if server else b"\x80\x00\x07\x02"
    block = bytearray(u32(epoch) + version + plain_block(0, seed)[8:])
    at, base = ((8, 12), (772, 776))[layout]
    off = sum(block[at : at + 4]) % 728 + base
    mac = hmac.digest(key, bytes(block[:off] + block[off + 32 :]), hashlib.sha256)
    block[off : off + 32] = mac
    return bytes(block)


def digest_echo(answered: bytes, *, server: bool, layout: int, seed: int = 3) -> bytes:
    """S2 (``server``) answering a digest C1, or C2 answering a digest S1."""
    other_key = FP_KEY[:30] if server else FMS_KEY[:36]
    at, base = ((8, 12), (772, 776))[layout]
    off = sum(answered[at : at + 4]) % 728 + base
    digest = answered[off : off + 32]
    assert hmac.compare_digest(
        digest, hmac.digest(other_key, answered[:off] + answered[off + 32 :], hashlib.sha256)
    )
    signing = hmac.digest(FMS_KEY if server else FP_KEY, digest, hashlib.sha256)
    filler = plain_block(0, seed)[: BLOCK_SIZE - 32]
    return filler + hmac.digest(signing, filler, hashlib.sha256)


def random_bytes(n: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed.to_bytes(8, "big") + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


# -- feeding -----------------------------------------------------------------------------------


def feed(
    data: bytes,
    *,
    role: str = "client",
    cuts: list[int] | None = None,
    eof: bool = True,
    **options: object,
) -> list:
    """Decode ``data`` fed in pieces ending at ``cuts`` (default: whole); piece ``i`` is frame
    ``i + 1`` at time ``i``.  Events are drained after every piece."""
    from droidcap.rtmp.decoder import RtmpDecoder

    decoder = RtmpDecoder(role=role, **options)  # type: ignore[arg-type]
    events: list = []
    start = 0
    for i, cut in enumerate([*(cuts or []), len(data)]):
        decoder.receive_data(data[start:cut], frame=i + 1, time=float(i))
        events.extend(decoder.events())
        start = cut
    if eof:
        decoder.receive_eof()
        events.extend(decoder.events())
    return events


def without_origin(events: list) -> list:
    """Events with frame/time zeroed, to compare decodes fed in different pieces."""
    import dataclasses

    return [dataclasses.replace(e, frame=0, time=0.0) for e in events]
