"""Is a capture file made of whole records?  Where does the last whole one end?

A tcpdump killed mid-write (SIGKILL, storage full, a device that lost power) leaves a last record
cut short.  Readers then fail or silently drop it; droidcap instead trims the file to its last
whole record and says how many bytes it removed.  Fed bytes, in any pieces; it never opens a file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from droidcap.errors import CaptureFormatError

_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
                b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wholeness:
    """The verdict on a whole file."""

    size: int             #: bytes seen
    whole_length: int     #: bytes up to the end of the last whole record
    records: int          #: whole packet records (pcap) or blocks (pcapng) after the header

    @property
    def partial_bytes(self) -> int:
        return self.size - self.whole_length

    @property
    def is_whole(self) -> bool:
        return self.partial_bytes == 0


class WholenessChecker:
    """Walks pcap records (or pcapng blocks) by their length fields only."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0       # file offset of _buf[0]
        self._endian: str | None = None
        self._pcapng = False
        self._header_done = False
        self._records = 0
        self._whole = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        pos = 0
        if not self._header_done:
            if len(buf) < 24:
                return
            magic = bytes(buf[:4])
            if magic in _PCAP_MAGICS:
                self._endian = _PCAP_MAGICS[magic]
                pos = 24
            elif magic == _PCAPNG_SHB:
                self._pcapng = True
                self._endian = "<" if buf[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            else:
                raise CaptureFormatError("not a pcap or pcapng file (unknown magic number)")
            self._header_done = True
            self._whole = pos
        endian = self._endian or "<"
        while True:
            if self._pcapng:
                if len(buf) - pos < 12:
                    break
                (length,) = struct.unpack_from(endian + "I", buf, pos + 4)
                if length < 12 or length % 4:
                    raise CaptureFormatError(f"pcapng block at byte {self._offset + pos} has an "
                                             f"invalid length {length}")
                step = length
            else:
                if len(buf) - pos < 16:
                    break
                (caplen,) = struct.unpack_from(endian + "I", buf, pos + 8)
                if caplen > 0x4000000:
                    raise CaptureFormatError(f"pcap record at byte {self._offset + pos} claims "
                                             f"{caplen} bytes: the file is corrupt")
                step = 16 + caplen
            if len(buf) - pos < step:
                break
            pos += step
            self._records += 1
            self._whole = self._offset + pos
        del buf[:pos]
        self._offset += pos

    def finish(self) -> Wholeness:
        size = self._offset + len(self._buf)
        if not self._header_done:
            if size == 0:
                raise CaptureFormatError("the capture is empty (0 bytes): tcpdump wrote nothing")
            raise CaptureFormatError(f"the capture is {size} bytes, shorter than a pcap header")
        return Wholeness(size=size, whole_length=self._whole, records=self._records)


__all__ = ["Wholeness", "WholenessChecker"]
