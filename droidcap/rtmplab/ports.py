"""Free TCP ports on the loopback, and "is anything listening on port P" without connecting.

Connecting to probe an RTMP server would add a bogus client to its log and to a capture, so
readiness is read from ``/proc/<pid>/net/tcp{,6}`` instead, which also works for a process living
in another network namespace (the kernel shows that process's namespace)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

_TCP_LISTEN = "0A"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now.

    The port is released before returning, so another process may take it; servers started on it
    must report "address in use" clearly (they do: nginx and node exit with an error)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def listening_ports(pid: int | str = "self") -> set[int]:
    """TCP ports in LISTEN state in the network namespace of process ``pid`` (IPv4 and IPv6)."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _TCP_LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def established_local_ports(pid: int) -> set[int]:
    """Local ports of the ESTABLISHED TCP sockets process ``pid`` holds open.

    Links a peer (a player, a publisher) to its connection in a capture by client port: the
    socket inodes behind ``/proc/PID/fd`` matched against the namespace's ``net/tcp{,6}``."""
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "01" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
