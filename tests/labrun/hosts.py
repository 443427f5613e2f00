"""Two lab hosts on one machine: each a network namespace running a stock adb server on the
network (``adb -a nodaemon server start``), as the hosts of a bigger lab do.

Topology (only addresses inside namespaces the test creates):

    root namespace ── veth dlhN ── 10.88.N.1/30 | 10.88.N.2/30 eth0 ── netns "dclabN-PID" (adb server :5037)
         │
         └── dcvM ── 10.89.M.2 (a virtual device's own namespace, adbd on wlan0:5555)

A host reaches its devices through the root namespace: its route to 10.89.0.0/16 goes via
10.88.N.1, and IPv4 forwarding is switched on only on the veths involved (``dlhN`` and each
attached device's ``dcvM``), never globally.  droidcap (the test) talks to the adb servers at
10.88.N.2:5037; the devices reach the RTMP servers at a root-namespace address.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from droidcap.device.adb import ServerAddress
from droidcap.virtual.daemon import VirtualDevice


def _run(*argv: str) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


def _sysctl_forwarding(interface: str, on: bool) -> None:
    path = f"/proc/sys/net/ipv4/conf/{interface}/forwarding"
    if os.path.exists(path):
        with open(path, "w") as f:
            f.write("1" if on else "0")


@dataclass
class LabHost:
    """One namespace 'host' with its adb server."""

    index: int
    adb: str
    port: int = 5037
    process: subprocess.Popen[bytes] | None = None
    devices: list[str] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return f"dclab{self.index}-{os.getpid()}"

    @property
    def veth(self) -> str:
        return f"dlh{self.index}"

    @property
    def gateway(self) -> str:
        return f"10.88.{self.index}.1"

    @property
    def address(self) -> str:
        return f"10.88.{self.index}.2"

    @property
    def server(self) -> ServerAddress:
        return ServerAddress(host=self.address, port=self.port)

    def start(self) -> None:
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _run("ip", "addr", "add", f"{self.gateway}/30", "dev", self.veth)
        _run("ip", "link", "set", self.veth, "up")
        inside = ("ip", "netns", "exec", self.netns)
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "addr", "add", f"{self.address}/30", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "route", "add", "10.89.0.0/16", "via", self.gateway)
        _sysctl_forwarding(self.veth, True)
        env = dict(os.environ, ADB_MDNS="0", ADB_USB="0")
        self.process = subprocess.Popen(
            [*inside, self.adb, "-a", "-P", str(self.port), "nodaemon", "server", "start"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the adb server of {self.netns} did not listen on {self.address}:{self.port}")

    def adb_cmd(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.adb, "-H", self.address, "-P", str(self.port), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def attach(self, vdev: VirtualDevice) -> str:
        """``adb connect`` the device (adb over Wi-Fi) from this host's server."""
        network = vdev.sandbox.network
        assert network is not None and vdev.profile.adb_transport == "tcp"
        _sysctl_forwarding(network.host_interface, True)
        deadline = time.monotonic() + 20
        while True:
            out = self.adb_cmd("connect", vdev.serial)
            listed = self.adb_cmd("devices").stdout
            if f"{vdev.serial}\tdevice" in listed:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.netns} cannot connect {vdev.serial}: {out.stdout}{out.stderr}")
            time.sleep(0.3)
        self.devices.append(vdev.serial)
        return vdev.serial

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True, check=False)


def free_index() -> int:
    """A 10.88.N.0/30 and dlhN no other namespace host on this machine uses."""
    used = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=False).stdout
    for n in range(1, 250):
        names = {line.split()[0].split("@")[0] for line in used.splitlines() if line.strip()}
        if f"dlh{n}" not in names:
            return n
    raise RuntimeError("no free lab host index")
