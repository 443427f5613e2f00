"""adb transport message framing, sans-IO.

The adb server and a device exchange 24-byte little-endian headers (command, arg0, arg1, payload
length, payload checksum, magic = command ^ 0xffffffff) followed by the payload.  This module only
turns bytes into :class:`Message` values and back; it never touches a socket, so the daemon, a test
or a fuzzer can feed it the same way.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from droidcap.errors import DeviceError

HEADER = struct.Struct("<6I")

#: Protocol version with the payload checksum dropped (adb >= 9.0 sends 0 as data check).
VERSION_SKIP_CHECKSUM = 0x01000001
VERSION_MIN = 0x01000000
#: Largest payload this device accepts; the host picks the smaller of both sides.
MAX_PAYLOAD = 1024 * 1024
#: Upper bound on a payload we buffer before failing: a corrupt length must not make us allocate GBs.
_MAX_ACCEPTED_PAYLOAD = 16 * 1024 * 1024


class Command(enum.IntEnum):
    """The packet types of the adb transport (protocol.txt)."""

    SYNC = 0x434E5953
    CNXN = 0x4E584E43
    AUTH = 0x48545541
    OPEN = 0x4E45504F
    OKAY = 0x59414B4F
    CLSE = 0x45534C43
    WRTE = 0x45545257
    STLS = 0x534C5453


class WireError(DeviceError):
    """The host sent bytes that are not an adb message; the connection cannot continue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One adb packet.  ``arg0``/``arg1`` mean local/remote stream ids for stream commands."""

    command: Command
    arg0: int
    arg1: int
    payload: bytes = b""


def checksum(payload: bytes) -> int:
    """The unsigned byte sum that protocol version 0x01000000 requires in the header."""
    return sum(payload) & 0xFFFFFFFF


def encode(msg: Message, *, with_checksum: bool = False) -> bytes:
    """Serialise a message.  The checksum is only computed for hosts that still verify it."""
    cmd = int(msg.command)
    check = checksum(msg.payload) if with_checksum else 0
    return HEADER.pack(cmd, msg.arg0, msg.arg1, len(msg.payload), check, cmd ^ 0xFFFFFFFF) + msg.payload


class Decoder:
    """Incremental decoder: :meth:`feed` buffers bytes, :meth:`next_message` returns one message or
    ``None`` when more bytes are needed.  Raises :class:`WireError` on a corrupt header."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> Message | None:
        if len(self._buf) < HEADER.size:
            return None
        cmd, arg0, arg1, length, _check, magic = HEADER.unpack_from(self._buf)
        if magic != cmd ^ 0xFFFFFFFF:
            raise WireError(f"adb header magic mismatch for command 0x{cmd:08x}")
        try:
            command = Command(cmd)
        except ValueError:
            raise WireError(f"unknown adb command 0x{cmd:08x}") from None
        if length > _MAX_ACCEPTED_PAYLOAD:
            raise WireError(f"adb payload of {length} bytes is beyond any host's maxdata")
        end = HEADER.size + length
        if len(self._buf) < end:
            return None
        payload = bytes(self._buf[HEADER.size:end])
        del self._buf[:end]
        return Message(command=command, arg0=arg0, arg1=arg1, payload=payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class Banner:
    """What a device tells the host in its CNXN: system type, properties and features."""

    properties: dict[str, str]
    features: tuple[str, ...]
    system_type: str = "device"

    def encode(self) -> bytes:
        props = "".join(f"{k}={v};" for k, v in self.properties.items())
        return f"{self.system_type}::{props}features={','.join(self.features)}".encode()
