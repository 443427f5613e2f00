"""A virtual device's own network: a network namespace with ``lo`` and ``wlan0``, as on a phone.

Why: on a phone ``tcpdump -i any`` sees only the phone's traffic.  A device that shared the host's
network would capture every other device's and every lab server's packets too, and a capture that
forgot to leave out adb-over-Wi-Fi could not show it.  So each device lives in a network namespace
of its own (made by the sandbox holder's ``unshare --net``), linked to the host by a veth pair:
``wlan0`` inside, ``dcvN`` on the host, a /24 of its own (``10.89.N.0/24``: the host is ``.1``, the
device ``.2``), with the host as the default route.  The device reaches servers on the host through
:attr:`DeviceNetwork.host_address` — like an emulator's 10.0.2.2 — as a phone reaches a server on
its LAN; servers must listen there (or on 0.0.0.0), not only on 127.0.0.1.  Nothing is routed
further: the addresses exist only between this machine and its own namespaces, and the pair
disappears with the namespace when the device stops.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from dataclasses import dataclass

from droidcap.errors import DeviceError

_SUBNET = "10.89"
_CLONE_NEWNET = 0x40000000


class NetworkError(DeviceError):
    """The device's network could not be set up."""


def _ip(args: list[str], *, netns_pid: int | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    if netns_pid is not None:
        argv = ["nsenter", "-t", str(netns_pid), "-n", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


@dataclass(frozen=True, slots=True)
class DeviceNetwork:
    """The veth link of one device (index ``n``: ``dcvN`` on the host, 10.89.N.0/24)."""

    index: int
    holder_pid: int

    @property
    def host_interface(self) -> str:
        return f"dcv{self.index}"

    @property
    def host_address(self) -> str:
        return f"{_SUBNET}.{self.index}.1"

    @property
    def device_address(self) -> str:
        return f"{_SUBNET}.{self.index}.2"

    @classmethod
    def create(cls, holder_pid: int) -> DeviceNetwork:
        """Link the namespace of ``holder_pid`` to the host; the first free index wins (``ip link
        add`` is atomic, so devices started at once never share one)."""
        last = ""
        for index in range(1, 255):
            res = _ip(["link", "add", f"dcv{index}", "type", "veth", "peer", "name", "wlan0",
                       "netns", str(holder_pid)])
            if res.returncode == 0:
                net = cls(index, holder_pid)
                net._configure()
                return net
            last = res.stderr.strip()
            if "exists" not in last:
                break
        raise NetworkError(f"cannot give the virtual device a network (ip link add: {last})")

    def _configure(self) -> None:
        steps: list[tuple[list[str], int | None]] = [
            (["addr", "add", f"{self.host_address}/24", "dev", self.host_interface], None),
            (["link", "set", self.host_interface, "up"], None),
            (["link", "set", "lo", "up"], self.holder_pid),
            (["addr", "add", f"{self.device_address}/24", "dev", "wlan0"], self.holder_pid),
            (["link", "set", "wlan0", "up"], self.holder_pid),
            (["route", "add", "default", "via", self.host_address], self.holder_pid),
        ]
        for args, pid in steps:
            res = _ip(args, netns_pid=pid)
            if res.returncode != 0:
                raise NetworkError(f"setting up the device network failed (ip {' '.join(args)}): "
                                   f"{res.stderr.strip()}")

    def listen(self, port: int) -> socket.socket:
        """A listening TCP socket on the device's wlan0 address, made inside its namespace (a
        thread joins the namespace; the socket stays there after the thread is gone)."""
        result: list[socket.socket | BaseException] = []

        def make() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/proc/{self.holder_pid}/ns/net", os.O_RDONLY)
                try:
                    if libc.setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.device_address, port))
                sock.listen(16)
                result.append(sock)
            except BaseException as err:  # noqa: BLE001 - reported to the caller below
                result.append(err)

        thread = threading.Thread(target=make, name="vdev-netns-listen")
        thread.start()
        thread.join(10)
        if not result or isinstance(result[0], BaseException):
            raise NetworkError(f"cannot listen on {self.device_address}:{port} in the device's "
                               f"network: {result[0] if result else 'timed out'}")
        return result[0]


__all__ = ["DeviceNetwork", "NetworkError"]
