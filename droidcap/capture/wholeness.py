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
    """Walks pcap records (or pcapng blocks) by their length fields only.

    It keeps no payload: only the absolute offset of the next record header, and the few bytes of
    a header that straddles two pieces.  Per record it costs one ``unpack_from``, so a 200 MB
    capture is checked while it is pulled at little more than the cost of reading it."""

    def __init__(self) -> None:
        self._head = bytearray()   # the file's first bytes, until the format is known
        self._pending = b""        # bytes of a record header cut by the end of a piece
        self._size = 0             # bytes fed
        self._next = 0             # absolute offset of the next record header
        self._prev = 0             # absolute offset of the last header read
        self._records = 0
        self._length: struct.Struct | None = None  # reads a record's length field
        self._length_at = 0        # where the length field sits in a record header
        self._header_size = 16     # bytes needed to read it
        self._pcapng = False

    def _start(self) -> bool:
        head = bytes(self._head)
        if len(head) < 24:
            return False
        magic = head[:4]
        if magic in _PCAP_MAGICS:
            self._length = struct.Struct(_PCAP_MAGICS[magic] + "I")
            self._length_at, self._header_size, self._next = 8, 16, 24
        elif magic == _PCAPNG_SHB:
            endian = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            self._length = struct.Struct(endian + "I")
            self._length_at, self._header_size, self._next = 4, 12, 0
            self._pcapng = True
        else:
            raise CaptureFormatError("not a pcap or pcapng file (unknown magic number)")
        self._prev = self._next
        return True

    def feed(self, data: bytes) -> None:
        if self._length is None:
            self._head += data
            self._size += len(data)
            if not self._start():
                return
            data, base = bytes(self._head), 0
            del self._head[:]
            self._walk(data, base)
            return
        base = self._size - len(self._pending)
        self._size += len(data)
        self._walk(self._pending + data if self._pending else data, base)

    def _walk(self, buf: bytes, base: int) -> None:
        """Advance over every record header that lies in ``buf`` (which starts at ``base``)."""
        unpack, at, need = self._length.unpack_from, self._length_at, self._header_size  # type: ignore[union-attr]
        pcapng = self._pcapng
        end = len(buf)
        nxt, prev, records = self._next, self._prev, self._records
        rel = nxt - base
        while rel >= 0 and rel + need <= end:
            (length,) = unpack(buf, rel + at)
            if pcapng:
                if length < 12 or length % 4:
                    raise CaptureFormatError(f"pcapng block at byte {nxt} has an invalid length {length}")
                step = length
            else:
                if length > 0x4000000:
                    raise CaptureFormatError(f"pcap record at byte {nxt} claims {length} bytes: "
                                             "the file is corrupt")
                step = 16 + length
            prev = nxt
            nxt += step
            rel += step
            records += 1
        self._next, self._prev, self._records = nxt, prev, records
        # a header cut by the end of this piece is completed by the next one
        self._pending = bytes(buf[rel:]) if 0 <= rel < end else b""

    def finish(self) -> Wholeness:
        size = self._size
        if self._length is None:
            if size == 0:
                raise CaptureFormatError("the capture is empty (0 bytes): tcpdump wrote nothing")
            raise CaptureFormatError(f"the capture is {size} bytes, shorter than a pcap header")
        if self._next <= size:
            whole, records = self._next, self._records
        else:  # the last header read announced more than arrived
            whole, records = self._prev, self._records - 1
        if size < whole:
            whole = size
        return Wholeness(size=size, whole_length=whole, records=records)


__all__ = ["Wholeness", "WholenessChecker"]
