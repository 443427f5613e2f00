"""The sans-IO capture reader: bytes in, records out.

:class:`CaptureReader` is fed with :meth:`~CaptureReader.receive_data` (which only buffers) and
:meth:`~CaptureReader.receive_eof`; :meth:`~CaptureReader.events` then yields every record the
buffered bytes complete.  It tells pcap from pcapng by the magic number and hands the buffer to
the matching parser.  A record cut short means "need more bytes" until ``receive_eof``; after it, the
same partial record is reported in a :class:`CaptureNote` and the reader is finished — the records
before the cut are all delivered.  A corrupt record (a length no capture has) is a
:class:`~droidcap.errors.CaptureFormatError`, raised only once every record before it has been
returned.

Buffering is built for both big blocks and byte-at-a-time feeding: chunks are queued and joined
only once they hold everything the next record needs, so feeding one byte at a time costs no
more than feeding the whole file at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from droidcap.capture.events import CaptureNote, Record
from droidcap.capture.pcap import HEADER_SIZE, PcapParser, RawRecord, is_pcap_magic
from droidcap.capture.pcapng import MAGIC as PCAPNG_MAGIC
from droidcap.capture.pcapng import PcapngParser
from droidcap.errors import CaptureFormatError


class CaptureReader:
    """Incremental pcap/pcapng reader (sans-IO)."""

    __slots__ = (
        "_buf", "_pos", "_chunks", "_queued", "_need", "_parser", "_eof", "_finished", "_error"
    )

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0  # bytes of _buf already parsed
        self._chunks: list[bytes] = []  # received, not yet joined into _buf
        self._queued = 0  # their total size
        self._need = 4  # bytes past _pos the next step needs: the magic, at first
        self._parser: PcapParser | PcapngParser | None = None
        self._eof = False
        self._finished = False
        # A corrupt record found after good ones in the same buffer: raised on the next call, so
        # the good records are returned first (the capture decodes up to the damage).
        self._error: CaptureFormatError | None = None

    @property
    def format(self) -> str | None:
        """"pcap" or "pcapng" once the magic number has been read, else None."""
        if self._parser is None:
            return None
        return "pcap" if isinstance(self._parser, PcapParser) else "pcapng"

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as records: a partial record, typically."""
        return len(self._buf) - self._pos + self._queued

    @property
    def finished(self) -> bool:
        """True once end of input was received and everything before it returned."""
        return self._finished

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer more capture bytes; nothing is parsed until :meth:`events` is iterated."""
        if self._eof:
            raise RuntimeError("receive_data() called after receive_eof()")
        if data:
            self._chunks.append(bytes(data))
            self._queued += len(data)

    def receive_eof(self) -> None:
        """The input has ended: a partial record left in the buffer is now a truncation."""
        self._eof = True

    def events(self) -> Iterator[Record | CaptureNote]:
        """Every record (or note) the buffered bytes complete, in file order."""
        for item in self.read_raw():
            if isinstance(item, CaptureNote):
                yield item
            else:
                frame, time, linktype, data, orig_len, interface = item
                yield Record(
                    frame=frame,
                    time=time,
                    linktype=linktype,
                    data=data,
                    orig_len=orig_len,
                    interface=interface,
                )

    def read_raw(self) -> list[RawRecord | CaptureNote]:
        """Like :meth:`events`, as one list, records as plain :data:`RawRecord` tuples.

        For the hot path (:func:`droidcap.capture.files.iter_flow_events`): a tuple costs a
        fraction of a frozen dataclass, and the TCP layer needs only the fields.
        """
        if self._error is not None:
            raise self._error
        out: list[RawRecord | CaptureNote] = []
        if self._finished:
            return out
        self._gather()
        if self._parser is None:
            self._start()
        if self._parser is not None:
            try:
                self._pos, self._need = self._parser.parse(self._buf, self._pos, out)
            except CaptureFormatError as err:
                if not out:
                    raise
                self._error = err
                return out
            if self._eof:
                present = len(self._buf) - self._pos
                if present:
                    out.append(self._parser.truncated(present, self._need))
                self._finished = True
        return out

    def _gather(self) -> None:
        """Join the queued chunks into the buffer once they complete the next step (or at EOF)."""
        if not self._chunks:
            return
        if len(self._buf) - self._pos + self._queued < self._need and not self._eof:
            return
        if self._pos == len(self._buf) and len(self._chunks) == 1:
            self._buf = self._chunks[0]
        else:
            self._buf = b"".join([self._buf[self._pos :], *self._chunks])
        self._pos = 0
        self._chunks = []
        self._queued = 0

    def _start(self) -> None:
        """Read the magic number (and a pcap file header) and pick the parser."""
        head = self._buf[self._pos : self._pos + HEADER_SIZE]
        if len(head) < 4:
            if self._eof:
                raise CaptureFormatError(
                    "input is empty, not a pcap or pcapng capture" if not head else
                    f"input is only {len(head)} bytes long, not a pcap or pcapng capture"
                )
            return
        if is_pcap_magic(head):
            if len(head) < HEADER_SIZE:
                if self._eof:
                    raise CaptureFormatError(
                        f"pcap capture ends inside its {HEADER_SIZE}-byte file header"
                    )
                self._need = HEADER_SIZE
                return
            self._parser = PcapParser(head)
            self._pos += HEADER_SIZE
        elif head[:4] == PCAPNG_MAGIC:
            self._parser = PcapngParser()
        else:
            hint = "; it looks gzip-compressed, decompress it first" if head[:2] == b"\x1f\x8b" else ""
            raise CaptureFormatError(
                f"input is not a pcap or pcapng capture (it starts with {head[:4].hex(' ')}){hint}"
            )
