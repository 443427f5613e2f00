"""Bit-level reading for codec headers (H.264/H.265 SPS, AAC AudioSpecificConfig, AV1 OBUs).

Everything here raises :class:`Truncated` (a ``ValueError``) when the data runs out, so callers
can report "malformed" with the fields decoded so far.
"""

from __future__ import annotations

__all__ = ["BitReader", "Truncated", "unescape_rbsp"]

#: SPS/VPS/sequence headers are a few dozen bytes; more than this is never needed for the fields
#: droidcap reports, and bounds the work a hostile length field can ask for.
MAX_HEADER_BYTES = 4096


class Truncated(ValueError):
    """The bits ran out (or an Exp-Golomb code was absurdly long)."""


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove H.264/H.265 emulation-prevention bytes (``00 00 03`` → ``00 00``)."""
    nal = nal[:MAX_HEADER_BYTES]
    if b"\x00\x00\x03" not in nal:
        return nal
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """MSB-first bit reader over a byte string, with Exp-Golomb codes."""

    __slots__ = ("_value", "_bits", "pos")

    def __init__(self, data: bytes) -> None:
        data = bytes(data[:MAX_HEADER_BYTES])
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self.pos = 0

    @property
    def remaining(self) -> int:
        return self._bits - self.pos

    def u(self, n: int) -> int:
        """Read ``n`` bits as an unsigned integer."""
        if n == 0:
            return 0
        end = self.pos + n
        if end > self._bits:
            raise Truncated(f"needed {n} bits at bit {self.pos}, only {self._bits - self.pos} left")
        self.pos = end
        return (self._value >> (self._bits - end)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, n: int) -> None:
        if self.pos + n > self._bits:
            raise Truncated(f"cannot skip {n} bits at bit {self.pos}")
        self.pos += n

    def ue(self) -> int:
        """Unsigned Exp-Golomb (ue(v))."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise Truncated("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed Exp-Golomb (se(v))."""
        k = self.ue()
        return (k + 1) >> 1 if k & 1 else -(k >> 1)

    def leb128(self) -> int:
        """AV1 leb128 (byte aligned)."""
        value = 0
        for i in range(8):
            b = self.u(8)
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return value
        raise Truncated("leb128 longer than 8 bytes")

    def uvlc(self) -> int:
        """AV1 uvlc()."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return (1 << zeros) - 1 + self.u(zeros)
