"""The RTMP handshake: C0/S0 version byte, C1/S1 and C2/S2 1536-byte blocks.

Two flavours exist in the wild.  The *plain* handshake of the public RTMP specification sends a
4-byte time, four zero bytes and random filler, and each side echoes the other's block.  The
*digest* ("complex") handshake of Flash Player and Flash Media Server hides a 32-byte
HMAC-SHA256 digest in C1/S1 at an offset derived from four bytes of the block, in one of two
layouts; the echo C2/S2 then carries an HMAC keyed with the other side's digest instead of a copy.
Nothing here rejects an odd peer: the decoder reports what it saw and :func:`check_echo` tells the
session layer how the echo relates to the block it answers.

Digest layouts (the numbering follows crtmpserver and the notes in docs/protocol-notes.md):

* layout 0: the 4 offset bytes are at 8..11, the digest at ``sum(those) % 728 + 12``;
* layout 1: the 4 offset bytes are at 772..775, the digest at ``sum(those) % 728 + 776``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

__all__ = [
    "BLOCK_SIZE",
    "FMS_KEY",
    "FP_KEY",
    "RTMP_VERSIONS",
    "check_echo",
    "client_digest",
    "find_digest",
    "server_digest",
]

BLOCK_SIZE = 1536
"""Size of C1, S1, C2 and S2."""

RTMP_VERSIONS = frozenset({3, 6, 8, 9})
"""C0/S0 values: 3 is plain RTMP, 6 (and Adobe's later 8/9) announce RTMPE encryption."""

_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")

FP_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL
"""Flash Player key: its first 30 bytes sign C1, all 62 bytes key the S1-digest HMAC in C2."""

FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL
"""Flash Media Server key: its first 36 bytes sign S1, all 68 bytes key the C1-digest HMAC in S2."""

_DIGEST_LEN = 32
_OFFSET_BASES = ((8, 12), (772, 776))  # (offset bytes position, digest base) per layout


def _digest_offset(block: bytes, layout: int) -> int:
    at, base = _OFFSET_BASES[layout]
    return (block[at] + block[at + 1] + block[at + 2] + block[at + 3]) % 728 + base


def find_digest(block: bytes, key: bytes) -> tuple[int, bytes] | None:
    """Return ``(layout, digest)`` if ``block`` (C1 or S1, 1536 bytes) carries a valid
    HMAC-SHA256 digest signed with ``key``, else None.

    C1 is signed with ``FP_KEY[:30]``, S1 with ``FMS_KEY[:36]``."""
    if len(block) != BLOCK_SIZE:
        return None
    for layout in (0, 1):
        off = _digest_offset(block, layout)
        digest = block[off : off + _DIGEST_LEN]
        expected = hmac.digest(key, block[:off] + block[off + _DIGEST_LEN :], hashlib.sha256)
        if hmac.compare_digest(digest, expected):
            return layout, digest
    return None


def client_digest(c1: bytes) -> tuple[int, bytes] | None:
    """Digest layout and value of a Flash Player style C1, or None for a plain C1."""
    return find_digest(c1, FP_KEY[:30])


def server_digest(s1: bytes) -> tuple[int, bytes] | None:
    """Digest layout and value of an FMS style S1, or None for a plain S1."""
    return find_digest(s1, FMS_KEY[:36])


def _echo_signed(answered_digest: bytes, echo: bytes, key: bytes) -> bool:
    """An echo of a digest block is random filler whose last 32 bytes are
    HMAC(HMAC(key, other side's digest), filler)."""
    signing_key = hmac.digest(key, answered_digest, hashlib.sha256)
    body = echo[: BLOCK_SIZE - _DIGEST_LEN]
    expected = hmac.digest(signing_key, body, hashlib.sha256)
    return hmac.compare_digest(echo[BLOCK_SIZE - _DIGEST_LEN :], expected)


def check_echo(block: bytes, echo: bytes) -> Literal["exact", "digest", "mismatch"]:
    """How ``echo`` (S2 or C2) answers ``block`` (C1 or S1 of the other direction).

    ``"exact"``: the random part (bytes 8..) is copied back — the plain handshake; the time field
    at 0..3 is not compared (peers disagree about what belongs there).  ``"digest"``: ``block``
    carries a Flash digest and the last 32 bytes of ``echo`` are the HMAC keyed with it (S2 with
    the 68-byte FMS key, C2 with the 62-byte Flash Player key; both are tried because the caller
    need not say which direction it checks).  ``"mismatch"``: neither — reported, not rejected.
    """
    if len(block) != BLOCK_SIZE or len(echo) != BLOCK_SIZE:
        return "mismatch"
    if echo[8:] == block[8:]:
        return "exact"
    for found, key in ((client_digest(block), FMS_KEY), (server_digest(block), FP_KEY)):
        if found is not None and _echo_signed(found[1], echo, key):
            return "digest"
    return "mismatch"
