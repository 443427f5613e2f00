"""Getting a tcpdump onto the device that droidcap can trust.

By default droidcap's own static build (``tcpdump_bins/``, known version and behaviour) for the
first ABI in ``ro.product.cpu.abilist`` it ships: checked against SHA256SUMS on the host, pushed to
``/data/local/tmp/droidcap/`` (the one place a shell user may write and execute), checked by SHA-256
on the device and smoke-run with ``--version``.  A binary already there with the right digest is
not pushed again.  ``source="device"`` uses the device's own tcpdump instead.
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass

from droidcap import tcpdump_bins
from droidcap.device.adb import ProgressCallback, Transport
from droidcap.device.errors import CaptureError
from droidcap.device.info import DeviceInfo

DEVICE_DIR = "/data/local/tmp/droidcap"
CAPTURE_DIR = f"{DEVICE_DIR}/captures"
_VERSION = re.compile(r"tcpdump\S* version (\S+)")


class TcpdumpSource(enum.StrEnum):
    OURS = "ours"
    DEVICE = "device"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpdumpBinary:
    path: str                 #: absolute path on the device
    version: str
    source: TcpdumpSource
    abi: str | None           #: the ABI of our binary (None for the device's own)
    sha256: str | None
    pushed: bool              #: pushed during this call (False: already there)

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "version": self.version, "source": self.source.value,
                "abi": self.abi, "sha256": self.sha256}


def remote_sha256(transport: Transport, path: str, *, timeout: float = 60.0) -> str | None:
    """``sha256sum`` of a device file (toybox has it), or None when the file is not there."""
    res = transport.shell(f"sha256sum {shlex.quote(path)}", timeout=timeout,
                          what=f"sha256sum {path}")
    digest = res.out.split(" ")[0] if res.ok else ""
    return digest.lower() if len(digest) == 64 else None


def _version(transport: Transport, path: str) -> str:
    """Smoke-run ``path --version``; its version, or why it does not run here."""
    res = transport.shell(f"{shlex.quote(path)} --version", timeout=15.0, what="tcpdump --version")
    text = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    m = _VERSION.search(text)
    if res.ok and m:
        return m.group(1)
    why = res.err or res.out or f"exit {res.exit_code}"
    if "exec format" in why.lower() or res.exit_code == 126:
        why += " (the binary is not for this CPU, or was built for another page size)"
    raise CaptureError(f"{path} does not run on {transport.serial}: {why}")


def install(transport: Transport, info: DeviceInfo, *, source: TcpdumpSource = TcpdumpSource.OURS,
            progress: ProgressCallback | None = None) -> TcpdumpBinary:
    if source is TcpdumpSource.DEVICE:
        res = transport.shell("command -v tcpdump", timeout=10.0, what="command -v tcpdump")
        path = res.out.splitlines()[-1] if res.ok and res.out else ""
        if not path.startswith("/"):
            raise CaptureError(f"{transport.serial} has no tcpdump of its own: "
                               "drop --tcpdump device to use droidcap's")
        return TcpdumpBinary(path=path, version=_version(transport, path), source=source,
                             abi=None, sha256=None, pushed=False)
    abi = tcpdump_bins.pick_abi(",".join(info.abis))
    local_sha = tcpdump_bins.verify(abi)
    path = f"{DEVICE_DIR}/tcpdump-{abi}"
    pushed = False
    if remote_sha256(transport, path) != local_sha:
        part = f"{path}.part"
        # An earlier push cut short (Ctrl-C, a pulled cable) may have left the .part behind.
        mkdir = transport.shell(f"mkdir -p {CAPTURE_DIR} && chmod 0775 {DEVICE_DIR} {CAPTURE_DIR} "
                                f"&& rm -f {shlex.quote(part)}", what="mkdir")
        if not mkdir.ok:
            raise CaptureError(f"cannot create {DEVICE_DIR} on {transport.serial}: {mkdir.err}")
        transport.push(tcpdump_bins.binary_path(abi), part, mode=0o755, timeout=120.0,
                       progress=progress)
        if remote_sha256(transport, part) != local_sha:
            transport.shell(f"rm -f {shlex.quote(part)}", what="rm")
            raise CaptureError(f"the tcpdump pushed to {transport.serial} arrived damaged "
                               "(SHA-256 differs): check free space in /data and try again")
        q_part, q_path = shlex.quote(part), shlex.quote(path)
        moved = transport.shell(f"mv -f {q_part} {q_path} && chmod 0755 {q_path}", what="mv")
        if not moved.ok:
            raise CaptureError(f"cannot install {path}: {moved.err}")
        pushed = True
    return TcpdumpBinary(path=path, version=_version(transport, path), source=source, abi=abi,
                         sha256=local_sha, pushed=pushed)


__all__ = ["CAPTURE_DIR", "DEVICE_DIR", "TcpdumpBinary", "TcpdumpSource", "install",
           "remote_sha256"]
