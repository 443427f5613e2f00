"""Boot a real arm64 Linux kernel under qemu-system and capture with droidcap's ARM tcpdumps in it.

qemu-user can run the ARM binaries (``--version``) but not capture: it lacks the SOL_PACKET socket
options and SIOCETHTOOL that libpcap needs.  A real kernel can: Debian's arm64 kernels (4 KiB and
16 KiB pages) and busybox-static, downloaded as .debs with a private apt configuration (no change
to the system's apt, no dpkg --add-architecture), booted with an initramfs whose /init (init.sh
beside this file) runs the captures and prints the pcaps on the serial console.  About 20 s per
boot with TCG, plus the first download (~115 MB, cached under tcpdump_bins/.build/qemu-system/).

Usable from the test (``run_captures``) and by hand, to look at a failing boot::

    .venv/bin/python -m tests.qemu_system.arm64_vm [4k|16k]   # prints the console, then a summary
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Downloads and unpacked packages: gitignored, reused between runs.
CACHE = ROOT / "tcpdump_bins" / ".build" / "qemu-system"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITE = "bookworm"


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelChoice:
    """A Debian arm64 kernel flavour to boot, and a QEMU CPU that can run it."""

    # The metapackage follows Debian's updates; the concrete package (``pattern`` finds it in
    # `apt-cache depends`) is resolved from it, so the test outlives any one kernel ABI.
    metapackage: str
    pattern: str
    cpu: str


KERNELS: dict[str, KernelChoice] = {
    # 4 KiB pages: what most phones run.
    "4k": KernelChoice(
        metapackage="linux-image-cloud-arm64", pattern=r"Depends: (linux-image-\S+-cloud-arm64)$", cpu="cortex-a57"
    ),
    # 16 KiB pages, as on Android 15+ devices built for them (the reason for max-page-size=16384).
    # QEMU's cortex-a57 has no 16 KiB translation granule; its cortex-a76 has, and AArch32 at EL0.
    "16k": KernelChoice(
        metapackage="linux-image-6.12-arm64-16k", pattern=r"Depends: (linux-image-\S+-arm64-16k)$", cpu="cortex-a76"
    ),
}
APT_HOST_NEEDS = ("qemu-system-arm", "apt", "dpkg")
ABIS_IN_VM = ("arm64-v8a", "armeabi-v7a")
MARK = "@@droidcap"


@dataclass(frozen=True, slots=True, kw_only=True)
class Guest:
    """The unpacked guest pieces: kernel image and the static busybox that is the whole userland."""

    kernel: Path
    busybox: Path
    kernel_package: str
    cpu: str


@dataclass(slots=True, kw_only=True)
class Capture:
    """One capture made in the VM, as reported on the console."""

    name: str
    rc: int | None = None
    stderr: list[str] = field(default_factory=list)
    pcap: bytes = b""


@dataclass(slots=True, kw_only=True)
class VmRun:
    """Everything one boot reported."""

    console: str
    kernel: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    captures: dict[str, Capture] = field(default_factory=dict)
    done: bool = False


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    """apt-get/apt-cache with a private arm64-only configuration under CACHE/apt."""
    d = CACHE / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    sources = d / "sources.list"
    sources.write_text(
        f"deb [arch=arm64 signed-by={KEYRING}] http://deb.debian.org/debian {SUITE} main\n"
        f"deb [arch=arm64 signed-by={KEYRING}] http://deb.debian.org/debian-security {SUITE}-security main\n"
    )
    opts = [
        f"-oDir::Etc::SourceList={sources}",
        f"-oDir::Etc::SourceParts={d / 'parts'}",
        f"-oDir::State::Lists={d / 'lists'}",
        f"-oDir::Cache={d / 'cache'}",
        "-oDir::State::status=/dev/null",
        "-oDebug::NoLocking=1",
        "-oAPT::Architecture=arm64",
        "-oAPT::Architectures=arm64",
        "-oAPT::Sandbox::User=root",
    ]
    tool, *rest = args
    return subprocess.run([tool, *opts, *rest], capture_output=True, text=True, check=True, cwd=CACHE / "debs")


def ensure_host_tools() -> None:
    """Install qemu-system-arm when missing (we run as root in CI; the caller checks that)."""
    if shutil.which("qemu-system-aarch64"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_HOST_NEEDS],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def fetch_guest(flavour: str = "4k") -> Guest:
    """Download (once) and unpack a Debian arm64 kernel (see KERNELS) and busybox-static."""
    choice = KERNELS[flavour]
    (CACHE / "debs").mkdir(parents=True, exist_ok=True)
    lists = CACHE / "apt" / "lists"
    # Refresh the package lists at most daily: a fresh kernel ABI appears with security updates.
    stale = not any(lists.glob("*_Packages*")) or time.time() - lists.stat().st_mtime > 86400
    if stale:
        _apt("apt-get", "-q", "update")
        os.utime(lists)
    depends = _apt("apt-cache", "depends", choice.metapackage).stdout
    found = re.search(choice.pattern, depends, re.MULTILINE)
    if not found:
        raise RuntimeError(f"cannot resolve {choice.metapackage}: {depends!r}")
    kernel_package = found.group(1)
    for package in (kernel_package, "busybox-static"):
        unpacked = CACHE / f"root-{package}"
        if unpacked.is_dir():
            continue
        for old in (CACHE / "debs").glob(f"{package}_*.deb"):
            old.unlink()
        _apt("apt-get", "-q", "download", package)
        (deb,) = (CACHE / "debs").glob(f"{package}_*.deb")
        tmp = CACHE / f"tmp-{package}"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(unpacked)
    kernels = sorted((CACHE / f"root-{kernel_package}" / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise RuntimeError(f"expected one vmlinuz in {kernel_package}, found {kernels}")
    busybox = CACHE / "root-busybox-static" / "bin" / "busybox"
    return Guest(kernel=kernels[0], busybox=busybox, kernel_package=kernel_package, cpu=choice.cpu)


def _newc(name: str, mode: int, data: bytes = b"", ino: int = 0, rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One entry of a cpio "newc" archive, the format the kernel unpacks an initramfs from."""
    raw_name = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(raw_name), 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + raw_name
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def build_initramfs(guest: Guest, bins_dir: Path, out: Path) -> Path:
    """A gzip'd newc initramfs: /init, busybox, our two ARM tcpdumps and /dev/console."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = []
    for d in ("bin", "dev", "proc", "sys", "tmp", "bins", *(f"bins/{abi}" for abi in ABIS_IN_VM)):
        entries.append((d, 0o040755, b"", (0, 0)))
    # The kernel opens /dev/console for init before anything can mount devtmpfs.
    entries.append(("dev/console", 0o020600, b"", (5, 1)))
    entries.append(("init", 0o100755, (HERE / "init.sh").read_bytes(), (0, 0)))
    entries.append(("bin/busybox", 0o100755, guest.busybox.read_bytes(), (0, 0)))
    entries.append(("bin/sh", 0o120777, b"busybox", (0, 0)))  # for init's #!/bin/sh
    for abi in ABIS_IN_VM:
        entries.append((f"bins/{abi}/tcpdump", 0o100755, (bins_dir / abi / "tcpdump").read_bytes(), (0, 0)))
    archive = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        archive.write(_newc(name, mode, data, ino, rdev))
    archive.write(_newc("TRAILER!!!", 0))
    out.write_bytes(gzip.compress(archive.getvalue(), mtime=0))
    return out


def boot(guest: Guest, initrd: Path, timeout: float = 600) -> str:
    """Boot the VM to completion (init powers it off) and return the serial console text."""
    cmd = [
        "qemu-system-aarch64", "-M", "virt", "-cpu", guest.cpu, "-smp", "1", "-m", "512",
        "-nographic", "-no-reboot", "-nic", "none", "-kernel", str(guest.kernel), "-initrd", str(initrd),
        "-append", "console=ttyAMA0 panic=-1 loglevel=4",
    ]  # fmt: skip
    proc = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    console = proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    if proc.returncode != 0:
        raise RuntimeError(f"qemu exited {proc.returncode}: {proc.stderr.decode(errors='replace')}\n{console}")
    return console


def parse_console(console: str) -> VmRun:
    """Pick init.sh's marker lines and base64 pcaps out of the console (kernel messages may interleave)."""
    run = VmRun(console=console)
    current: Capture | None = None
    chunks: list[str] = []
    for line in console.splitlines():
        line = line.strip()
        if current is not None and not line.startswith(MARK):
            if re.fullmatch(r"[A-Za-z0-9+/=]+", line):
                chunks.append(line)
            continue
        if not line.startswith(MARK + " "):
            continue
        kind, _, rest = line[len(MARK) + 1 :].partition(" ")
        if kind == "kernel":
            run.kernel = rest
        elif kind == "version":
            abi, _, text = rest.partition(" ")
            run.versions[abi] = text
        elif kind == "rc":
            name, _, rc = rest.partition(" ")
            run.captures.setdefault(name, Capture(name=name)).rc = int(rc)
        elif kind == "stderr":
            name, _, text = rest.partition(" ")
            run.captures.setdefault(name, Capture(name=name)).stderr.append(text)
        elif kind == "begin":
            current = run.captures.setdefault(rest, Capture(name=rest))
            chunks = []
        elif kind == "end" and current is not None:
            current.pcap = base64.b64decode("".join(chunks))
            current = None
        elif kind == "done":
            run.done = True
    return run


def run_captures(bins_dir: Path, workdir: Path, flavour: str = "4k") -> VmRun:
    """Fetch, build, boot, parse: the whole opt-in experiment, on one kernel flavour."""
    ensure_host_tools()
    guest = fetch_guest(flavour)
    initrd = build_initramfs(guest, bins_dir, workdir / "initramfs.cpio.gz")
    return parse_console(boot(guest, initrd))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = run_captures(ROOT / "tcpdump_bins", Path(tmp), sys.argv[1] if len(sys.argv) > 1 else "4k")
    sys.stdout.write(result.console)
    print(f"\nkernel: {result.kernel}  done: {result.done}")
    for cap in result.captures.values():
        print(f"{cap.name}: rc={cap.rc} pcap={len(cap.pcap)} bytes stderr={cap.stderr}")
