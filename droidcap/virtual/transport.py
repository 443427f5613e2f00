"""One adb connection: the CNXN handshake, stream multiplexing and per-stream flow control.

A real adbd allows one outstanding WRTE per stream until the host's OKAY, and answers each host
WRTE with an OKAY once it has consumed the data.  :class:`Stream` gives a service blocking
``recv``/``send`` with exactly that discipline, so a slow consumer on one stream throttles only
that stream.  Services run on their own threads; the reader thread never blocks on a service.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable

from droidcap.errors import DeviceError
from droidcap.virtual.adb_wire import (
    MAX_PAYLOAD,
    VERSION_MIN,
    VERSION_SKIP_CHECKSUM,
    Banner,
    Command,
    Decoder,
    Message,
    WireError,
    encode,
)

log = logging.getLogger(__name__)


class StreamClosed(DeviceError):
    """The host closed the stream (or the connection dropped) while a service was using it."""


class Stream:
    """A bidirectional byte stream between a service and the host."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int, name: str) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.name = name
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._acked = threading.Event()
        self._acked.set()
        self._closed = threading.Event()
        self._close_callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def recv(self) -> bytes | None:
        """Next chunk the host wrote, or ``None`` once the host closed the stream.  Taking a chunk
        acknowledges it, which lets the host send the next one."""
        data = self._inbox.get()
        if data is None:
            self._inbox.put(None)  # stay closed for later callers
            return None
        if not self.closed:
            self.conn.send(Message(command=Command.OKAY, arg0=self.local_id, arg1=self.remote_id))
        return data

    def send(self, data: bytes) -> None:
        """Write to the host, at most ``maxdata`` per WRTE, waiting for each OKAY."""
        view = memoryview(data)
        step = self.conn.max_payload
        with self._send_lock:
            self._send_chunks(view, step)

    def _send_chunks(self, view: memoryview, step: int) -> None:
        for start in range(0, len(view), step):
            while not self._acked.wait(0.5):
                if self.closed:
                    raise StreamClosed(f"stream {self.name!r} closed by the host")
            if self.closed:
                raise StreamClosed(f"stream {self.name!r} closed by the host")
            self._acked.clear()
            self.conn.send(Message(command=Command.WRTE, arg0=self.local_id, arg1=self.remote_id,
                                   payload=bytes(view[start:start + step])))

    def wait_drained(self, timeout: float = 10.0) -> None:
        """Wait until the host acknowledged the last WRTE (before closing, so no data is lost)."""
        self._acked.wait(timeout)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the host closes the stream or the connection drops."""
        with self._lock:
            if not self.closed:
                self._close_callbacks.append(callback)
                return
        callback()

    def close(self) -> None:
        """Close from the device side: tell the host, then run the close callbacks."""
        if self._mark_closed():
            self.conn.send(Message(command=Command.CLSE, arg0=self.local_id, arg1=self.remote_id))
            self.conn.forget(self)

    # Called by the connection's reader thread.
    def _host_okay(self) -> None:
        self._acked.set()

    def _host_write(self, data: bytes) -> None:
        self._inbox.put(data)

    def _host_close(self) -> None:
        if self._mark_closed():
            self.conn.forget(self)

    def _mark_closed(self) -> bool:
        with self._lock:
            if self.closed:
                return False
            self._closed.set()
            callbacks, self._close_callbacks = self._close_callbacks, []
        self._inbox.put(None)
        self._acked.set()
        for cb in callbacks:
            try:
                cb()
            except Exception:  # a failing cleanup must not take the connection down
                log.exception("stream close callback failed")
        return True


class StreamReader:
    """Exact-length reads over a stream's chunks (sync requests straddle WRTE boundaries)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._buf = bytearray()
        self._pos = 0

    def read_exact(self, n: int) -> bytes | None:
        """``n`` bytes, or ``None`` if the host closed the stream first."""
        while len(self._buf) - self._pos < n:
            chunk = self.stream.recv()
            if chunk is None:
                return None
            if self._pos:
                del self._buf[:self._pos]
                self._pos = 0
            self._buf += chunk
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return out


#: A service runs on its own thread with the opened stream; it returns when done.
ServiceRunner = Callable[[Stream], None]
#: Maps the OPEN destination (e.g. ``b"shell,v2,raw:id"``) to a runner, or None to refuse it.
Router = Callable[[str], ServiceRunner | None]


class Connection:
    """Serves one TCP connection from the adb server until it drops."""

    def __init__(self, sock: socket.socket, banner: Banner, router: Router) -> None:
        self.sock = sock
        self.banner = banner
        self.router = router
        self.max_payload = MAX_PAYLOAD
        self.version = VERSION_SKIP_CHECKSUM
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1
        self._dead = threading.Event()

    def send(self, msg: Message) -> None:
        data = encode(msg, with_checksum=self.version < VERSION_SKIP_CHECKSUM)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self._dead.set()

    def forget(self, stream: Stream) -> None:
        with self._streams_lock:
            self._streams.pop(stream.local_id, None)

    def drop(self) -> None:
        """End the connection as a restarting adbd would: every stream closes."""
        self._dead.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self) -> None:
        decoder = Decoder()
        try:
            while not self._dead.is_set():
                try:
                    data = self.sock.recv(4 * 1024 * 1024)
                except OSError:
                    break
                if not data:
                    break
                decoder.feed(data)
                while (msg := decoder.next_message()) is not None:
                    self._handle(msg)
        except WireError as err:
            log.warning("dropping adb connection: %s", err)
        finally:
            self._dead.set()
            with self._streams_lock:
                streams = list(self._streams.values())
            for s in streams:
                s._host_close()
            try:
                self.sock.close()
            except OSError:
                pass

    def _handle(self, msg: Message) -> None:
        cmd = msg.command
        if cmd == Command.CNXN:
            self.version = max(VERSION_MIN, min(msg.arg0, VERSION_SKIP_CHECKSUM))
            self.max_payload = max(4096, min(msg.arg1, MAX_PAYLOAD))
            self.send(Message(command=Command.CNXN, arg0=self.version, arg1=MAX_PAYLOAD,
                              payload=self.banner.encode()))
        elif cmd == Command.OPEN:
            self._open(msg.arg0, msg.payload.rstrip(b"\0").decode("utf-8", "replace"))
        elif cmd in (Command.OKAY, Command.WRTE, Command.CLSE):
            with self._streams_lock:
                stream = self._streams.get(msg.arg1)
            if stream is None:
                if cmd == Command.WRTE:  # tell the host this stream is gone
                    self.send(Message(command=Command.CLSE, arg0=0, arg1=msg.arg0))
                return
            if cmd == Command.OKAY:
                stream._host_okay()
            elif cmd == Command.WRTE:
                stream._host_write(msg.payload)
            else:
                stream._host_close()
        # SYNC, AUTH and STLS are never sent to a device that does not ask for them: ignore.

    def _open(self, remote_id: int, destination: str) -> None:
        runner = self.router(destination)
        if runner is None:
            self.send(Message(command=Command.CLSE, arg0=0, arg1=remote_id))
            return
        with self._streams_lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id, destination)
            self._streams[local_id] = stream
        self.send(Message(command=Command.OKAY, arg0=local_id, arg1=remote_id))

        def run() -> None:
            try:
                runner(stream)
            except StreamClosed:
                pass
            except Exception:
                log.exception("service %r failed", destination)
            finally:
                if not stream.closed:
                    stream.wait_drained()
                    stream.close()

        threading.Thread(target=run, name=f"adb-svc-{local_id}", daemon=True).start()
