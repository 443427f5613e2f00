"""Record RTMP sessions carried by real Linux tunnels, for tests/test_tunnels.py.

    .venv/bin/python tests/data/tunnels/make_tunnel_captures.py [--only gretap ...]   (as root)

For each tunnel kind, two network namespaces of our own (``ip netns add``) are joined by a veth
pair (the underlay, 10.200.0.0/30 or fd00:200::/64), with the tunnel devices on top
(``ip link add … type vxlan``, one on another for a nested tunnel) and the overlay addresses on
them.
nginx-rtmp listens in one namespace, an ffmpeg publisher publishes from the other for two
seconds, and tcpdump records the underlay veth — so the file holds the real kernel's
encapsulation of a real RTMP session.  Offloads are off on every device (no GSO super-packets),
and nothing leaves the two namespaces.  ``MANIFEST.json`` gets the inner and outer addresses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from droidcap.rtmplab.capture import Tcpdump  # noqa: E402
from droidcap.rtmplab.nginx import NginxRtmp  # noqa: E402
from droidcap.rtmplab.procs import ProcessRegistry  # noqa: E402
from droidcap.rtmplab.publishers import PublisherSpec, start_ffmpeg_publisher  # noqa: E402

PORT = 1935


@dataclass(frozen=True)
class Layer:
    """One tunnel device on each side: ``ip link add tN <link>`` (``{local}``/``{remote}``: the
    addresses of the layer below), and the addresses it carries."""

    link: str
    addresses: tuple[str, str]
    prefix: int


@dataclass(frozen=True)
class Kind:
    name: str
    underlay: tuple[str, str]
    underlay_prefix: int
    layers: tuple[Layer, ...]
    description: str


# This kernel (a Firecracker VM without loadable modules) knows vxlan but not gre, gretap,
# ipip, sit, ip6tnl or vlan links ("Unknown device type"); the others are byte-built in
# tests/capture/tunnelgen.py and checked against tshark there.
KINDS = {
    "vxlan": Kind("vxlan", ("10.200.0.1", "10.200.0.2"), 30, (
        Layer("type vxlan id 42 local {local} remote {remote} dstport 4789", ("10.201.0.1", "10.201.0.2"), 24),
    ), "IPv4 > UDP 4789 > VXLAN VNI 42 > Ethernet > IPv4 > TCP"),
    "vxlan6": Kind("vxlan6", ("fd00:200::1", "fd00:200::2"), 64, (
        Layer("type vxlan id 43 local {local} remote {remote} dstport 4789", ("fd00:201::1", "fd00:201::2"), 64),
    ), "IPv6 > UDP 4789 > VXLAN VNI 43 > Ethernet > IPv6 > TCP"),
    "vxlan_in_vxlan": Kind("vxlan_in_vxlan", ("fd00:200::1", "fd00:200::2"), 64, (
        Layer("type vxlan id 44 local {local} remote {remote} dstport 4789", ("10.201.0.1", "10.201.0.2"), 24),
        Layer("type vxlan id 45 local {local} remote {remote} dstport 4789", ("10.202.0.1", "10.202.0.2"), 24),
    ), "IPv6 > UDP > VXLAN 44 > Ethernet > IPv4 > UDP > VXLAN 45 > Ethernet > IPv4 > TCP"),
}


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=30, stdout=subprocess.DEVNULL)


def ns(name: str, *argv: str) -> None:
    sh("ip", "netns", "exec", name, *argv)


class Netns:
    """What the lab's peers need of a namespace: a way to run a command in it (same PID)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def wrap(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


def _addr(side: str, address: str, prefix: int, dev: str) -> None:
    extra = ["nodad"] if ":" in address else []
    ns(side, "ip", "addr", "add", f"{address}/{prefix}", "dev", dev, *extra)


def record(kind: Kind, out: Path) -> dict[str, object]:
    tag = f"dct{os.getpid()}"
    a, b = f"{tag}a", f"{tag}b"
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    try:
        sh("ip", "link", "add", "u0", "netns", a, "type", "veth", "peer", "name", "u0", "netns", b)
        for n, side in enumerate((a, b)):
            ns(side, "ip", "link", "set", "lo", "up")
            _addr(side, kind.underlay[n], kind.underlay_prefix, "u0")
            ns(side, "ip", "link", "set", "u0", "up")
            below = kind.underlay
            devices = ["u0"]
            for i, layer in enumerate(kind.layers):
                dev = f"t{i}"
                # below the underlay MTU with room for each layer's 50-70 bytes: the kernel would
                # otherwise fragment the outer packets (droidcap, like a TCP stack, does not
                # reassemble IP fragments)
                ns(side, "ip", "link", "add", dev, "mtu", str(1400 - 100 * i),
                   *layer.link.format(local=below[n], remote=below[1 - n]).split())
                _addr(side, layer.addresses[n], layer.prefix, dev)
                ns(side, "ip", "link", "set", dev, "up")
                devices.append(dev)
                below = layer.addresses
            for dev in devices:  # no GSO super-packets: every captured frame is one on the wire
                subprocess.run(["ip", "netns", "exec", side, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                                "gro", "off"], check=False, timeout=10, capture_output=True)
        time.sleep(1.0)  # IPv6 addresses and neighbours settle
        inner = kind.layers[-1].addresses
        with tempfile.TemporaryDirectory() as tmp, ProcessRegistry(Path(tmp)) as reg:
            server = NginxRtmp.start(reg, Path(tmp) / "nginx", host=inner[1], port=PORT,
                                     netns=Netns(b))  # type: ignore[arg-type]
            capture = Tcpdump.start(reg, out, interface="u0", bpf_filter="", netns=Netns(a))  # type: ignore[arg-type]
            publisher = start_ffmpeg_publisher(reg, server.url(stream="test"), PublisherSpec(duration=2.0),
                                               netns=Netns(a))  # type: ignore[arg-type]
            publisher.wait()
            time.sleep(0.5)
            capture.stop()
    finally:
        subprocess.run(["ip", "netns", "del", a], check=False, timeout=10)
        subprocess.run(["ip", "netns", "del", b], check=False, timeout=10)
    return {"file": out.name, "description": kind.description, "underlay": list(kind.underlay),
            "layers": [{"link": layer.link.split()[1], "addresses": list(layer.addresses)} for layer in kind.layers],
            "port": PORT, "bytes": out.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(KINDS))
    args = parser.parse_args()
    manifest_path = HERE / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name in args.only or sorted(KINDS):
        manifest[name] = record(KINDS[name], HERE / f"{name}.pcap")
        print(name, manifest[name]["bytes"], file=sys.stderr)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
