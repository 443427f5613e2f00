"""The virtual device: an adbd look-alike on 127.0.0.1 in front of a sandboxed Android world.

:class:`VirtualDevice` owns the listening socket, the live adb connections, the ``adb root``
state and the :class:`~droidcap.virtual.android.Sandbox`.  It routes each OPEN to a service.
It is also a program (``python -m droidcap.virtual.daemon``) so ``droidcap virtual start`` can
leave devices running after the CLI exits.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from droidcap.errors import DeviceError
from droidcap.virtual import adb_host
from droidcap.virtual.adb_wire import Banner
from droidcap.virtual.android import ROOT_UID, SHELL_UID, Sandbox
from droidcap.virtual.profile import ADB_TCP_PORT, BuildType, DeviceProfile, load_profile
from droidcap.virtual.services.shell import parse_shell_destination, run_shell
from droidcap.virtual.services.sync import run_sync
from droidcap.virtual.transport import Connection, ServiceRunner, Stream

log = logging.getLogger(__name__)

#: Only what is implemented end to end: adb trusts these blindly (a wrong one loses output or hangs).
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp",
            "sendrecv_v2")
#: adb's emulator scan range: a device listening there is auto-registered as emulator-N.
_EMULATOR_PORTS = range(5554, 5586)


class VirtualDevice:
    """A virtual rooted Android device reachable with ``adb connect 127.0.0.1:PORT``.

    ``with VirtualDevice(profile, sandbox_dir) as dev: dev.connect(adb_port)`` — leaving the block
    disconnects it, kills every process it started and closes the port.
    """

    def __init__(self, profile: DeviceProfile | None = None, sandbox_dir: Path | str | None = None,
                 *, port: int = 0) -> None:
        self.profile = profile or load_profile(None)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if sandbox_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="droidcap-vdev-")
            sandbox_dir = self._tmp.name
        self.sandbox = Sandbox(self.profile, Path(sandbox_dir))
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._address = "127.0.0.1"  # where adb connects: a host socket ("USB") or wlan0 (Wi-Fi)
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self.adbd_root = False
        self._adb_ports: set[int] = set()
        self._stopped = threading.Event()
        self._acceptor: threading.Thread | None = None

    # ----- lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise DeviceError("the virtual device is not started")
        return self._port

    @property
    def serial(self) -> str:
        """The serial the adb server lists after ``adb connect``."""
        return f"{self._address}:{self.port}"

    @property
    def host_address(self) -> str:
        """The host as the device reaches it (its wlan0's gateway): lab servers the device plays
        from listen here or on 0.0.0.0, as a phone reaches a server on its LAN."""
        network = self.sandbox.network
        if network is None:
            raise DeviceError("the virtual device is not started")
        return network.host_address

    @property
    def device_address(self) -> str:
        """The device's own address on its wlan0."""
        network = self.sandbox.network
        if network is None:
            raise DeviceError("the virtual device is not started")
        return network.device_address

    def start(self) -> str:
        """Build the sandbox, listen on 127.0.0.1 and return the serial."""
        if self._requested_port in _EMULATOR_PORTS:
            raise DeviceError(f"port {self._requested_port} is in adb's emulator scan range "
                              "5554-5585; pick another")
        self.sandbox.start()
        if self.profile.adb_transport == "tcp":  # adb over Wi-Fi: adbd listens on wlan0
            assert self.sandbox.network is not None
            try:
                self._listener = self.sandbox.network.listen(ADB_TCP_PORT)
            except DeviceError:
                self.sandbox.stop()
                raise
            self._address = self.sandbox.network.device_address
            self._port = ADB_TCP_PORT
            self._acceptor = threading.Thread(target=self._accept_loop, name=f"vdev-{self.port}",
                                             daemon=True)
            self._acceptor.start()
            return self.serial
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._requested_port))
            while sock.getsockname()[1] in _EMULATOR_PORTS:  # never look like an emulator
                sock.close()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
            sock.listen(16)
        except OSError as err:
            self.sandbox.stop()
            raise DeviceError(f"cannot listen on 127.0.0.1:{self._requested_port}: {err.strerror}") from None
        self._listener = sock
        self._port = int(sock.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"vdev-{self.port}",
                                          daemon=True)
        self._acceptor.start()
        return self.serial

    def stop(self) -> None:
        """Disconnect from every adb server we registered with, drop connections, kill processes."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._listener is not None:
            for port in list(self._adb_ports):
                adb_host.disconnect(self.serial, adb_port=port)
            # Wake the accept thread and let it end before the descriptor is closed: a thread
            # still in accept() on a closed number would accept on the socket that reuses it.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if self._acceptor is not None:
                self._acceptor.join(5.0)
            try:
                self._listener.close()
            except OSError:
                pass
        self._drop_connections()
        self.sandbox.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def connect(self, adb_port: int | None = None, *, adb: str | None = None) -> str:
        """Register with the adb server on ``adb_port`` (``adb connect``); returns the serial."""
        adb_host.connect(self.serial, adb_port=adb_port, adb=adb)
        self._adb_ports.add(adb_host.default_server_port() if adb_port is None else adb_port)
        return self.serial

    def __enter__(self) -> VirtualDevice:
        if self._listener is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ----- connections
    def banner(self) -> Banner:
        return Banner(properties=self.profile.banner_properties(), features=FEATURES)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._stopped.is_set():
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, self.banner(), self.route)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        try:
            conn.serve()
        finally:
            with self._lock:
                self._connections.discard(conn)

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for c in conns:
            c.drop()

    # ----- services
    def route(self, destination: str) -> ServiceRunner | None:
        """Pick the service for an OPEN; None makes the host see the stream refused."""
        shell = parse_shell_destination(destination)
        if shell is not None:
            uid = ROOT_UID if self.adbd_root else SHELL_UID
            extra = {"DROIDCAP_ADBD_ROOT": "1" if self.adbd_root else "0"}
            if self.adbd_root:
                extra["DROIDCAP_CONTEXT"] = "u:r:su:s0"

            def spawn(command: str | None, *, stdin: int, stdout: int, stderr: int,
                      env_extra: dict[str, str] | None = None,
                      tty: bool = False) -> subprocess.Popen[bytes]:
                return self.sandbox.spawn(command, uid=uid, env_extra={**(env_extra or {}), **extra},
                                          stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

            return functools.partial(run_shell, request=shell, spawn=spawn)
        if destination.startswith("sync:"):
            owner = None if self.adbd_root else (SHELL_UID, SHELL_UID)
            return functools.partial(run_sync, resolve=self.sandbox.host_path, owner=owner)
        if destination.startswith(("root:", "unroot:")):
            return functools.partial(self._root_service, want_root=destination.startswith("root:"))
        return None

    def _root_service(self, stream: Stream, *, want_root: bool) -> None:
        """``adb root``/``adb unroot`` as adbd answers them; a change restarts "adbd": every
        connection drops and the adb server reconnects on its own."""
        if want_root and self.profile.build_type is BuildType.USER:
            stream.send(b"adbd cannot run as root in production builds\n")
            return
        if want_root == self.adbd_root:
            stream.send(b"adbd is already running as root\n" if want_root else b"adbd not running as root\n")
            return
        stream.send(b"restarting adbd as root\n" if want_root else b"restarting adbd as non root\n")
        stream.wait_drained(2.0)
        stream.close()
        self.adbd_root = want_root

        def restart() -> None:
            self._drop_connections()

        threading.Timer(0.2, restart).start()


# ---------------------------------------------------------------- the daemon program
def main(argv: list[str] | None = None) -> int:
    """Run one device in the foreground until SIGTERM/SIGINT; write STATE_FILE once listening."""
    parser = argparse.ArgumentParser(prog="python -m droidcap.virtual.daemon")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--serialno", default=None)
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-file", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        profile = load_profile(args.profile)
        if args.serialno:
            from droidcap.virtual.profile import with_serial

            profile = with_serial(profile, args.serialno)
        device = VirtualDevice(profile, args.sandbox, port=args.port)
        serial = device.start()
    except (DeviceError, OSError) as err:
        print(f"droidcap: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    state = {"pid": os.getpid(), "serial": serial, "port": device.port,
             "host_address": device.host_address, "device_address": device.device_address,
             "profile": profile.name, "serialno": profile.serialno, "sandbox": args.sandbox}
    tmp = Path(args.state_file + ".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(args.state_file)
    done.wait()
    device.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
