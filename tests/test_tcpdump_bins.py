"""droidcap's static tcpdump binaries (tcpdump_bins/) and droidcap.tcpdump_bins.

What is proven here, on the committed bytes:
- they are the ones SHA256SUMS names, and droidcap.tcpdump_bins refuses anything else;
- each is a static ELF for its ABI's machine and class, with no program interpreter, and loadable on
  16 KiB-page devices; the armeabi-v7a one targets the ABI floor (VFPv3-D16, no NEON);
- every one runs (``--version``) under qemu-user, the armv7 one on a CPU that has no NEON;
- the x86 and x86_64 ones capture live on loopback as root with no /etc at all (no passwd, no
  services): to a file (SIGINT flushes), to stdout with ``-w -``, and on ``-i any`` (LINUX_SLL2);
- (opt-in, ``-m qemu_system``) the arm64 and armv7 ones capture on a real arm64 kernel.
The pcaps are read back with Debian's tcpdump, droidcap's capture reader and a parser here.

The rebuild check (same bytes from source) is ``tcpdump_bins/build.sh --check``: minutes, not run here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from droidcap import tcpdump_bins
from droidcap.errors import DeviceError

BINS = Path(__file__).resolve().parents[1] / "tcpdump_bins"

# ABI -> (EI_CLASS, e_machine, qemu-user command).  ELFCLASS32 = 1, ELFCLASS64 = 2; EM_386 = 3,
# EM_ARM = 40, EM_X86_64 = 62, EM_AARCH64 = 183.  The qemu CPUs are the ABI floors: cortex-r5f is
# ARMv7 with VFPv3-D16 and no NEON (a NEON or D16-D31 instruction would trap), pentium2 an i686
# without SSE.
ELF_FACTS: dict[str, tuple[int, int, list[str]]] = {
    "arm64-v8a": (2, 183, ["qemu-aarch64-static", "-cpu", "cortex-a53"]),
    "armeabi-v7a": (1, 40, ["qemu-arm-static", "-cpu", "cortex-r5f"]),
    "x86": (1, 3, ["qemu-i386-static", "-cpu", "pentium2"]),
    "x86_64": (2, 62, ["qemu-x86_64-static", "-cpu", "qemu64"]),
}
PAGE_16K = 16384
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
ET_EXEC = 2
LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2 = 1, 276


def buildinfo() -> dict[str, str]:
    """The global key=value lines of BUILDINFO (before the first [abi] section)."""
    facts: dict[str, str] = {}
    for line in (BINS / "BUILDINFO").read_text().splitlines():
        if line.startswith("["):
            break
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            facts[key] = value
    return facts


def versions() -> tuple[str, str]:
    """(tcpdump, libpcap) upstream versions the binaries were built from, per BUILDINFO."""
    info = buildinfo()
    tcpdump = re.search(r"tcpdump_([\d.]+)\.orig", info["tcpdump_orig"])
    libpcap = re.search(r"libpcap_([\d.]+)\.orig", info["libpcap_orig"])
    assert tcpdump and libpcap
    return tcpdump.group(1), libpcap.group(1)


# --- provenance: SHA256SUMS, verify(), pick_abi() ------------------------------------------------


def test_sha256sums_lists_exactly_the_committed_binaries() -> None:
    lines = (BINS / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == {f"{abi}/tcpdump" for abi in tcpdump_bins.ABIS}
    for name, digest in listed.items():
        assert hashlib.sha256((BINS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("abi", tcpdump_bins.ABIS)
def test_verify_accepts_the_committed_binary(abi: str) -> None:
    # in a checkout the packaged directory is a link to the top-level tcpdump_bins/
    assert tcpdump_bins.binary_path(abi).resolve() == (BINS / abi / "tcpdump").resolve()
    assert tcpdump_bins.verify(abi) == hashlib.sha256((BINS / abi / "tcpdump").read_bytes()).hexdigest()


def test_buildinfo_records_each_binary_hash() -> None:
    text = (BINS / "BUILDINFO").read_text()
    for abi in tcpdump_bins.ABIS:
        section = text.split(f"[{abi}]", 1)[1].split("\n[", 1)[0]
        assert f"sha256={tcpdump_bins.verify(abi)}" in section
    info = buildinfo()
    assert info["debian_patches"].startswith("none")
    assert re.fullmatch(r"[\d.]+", info["zig_version"])


def test_licences_travel_with_the_binaries() -> None:
    names = {p.name for p in (BINS / "LICENSES").iterdir()}
    assert names == {
        "libpcap-LICENSE", "libpcap-debian-copyright", "tcpdump-LICENSE", "tcpdump-debian-copyright",
        "musl-COPYRIGHT", "zig-LICENSE",
    }  # fmt: skip
    assert "Redistribution and use in source and binary forms" in (BINS / "LICENSES" / "tcpdump-LICENSE").read_text()
    assert "Permission is hereby granted" in (BINS / "LICENSES" / "musl-COPYRIGHT").read_text()


@pytest.fixture
def bins_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of tcpdump_bins/ that droidcap uses through $DROIDCAP_TCPDUMP_BINS."""
    copy = tmp_path / "bins"
    copy.mkdir()
    shutil.copy2(BINS / "SHA256SUMS", copy / "SHA256SUMS")
    for abi in tcpdump_bins.ABIS:
        (copy / abi).mkdir()
        shutil.copy2(BINS / abi / "tcpdump", copy / abi / "tcpdump")
    monkeypatch.setenv(tcpdump_bins.ENV_VAR, str(copy))
    return copy


def test_env_var_moves_the_bins_dir(bins_copy: Path) -> None:
    assert tcpdump_bins.bins_dir() == bins_copy
    assert tcpdump_bins.binary_path("x86") == bins_copy / "x86" / "tcpdump"
    assert tcpdump_bins.verify("x86") == tcpdump_bins.expected_sha256("x86")


def test_verify_refuses_a_modified_binary(bins_copy: Path) -> None:
    path = bins_copy / "arm64-v8a" / "tcpdump"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DeviceError, match="SHA256SUMS says") as err:
        tcpdump_bins.verify("arm64-v8a")
    assert "\n" not in str(err.value)
    assert tcpdump_bins.verify("armeabi-v7a")  # the others are untouched


def test_verify_refuses_a_missing_binary_or_entry(bins_copy: Path) -> None:
    (bins_copy / "x86" / "tcpdump").unlink()
    with pytest.raises(DeviceError, match="cannot read the x86 tcpdump"):
        tcpdump_bins.verify("x86")
    sums = bins_copy / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "x86_64/" not in line))
    with pytest.raises(DeviceError, match="no entry for x86_64/tcpdump"):
        tcpdump_bins.verify("x86_64")
    sums.unlink()
    with pytest.raises(DeviceError, match="cannot read"):
        tcpdump_bins.verify("arm64-v8a")


@pytest.mark.parametrize(
    ("abilist", "abi"),
    [
        ("arm64-v8a,armeabi-v7a,armeabi", "arm64-v8a"),  # a typical 64-bit phone
        ("arm64-v8a", "arm64-v8a"),  # 64-bit only (Pixel 7 and later)
        ("armeabi-v7a,armeabi", "armeabi-v7a"),  # a 32-bit phone
        ("x86_64,x86,arm64-v8a,armeabi-v7a,armeabi", "x86_64"),  # emulator with ARM translation
        ("x86,armeabi-v7a,armeabi", "x86"),
        ("armeabi,armeabi-v7a", "armeabi-v7a"),  # the first one we *ship* wins
        (" arm64-v8a , armeabi-v7a\r\n", "arm64-v8a"),  # getprop output as adb returns it
    ],
)
def test_pick_abi_takes_the_first_shipped_entry(abilist: str, abi: str) -> None:
    assert tcpdump_bins.pick_abi(abilist) == abi


@pytest.mark.parametrize("abilist", ["armeabi", "", "  \n", "mips,riscv64", "armeabi\nmips\r\n"])
def test_pick_abi_refuses_devices_we_do_not_ship_for(abilist: str) -> None:
    with pytest.raises(DeviceError, match="no droidcap tcpdump for this device") as err:
        tcpdump_bins.pick_abi(abilist)
    assert "\n" not in str(err.value)


def test_binary_path_refuses_unknown_abis() -> None:
    with pytest.raises(DeviceError, match="unknown Android ABI"):
        tcpdump_bins.binary_path("mips")


# --- the ELF files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Elf:
    ei_class: int
    ei_data: int
    e_type: int
    e_machine: int
    e_flags: int
    phdrs: list[tuple[int, int, int, int]]  # (p_type, p_offset, p_vaddr, p_align)


def parse_elf(data: bytes) -> Elf:
    """ELF header and program headers, little-endian only (all four ABIs are)."""
    assert data[:4] == b"\x7fELF"
    ei_class, ei_data = data[4], data[5]
    assert ei_data == 1, "big-endian"
    if ei_class == 1:
        e_type, e_machine, _, _, e_phoff, _, e_flags, _, e_phentsize, e_phnum = struct.unpack_from(
            "<HHIIIIIHHH", data, 16
        )
        fmt = "<IIIIIIII"
        phdrs = []
        for i in range(e_phnum):
            p_type, p_offset, p_vaddr, _, _, _, _, p_align = struct.unpack_from(fmt, data, e_phoff + i * e_phentsize)
            phdrs.append((p_type, p_offset, p_vaddr, p_align))
    else:
        e_type, e_machine, _, _, e_phoff, _, e_flags, _, e_phentsize, e_phnum = struct.unpack_from(
            "<HHIQQQIHHH", data, 16
        )
        phdrs = []
        for i in range(e_phnum):
            p_type, _, p_offset, p_vaddr, _, _, _, p_align = struct.unpack_from(
                "<IIQQQQQQ", data, e_phoff + i * e_phentsize
            )
            phdrs.append((p_type, p_offset, p_vaddr, p_align))
    return Elf(ei_class, ei_data, e_type, e_machine, e_flags, phdrs)


@pytest.mark.parametrize("abi", tcpdump_bins.ABIS)
def test_elf_matches_its_abi_and_is_static(abi: str) -> None:
    elf = parse_elf((BINS / abi / "tcpdump").read_bytes())
    ei_class, e_machine, _ = ELF_FACTS[abi]
    assert (elf.ei_class, elf.e_machine) == (ei_class, e_machine)
    assert elf.e_type == ET_EXEC  # static, not PIE: the kernel maps it, no loader involved
    types = [p[0] for p in elf.phdrs]
    assert PT_INTERP not in types, "needs a dynamic loader"
    assert PT_DYNAMIC not in types, "has dynamic linking info"
    if abi == "armeabi-v7a":
        assert elf.e_flags & 0xFF000000 == 0x05000000  # EABI version 5
        assert elf.e_flags & 0x400  # EF_ARM_ABI_FLOAT_HARD (fine: static, nothing to interoperate with)


@pytest.mark.parametrize("abi", tcpdump_bins.ABIS)
def test_loads_on_16k_page_devices(abi: str) -> None:
    """Android 15+ devices may use 16 KiB pages: every PT_LOAD must be aligned for them."""
    loads = [p for p in parse_elf((BINS / abi / "tcpdump").read_bytes()).phdrs if p[0] == PT_LOAD]
    assert loads
    for _, offset, vaddr, align in loads:
        assert align >= PAGE_16K
        assert (vaddr - offset) % PAGE_16K == 0


def test_armv7_targets_the_abi_floor() -> None:
    """armeabi-v7a guarantees ARMv7-A, Thumb-2 and VFPv3-D16 only: no NEON, no D16-D31."""
    attrs = subprocess.run(
        ["readelf", "-A", str(BINS / "armeabi-v7a" / "tcpdump")], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"Tag_CPU_arch: v7\n", attrs)
    assert "Tag_CPU_arch_profile: Application" in attrs
    assert "Tag_THUMB_ISA_use: Thumb-2" in attrs
    assert re.search(r"Tag_FP_arch: VFPv3-D16\n", attrs)
    assert "Tag_Advanced_SIMD_arch" not in attrs  # would name NEON


@pytest.mark.parametrize("abi", tcpdump_bins.ABIS)
def test_version_runs_under_qemu_user(abi: str) -> None:
    _, _, qemu = ELF_FACTS[abi]
    tcpdump, libpcap = versions()
    out = subprocess.run(
        [*qemu, str(BINS / abi / "tcpdump"), "--version"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [f"tcpdump version {tcpdump}", f"libpcap version {libpcap} (with TPACKET_V3)"]


# --- pcaps --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pcap:
    linktype: int
    snaplen: int
    records: list[bytes]


def parse_pcap(data: bytes) -> Pcap:
    """A whole classic pcap file (microsecond, little-endian, as tcpdump writes on these CPUs);
    asserts that it ends exactly at a record boundary — a complete file."""
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B2C3D4 and (major, minor) == (2, 4), data[:24].hex()
    records, pos = [], 24
    while pos < len(data):
        assert pos + 16 <= len(data), "truncated record header"
        _, _, incl, orig = struct.unpack_from("<IIII", data, pos)
        assert incl <= orig and pos + 16 + incl <= len(data), "truncated record"
        records.append(data[pos + 16 : pos + 16 + incl])
        pos += 16 + incl
    return Pcap(linktype, snaplen, records)


def tcp_segments(pcap: Pcap) -> Iterator[tuple[int, int, bytes]]:
    """(source port, destination port, payload) of each IPv4 TCP record."""
    for rec in pcap.records:
        if pcap.linktype == LINKTYPE_ETHERNET:
            ethertype, ip = struct.unpack_from(">H", rec, 12)[0], rec[14:]
        elif pcap.linktype == LINKTYPE_LINUX_SLL2:
            ethertype, ip = struct.unpack_from(">H", rec, 0)[0], rec[20:]
        else:
            raise AssertionError(f"unexpected link type {pcap.linktype}")
        if ethertype != 0x0800 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from(">H", ip, 2)[0]
        tcp = ip[ihl:total]
        sport, dport = struct.unpack_from(">HH", tcp, 0)
        yield sport, dport, tcp[(tcp[12] >> 4) * 4 :]


def check_pcap(data: bytes, path: Path, linktype: int, port: int, marker: bytes) -> Pcap:
    """The capture is complete, of the expected link type, and holds the traffic we generated —
    read by this module, by Debian's tcpdump and by droidcap's own capture reader."""
    pcap = parse_pcap(data)
    assert pcap.linktype == linktype
    segments = list(tcp_segments(pcap))
    assert len(segments) == len(pcap.records)  # the filter let nothing else through
    assert all(port in (s, d) for s, d, _ in segments)
    assert any(d == port for s, d, _ in segments) and any(s == port for s, d, _ in segments)
    assert marker in b"".join(p for _, d, p in segments if d == port)

    path.write_bytes(data)
    read = subprocess.run(["tcpdump", "-n", "-r", str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert len(read.stdout.splitlines()) == len(pcap.records)
    assert f"127.0.0.1.{port}" in read.stdout

    from droidcap.capture.events import Record
    from droidcap.capture.reader import CaptureReader

    reader = CaptureReader()
    reader.receive_data(data)
    reader.receive_eof()
    events = list(reader.events())
    records = [e for e in events if isinstance(e, Record)]
    assert len(records) == len(events) == len(pcap.records)
    assert [r.data for r in records] == pcap.records
    assert {r.linktype for r in records} == {linktype}
    return pcap


# --- live captures, natively (x86, x86_64) ------------------------------------------------------


class EchoServer:
    """A TCP echo server on 127.0.0.1 (ephemeral port) in a thread: traffic we know the bytes of."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    def exchange(self, payload: bytes, times: int = 3) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            for _ in range(times):
                c.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    got += c.recv(65536)
                assert got == payload

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("live capture needs root (CAP_NET_RAW) and a private mount namespace")


NATIVE_MODES = {
    # mode: (interface, write to, extra flags, link type)
    "file": ("lo", "file", [], LINKTYPE_ETHERNET),  # no -U: SIGINT must flush the stdio buffer
    "stdout": ("lo", "-", ["-U"], LINKTYPE_ETHERNET),  # -w - : what `adb exec-out` streams
    "any": ("any", "file", ["-U"], LINKTYPE_LINUX_SLL2),
}


@pytest.mark.parametrize("mode", NATIVE_MODES)
@pytest.mark.parametrize("abi", ["x86_64", "x86"])
def test_live_capture_natively_as_root_without_etc(abi: str, mode: str, echo: EchoServer, tmp_path: Path) -> None:
    """As droidcap runs it on a phone: root, -n, no -Z, SIGINT to stop — and with an empty /etc
    (a tmpfs mounted over it in a private mount namespace), so any /etc/passwd or /etc/services
    lookup would show."""
    needs_root()
    iface, target, flags, linktype = NATIVE_MODES[mode]
    out_file = tmp_path / f"{abi}-{mode}.pcap"
    write_to = str(out_file) if target == "file" else "-"
    binary = BINS / abi / "tcpdump"
    # unshare(1) without --fork and sh's exec keep one PID: the signal goes to tcpdump itself.
    script = 'mount -t tmpfs etc /etc && exec "$@"'
    argv = ["unshare", "--mount", "sh", "-c", script, "sh", str(binary), "-n", "-i", iface, *flags,
            "-w", write_to, f"tcp port {echo.port}"]  # fmt: skip
    stdout = (tmp_path / "stdout").open("wb")
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    try:
        assert proc.stderr is not None
        said = ""  # "-i any" first notes "data link type LINUX_SLL2"; then "listening on"
        while "listening on" not in said and (line := proc.stderr.readline().decode()):
            said += line
        assert "listening on" in said, said
        marker = f"droidcap-{abi}-{mode}-".encode() * 20
        echo.exchange(marker)
        time.sleep(1.3)  # TPACKET_V3 hands a ring block to tcpdump after its 1 s timeout
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
        rest = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
        stdout.close()
    assert rc == 0, rest
    assert "Couldn't find user" not in rest
    counted = re.search(r"(\d+) packets? captured", rest)
    assert counted, rest
    data = out_file.read_bytes() if target == "file" else (tmp_path / "stdout").read_bytes()
    pcap = check_pcap(data, tmp_path / "check.pcap", linktype, echo.port, marker)
    # SIGINT flushed everything tcpdump says it captured: 3-way handshake + 3 x (data, echo) + close.
    assert len(pcap.records) == int(counted.group(1)) >= 10


# --- live captures on a real arm64 kernel (opt-in) ----------------------------------------------


@pytest.mark.qemu_system
@pytest.mark.timeout(900)
@pytest.mark.parametrize("pages", ["4k", "16k"])
def test_live_capture_on_arm64_kernel(pages: str, tmp_path: Path) -> None:
    """arm64-v8a natively and armeabi-v7a in AArch32 compat mode, on Debian's arm64 kernels booted
    with qemu-system-aarch64 (TCG), with 4 KiB and with 16 KiB pages: file capture with SIGINT
    flush, and -w - on -i any.  The VM has no /etc at all."""
    if os.geteuid() != 0:
        pytest.skip("needs root: installs qemu-system-arm if missing")
    from tests.qemu_system import arm64_vm

    run = arm64_vm.run_captures(BINS, tmp_path, pages)
    assert run.done, run.console[-3000:]
    assert run.kernel.endswith("aarch64"), run.kernel
    assert ("-arm64-16k " in run.kernel) == (pages == "16k"), run.kernel
    tcpdump, _ = versions()
    for abi in arm64_vm.ABIS_IN_VM:
        assert run.versions[abi] == f"tcpdump version {tcpdump}"
        for mode, linktype in (("file", LINKTYPE_ETHERNET), ("stdout", LINKTYPE_LINUX_SLL2)):
            name = f"{abi}-{mode}"
            cap = run.captures[name]
            assert cap.rc == 0, (name, cap.stderr)
            assert not any("Couldn't find user" in line for line in cap.stderr)
            counted = [int(m.group(1)) for line in cap.stderr if (m := re.match(r"(\d+) packets? captured", line))]
            pcap = check_pcap(
                cap.pcap, tmp_path / f"{name}.pcap", linktype, 5555, f"droidcap-qemu-{name}-payload".encode()
            )
            assert counted == [len(pcap.records)] and len(pcap.records) >= 5, (name, cap.stderr)
