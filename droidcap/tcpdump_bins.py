"""droidcap's own static tcpdump binaries: which one a phone needs, where it is, whether it is intact.

The binaries under ``tcpdump_bins/`` are built by ``tcpdump_bins/build.sh`` (reproducibly, from
Debian's libpcap and tcpdump sources, see docs/tcpdump-binaries.md) and committed with a
``SHA256SUMS`` file.  Before droidcap pushes one to a phone it checks it against that file, so a
truncated checkout or a locally modified binary is refused instead of failing obscurely on the device.

Standard library only: device code uses this module, and it must not pull anything heavier in.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from droidcap.errors import DeviceError

__all__ = ["ABIS", "ENV_VAR", "binary_path", "bins_dir", "expected_sha256", "pick_abi", "verify"]

# The Android ABIs we ship a tcpdump for, in the names Android itself uses (ro.product.cpu.abilist).
ABIS: tuple[str, ...] = ("arm64-v8a", "armeabi-v7a", "x86", "x86_64")

# Points droidcap at another tcpdump_bins directory (an installed copy, or a rebuild to try out).
ENV_VAR = "DROIDCAP_TCPDUMP_BINS"

_SUMS = "SHA256SUMS"


def bins_dir() -> Path:
    """The directory holding ``<abi>/tcpdump`` and ``SHA256SUMS``.

    ``$DROIDCAP_TCPDUMP_BINS`` wins when set, so a fresh rebuild can be tried without touching
    the install; otherwise the copy inside the package (a wheel ships it as package data; in a
    checkout ``droidcap/data/tcpdump_bins`` links to the top-level ``tcpdump_bins/``).
    """
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "data" / "tcpdump_bins"
    if (packaged / _SUMS).is_file():  # an installed wheel (in a checkout: a link to the source)
        return packaged
    return Path(__file__).resolve().parents[1] / "tcpdump_bins"


def pick_abi(abilist: str) -> str:
    """The ABI to push, from ``getprop ro.product.cpu.abilist`` output.

    Android lists the ABIs a device runs in order of preference (``arm64-v8a,armeabi-v7a,armeabi``):
    the first one we ship is the one the device runs natively, or the best it can run (a 64-bit
    phone that lists ``armeabi-v7a`` second runs the 32-bit binary in compat mode).  Raises
    :class:`DeviceError` when the device lists nothing we build for (e.g. only ``armeabi``, or an
    empty answer from a broken ``getprop``).
    """
    offered = [abi.strip() for abi in abilist.strip().split(",") if abi.strip()]
    for abi in offered:
        if abi in ABIS:
            return abi
    shown = " ".join(",".join(offered).split()) or "(empty)"  # one line, whatever getprop said
    raise DeviceError(
        f"no droidcap tcpdump for this device: ro.product.cpu.abilist is {shown}, droidcap ships {', '.join(ABIS)}"
    )


def binary_path(abi: str) -> Path:
    """Where the tcpdump for ``abi`` lives (it may not exist; :func:`verify` checks that)."""
    if abi not in ABIS:
        raise DeviceError(f"unknown Android ABI {abi!r}: droidcap ships {', '.join(ABIS)}")
    return bins_dir() / abi / "tcpdump"


def expected_sha256(abi: str) -> str:
    """The SHA-256 that ``SHA256SUMS`` records for ``abi``'s binary (lower-case hex)."""
    binary_path(abi)  # refuses an unknown ABI before the file is read
    sums = bins_dir() / _SUMS
    try:
        text = sums.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceError(f"cannot read {sums}: {exc}; rebuild with tcpdump_bins/build.sh") from exc
    wanted = f"{abi}/tcpdump"
    for line in text.splitlines():
        # sha256sum's format: "<64 hex>  <path>" (two spaces, or " *" for binary mode).
        digest, _, name = line.partition(" ")
        if name.lstrip(" *") == wanted and len(digest) == 64:
            return digest.lower()
    raise DeviceError(f"{sums} has no entry for {wanted}; the tcpdump_bins directory is incomplete")


def verify(abi: str) -> str:
    """Check ``abi``'s binary against ``SHA256SUMS`` and return its SHA-256.

    Done before every push: a binary that does not match what build.sh produced (truncated
    checkout, Git LFS pointer, local edit) is never run on a phone as root.  Raises
    :class:`DeviceError` when the binary or its entry is missing, or the digest differs.
    """
    expected = expected_sha256(abi)
    path = binary_path(abi)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DeviceError(f"cannot read the {abi} tcpdump at {path}: {exc}") from exc
    actual = digest.hexdigest()
    if actual != expected:
        raise DeviceError(
            f"{path} has SHA-256 {actual}, SHA256SUMS says {expected}: "
            "restore it from git or rebuild with tcpdump_bins/build.sh"
        )
    return actual
