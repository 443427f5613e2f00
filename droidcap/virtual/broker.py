"""The device's privileged side: what on a phone needs root, answered by the (root) daemon.

Shell commands run with the real uid 2000, so they fail where a phone's shell fails (tcpdump
cannot open a capture socket, cannot kill root's processes).  The tools that legitimately get
more — ``su`` (Magisk or AOSP), ``am start``/``am force-stop`` (the system server runs apps as
their uid) and ``ps`` (toybox reads /proc with the readproc group) — ask this broker over a unix
socket inside the device, ``/system/socket/droidcap``.  ``su`` passes its stdin/stdout/stderr as
file descriptors, so the root child talks to the caller's terminal or adb stream directly.

Wire format: 4-byte little-endian length + JSON, both ways; the first request may carry fds.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from droidcap.errors import DeviceError
from droidcap.virtual.procgroups import register_child
from droidcap.virtual.profile import DeviceProfile, RootMethod
from droidcap.virtual.toolbox import FRAME_LEN, read_exact, send_msg

log = logging.getLogger(__name__)
SOCKET_DEVICE_PATH = "/system/socket/droidcap"
#: The log buffer ``logcat`` reads (logd's, on a phone): one JSON entry per line, appended here.
LOG_BUFFER_DEVICE_PATH = "/system/socket/logd.buffer"
def recv_msg(sock: socket.socket) -> tuple[Any, list[int]] | None:
    """A message framed by :func:`~droidcap.virtual.toolbox.send_msg`, with any descriptors."""
    first, fds, _flags, _addr = socket.recv_fds(sock, FRAME_LEN.size, 8)
    head = read_exact(sock, FRAME_LEN.size, first) if first else None
    body = None if head is None else read_exact(sock, FRAME_LEN.unpack(head)[0])
    if body is None:
        return None
    return json.loads(body), list(fds)


ProcessLister = Callable[[], list[dict[str, Any]]]
Spawner = Callable[..., subprocess.Popen[bytes]]


class Broker:
    """Serves privileged requests for one device."""

    def __init__(self, profile: DeviceProfile, socket_host_path: Path, spawn: Spawner,
                 processes: ProcessLister, log_buffer: Path | None = None) -> None:
        self.profile = profile
        self.path = socket_host_path
        self.spawn = spawn
        self.processes = processes
        self.log_buffer = log_buffer
        self._log_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Sandbox paths easily exceed AF_UNIX's 108 bytes: bind through a short magic link to
        # the directory instead of the full path.
        dir_fd = os.open(self.path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock.bind(f"/proc/self/fd/{dir_fd}/{self.path.name}")
        except OSError:
            sock.close()
            raise
        finally:
            os.close(dir_fd)
        os.chmod(self.path, 0o666)
        if self.log_buffer is not None:
            self.log_buffer.touch()
            os.chmod(self.log_buffer, 0o644)  # readable by the shell's logcat, written only here
        sock.listen(64)
        self._sock = sock
        self._acceptor = threading.Thread(target=self._accept, args=(sock,), name="vdev-broker",
                                          daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        """Stop accepting.  The accept thread is woken (shutdown) and joined *before* the socket
        is closed: a thread still inside accept() on a closed descriptor number would accept on
        whatever socket reuses that number next — another device's broker."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if self._acceptor is not None:
                self._acceptor.join(5.0)
            sock.close()
        self.path.unlink(missing_ok=True)

    def _accept(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if self._sock is not sock:  # stopped meanwhile
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            with conn:
                pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
                got = recv_msg(conn)
                if got is None:
                    return
                req, fds = got
                op = req.get("op")
                if op == "su":
                    self._su(conn, req, fds, pid, uid)
                elif op == "am-start":
                    send_msg(conn, self._am_start(req, uid))
                elif op == "force-stop":
                    send_msg(conn, self._force_stop(req, uid))
                elif op == "log-clear":
                    if self.log_buffer is not None:
                        self.log_buffer.write_text("")
                    send_msg(conn, {"ok": True})
                elif op == "ps":
                    send_msg(conn, {"processes": self.processes()})
                else:
                    send_msg(conn, {"error": f"unknown request {op!r}"})
        except (OSError, ValueError, DeviceError) as err:  # e.g. the device is stopping
            log.warning("broker request %s failed: %s", locals().get("req", {}).get("op"), err)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

    # ----- su
    def _su(self, conn: socket.socket, req: dict[str, Any], fds: list[int], pid: int, uid: int) -> None:
        method = self.profile.root_method
        if method not in (RootMethod.MAGISK, RootMethod.AOSP_SU):
            send_msg(conn, {"error": "su: not found"})
            return
        if method is RootMethod.AOSP_SU and uid not in (0, 2000):
            send_msg(conn, {"error": "su: not allowed"})
            return
        if len(fds) != 3:
            send_msg(conn, {"error": "su: needs stdin, stdout and stderr"})
            return
        context = "u:r:magisk:s0" if method is RootMethod.MAGISK else "u:r:su:s0"
        env = {k: str(v) for k, v in dict(req.get("env") or {}).items()}
        env.update(USER="root", LOGNAME="root", DROIDCAP_CONTEXT=context)
        try:
            child = self.spawn(list(req["argv"]), uid=0, cwd=str(req.get("cwd") or "/"), env=env,
                               stdin=fds[0], stdout=fds[1], stderr=fds[2])
        except (OSError, DeviceError) as err:
            send_msg(conn, {"error": f"su: {getattr(err, 'strerror', None) or err}"})
            return
        for fd in fds:
            os.close(fd)
        fds.clear()
        try:
            register_child(os.getpgid(pid), child.pid)
        except ProcessLookupError:
            pass
        send_msg(conn, {"pid": child.pid})

        def relay() -> None:  # signals the su client receives go to the root child
            while True:
                try:
                    got = recv_msg(conn)
                except OSError:
                    return
                if got is None:
                    return
                sig = int(got[0].get("signal", 0))
                if sig:
                    try:
                        os.kill(child.pid, sig)
                    except ProcessLookupError:
                        return

        threading.Thread(target=relay, daemon=True).start()
        code = child.wait()
        send_msg(conn, {"exit": 128 - code if code < 0 else code})

    # ----- the system log
    def log(self, level: str, tag: str, message: str, *, pid: int | None = None) -> None:
        """One entry in the device log, as the system server writes it (``logcat`` shows it);
        ``pid`` is the process it is about's own (default: this daemon, the "system server")."""
        if self.log_buffer is None:
            return
        pid = os.getpid() if pid is None else pid
        entry = {"time": time.time(), "pid": pid, "tid": pid, "level": level, "tag": tag,
                 "message": message}
        with self._log_lock, open(self.log_buffer, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    # ----- activity manager
    def _app(self, package: str) -> Any:
        return next((a for a in self.profile.all_apps() if a.name == package), None)

    def _am_start(self, req: dict[str, Any], uid: int) -> dict[str, Any]:
        app = self._app(str(req.get("package")))
        if app is None:
            return {"error": "no such package"}
        url, page = str(req["url"]), f"android-app://{app.name}"
        if app.role == "publisher":
            # A broadcasting app: its "camera" is a test pattern, its "microphone" a tone.
            argv = ["/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re",
                    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-rtmp_pageurl", page, "-f", "flv", url]
        elif self.profile.player == "rtmpdump":
            argv = ["/usr/bin/rtmpdump", "-q", "-v", "-r", url, "-p", page, "-o", "/dev/null"]
        else:
            argv = ["/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-rtmp_pageurl", page,
                    "-rtmp_live", "live", "-i", url, "-f", "null", "-"]
        home = f"/data/data/{app.name}"
        env = {"USER": f"u0_a{app.uid - 10000}" if app.uid >= 10000 else str(app.uid), "HOME": home,
               "DROIDCAP_APP": app.name}
        log_path = f"{home}/player.log"
        # exec -a: the process is named after the package, as an app process is on Android.
        script = f'exec -a {app.name} "$@" >>{log_path} 2>&1 </dev/null'
        child = self.spawn(["/system/bin/sh", "-c", script, "sh", *argv], uid=app.uid, cwd=home,
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        user = f"u0a{app.uid - 10000}" if app.uid >= 10000 else str(app.uid)
        self.log("I", "ActivityManager", f"START u0 {{act=android.intent.action.VIEW dat={url} "
                 f"pkg={app.name}}} from uid {uid}")
        self.log("I", "ActivityManager", f"Start proc {child.pid}:{app.name}/{user} for activity "
                 f"{{{app.name}}}")

        def reaped() -> None:  # the system server notices an app process dying
            code = child.wait()
            self.log("I", "ActivityManager", f"Process {app.name} (pid {child.pid}) has died"
                     + (f": exit code {code}" if code > 0 else f": signal {-code}" if code < 0 else ""))

        threading.Thread(target=reaped, name="vdev-app-reaper", daemon=True).start()
        return {"ok": True}

    def _force_stop(self, req: dict[str, Any], uid: int) -> dict[str, Any]:
        app = self._app(str(req.get("package")))
        if app is None:
            return {"ok": True}  # Android is silent about unknown packages
        self.log("I", "ActivityManager", f"Force stopping {app.name} appid={app.uid} user=0: "
                 f"from pid {req.get('caller_pid', os.getpid())}")
        for p in self.processes():
            if p["uid"] == app.uid:
                try:
                    os.kill(p["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return {"ok": True}
