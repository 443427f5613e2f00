"""What every lab RTMP server offers the recorder and the tests, whatever its implementation."""

from __future__ import annotations

import time
from typing import Protocol

from droidcap.rtmplab.errors import LabProcessError, LabTimeoutError
from droidcap.rtmplab.ports import listening_ports
from droidcap.rtmplab.procs import LabProcess


class RtmpServer(Protocol):
    """An RTMP server started by the lab (nginx-rtmp or node-media-server)."""

    kind: str
    version: str
    host: str
    port: int
    chunk_size: int
    process: LabProcess

    def url(self, app: str = "live", stream: str = "test") -> str: ...

    def wait_publishing(self, stream: str, *, app: str = "live", timeout: float = 10.0) -> None: ...

    def wait_playing(self, stream: str, *, count: int = 1, app: str = "live", timeout: float = 10.0) -> None: ...

    def stop(self) -> None: ...


def rtmp_url(host: str, port: int, app: str, stream: str) -> str:
    """``rtmp://HOST:PORT/APP/STREAM`` with IPv6 hosts bracketed."""
    h = f"[{host}]" if ":" in host else host
    return f"rtmp://{h}:{port}/{app}/{stream}"


def wait_listening(proc: LabProcess, port: int, timeout: float) -> None:
    """Wait until ``proc``'s network namespace has a listener on ``port`` (no probe connection,
    which would show up in the server log and in captures)."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running:
            raise LabProcessError(
                f"{proc.name} (pid {proc.pid}) exited with {proc.returncode} before listening on "
                f"port {port}; log tail:\n{proc.log_tail()}"
            )
        if port in listening_ports(proc.pid):
            return
        if time.monotonic() > deadline:
            raise LabTimeoutError(f"{proc.name} not listening on port {port} after {timeout:.1f} s")
        time.sleep(0.05)
