"""``shell:``, ``exec:`` and ``shell,v2,...:`` — real commands on the device, over one stream.

v1/exec are raw byte pipes (stderr merged, no exit code: that is what adbd does, and why adb
needs shell_v2 for exit codes).  v2 wraps stdin/stdout/stderr/exit/close-stdin in packets of
``id:u8, length:u32le``.  A CLSE from the host (the local ``adb shell`` died) ends the command's
whole process group: SIGHUP, then SIGKILL after a grace period, as a hung-up terminal would.
"""

from __future__ import annotations

import enum
import os
import pty
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from droidcap.virtual.procgroups import forget, kill_group
from droidcap.virtual.transport import Stream, StreamClosed

_V2_HEADER = struct.Struct("<BI")


class V2Packet(enum.IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    EXIT = 3
    CLOSE_STDIN = 4
    WINDOW_SIZE_CHANGE = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellRequest:
    """A parsed shell service destination."""

    v2: bool
    pty: bool
    command: str | None  #: None: an interactive shell
    env: dict[str, str] = field(default_factory=dict)


def parse_shell_destination(destination: str) -> ShellRequest | None:
    """``shell:CMD``, ``exec:CMD`` or ``shell[,ARG...]:CMD`` (ARGs: v2, raw, pty, TERM=...)."""
    if destination.startswith("exec:"):
        return ShellRequest(v2=False, pty=False, command=destination[5:])
    if not destination.startswith("shell"):
        return None
    head, sep, command = destination.partition(":")
    if not sep:
        return None
    args = head.split(",")[1:]
    if head.split(",")[0] != "shell":
        return None
    env = {}
    v2 = "v2" in args
    mode = None
    for a in args:
        if a in ("raw", "pty"):
            mode = a
        elif a.startswith("TERM="):
            env["TERM"] = a[5:]
    cmd: str | None = command if command else None
    use_pty = (mode == "pty") if mode else cmd is None
    return ShellRequest(v2=v2, pty=use_pty, command=cmd, env=env)


Spawner = Callable[..., subprocess.Popen[bytes]]


def run_shell(stream: Stream, request: ShellRequest, spawn: Spawner) -> None:
    """Run the request's command with ``spawn(command, stdin=, stdout=, stderr=, env_extra=)``
    and pump bytes both ways until it ends or the host hangs up."""
    try:
        _run_shell(stream, request, spawn)
    except OSError as err:  # the sandbox is gone or nsenter failed: say so, as adbd would
        message = f"/system/bin/sh: cannot start command: {err.strerror}\n".encode()
        if request.v2:
            stream.send(_V2_HEADER.pack(V2Packet.STDERR, len(message)) + message
                        + _V2_HEADER.pack(V2Packet.EXIT, 1) + bytes([126]))
        else:
            stream.send(message)


def _run_shell(stream: Stream, request: ShellRequest, spawn: Spawner) -> None:
    if request.pty:
        master, slave = pty.openpty()
        proc = spawn(request.command, stdin=slave, stdout=slave, stderr=slave, env_extra=request.env,
                     tty=True)
        os.close(slave)
        out_fds = [(master, V2Packet.STDOUT)]
        in_fd: int | None = master
    else:
        proc = spawn(request.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE if request.v2 else subprocess.STDOUT,
                     env_extra=request.env)
        assert proc.stdout is not None and proc.stdin is not None
        out_fds = [(proc.stdout.fileno(), V2Packet.STDOUT)]
        if request.v2:
            assert proc.stderr is not None
            out_fds.append((proc.stderr.fileno(), V2Packet.STDERR))
        in_fd = proc.stdin.fileno()
        master = -1

    pgid = proc.pid
    done = threading.Event()

    def on_host_close() -> None:
        if not done.is_set():
            kill_group(pgid)

    stream.on_close(on_host_close)

    def pump_out(fd: int, kind: V2Packet) -> None:
        while True:
            try:
                data = os.read(fd, 256 * 1024)
            except OSError:  # EIO on a pty once the shell exits
                data = b""
            if not data:
                return
            if stream.closed:
                continue  # keep draining so the command is not blocked on a full pipe
            payload = _V2_HEADER.pack(kind, len(data)) + data if request.v2 else data
            try:
                stream.send(payload)
            except StreamClosed:  # the host went away: keep draining, send nothing more
                pass

    readers = [threading.Thread(target=pump_out, args=(fd, kind), daemon=True) for fd, kind in out_fds]
    for t in readers:
        t.start()
    threading.Thread(target=_pump_in, args=(stream, request, in_fd, proc), daemon=True).start()

    for t in readers:
        t.join()
    code = proc.wait()
    done.set()
    forget(pgid)
    if master >= 0:
        os.close(master)
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()
    if code < 0:
        code = 128 - code
    if request.v2 and not stream.closed:
        stream.send(_V2_HEADER.pack(V2Packet.EXIT, 1) + bytes([code & 0xFF]))


def _pump_in(stream: Stream, request: ShellRequest, fd: int | None,
             proc: subprocess.Popen[bytes]) -> None:
    buf = bytearray()
    stdin_open = True

    def close_stdin() -> None:
        nonlocal stdin_open
        if stdin_open and not request.pty:
            stdin_open = False
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass

    def write(data: bytes) -> None:
        if not stdin_open or fd is None:
            return
        view = memoryview(data)
        try:
            while view:  # blocking writes: a slow reader holds back the host (flow control)
                view = view[os.write(fd, view):]
        except OSError:  # the command closed its stdin or exited
            pass

    while True:
        chunk = stream.recv()
        if chunk is None:
            close_stdin()
            return
        if not request.v2:
            write(chunk)
            continue
        buf += chunk
        while len(buf) >= _V2_HEADER.size:
            kind, length = _V2_HEADER.unpack_from(buf)
            if len(buf) < _V2_HEADER.size + length:
                break
            data = bytes(buf[_V2_HEADER.size:_V2_HEADER.size + length])
            del buf[:_V2_HEADER.size + length]
            if kind == V2Packet.STDIN:
                write(data)
            elif kind == V2Packet.CLOSE_STDIN:
                close_stdin()
