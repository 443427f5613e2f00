"""pcapng: a block scanner.

Every block is ``type, total length, body, total length``.  A Section Header Block (SHB) sets the
byte order of the section and forgets its interfaces; Interface Description Blocks (IDB) declare
interfaces (link type, snaplen, timestamp resolution and offset); Enhanced and Simple Packet Blocks
(EPB, SPB) and the obsolete Packet Block carry frames.  Any other block is skipped by its length —
silently for the standard non-packet blocks, with one note per unknown type so a user can tell.

Like :class:`~droidcap.capture.pcap.PcapParser`, :class:`PcapngParser` parses only complete blocks
out of a buffer it is handed; a block cut short is "need more bytes", and only the reader decides,
at end of input, whether that is a truncated file.
"""

from __future__ import annotations

from struct import Struct

from droidcap.capture.events import CaptureNote
from droidcap.capture.pcap import MAX_RECORD, RawRecord
from droidcap.errors import CaptureFormatError

SHB_TYPE = 0x0A0D0D0A
MAGIC = b"\x0a\x0d\x0d\x0a"
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6
# Standard blocks that hold no frames: name resolution, interface statistics, systemd journal
# export, decryption secrets, and the two custom block types.
_QUIET_SKIP = frozenset((4, 5, 9, 10, 0x00000BAD, 0x40000BAD))
_BOM = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14


class _Order:
    """The structs of one byte order, built once per order rather than once per section."""

    __slots__ = ("head", "u32", "epb", "pb", "idb", "opt", "i64")

    def __init__(self, order: str) -> None:
        self.head = Struct(order + "II")  # block type, total length
        self.u32 = Struct(order + "I")
        self.epb = Struct(order + "IIIII")  # interface, ts high, ts low, captured, original
        self.pb = Struct(order + "HHIIII")  # interface, drops, ts high, ts low, captured, original
        self.idb = Struct(order + "HHI")  # link type, reserved, snaplen
        self.opt = Struct(order + "HH")  # option code, option length
        self.i64 = Struct(order + "q")


_ORDERS = {"<": _Order("<"), ">": _Order(">")}

# (link type, snaplen, timestamp units per second, timestamp offset in seconds)
_Interface = tuple[int, int, float, int]


class PcapngParser:
    """Parses the blocks of a pcapng stream, section after section."""

    __slots__ = ("_order", "_interfaces", "_frame", "_last_time", "_unknown_seen")

    def __init__(self) -> None:
        self._order: _Order | None = None  # None until the first SHB
        self._interfaces: list[_Interface] = []
        self._frame = 0
        self._last_time = 0.0  # SPBs carry no timestamp; they get the previous record's
        self._unknown_seen: set[int] = set()

    def parse(self, buf: bytes, pos: int, out: list[RawRecord | CaptureNote]) -> tuple[int, int]:
        """Append the records of every complete block in ``buf[pos:]`` to ``out``.

        Returns the position after the last complete block and how many bytes from there the next
        block needs.
        """
        end = len(buf)
        append = out.append
        order = self._order
        interfaces = self._interfaces
        frame = self._frame
        last_time = self._last_time
        need = 12
        if order is not None:
            head, u32, epb = order.head.unpack_from, order.u32.unpack_from, order.epb.unpack_from
        try:
            while end - pos >= 12:
                if order is not None:
                    btype, blen = head(buf, pos)
                if order is None or btype == SHB_TYPE:  # a palindrome: the same in either order
                    order = self._section(buf, pos)
                    interfaces = self._interfaces
                    head, u32, epb = order.head.unpack_from, order.u32.unpack_from, order.epb.unpack_from
                    btype, blen = head(buf, pos)
                if blen < 12 or blen & 3 or blen > MAX_RECORD:
                    raise CaptureFormatError(
                        f"pcapng block of type {btype:#x} at byte offset {pos} has an invalid "
                        f"length {blen}"
                    )
                if end - pos < blen:
                    need = blen
                    break
                if u32(buf, pos + blen - 4)[0] != blen:
                    raise CaptureFormatError(
                        f"pcapng block at byte offset {pos}: trailing length does not match {blen}"
                    )
                if btype == _EPB or btype == _PB:
                    if blen < 32:
                        raise CaptureFormatError(f"pcapng packet block of {blen} bytes")
                    if btype == _EPB:
                        iface, hi, lo, incl, orig = epb(buf, pos + 8)
                    else:
                        iface, _drops, hi, lo, incl, orig = order.pb.unpack_from(buf, pos + 8)
                    if incl > blen - 32:
                        raise CaptureFormatError(
                            f"pcapng record {frame + 1} claims {incl} bytes in a {blen}-byte block"
                        )
                    try:
                        linktype, _snap, units, offset = interfaces[iface]
                    except IndexError:
                        raise self._undeclared(iface, frame + 1) from None
                    frame += 1
                    last_time = ((hi << 32) | lo) / units + offset
                    append((frame, last_time, linktype, buf[pos + 28 : pos + 28 + incl], orig, iface))
                elif btype == _SPB:
                    if blen < 16:
                        raise CaptureFormatError(f"pcapng Simple Packet Block of {blen} bytes")
                    orig = order.u32.unpack_from(buf, pos + 8)[0]
                    if not interfaces:
                        raise self._undeclared(0, frame + 1)
                    linktype, snap, _units, _offset = interfaces[0]
                    incl = min(orig, blen - 16, snap or orig)
                    frame += 1
                    append((frame, last_time, linktype, buf[pos + 12 : pos + 12 + incl], orig, 0))
                elif btype == _IDB:
                    interfaces.append(self._describe(buf, pos, blen, order))
                elif btype != SHB_TYPE and btype not in _QUIET_SKIP and btype not in self._unknown_seen:
                    self._unknown_seen.add(btype)
                    append(CaptureNote(
                        frame=None,
                        message=f"pcapng blocks of unknown type {btype:#010x} skipped",
                    ))
                pos += blen
        finally:
            self._frame = frame
            self._last_time = last_time
        return pos, need

    def truncated(self, present: int, need: int) -> CaptureNote:
        """The note for a capture that ends ``present`` bytes into a block that needs ``need``."""
        return CaptureNote(
            frame=None,
            message=f"capture ends inside a pcapng block after record {self._frame} ({present} of "
            f"{need} bytes present); the file is truncated, or was still being written",
        )

    def _section(self, buf: bytes, pos: int) -> _Order:
        """A new section: learn its byte order, forget the previous section's interfaces."""
        if buf[pos : pos + 4] != MAGIC:
            raise CaptureFormatError("pcapng stream does not start with a Section Header Block")
        order = _BOM.get(bytes(buf[pos + 8 : pos + 12]))
        if order is None:
            raise CaptureFormatError(
                "pcapng Section Header Block has no valid byte-order magic; not a pcapng capture"
            )
        self._order = _ORDERS[order]
        self._interfaces = []
        return self._order

    @staticmethod
    def _undeclared(iface: int, frame: int) -> CaptureFormatError:
        return CaptureFormatError(
            f"pcapng record {frame} refers to interface {iface}, which no Interface Description "
            "Block declared"
        )

    @staticmethod
    def _describe(buf: bytes, pos: int, blen: int, order: _Order) -> _Interface:
        """An IDB's link type, snaplen and the two options that change timestamps."""
        if blen < 20:
            raise CaptureFormatError(f"pcapng Interface Description Block of {blen} bytes")
        linktype, _reserved, snaplen = order.idb.unpack_from(buf, pos + 8)
        units = 1e6  # if_tsresol default: microseconds
        offset = 0
        opt = pos + 16
        stop = pos + blen - 4
        while opt + 4 <= stop:
            code, length = order.opt.unpack_from(buf, opt)
            value = opt + 4
            if code == 0 or value + length > stop:  # opt_endofopt, or an option we cannot trust
                break
            if code == _OPT_TSRESOL and length >= 1:
                resol = buf[value]
                exponent = resol & 0x7F
                units = float(2**exponent if resol & 0x80 else 10**exponent)
            elif code == _OPT_TSOFFSET and length >= 8:
                offset = order.i64.unpack_from(buf, value)[0]
            opt = value + ((length + 3) & ~3)
        return linktype, snaplen, units, offset
