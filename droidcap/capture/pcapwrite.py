"""Write classic pcap files: the inverse of :mod:`droidcap.capture.pcap`, sans-IO (bytes out).

Microsecond timestamps, little-endian, one link type per file — what tcpdump writes by default and
every tool reads.  Times are the reader's epoch floats, which hold microseconds exactly.
"""

from __future__ import annotations

import struct

_FILE = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
MAGIC = 0xA1B2C3D4
SNAPLEN = 262_144


def file_header(linktype: int, snaplen: int = SNAPLEN) -> bytes:
    return _FILE.pack(MAGIC, 2, 4, 0, 0, snaplen, linktype)


def record(time: float, data: bytes, orig_len: int) -> bytes:
    """One record: its header (time, captured and original length) and the captured bytes."""
    micros = round(time * 1_000_000)
    return _RECORD.pack(micros // 1_000_000, micros % 1_000_000, len(data), orig_len) + data
