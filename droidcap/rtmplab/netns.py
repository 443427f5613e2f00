"""A private network namespace for "realistic network" recordings.

On the host loopback (MTU 65536, TSO/GSO on) tcpdump sees 4–64 KB TCP segments, which no phone
ever produces.  Inside a namespace of our own we may set ``lo`` to MTU 1500 and switch the
offloads off, so every segment carries at most 1448 bytes of payload (1500 − 20 IP − 32 TCP with
timestamps) — the shape of a real Wi-Fi/LTE capture — without touching the host's network.

The namespace is held open by one bounded ``sleep`` started with ``unshare -n``; every peer is
started inside it with ``nsenter -t HOLDER -n`` (which execs, so the peer keeps its own PID).
Stopping the holder once all peers are gone makes the kernel drop the namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from droidcap.rtmplab.errors import LabError, LabTimeoutError
from droidcap.rtmplab.ports import listening_ports
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool, run_bounded


class NetNamespace:
    """A private network namespace with only ``lo``, optionally at MTU 1500 without offloads."""

    def __init__(self, reg: ProcessRegistry, *, mtu: int | None = 1500, offloads: bool = False,
                 lifetime: float = 3600.0) -> None:
        require_tool("unshare", "util-linux")
        require_tool("nsenter", "util-linux")
        self.mtu = mtu
        self.offloads = offloads
        self._holder: LabProcess = reg.start(
            "netns-holder", ["unshare", "--net", "--", "sleep", str(int(lifetime))]
        )
        # Wait until the holder really lives in a new namespace (unshare execs sleep afterwards).
        deadline = time.monotonic() + 5.0
        while True:
            if not self._holder.running:
                raise LabError(
                    f"unshare -n failed (rc={self._holder.returncode}): {self._holder.log_tail()} — "
                    "the realistic-network mode needs root (CAP_SYS_ADMIN)"
                )
            try:
                if _readlink_ns(self._holder.pid) != _readlink_ns("self") and _comm(self._holder.pid) == "sleep":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LabTimeoutError("unshare -n did not start its namespace within 5 s")
            time.sleep(0.02)
        link = ["ip", "link", "set", "lo", "up"] + (["mtu", str(mtu)] if mtu else [])
        run_bounded(self.wrap(link), timeout=10)
        if not offloads:
            require_tool("ethtool")
            run_bounded(self.wrap(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"]), timeout=10)

    @property
    def pid(self) -> int:
        """PID of the holder: ``/proc/PID/ns/net`` is the namespace."""
        return self._holder.pid

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside the namespace (same PID, via exec)."""
        return ["nsenter", "-t", str(self._holder.pid), "-n", "--", *argv]

    def listening_ports(self) -> set[int]:
        return listening_ports(self._holder.pid)

    def close(self) -> None:
        self._holder.stop(grace=2.0)


def _readlink_ns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()
