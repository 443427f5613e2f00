"""Finding chunk boundaries in a stream whose alignment is unknown.

Used when a capture starts mid-connection (no handshake, chunk size unknown) and after bytes were
lost (a gap; the chunk size is known then, but no csid's header state survives).

A *candidate* is an offset holding a plausible fmt 0 header: a real message type, a length the
type allows, a small message stream id (found by a regular expression on the header's tail, so
scanning a large media payload stays in C) — or a plausible fmt 1 media header (1-byte csid
3..63, a timestamp delta below 65536, type 8 with a length below 65536 or type 9): ffmpeg sends
media with fmt 1 and fmt 3 headers only, so after a gap its upload has no fmt 0 header at all.
A fmt 1 candidate says less, so its walk must show more (:meth:`_Walk.convincing_media`).
Each candidate is tried with each plausible chunk
size by running a strict :class:`~droidcap.rtmp.chunks.ChunkReader` over the bytes after it and
scoring what it frames: each message start and each fmt 3 continuation counts one (a
continuation landing exactly one chunk size after its message started also proves the chunk
size), a control or AMF body that parses counts two — and any implausible header, interrupted
message or body that does not parse rejects the pair.  Chunk-size candidates are the usual sizes
plus every distance at which a continuation header byte of the candidate's csid occurs inside
its payload (so odd sizes are found too; they need two continuations to count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from droidcap.rtmp.chunks import (
    MSG,
    MSG_INFERRED,
    ChunkReader,
    Desync,
    Item,
    Status,
    plausible_header,
)
from droidcap.rtmp.messages import Malformed, parse_body

__all__ = ["COMMON_CHUNK_SIZES", "MAX_HEADER", "Found", "Wait", "hunt", "plausible_start"]

COMMON_CHUNK_SIZES = (
    4096,
    128,
    60000,
    65536,
    8192,
    1024,
    2048,
    256,
    512,
    16384,
    32768,
    1400,
    1448,
    1460,
    4000,
    65535,
    1000,
    64000,
)
"""Chunk sizes real peers choose, most common first (ties go to the earlier one)."""

MAX_HEADER = 18
"""Longest chunk header: 3-byte basic header, 11-byte fmt 0 header, 4-byte extended timestamp."""

LOOKAHEAD = 1 << 18
"""Bytes a candidate may wait for before it is judged on what is there (bounds memory)."""

_WALK_CHUNKS = 24
_CONFIDENT = 4  # walk score that settles a candidate even while more data could say more
_MAX_ODD_SIZES = 6
_CHECKED_TYPES = frozenset({1, 2, 3, 4, 5, 6, 15, 17, 18, 20})

_TYPES = rb"[\x01-\x06\x08\x09\x0f-\x14\x16]"
_CANDIDATE = re.compile(
    rb"(?:[\x02-\x3f]|\x00[\x00-\xff]|\x01[\x00-\xff]{2})[\x00-\xff]{6}"
    + _TYPES
    + rb"[\x00-\xff]{2}\x00\x00"
)
# The end of that pattern (type id, two stream id bytes, two zero bytes): searching for it and
# then matching the whole header 7, 8 or 9 bytes earlier is five times faster than trying the
# whole pattern at every offset of a large media payload.
_TAIL = re.compile(_TYPES + rb"[\x00-\xff]{2}\x00\x00")
# fmt 1 media header on a 1-byte csid 3..63: delta < 65536, audio length < 65536
_MEDIA = re.compile(
    rb"[\x43-\x7f]\x00[\x00-\xff]{2}(?:\x00[\x00-\xff]{2}\x08|[\x00-\xff]{3}\x09)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """Chunk framing starts at ``offset`` with ``chunk_size``; ``confirmed`` when the walk
    proved the chunk size (a continuation header where expected, or the size was known)."""

    offset: int
    chunk_size: int
    confirmed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """Nothing decided: bytes before ``skip_to`` hold no candidate and can be dropped; more data
    (or the end of the stream) is needed for the rest."""

    skip_to: int


def hunt(
    data: bytes | bytearray,
    start: int,
    end: int,
    *,
    chunk_size: int | None,
    max_message_size: int,
    final: bool,
) -> Found | Wait:
    """Look for chunk framing in ``data[start:end]``.  ``chunk_size`` is the size known from
    before a gap (tried alone and trusted), None mid-connection.  ``final``: no more data will
    come, judge on what is there."""
    for p in _candidates(data, start, end):
        media = data[p] & 0xC0 == 0x40  # a fmt 1 candidate
        if not media and _shadowed(data, p, end):
            continue
        best: tuple[tuple[bool, int], int] | None = None  # ((proven, score), chunk size)
        undecided = False  # some chunk size needs more data to show what it frames
        for size in _chunk_sizes(data, p, end, chunk_size, max_message_size):
            walk = _walk(data, p, end, size, max_message_size)
            if walk is None:
                continue
            if size not in COMMON_CHUNK_SIZES and size != chunk_size and walk.continuations < 2:
                continue  # one continuation byte at an odd distance is chance, not proof
            if not walk.complete:
                undecided = True
            if walk.convincing_media() if media else walk.convincing(final):
                rank = (chunk_size is not None or walk.proven, walk.score)
                if best is None or rank > best[0]:
                    best = (rank, size)
        if undecided and not final and end - p < LOOKAHEAD and (best is None or not best[0][0]):
            return Wait(skip_to=p)  # wait rather than guess between sizes that still disagree
        if best is not None:
            return Found(offset=p, chunk_size=best[1], confirmed=best[0][0])
    return Wait(skip_to=max(start, end - MAX_HEADER + 1))


def _candidates(data: bytes | bytearray, start: int, end: int) -> list[int]:
    """Offsets in ``data[start:end]`` where a plausible fmt 0 or fmt 1 media header starts, in
    order."""
    found: set[int] = set()
    media = _MEDIA.search
    q = start
    while (m := media(data, q, end)) is not None:  # overlapping matches too
        q = m.start()
        found.add(q)
        q += 1
    search = _TAIL.search
    match = _CANDIDATE.match
    q = start + 7
    while True:
        tail = search(data, q, end)
        if tail is None:
            return sorted(found)
        q = tail.start()
        for p in (q - 9, q - 8, q - 7):
            if p >= start and match(data, p, end) is not None:
                found.add(p)
        q += 1


def _shadowed(data: bytes | bytearray, p: int, end: int) -> bool:
    """A 2- or 3-byte basic header candidate that overlaps a 1-byte one a byte or two later
    (the 0 byte before a real header reads as a csid >= 64 form): prefer the common form."""
    form = data[p]
    if form > 1:
        return False
    return any(
        _CANDIDATE.match(data, q, end) is not None and data[q] > 1
        for q in range(p + 1, min(p + 1 + form + 1, end))
    )


def _chunk_sizes(
    data: bytes | bytearray, p: int, end: int, known: int | None, max_size: int
) -> list[int]:
    """Chunk sizes worth trying for a fmt 0 header at ``p``: the known one alone, else the common
    ones plus the distances at which the first continuation header byte appears."""
    if known is not None:
        return [known]
    sizes = list(COMMON_CHUNK_SIZES)
    b0 = data[p]
    hlen = 1 if b0 & 0x3F > 1 else (2 if b0 & 0x3F == 0 else 3)
    length = (data[p + hlen + 3] << 16) | (data[p + hlen + 4] << 8) | data[p + hlen + 5]
    if length > sizes[1] and length <= max_size:
        body = p + hlen + (7 if b0 & 0xC0 else 11)
        marker = data[p : p + hlen]
        cont = bytes([0xC0 | b0]) + marker[1:]
        found = 0
        at = data.find(cont, body + 1, min(end, body + length))
        while at >= 0 and found < _MAX_ODD_SIZES:
            if at - body not in sizes:
                sizes.append(at - body)
            found += 1
            at = data.find(cont, at + 1, min(end, body + length))
    return sizes


@dataclass(frozen=True, slots=True)
class _Walk:
    """What a strict reader framed from a candidate."""

    starts: int  # chunks that started a message
    continuations: int  # fmt 3 chunks exactly where the chunk size put them
    checked: int  # control and AMF bodies that parsed
    complete: bool  # the walk ended by itself, not for lack of data
    proven: bool  # the chunk size is proven (a continuation, or a Set Chunk Size read)

    @property
    def score(self) -> int:
        return self.starts + self.continuations + 2 * self.checked

    def convincing(self, final: bool) -> bool:
        if (self.checked and self.score >= 3) or (self.starts >= 2 and self.score >= _CONFIDENT):
            return True
        return final and (self.starts >= 2 or self.checked > 0)

    def convincing_media(self) -> bool:
        """For a fmt 1 candidate (no stream id, no parsed body to vouch for it): three messages
        framed back to back, or two and a continuation exactly one chunk size on."""
        return self.starts >= 3 or (self.starts >= 2 and self.continuations > 0)


def _walk(
    data: bytes | bytearray, p: int, end: int, chunk_size: int, max_size: int
) -> _Walk | None:
    """Frame up to a few dozen chunks from ``p`` with ``chunk_size``; None if that framing is
    impossible."""
    reader = ChunkReader(
        chunk_size=chunk_size, strict=True, max_message_size=max_size, max_partial=1 << 62
    )
    out: list[Item] = []
    _, status = reader.read(data, p, end, out, _WALK_CHUNKS)
    if status is Status.DESYNC and reader.desync is not Desync.UNKNOWN_CSID:
        return None
    checked = 0
    for item in out:
        if (item[0] == MSG or item[0] == MSG_INFERRED) and item[5] in _CHECKED_TYPES:
            if isinstance(parse_body(item[5], item[7]), Malformed):
                return None
            checked += 1
    return _Walk(
        starts=reader.headers - reader.continuations,
        continuations=reader.continuations,
        checked=checked,
        complete=status is not Status.NEED_MORE,
        proven=reader.continuations > 0 or reader.chunk_size_set,
    )


def plausible_start(data: bytes | bytearray, max_message_size: int) -> bool:
    """Does ``data`` (at least 12 bytes) open with a believable fmt 0 chunk header on a 1-byte
    csid (the auto mode of the decoder tells a handshake from a mid-connection start by it)?"""
    if len(data) < 12 or data[0] >> 6 or data[0] < 2:
        return False
    length = (data[4] << 16) | (data[5] << 8) | data[6]
    type_id = data[7]
    sid = int.from_bytes(data[8:12], "little")
    if not plausible_header(data[0], type_id, length, sid, max_message_size):
        return False
    if type_id in (18, 20):
        return len(data) < 13 or data[12] == 2
    return True
