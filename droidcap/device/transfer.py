"""Pulling a capture so that what lands on the host is provably what the device holds.

adbutils' ``sync.pull`` checks nothing: no size, no digest, and a missing path gives an empty local
directory.  Here a pull goes to ``NAME.part`` with progress, is compared with the device's file by
size (64-bit ``stat``) and SHA-256 (``sha256sum`` on the device), and only then renamed — never over
an existing file.  A last record cut short (tcpdump killed mid-write) is trimmed after the digest
matched, and reported.  The device copy is untouched here: deleting it is the caller's decision,
made only after this returned.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from droidcap.capture.wholeness import WholenessChecker
from droidcap.device.adb import ProgressCallback, Transport
from droidcap.device.captures import file_size
from droidcap.device.errors import DeviceError, VerifyError
from droidcap.device.tcpdump import remote_sha256
from droidcap.errors import CaptureFormatError


@dataclass(frozen=True, slots=True, kw_only=True)
class PulledFile:
    path: Path
    size: int            #: bytes on the device (and pulled)
    sha256: str          #: of the device's file, which the pulled bytes matched
    trimmed_bytes: int   #: a partial last record removed from the local copy
    records: int
    local_sha256: str    #: of the local file: ``sha256`` unless a partial record was trimmed

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256,
                "trimmed_bytes": self.trimmed_bytes, "records": self.records,
                "local_sha256": self.local_sha256}


def _keep(part: Path, local: Path, *, whole_length: int | None) -> str:
    """Trim ``part`` to ``whole_length`` (if given), give it its final name without replacing a
    file that appeared meanwhile, and return the final file's SHA-256 when it was trimmed ('')."""
    digest = ""
    if whole_length is not None:
        with open(part, "r+b") as f:
            f.truncate(whole_length)
            f.seek(0)
            sha = hashlib.sha256()
            while block := f.read(1 << 20):
                sha.update(block)
            digest = sha.hexdigest()
    try:
        os.link(part, local)  # fails rather than replace a file that appeared meanwhile
        part.unlink()
    except FileExistsError:
        raise DeviceError(f"{local} appeared during the pull; the verified copy is {part}") from None
    except OSError:  # a filesystem without hard links (FAT, exFAT, some network mounts)
        if local.exists():
            raise DeviceError(f"{local} appeared during the pull; the verified copy is {part}") from None
        os.rename(part, local)
    return digest


class _HashingWriter:
    """Writes through to a file while hashing and checking record boundaries."""

    def __init__(self, f: BinaryIO, *, capture: bool) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.checker = WholenessChecker() if capture else None
        self.format_error: CaptureFormatError | None = None

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        if self.checker is not None and self.format_error is None:
            try:
                self.checker.feed(data)
            except CaptureFormatError as err:  # said after the pull: the bytes are still kept
                self.format_error = err
        return self.f.write(data)


class _RemoteDigest:
    """``sha256sum`` of a device file, computed on the device in a thread of its own."""

    def __init__(self, transport: Transport, remote: str, *, timeout: float) -> None:
        self._remote = remote
        self._serial = transport.serial
        self._out: list[str | BaseException | None] = []
        self._thread = threading.Thread(target=self._run, args=(transport, timeout),
                                        name="remote-sha256", daemon=True)
        self._thread.start()

    def _run(self, transport: Transport, timeout: float) -> None:
        try:
            self._out.append(remote_sha256(transport, self._remote, timeout=timeout))
        except BaseException as err:  # noqa: BLE001 - handed to the caller in result()
            self._out.append(err)

    def result(self) -> str:
        self._thread.join()
        value = self._out[0] if self._out else None
        if isinstance(value, BaseException):
            raise value
        if value is None:
            raise DeviceError(f"cannot read {self._remote} on {self._serial} to check it")
        return value


def pull_timeout(size: int) -> float:
    """A deadline for pulling ``size`` bytes: generous (5 MB/s floor) but finite."""
    return 30.0 + size / 5e6


def pull_verified(transport: Transport, remote: str, local: Path, *,
                  progress: ProgressCallback | None = None,
                  expected_size: int | None = None, capture: bool = True) -> PulledFile:
    """Pull ``remote`` to ``local`` verified; ``local`` must not exist yet.  ``capture``: the
    file is a pcap/pcapng whose partial last record is trimmed (any other file is kept as is)."""
    local = Path(local)
    if local.exists():
        raise DeviceError(f"{local} already exists: droidcap never overwrites a capture; "
                          "choose another --output")
    size = expected_size if expected_size is not None else file_size(transport, remote)
    if size is None:
        raise DeviceError(f"{remote} does not exist on {transport.serial}: see "
                          "'droidcap pull --list'")
    # The device hashes its file while the host pulls it (a second adb stream): the check costs
    # no time of its own unless the device hashes slower than the link carries.
    hashing = _RemoteDigest(transport, remote, timeout=30.0 + size / 20e6)
    part = local.with_name(local.name + ".part")
    local.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "wb") as f:
        writer = _HashingWriter(f, capture=capture)
        got = transport.pull(remote, writer, timeout=pull_timeout(size), progress=progress)  # type: ignore[arg-type]
        f.flush()
        os.fsync(f.fileno())
    device_sha = hashing.result()
    if got != size or writer.sha.hexdigest() != device_sha:
        raise VerifyError(
            f"the pulled copy of {remote} differs from the device's ({got} of {size} bytes, "
            f"SHA-256 {'matches' if writer.sha.hexdigest() == device_sha else 'differs'}); "
            f"it stays on the device and {part} is incomplete: run the pull again")
    if writer.checker is None:
        _keep(part, local, whole_length=None)
        return PulledFile(path=local, size=size, sha256=device_sha, trimmed_bytes=0, records=0,
                          local_sha256=device_sha)
    try:
        if writer.format_error is not None:
            raise writer.format_error
        verdict = writer.checker.finish()
    except CaptureFormatError as err:
        raise DeviceError(f"{remote} is not a capture droidcap can keep ({err}); the bytes "
                          f"pulled are in {part}, and it stays on the device") from None
    trimmed = _keep(part, local, whole_length=None if verdict.is_whole else verdict.whole_length)
    return PulledFile(path=local, size=size, sha256=device_sha, trimmed_bytes=verdict.partial_bytes,
                      records=verdict.records, local_sha256=trimmed or device_sha)


def adopt_verified(part: Path, local: Path, *, size: int, device_sha: str) -> PulledFile | None:
    """Keep an already transferred copy (``record --live`` streamed it) if it matches the device's
    file exactly; None when it does not, and the caller pulls again."""
    sha = hashlib.sha256()
    checker = WholenessChecker()
    got = 0
    with open(part, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
            checker.feed(block)
            got += len(block)
    if got != size or sha.hexdigest() != device_sha:
        return None
    verdict = checker.finish()
    trimmed = _keep(part, local, whole_length=None if verdict.is_whole else verdict.whole_length)
    return PulledFile(path=local, size=size, sha256=device_sha, trimmed_bytes=verdict.partial_bytes,
                      records=verdict.records, local_sha256=trimmed or device_sha)


__all__ = ["PulledFile", "adopt_verified", "pull_timeout", "pull_verified"]
