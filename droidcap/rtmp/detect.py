"""Is this TCP connection RTMP?  Decided from its first bytes, on any port.

Two kinds of evidence:

* a handshake: both directions open with a version byte (3, or 6/8/9 for RTMPE) and a 1536-byte
  C1/S1 that is plain (bytes 4..7 zero) or carries a valid Flash digest.  The RTMP client is the
  TCP client unless the digest keys say otherwise (a capture may have missed the SYN);
* without a handshake (a capture started mid-connection), a trial decode: resynchronised chunk
  framing that yields AMF commands or data such as connect/_result/play/publish/onStatus, or a
  run of well-formed messages.

The answer is None while the bytes seen cannot tell yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from droidcap.rtmp import handshake
from droidcap.rtmp.decoder import RtmpDecoder
from droidcap.rtmp.events import Message
from droidcap.rtmp.messages import Malformed, Unknown

__all__ = ["ENOUGH", "Verdict", "looks_like_rtmp", "recognise"]

ENOUGH = 16 * 1024
"""Bytes per direction after which a trial decode with no evidence means "not RTMP"."""

_HANDSHAKE_HEAD = 1 + handshake.BLOCK_SIZE
_NOT_RTMP_PREFIXES = (b"\x16\x03", b"GET ", b"POST", b"HTTP/", b"PUT ", b"HEAD", b"SSH-")
_COMMAND_TYPES = frozenset({15, 17, 18, 20})
_SIGN_TYPES = _COMMAND_TYPES | {4}
_MIN_MESSAGES = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """``handshake``: the capture holds the handshake (decode with ``expect_handshake=True``),
    False for a mid-connection start.  ``client_is_tcp_server``: the RTMP client is the side
    the capture layer took for the TCP server."""

    is_rtmp: bool
    handshake: bool | None = None
    client_is_tcp_server: bool = False


def looks_like_rtmp(first_bytes_c2s: bytes, first_bytes_s2c: bytes) -> bool | None:
    """True/False once the first bytes of each TCP direction tell, None while they cannot."""
    verdict = recognise(first_bytes_c2s, first_bytes_s2c)
    return None if verdict is None else verdict.is_rtmp


def recognise(c2s: bytes, s2c: bytes) -> Verdict | None:
    """Decide from the first bytes of the TCP client→server (``c2s``) and server→client
    (``s2c``) directions; None while undecided."""
    by_handshake = _by_handshake(c2s, s2c)
    if by_handshake is not None:
        return by_handshake
    if c2s.startswith(_NOT_RTMP_PREFIXES) or s2c.startswith(_NOT_RTMP_PREFIXES):
        return Verdict(is_rtmp=False)
    forward, backward = _trial(c2s), _trial(s2c)
    if forward.rtmp or backward.rtmp:
        # mid-connection the roles show in what each side sends (see _CLIENT_SIGNS/_SERVER_SIGNS)
        swapped = backward.clientness > forward.clientness
        return Verdict(is_rtmp=True, handshake=False, client_is_tcp_server=swapped)
    if len(c2s) >= ENOUGH or len(s2c) >= ENOUGH:
        return Verdict(is_rtmp=False)
    return None


def _by_handshake(c2s: bytes, s2c: bytes) -> Verdict | None:
    """A verdict if both sides open with a believable C0/C1 and S0/S1, else None (the bytes
    may still be a mid-connection chunk stream: csid 3 fmt 0 also starts with 0x03)."""
    if len(c2s) < _HANDSHAKE_HEAD or len(s2c) < _HANDSHAKE_HEAD:
        return None
    if c2s[0] not in handshake.RTMP_VERSIONS or s2c[0] not in handshake.RTMP_VERSIONS:
        return None
    first, second = c2s[1:_HANDSHAKE_HEAD], s2c[1:_HANDSHAKE_HEAD]
    if handshake.client_digest(second) or handshake.server_digest(first):
        return Verdict(is_rtmp=True, handshake=True, client_is_tcp_server=True)
    if handshake.client_digest(first) or handshake.server_digest(second):
        return Verdict(is_rtmp=True, handshake=True)
    if _plain(first) or _plain(second):
        return Verdict(is_rtmp=True, handshake=True)
    return None


def _plain(block: bytes) -> bool:
    return block[4:8] == b"\0\0\0\0"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trial:
    rtmp: bool = False  # the bytes decode as RTMP
    clientness: int = 0  # client signs (connect, play, Set Buffer Length...) minus server signs
    # (_result, onStatus, Stream Begin...): peers also answer calls (a Flash client sends
    # _error to FMS's onBWCheck), so the side with more client signs is the client


_CLIENT_SIGNS = frozenset(
    {
        "connect",
        "play",
        "publish",
        "createStream",
        "releaseStream",
        "FCPublish",
        "deleteStream",
        "set_buffer_length",
        "ping_response",
    }
)
_SERVER_SIGNS = frozenset(
    {
        "_result",
        "_error",
        "onStatus",
        "onBWDone",
        "|RtmpSampleAccess",
        "stream_begin",
        "stream_eof",
        "stream_is_recorded",
        "ping_request",
    }
)


def _trial(data: bytes) -> _Trial:
    """What a trial decode of one direction shows."""
    if len(data) < 12:
        return _Trial()
    decoder = RtmpDecoder(role="client", expect_handshake=False)
    decoder.receive_data(data, frame=0, time=0.0)
    decoder.receive_eof()  # judge on the bytes there are: the caller asks again with more
    good = 0
    commands = 0
    signs: set[str] = set()
    for event in decoder.events():
        if type(event) is not Message:
            continue
        body = event.body
        if isinstance(body, Malformed | Unknown):
            return _Trial()
        good += 1
        fields = body.json_fields() if event.type_id in _SIGN_TYPES else {}
        if event.type_id in _COMMAND_TYPES:
            commands += 1
        sign = fields.get("command") or fields.get("name") or fields.get("event")
        if isinstance(sign, str):
            signs.add(sign)
    return _Trial(
        rtmp=commands > 0 or good >= _MIN_MESSAGES,
        clientness=len(signs & _CLIENT_SIGNS) - len(signs & _SERVER_SIGNS),
    )
