"""The adb server and one device's transport, with a total deadline on every call.

adbutils gives the wire protocol; this module adds what a capture workflow cannot do without:

- **Deadlines, not idle timeouts.**  adbutils' ``timeout`` applies to each read, so a device that
  trickles bytes never times out.  Every call here takes a total deadline: before each read the
  socket's timeout is set to what is left of it, and running out raises
  :class:`~droidcap.device.errors.AdbDeadlineError`.
- **shell v2 with stdin and exit codes**, so root commands can be written to ``su``'s standard
  input (quoting then never depends on which ``su`` the phone has) and failures are told apart.
- **Sync transfers that say how far they got** (progress callbacks) and never create a local file
  for a missing remote path (adbutils' ``pull`` makes an empty directory).
- **No stray local server for a remote one**: adbutils starts ``adb start-server`` on this machine
  whenever a connection fails, even to another host; here only a local server is ever started.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import adbutils
from adbutils._adb import AdbConnection
from adbutils.errors import AdbConnectionError

from droidcap.device.errors import AdbDeadlineError, AdbServerError, DeviceError, DeviceStateError, NoDeviceError

DEFAULT_PORT = 5037
#: The most a sync DATA packet carries (adb's SYNC_DATA_MAX).
_SYNC_DATA_MAX = 64 * 1024
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAddress:
    """Where the adb server listens.  ``remote`` when it is not this machine's."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT

    @property
    def remote(self) -> bool:
        return self.host not in ("127.0.0.1", "localhost", "::1")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, spec: str | None = None) -> ServerAddress:
        """``HOST:PORT``, ``HOST`` or ``:PORT`` (``--adb``); else ``ANDROID_ADB_SERVER_HOST`` and
        ``ANDROID_ADB_SERVER_PORT``; else 127.0.0.1:5037, as the adb command itself does."""
        env_host = os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1"
        env_port = os.environ.get("ANDROID_ADB_SERVER_PORT") or str(DEFAULT_PORT)
        host, port_text = env_host, env_port
        if spec:
            head, sep, tail = spec.rpartition(":")
            host, port_text = (head or env_host, tail) if sep else (spec, env_port)
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            raise AdbServerError(f"invalid adb server port {port_text!r}: give --adb HOST:PORT "
                                 "with a port from 1 to 65535") from None
        return cls(host=host.strip("[]"), port=port)


class Deadline:
    """A point in time an operation must finish by; ``remaining()`` raises once it has passed."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise AdbDeadlineError(f"{self.what} did not finish within {self.seconds:g} s: "
                                   "is the device still connected and responsive?")
        return left

    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def arm(self, conn: AdbConnection) -> None:
        """Let the next blocking socket operation wait at most what is left."""
        conn.conn.settimeout(self.remaining())


class _LocalOnlyConnection(AdbConnection):  # type: ignore[misc]  # adbutils ships no types
    """An adb server connection that never starts a server when connecting fails."""

    def _safe_connect(self) -> socket.socket:
        sock: socket.socket = self._create_socket()
        return sock


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachedDevice:
    """One line of ``adb devices -l``."""

    serial: str
    state: str  # device, offline, unauthorized, recovery, ...
    tags: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellResult:
    command: str
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def out(self) -> str:
        return self.stdout.decode(errors="replace").strip()

    @property
    def err(self) -> str:
        """The last non-empty line of stderr (what a tool says when it fails), or ''."""
        lines = [line.strip() for line in self.stderr.decode(errors="replace").splitlines()]
        return next((line for line in reversed(lines) if line), "")


def _adb_error(err: Exception, serial: str | None, server: ServerAddress) -> Exception:
    """Translate an adbutils error into droidcap's family, with what to do."""
    text = str(err.args[0] if err.args else err).strip()
    low = text.lower()
    if isinstance(err, (socket.timeout, adbutils.AdbTimeout)):
        return AdbDeadlineError(f"adb server {server} stopped answering: {text or 'timed out'}")
    if "unauthorized" in low:
        return DeviceStateError(f"device {serial} is unauthorized: unlock it and accept the "
                                "'Allow USB debugging' prompt, then try again")
    if "offline" in low:
        return DeviceStateError(f"device {serial} is offline: reconnect it (for adb over Wi-Fi: "
                                f"adb disconnect {serial} && adb connect {serial})")
    if "not found" in low and serial:
        return NoDeviceError(f"device {serial} not found on adb server {server}: "
                             "see 'droidcap devices'")
    if isinstance(err, (AdbConnectionError, OSError)):
        return AdbServerError(f"cannot reach the adb server at {server}: {text}")
    return AdbServerError(f"adb: {text}" + (f" (device {serial})" if serial else ""))


class AdbServer:
    """The adb server droidcap talks to.  ``ensure_running()`` starts a *local* one if needed."""

    def __init__(self, address: ServerAddress | None = None, *, adb_path: str | None = None) -> None:
        self.address = address or ServerAddress.parse()
        self._adb_path = adb_path

    def connection(self, deadline: Deadline) -> AdbConnection:
        try:
            conn = _LocalOnlyConnection(self.address.host, self.address.port)
        except (adbutils.AdbError, OSError) as err:
            raise self._unreachable(err) from None
        deadline.arm(conn)
        return conn

    def _unreachable(self, err: Exception) -> AdbServerError:
        if self.address.remote:
            return AdbServerError(
                f"no adb server answers at {self.address} ({err}): on that host run "
                "'adb -a nodaemon server start', or pick another with --adb HOST:PORT")
        return AdbServerError(f"no adb server at {self.address} ({err}): start one with "
                              f"'adb -P {self.address.port} start-server'")

    def adb_path(self) -> str:
        return self._adb_path or adbutils.adb_path()

    def ensure_running(self, timeout: float = 20.0) -> int:
        """The server's version; a local server that is not running is started (as ``adb``
        does); a remote one never is."""
        try:
            return self.version(timeout=min(timeout, 5.0))
        except AdbServerError:
            if self.address.remote:
                raise
        try:
            subprocess.run([self.adb_path(), "-P", str(self.address.port), "start-server"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout, check=True)
        except (OSError, subprocess.SubprocessError) as err:
            raise AdbServerError(f"cannot start an adb server on port {self.address.port}: {err}") from None
        return self.version(timeout=5.0)

    def _host_command(self, command: str, deadline: Deadline) -> str:
        with self.connection(deadline) as conn:
            try:
                conn.send_command(command)
                conn.check_okay()
                return str(conn.read_string_block())
            except (adbutils.AdbError, OSError) as err:
                raise _adb_error(err, None, self.address) from None

    def version(self, timeout: float = 5.0) -> int:
        """The server's protocol version (41 for adb 1.0.41 / platform-tools 29 and later)."""
        return int(self._host_command("host:version", Deadline(timeout, "adb version")), 16)

    def devices(self, timeout: float = 5.0) -> list[AttachedDevice]:
        text = self._host_command("host:devices-l", Deadline(timeout, "adb devices"))
        out = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            tags = dict(p.split(":", 1) for p in parts[2:] if ":" in p)
            out.append(AttachedDevice(serial=parts[0], state=parts[1], tags=tags))
        return out

    def transport(self, serial: str) -> Transport:
        return Transport(self, serial)


class Transport:
    """Commands and file transfers to one device, each bounded by a total deadline."""

    def __init__(self, server: AdbServer, serial: str) -> None:
        self.server = server
        self.serial = serial

    # ----- plumbing
    def _open(self, service: str, deadline: Deadline) -> AdbConnection:
        """A connection switched to this device, with ``service`` opened on it."""
        conn = self.server.connection(deadline)
        try:
            conn.send_command(f"host:transport:{self.serial}")
            conn.check_okay()
            deadline.arm(conn)
            conn.send_command(service)
            conn.check_okay()
        except (adbutils.AdbError, OSError) as err:
            conn.close()
            if isinstance(err, (socket.timeout, adbutils.AdbTimeout)):
                deadline.remaining()  # raises the deadline error if that is what happened
            raise _adb_error(err, self.serial, self.server.address) from None
        return conn

    def _recv_exact(self, conn: AdbConnection, n: int, deadline: Deadline) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            deadline.arm(conn)
            try:
                chunk = conn.conn.recv(n - len(buf))
            except TimeoutError:
                deadline.remaining()
                continue
            except OSError as err:
                raise _adb_error(err, self.serial, self.server.address) from None
            if not chunk:
                raise DeviceStateError(f"device {self.serial} went away (connection closed): "
                                       "check the cable or Wi-Fi and 'droidcap devices'")
            buf += chunk
        return bytes(buf)

    def _sendall(self, conn: AdbConnection, data: bytes, deadline: Deadline) -> None:
        deadline.arm(conn)
        try:
            conn.conn.sendall(data)
        except TimeoutError:
            deadline.remaining()
            raise AdbDeadlineError(f"{deadline.what}: the device stopped accepting data") from None
        except OSError as err:
            raise _adb_error(err, self.serial, self.server.address) from None

    # ----- shell
    def shell(self, command: str, *, stdin: bytes | None = None, timeout: float = 15.0,
              what: str | None = None) -> ShellResult:
        """Run ``command`` with shell v2: separate stdout/stderr, the exit code, and ``stdin``
        written then closed (so a shell reading it, e.g. ``su``, ends when the script does)."""
        deadline = Deadline(timeout, what or f"adb shell {command[:60]!r}")
        conn = self._open(f"shell,v2,raw:{command}", deadline)
        try:
            if stdin is not None:
                for i in range(0, len(stdin), 32 * 1024):
                    part = stdin[i:i + 32 * 1024]
                    self._sendall(conn, struct.pack("<BI", 0, len(part)) + part, deadline)
            self._sendall(conn, struct.pack("<BI", 4, 0), deadline)  # close stdin
            out, err = bytearray(), bytearray()
            while True:
                kind, length = struct.unpack("<BI", self._recv_exact(conn, 5, deadline))
                data = self._recv_exact(conn, length, deadline) if length else b""
                if kind == 1:
                    out += data
                elif kind == 2:
                    err += data
                elif kind == 3:
                    return ShellResult(command=command, exit_code=data[0] if data else 255,
                                       stdout=bytes(out), stderr=bytes(err))
        finally:
            conn.close()

    def exec_stream(self, command: str, *, idle_timeout: float, deadline: Deadline,
                    should_stop: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
        """The raw stdout of ``command`` over an ``exec:`` transport (binary-safe: no pty, no
        CRLF), as it arrives.  Ends when the command ends, ``should_stop()`` turns true, or raises
        when nothing arrives for ``idle_timeout`` or the deadline passes."""
        conn = self._open(f"exec:{command}", deadline)
        try:
            last = time.monotonic()
            while not should_stop():
                conn.conn.settimeout(min(0.2, deadline.remaining()))
                try:
                    chunk = conn.conn.recv(256 * 1024)
                except TimeoutError:
                    if time.monotonic() - last > idle_timeout:
                        raise AdbDeadlineError(f"{deadline.what}: nothing arrived for "
                                               f"{idle_timeout:g} s") from None
                    continue
                except OSError as err:
                    raise _adb_error(err, self.serial, self.server.address) from None
                if not chunk:
                    return
                last = time.monotonic()
                yield chunk
        finally:
            conn.close()

    # ----- sync
    def _sync(self, deadline: Deadline) -> AdbConnection:
        return self._open("sync:", deadline)

    def _sync_request(self, conn: AdbConnection, cmd: bytes, arg: bytes, deadline: Deadline) -> None:
        self._sendall(conn, cmd + struct.pack("<I", len(arg)) + arg, deadline)

    def _sync_fail(self, conn: AdbConnection, length: int, deadline: Deadline, what: str) -> DeviceError:
        message = self._recv_exact(conn, length, deadline).decode(errors="replace")
        return DeviceError(f"{what}: {message}")

    def push(self, source: Path | bytes, remote: str, *, mode: int = 0o644, timeout: float = 60.0,
             progress: ProgressCallback | None = None) -> int:
        """Send a file (or bytes) to ``remote`` with ``mode``; returns the bytes sent."""
        deadline = Deadline(timeout, f"adb push to {remote}")
        conn = self._sync(deadline)
        sent = 0
        try:
            self._sync_request(conn, b"SEND", f"{remote},{mode | 0o100000}".encode(), deadline)
            stream: BinaryIO | _BytesReader
            with (open(source, "rb") if isinstance(source, Path) else _BytesReader(source)) as stream:
                while block := stream.read(_SYNC_DATA_MAX):
                    self._sync_request(conn, b"DATA", block, deadline)
                    sent += len(block)
                    if progress:
                        progress(sent)
            self._sendall(conn, b"DONE" + struct.pack("<I", int(time.time())), deadline)
            reply, length = struct.unpack("<4sI", self._recv_exact(conn, 8, deadline))
            if reply == b"FAIL":
                raise self._sync_fail(conn, length, deadline, f"adb push to {remote} failed")
            if reply != b"OKAY":
                raise AdbServerError(f"adb push to {remote}: unexpected answer {reply!r}")
            return sent
        finally:
            conn.close()

    def pull(self, remote: str, dest: BinaryIO, *, timeout: float,
             progress: ProgressCallback | None = None) -> int:
        """Copy ``remote`` into the open file ``dest``; returns the bytes received.  A missing
        remote path is an error (the device answers FAIL), never an empty local file.

        The sync stream is read in large pieces into one buffer and parsed there (DATA headers
        and payloads), so a 64 KB DATA packet costs no Python-level recv of its own."""
        deadline = Deadline(timeout, f"adb pull of {remote}")
        conn = self._sync(deadline)
        got = 0
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        start = filled = 0
        sock = conn.conn
        try:
            self._sync_request(conn, b"RECV", remote.encode(), deadline)
            while True:
                if filled - start < 8:
                    kind_len = None
                else:
                    kind, length = struct.unpack_from("<4sI", buf, start)
                    kind_len = (kind, length)
                    if kind == b"DATA" and filled - start >= 8 + length:
                        dest.write(view[start + 8:start + 8 + length])
                        got += length
                        start += 8 + length
                        if progress:
                            progress(got)
                        continue
                    if kind == b"DONE":
                        return got
                    if kind not in (b"DATA", b"FAIL"):
                        raise AdbServerError(f"adb pull of {remote}: unexpected answer {kind!r}")
                    if kind == b"FAIL" and filled - start >= 8 + length:
                        message = bytes(view[start + 8:start + 8 + length]).decode(errors="replace")
                        raise DeviceError(f"adb pull of {remote} failed: {message}")
                if start and (kind_len is None or len(buf) - start < 8 + kind_len[1]):
                    # move the unparsed tail to the front to make room
                    buf[:filled - start] = buf[start:filled]
                    filled -= start
                    start = 0
                sock.settimeout(deadline.remaining())
                try:
                    n = sock.recv_into(view[filled:])
                except TimeoutError:
                    deadline.remaining()
                    continue
                except OSError as err:
                    raise _adb_error(err, self.serial, self.server.address) from None
                if not n:
                    raise DeviceStateError(f"device {self.serial} went away during the pull of "
                                           f"{remote}: check the cable and 'droidcap devices'")
                filled += n
        finally:
            view.release()
            conn.close()

    # ----- adbd
    def restart_adbd_as_root(self, timeout: float = 10.0) -> str:
        """``adb root``: adbd's answer ("restarting adbd as root", "adbd cannot run as root in
        production builds", ...).  adbd restarts: every running shell of ours dies with it."""
        deadline = Deadline(timeout, "adb root")
        conn = self._open("root:", deadline)
        try:
            data = bytearray()
            while True:
                deadline.arm(conn)
                try:
                    chunk = conn.conn.recv(4096)
                except TimeoutError:
                    deadline.remaining()
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace").strip()
        finally:
            conn.close()

    def state(self, timeout: float = 5.0) -> str:
        """``device``, ``offline``, ``unauthorized``... or ``absent`` when the server lists none."""
        for dev in self.server.devices(timeout=timeout):
            if dev.serial == self.serial:
                return dev.state
        return "absent"


class _BytesReader:
    """``open()``-like context for bytes, so push reads files and bytes the same way."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n: int) -> bytes:
        block = self._data[self._pos:self._pos + n]
        self._pos += len(block)
        return bytes(block)

    def __enter__(self) -> _BytesReader:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


__all__ = ["AdbServer", "AttachedDevice", "Deadline", "ServerAddress", "ShellResult", "Transport"]
