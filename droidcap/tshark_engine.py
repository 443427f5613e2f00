"""``--engine tshark``: the same ndjson schema, produced by Wireshark's RTMPT dissector via pyshark.

It exists to cross-check droidcap's own decoder against the tool engineers trust today, with the
two settings that make tshark trustworthy on RTMP at all: ``rtmpt.max_packet_size`` raised to
16 MiB (the 32 KB default silently mis-decodes larger messages) and ``-d tcp.port==N,rtmpt`` for
every port droidcap found RTMP on (tshark only knows port 1935 by itself).  pyshark runs its own
asyncio loop, so callers inside an event loop must run this in a thread; and it installs a
process-wide ``SafeChildWatcher`` (SIGCHLD), so a long-lived process that manages other children
is better off running it in a process of its own, as ``droidcap decode --engine tshark`` does.

tshark's exit status is not trusted blindly: pyshark raises a crash when tshark exits non-zero,
which it does on a truncated capture after printing every packet it could read, and also when
asyncio's child watcher loses the race for tshark's exit status and reports 255 for a run that
went well.  So a failed exit becomes one warning made of tshark's own error line, or nothing when
tshark printed no error -- as the native engine reports a truncated capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from droidcap.capture.events import CaptureNote, Direction
from droidcap.errors import DroidcapError
from droidcap.pipeline import Connection, ConnectionFound, DecodedEvent, PipelineItem
from droidcap.rtmp.events import HandshakePart, Message
from droidcap.rtmp.media.audio import SOUND_FORMAT_NAMES, SOUND_RATES
from droidcap.rtmp.media.video import CODEC_NAMES, FRAME_TYPES
from droidcap.tshark_amf import AMF_FIELDS, values_from_tokens

UCM_EVENTS = {0: "stream_begin", 1: "stream_eof", 2: "stream_dry", 3: "set_buffer_length",
              4: "stream_is_recorded", 6: "ping_request", 7: "ping_response",
              31: "buffer_empty", 32: "buffer_ready"}
LIMIT_TYPES = {0: "hard", 1: "soft", 2: "dynamic"}
_EXIT_WAIT = 5.0  # seconds tshark gets to exit after closing its output, before pyshark kills it


@dataclass(frozen=True, slots=True)
class TsharkBody:
    """A message body as tshark described it: only the fields tshark exposes (AMF values rebuilt
    by :mod:`droidcap.tshark_amf`; the legacy FLV audio/video tag header)."""

    fields: dict[str, Any]

    def json_fields(self) -> dict[str, Any]:
        return self.fields


def rtmp_server_ports(path: Path) -> set[int]:
    """Ports droidcap's own detector found RTMP servers on, for tshark's ``-d`` options."""
    from droidcap.decode import iter_items

    ports = set()
    for item in iter_items(path):
        if type(item) is ConnectionFound:
            ports.add(item.connection.server[1])
    return ports


def _int(layer: Any, name: str) -> int | None:
    value = layer.get_field(name)
    if value is None:
        return None
    text = str(value)
    try:
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return None


def _amf_tokens(layer: Any) -> list[tuple[int, str, str]]:
    """Every AMF field of the layer as ``(position, name, shown value)``, for tshark_amf."""
    tokens: list[tuple[int, str, str]] = []
    for name in AMF_FIELDS:
        field = layer.get_field(name)
        if field is not None:
            tokens.extend((int(f.pos), name, f.show) for f in field.all_fields)
    return tokens


def _amf_body(layer: Any, type_id: int) -> dict[str, Any]:
    """command/transaction_id/args or name/values, rebuilt from Wireshark's AMF fields; the
    arguments only when Wireshark dissected every value (see :mod:`droidcap.tshark_amf`)."""
    rebuilt = values_from_tokens(_amf_tokens(layer))
    values = rebuilt.values
    head = values[0] if values and isinstance(values[0], str) else None
    if type_id in (20, 17):
        out: dict[str, Any] = {"command": head}
        if len(values) > 1:
            out["transaction_id"] = values[1]
        if rebuilt.complete:
            out["args"] = values[2:]
        return out
    out = {"name": head}
    if rebuilt.complete:
        out["values"] = values[1:]
    return out


def _media_body(layer: Any, type_id: int) -> dict[str, Any]:
    """The legacy FLV tag header fields Wireshark shows, under droidcap's names."""
    if type_id == 8:
        sound_format = _int(layer, "audio_format")
        rate, size, channels = (_int(layer, n) for n in ("audio_rate", "audio_size", "audio_type"))
        return _present({
            "codec": (None if sound_format is None
                      else SOUND_FORMAT_NAMES.get(sound_format, f"reserved({sound_format})")),
            "sound_format": sound_format,
            "sound_rate": None if rate is None else SOUND_RATES[rate & 3],
            "sound_size": None if size is None else (16 if size else 8),
            "channels": None if channels is None else (2 if channels else 1),
        })
    frame_type, codec_id = _int(layer, "video_type"), _int(layer, "video_format")
    return _present({
        "codec": None if codec_id is None else CODEC_NAMES.get(codec_id, f"reserved({codec_id})"),
        "codec_id": codec_id,
        "frame_type": None if frame_type is None else FRAME_TYPES.get(frame_type, f"reserved({frame_type})"),
    })


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _body(layer: Any, type_id: int) -> dict[str, Any]:
    if type_id in (20, 17, 18, 15):
        return _amf_body(layer, type_id)
    if type_id in (8, 9):
        return _media_body(layer, type_id)
    if type_id == 1:
        return {"chunk_size": _int(layer, "scm_chunksize")}
    if type_id == 2:
        return {"abort_csid": _int(layer, "scm_csid")}
    if type_id == 3:
        return {"sequence": _int(layer, "scm_seq")}
    if type_id == 5:
        return {"ack_window": _int(layer, "scm_was")}
    if type_id == 6:
        return {"bandwidth": _int(layer, "scm_was"), "limit_type": LIMIT_TYPES.get(_int(layer, "scm_limittype") or -1)}
    if type_id == 4:
        event_type = _int(layer, "ucm_eventtype")
        event = UCM_EVENTS.get(event_type if event_type is not None else -1, "unknown")
        return {"event": event, "event_type": event_type}
    return {}


def tshark_items(path: Path) -> Iterator[PipelineItem]:
    """Pipeline items for ``path`` as Wireshark's RTMPT dissector decodes it, then a
    :class:`CaptureNote` if tshark failed part-way (a truncated capture, say); DroidcapError if
    it failed before giving anything."""
    capture_class = _capture_class()
    if shutil.which("tshark") is None:
        raise DroidcapError("tshark is not installed; on Debian: apt-get install tshark")
    ports = rtmp_server_ports(path)
    decode_as = {f"tcp.port=={p}": "rtmpt" for p in sorted(ports) if p != 1935}
    capture = capture_class(
        str(path),
        display_filter="rtmpt",
        override_prefs={"rtmpt.max_packet_size": "16777216"},
        decode_as=decode_as or None,
    )
    produced = False
    with _lost_exit_status_unlogged():
        try:
            for item in _packet_items(capture, ports):
                produced = True
                yield item
        finally:
            capture.close()
    if capture.tshark_error is not None:
        if not produced:  # tshark failed before it showed anything: an error, not a warning
            raise DroidcapError(f"tshark could not decode the capture: {capture.tshark_error}")
        yield CaptureNote(frame=None, message=f"tshark: {capture.tshark_error}")


@functools.cache
def _capture_class() -> type:
    """pyshark's FileCapture, made to keep tshark's failure instead of raising it.

    pyshark raises its crash from the packet loop, again from ``close()`` and once more from
    ``__del__`` at interpreter exit, because it never forgets the failed process; here each process
    is cleaned up once and the failure is kept in ``tshark_error`` for :func:`tshark_items` to
    report.  Imported on first use: pyshark is slow to import and ``--help`` should not wait."""
    try:
        import pyshark
        from pyshark.capture.capture import TSharkCrashException
    except ImportError as err:  # pragma: no cover - pyshark is a runtime dependency
        raise DroidcapError(f"pyshark is not installed ({err}); reinstall droidcap") from None

    class FileCapture(pyshark.FileCapture):  # type: ignore[misc]  # pyshark has no type information
        tshark_error: str | None = None

        async def _cleanup_subprocess(self, process: Any) -> None:
            if self._eof_reached:
                # tshark is exiting by itself; pyshark kills a process whose exit it has not seen
                # yet and then reports nothing, which would lose the error of a truncated capture
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(process.wait(), _EXIT_WAIT)
            try:
                await super()._cleanup_subprocess(process)
            except TSharkCrashException:
                # the last stderr line is only final once tshark's stderr is read to its end
                await asyncio.gather(*self._stderr_handling_tasks)
                self.tshark_error = _tshark_error(self._last_error_line)
            finally:
                self._running_processes.discard(process)

    return FileCapture


def _tshark_error(line: str | None) -> str | None:
    """tshark's last stderr line, without its ``tshark:`` prefix; None when it is no error: no
    line at all, or the notice tshark prints whenever it runs as root, which is all there is when
    asyncio lost tshark's exit status (pyshark then reports status 255 for a run that went well)."""
    if not line or line.startswith("Running as user "):
        return None
    return line.removeprefix("tshark: ")


def _keeps_record(record: logging.LogRecord) -> bool:
    """False for asyncio's report that it lost a child's exit status (see :func:`_tshark_error`)."""
    return not (isinstance(record.msg, str) and record.msg.startswith("Unknown child process pid"))


@contextlib.contextmanager
def _lost_exit_status_unlogged() -> Iterator[None]:
    """Keep asyncio's "Unknown child process pid" warning off the user's terminal while tshark
    runs: with no logging configured, Python prints it to stderr, and it is about a harmless race."""
    logger = logging.getLogger("asyncio")
    logger.addFilter(_keeps_record)
    try:
        yield
    finally:
        logger.removeFilter(_keeps_record)


def _starts_handshake(packet: Any) -> bool:
    """Whether the packet carries C0 or S0: tshark's own view of whether a connection's handshake
    was captured, so that the tshark engine never leans on droidcap's detector for it."""
    return any(layer.get_field(name) is not None
               for layer in packet.layers if layer.layer_name == "rtmpt"
               for name in ("handshake_c0", "handshake_s0"))


def _innermost_ip(packet: Any) -> Any:
    """The IP layer the TCP segment is in: the last one before TCP (in a tunnelled capture
    pyshark's ``packet.ip`` is the outermost), as the native decoder reports endpoints."""
    inner = None
    for layer in packet.layers:
        if layer.layer_name in ("ip", "ipv6"):
            inner = layer
        elif layer.layer_name == "tcp":
            break
    return inner


def _packet_items(capture: Any, ports: set[int]) -> Iterator[PipelineItem]:
    """Connections, handshake parts and messages, packet by packet, from pyshark's packets."""
    connections: dict[int, Connection] = {}
    # (conn, dir, csid) → [timestamp, type_id, stream_id, length] of the last header on that csid
    csid_state: dict[tuple[int, Direction, int], list[int]] = {}
    for packet in capture:
        stream = int(packet.tcp.stream)
        ip = _innermost_ip(packet)
        src = (ip.src, int(packet.tcp.srcport))
        dst = (ip.dst, int(packet.tcp.dstport))
        time = float(packet.sniff_timestamp)
        frame = int(packet.number)
        connection = connections.get(stream)
        if connection is None:
            client, server = (dst, src) if src[1] in ports or (src[1] == 1935 and dst[1] not in ports) else (src, dst)
            connection = Connection(conn=len(connections), flow=stream, client=client, server=server,
                                    syn_seen=False, opened_time=time, opened_frame=frame,
                                    handshake_seen=_starts_handshake(packet))
            connections[stream] = connection
            yield ConnectionFound(connection=connection)
        direction = Direction.C2S if src == connection.client else Direction.S2C
        side = "C" if direction is Direction.C2S else "S"
        for layer in packet.layers:
            if layer.layer_name != "rtmpt":
                continue
            for n in range(3):
                raw = layer.get_field(f"handshake_{side.lower()}{n}")
                if raw is not None:
                    version = int(str(raw).replace(":", "")[:2], 16) if n == 0 else None
                    yield DecodedEvent(connection=connection, dir=direction,
                                       event=HandshakePart(part=f"{side}{n}", frame=frame, time=time, version=version))
            fmt = _int(layer, "header_format")
            csid = _int(layer, "header_csid")
            if fmt is None or csid is None:
                continue
            key = (connection.conn, direction, csid)
            state = csid_state.setdefault(key, [0, 0, 0, 0])
            delta = _int(layer, "header_timestampdelta")
            stamp = _int(layer, "header_timestamp")
            if fmt == 0 and stamp is not None:
                state[0] = stamp
            elif delta is not None:
                state[0] += delta
            elif stamp is not None:
                state[0] = stamp
            for index, name in ((1, "header_typeid"), (2, "header_streamid"), (3, "header_bodysize")):
                value = _int(layer, name)
                if value is not None:
                    state[index] = value
            body = TsharkBody(_body(layer, state[1]))
            yield DecodedEvent(connection=connection, dir=direction, event=Message(
                frame=frame, time=time, csid=csid, fmt=fmt, timestamp=state[0], type_id=state[1],
                stream_id=state[2], length=state[3], body=body))
