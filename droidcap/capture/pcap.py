"""Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed by data.

Four variants, told apart by the magic number: microsecond or nanosecond timestamps, written in
either byte order.  :class:`PcapParser` parses complete records out of a buffer the reader owns;
it never waits or reads itself, so a file, a pipe and a test feed it alike.
"""

from __future__ import annotations

from struct import Struct

from droidcap.capture.events import CaptureNote
from droidcap.errors import CaptureFormatError

RawRecord = tuple[int, float, int, bytes, int, int]
"""A record before it becomes an event: the fields of :class:`~droidcap.capture.events.Record` in
order (frame, time, linktype, data, orig_len, interface).  The hot path passes these along and
builds a ``Record`` only for callers who ask for one."""

MAX_RECORD = 16 * 1024 * 1024
"""Largest record (or pcapng block) accepted.  Real snaplens stop at 256 KiB; the bound keeps a
corrupt length field from making a reader wait for, and buffer, gigabytes."""

HEADER_SIZE = 24
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_LINKTYPE_MASK = 0x03FFFFFF  # the upper bits of the header's link type field carry FCS info


def is_pcap_magic(head: bytes) -> bool:
    return head[:4] in _MAGICS


class PcapParser:
    """Parses the records of one classic pcap file (after its file header)."""

    __slots__ = ("linktype", "_record", "_scale", "_frame")

    def __init__(self, header: bytes) -> None:
        """``header``: the 24-byte file header (its magic already checked)."""
        order, nanosecond = _MAGICS[header[:4]]
        major, minor, _zone, _sigfigs, _snaplen, network = Struct(order + "HHiIII").unpack_from(
            header, 4
        )
        if major != 2:
            raise CaptureFormatError(f"pcap file format version {major}.{minor} is not supported (2.x is)")
        self.linktype = network & _LINKTYPE_MASK
        self._record = Struct(order + "IIII")
        self._scale = 1e-9 if nanosecond else 1e-6
        self._frame = 0

    def parse(self, buf: bytes, pos: int, out: list[RawRecord | CaptureNote]) -> tuple[int, int]:
        """Append every complete record in ``buf[pos:]`` to ``out``.

        Returns the position after the last complete record and how many bytes from there the next
        record needs (its header, or header plus data once the header is in).
        """
        end = len(buf)
        unpack = self._record.unpack_from
        scale = self._scale
        linktype = self.linktype
        append = out.append
        frame = self._frame
        need = 16
        while end - pos >= 16:
            sec, frac, incl, orig = unpack(buf, pos)
            if incl > MAX_RECORD:
                raise CaptureFormatError(
                    f"pcap record {frame + 1} claims {incl} captured bytes (more than "
                    f"{MAX_RECORD}); the file is corrupt"
                )
            start = pos + 16
            stop = start + incl
            if stop > end:
                need = 16 + incl
                break
            frame += 1
            append((frame, sec + frac * scale, linktype, buf[start:stop], orig, 0))
            pos = stop
        self._frame = frame
        return pos, need

    def truncated(self, present: int, need: int) -> CaptureNote:
        """The note for a capture that ends ``present`` bytes into a record that needs ``need``."""
        return CaptureNote(
            frame=None,
            message=f"capture ends inside record {self._frame + 1} ({present} of {need} bytes "
            "present); the file is truncated, or was still being written",
        )
