"""``record --live``: the device file streamed to the host as tcpdump writes it, decoded on the way.

``tail -c +1 -f`` over an ``exec:`` transport (binary-safe) sends the growing pcap; every byte goes
to the host copy and, through a pipe, to the same decoder ``droidcap decode`` uses, whose session
tracker reports RTMP milestones the moment they are reached.  A played stream that ends (its
connection closes after Play.Start, the server sends Stream EOF or says it was unpublished), and
an error the server answers with (``_error``, onStatus at level error such as StreamNotFound) is
printed at once and, when the stream cannot start after it, ends the run as well; both are
reported so ``record`` can stop on its own.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from droidcap.device.adb import Deadline, Transport
from droidcap.errors import DroidcapError
from droidcap.pipeline import ConnectionEnded, DecodedEvent
from droidcap.rtmp.commands import Command
from droidcap.rtmp.control import UserControl
from droidcap.rtmp.events import Message
from droidcap.session import SessionTracker

#: Milestones worth a line while recording, in words.
MILESTONE_TEXT = {
    "handshake_done": "RTMP handshake done",
    "connect": "connect sent",
    "connect_result": "connect answered",
    "create_stream_result": "createStream answered",
    "play": "play sent",
    "publish": "publish sent",
    "play_start": "NetStream.Play.Start",
    "publish_start": "NetStream.Publish.Start",
    "first_metadata": "first metadata",
    "first_video_keyframe": "first video keyframe",
    "closed": "connection closed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveMilestone:
    conn: int
    name: str
    text: str
    capture_time: float  #: seconds since the first packet of the capture


#: onStatus codes a server sends when the stream being played has ended.
_END_CODES = frozenset({"NetStream.Play.UnpublishNotify", "NetStream.Play.Stop",
                        "NetStream.Play.Complete", "NetStream.Unpublish.Success"})


#: onStatus codes that mean the stream will not start at all.
_FATAL_CODES = frozenset({"NetStream.Play.StreamNotFound", "NetStream.Play.Failed",
                          "NetStream.Publish.BadName", "NetStream.Publish.Denied",
                          "NetConnection.Connect.Rejected", "NetConnection.Connect.Failed"})


def server_error(item: object) -> tuple[str, bool, float] | None:
    """``(text, fatal, time)`` when the server answered with an error: a ``_error`` result or an
    onStatus at level ``error``; ``fatal`` when the stream will not start after it."""
    if not isinstance(item, DecodedEvent) or not isinstance(item.event, Message):
        return None
    body = item.event.body
    if not isinstance(body, Command) or body.command not in ("_error", "onStatus"):
        return None
    info = next((a for a in body.args if isinstance(a, dict)), {})
    if body.command == "onStatus" and info.get("level") != "error":
        return None
    code = str(info.get("code", body.command))
    description = info.get("description")
    text = f"{code}" + (f" ({description})" if description else "")
    fatal = code in _FATAL_CODES or (body.command == "_error" and "Connect" in code)
    return text, fatal, item.event.time


def _ends_stream(item: object) -> bool:
    """The connection closed, the server said the stream ended (onStatus), or sent Stream EOF."""
    if isinstance(item, ConnectionEnded):
        return True
    if not isinstance(item, DecodedEvent) or not isinstance(item.event, Message):
        return False
    body = item.event.body
    if isinstance(body, UserControl):
        return body.event == "stream_eof"
    if isinstance(body, Command) and body.command == "onStatus":
        info = next((a for a in body.args if isinstance(a, dict)), {})
        return info.get("code") in _END_CODES
    return False


class LiveCopy:
    """Streams the device file into ``dest`` and decodes it; runs in two threads."""

    def __init__(self, transport: Transport, remote: str, dest: BinaryIO, *,
                 on_milestone: Callable[[LiveMilestone], None],
                 on_error: Callable[[str], None]) -> None:
        self.transport = transport
        self.remote = remote
        self.dest = dest
        self.on_milestone = on_milestone
        self.on_error = on_error
        self.bytes = 0
        self.stream_ended = threading.Event()  #: a played/published stream's connection closed
        self._stop = threading.Event()
        self._rfd, self._wfd = os.pipe()
        self._copier = threading.Thread(target=self._copy, name="live-copy", daemon=True)
        self._decoder = threading.Thread(target=self._decode, name="live-decode", daemon=True)

    def start(self) -> None:
        self._copier.start()
        self._decoder.start()

    def stop(self, *, final_size: int | None, wait: float = 10.0) -> None:
        """End the stream once the host copy has ``final_size`` bytes (or after ``wait``)."""
        deadline = Deadline(wait, "the live copy")
        while final_size is not None and self.bytes < final_size and not deadline.expired():
            self._copier.join(0.05)
            if not self._copier.is_alive():
                break
        self._stop.set()
        self._copier.join(wait)
        self._decoder.join(wait)

    def _copy(self) -> None:
        try:
            for chunk in self.transport.exec_stream(
                    f"tail -c +1 -f {shlex.quote(self.remote)}", idle_timeout=float("inf"),
                    deadline=Deadline(7 * 24 * 3600.0, "live copy"), should_stop=self._stop.is_set):
                self.dest.write(chunk)
                self.bytes += len(chunk)
                try:
                    os.write(self._wfd, chunk)
                except OSError:
                    pass  # the decoder gave up; the copy goes on
        except DroidcapError as err:
            self.on_error(f"live copy interrupted: {err}")
        finally:
            self.dest.flush()
            os.close(self._wfd)

    def _decode(self) -> None:
        from droidcap.decode import iter_items

        tracker = SessionTracker()
        seen: dict[int, set[str]] = {}
        started: set[int] = set()
        first: float | None = None
        with os.fdopen(self._rfd, "rb", buffering=0) as pipe:
            try:
                for item in iter_items(pipe):
                    tracker.feed(item)
                    conn = getattr(item, "connection", None)
                    if conn is None:
                        continue
                    names = seen.setdefault(conn.conn, set())
                    for m in tracker.milestones_reached(conn.conn):
                        if first is None:
                            first = m.time
                        if m.name in names:
                            continue
                        names.add(m.name)
                        if m.name in ("play_start", "publish_start"):
                            started.add(conn.conn)
                        if m.name in MILESTONE_TEXT:
                            self.on_milestone(LiveMilestone(conn=conn.conn, name=m.name,
                                                            text=MILESTONE_TEXT[m.name],
                                                            capture_time=m.time - first))
                    error = server_error(item)
                    if error is not None:
                        text, fatal, when = error
                        self.on_milestone(LiveMilestone(
                            conn=conn.conn, name="error", text=f"server error: {text}",
                            capture_time=when - (first if first is not None else when)))
                        if fatal:
                            self.stream_ended.set()  # nothing more will come: stop now
                    if conn.conn in started and _ends_stream(item):
                        self.stream_ended.set()
            except DroidcapError as err:
                self.on_error(f"live decode stopped: {err}")


__all__ = ["MILESTONE_TEXT", "LiveCopy", "LiveMilestone"]
