"""Capture lab traffic with Debian's tcpdump, exactly as a user would on a phone.

``tcpdump -i lo -U -s 0 -n -Z root -w FILE port P``: ``-U`` writes each packet as it arrives (a
killed run still leaves a readable file), ``-s 0`` keeps whole packets, ``-Z root`` stops Debian's
tcpdump from dropping to user ``tcpdump`` (which cannot write into root-only directories).  It
is stopped with SIGINT, on which it flushes and prints its packet counters, which we keep.
``-i any`` gives Linux "cooked" SLL2 headers (DLT 276) instead of Ethernet (DLT 1).
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

from droidcap.rtmplab.errors import LabProcessError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL2 = 276

_COUNTERS = {
    "captured": re.compile(r"(\d+) packets? captured"),
    "received": re.compile(r"(\d+) packets? received by filter"),
    "dropped": re.compile(r"(\d+) packets? dropped by kernel"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureResult:
    """A finished capture: the pcap and tcpdump's own counters (``dropped_by_kernel`` > 0 means
    the file is missing packets that were on the wire — a capture to redo, not to test with)."""

    path: Path
    interface: str
    linktype: int
    bpf_filter: str
    packets_captured: int
    packets_received: int
    dropped_by_kernel: int


class Tcpdump:
    """A running tcpdump writing a pcap; :meth:`stop` ends it and returns a :class:`CaptureResult`."""

    def __init__(self, process: LabProcess, path: Path, interface: str, bpf_filter: str) -> None:
        self.process = process
        self.path = path
        self.interface = interface
        self.bpf_filter = bpf_filter

    @classmethod
    def start(cls, reg: ProcessRegistry, out: Path, *, port: int | None = None, interface: str = "lo",
              bpf_filter: str | None = None, netns: NetNamespace | None = None,
              buffer_kib: int = 16384, timeout: float = 10.0) -> Tcpdump:
        """Start capturing ``port`` (or ``bpf_filter``) on ``interface``; returns once tcpdump
        reports "listening on", so nothing sent afterwards can be missed."""
        require_tool("tcpdump")
        if bpf_filter is None:
            bpf_filter = f"tcp port {port}" if port is not None else "tcp"
        out = out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = ["tcpdump", "-i", interface, "--immediate-mode", "-U", "-s", "0", "-n", "-B", str(buffer_kib),
                "-Z", "root", "-w", str(out), *bpf_filter.split()]
        proc = reg.start("tcpdump", netns.wrap(argv) if netns else argv,
                         stop_signal=signal.SIGINT, stop_grace=5.0)
        proc.wait_for_log(r"listening on \S+, link-type", timeout)
        return cls(proc, out, interface, bpf_filter)

    def stop(self) -> CaptureResult:
        """SIGINT: tcpdump flushes the file and prints its counters."""
        exit_ = self.process.stop()
        log = self.process.log_text()
        if exit_.how == "killed" or not self.path.exists():
            raise LabProcessError(f"tcpdump did not stop cleanly ({exit_.how}, rc={exit_.returncode}):\n"
                                  f"{self.process.log_tail()}")
        counts = {k: int(m.group(1)) if (m := rx.search(log)) else 0 for k, rx in _COUNTERS.items()}
        return CaptureResult(path=self.path, interface=self.interface, linktype=pcap_linktype(self.path),
                             bpf_filter=self.bpf_filter, packets_captured=counts["captured"],
                             packets_received=counts["received"], dropped_by_kernel=counts["dropped"])


def pcap_linktype(path: Path) -> int:
    """The link type in a classic pcap file's global header."""
    with path.open("rb") as f:
        head = f.read(24)
    if len(head) < 24:
        raise LabProcessError(f"{path} is not a pcap file (only {len(head)} bytes)")
    little = head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    return int.from_bytes(head[20:24], "little" if little else "big") & 0x0FFFFFFF
