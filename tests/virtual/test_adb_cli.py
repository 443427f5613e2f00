"""The real adb CLI (Debian's adb 29 and adbutils' adb 36) against virtual devices."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.pytest_plugin import AdbServer
from tests.virtual.conftest import BOTH_ADBS

Factory = Callable[..., VirtualDevice]


@BOTH_ADBS
def test_devices_l_lists_the_profile(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device("magisk")
    out = adb_server.run("devices", "-l").stdout.decode()
    line = next(line for line in out.splitlines() if line.startswith(dev.serial))
    assert line.split()[1] == "device"
    assert "product:panther" in line and "model:Pixel_7" in line and "device:panther" in line


@BOTH_ADBS
def test_shell_exit_code_and_separate_stderr(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    res = adb_server.run("shell", "echo out; echo err >&2; exit 42", serial=dev.serial)
    assert (res.returncode, res.stdout, res.stderr) == (42, b"out\n", b"err\n")
    res = adb_server.run("shell", "no_such_tool", serial=dev.serial)
    assert res.returncode == 127
    assert res.stderr == b"/system/bin/sh: no_such_tool: inaccessible or not found\n"


@BOTH_ADBS
def test_shell_stdin_reaches_the_command(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    res = adb_server.run("shell", "sha256sum", serial=dev.serial, input=b"abc" * 1000)
    assert res.returncode == 0
    assert res.stdout.split()[0].decode() == hashlib.sha256(b"abc" * 1000).hexdigest()


@BOTH_ADBS
def test_exec_out_is_binary_safe(adb_server: AdbServer, virtual_device: Factory, tmp_path: Path) -> None:
    dev = virtual_device()
    blob = bytes(range(256)) * 4096 + os.urandom(300_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    assert adb_server.run("push", str(src), "/data/local/tmp/blob.bin", serial=dev.serial).returncode == 0
    res = adb_server.run("exec-out", "cat /data/local/tmp/blob.bin", serial=dev.serial)
    assert res.returncode == 0 and res.stdout == blob
    # exec-out is raw: \n is not turned into \r\n and stderr is mixed into stdout, as on adbd.
    res = adb_server.run("exec-out", "printf 'a\\nb'; echo E >&2", serial=dev.serial)
    assert res.stdout == b"a\nbE\n"


@BOTH_ADBS
def test_missing_paths_give_adbs_real_errors(adb_server: AdbServer, virtual_device: Factory,
                                             tmp_path: Path) -> None:
    dev = virtual_device()
    res = adb_server.run("pull", "/data/local/tmp/missing.pcap", str(tmp_path / "x"), serial=dev.serial)
    assert res.returncode == 1
    assert (b"adb: error: failed to stat remote object '/data/local/tmp/missing.pcap': "
            b"No such file or directory") in res.stdout + res.stderr
    assert not (tmp_path / "x").exists()
    res = adb_server.run("shell", "ls /data/local/tmp/missing.pcap", serial=dev.serial)
    assert res.returncode != 0 and b"No such file or directory" in res.stderr
    res = adb_server.run("push", str(Path(__file__)), "/system/bin/x.py", serial=dev.serial)
    assert res.returncode == 1 and b"Read-only file system" in res.stdout + res.stderr


@BOTH_ADBS
def test_push_pull_directory(adb_server: AdbServer, virtual_device: Factory, tmp_path: Path) -> None:
    dev = virtual_device()
    src = tmp_path / "caps"
    (src / "sub").mkdir(parents=True)
    files = {"a.pcap": os.urandom(70_000), "sub/b.pcap": os.urandom(5), "sub/empty": b""}
    for name, data in files.items():
        (src / name).write_bytes(data)
    assert adb_server.run("push", str(src), "/sdcard/", serial=dev.serial).returncode == 0
    listing = adb_server.run("shell", "ls -R /sdcard/caps", serial=dev.serial).stdout.decode()
    assert "a.pcap" in listing and "b.pcap" in listing
    dst = tmp_path / "back"
    dst.mkdir()
    res = adb_server.run("pull", "/sdcard/caps", str(dst), serial=dev.serial)
    assert res.returncode == 0, res.stdout + res.stderr
    for name, data in files.items():
        assert (dst / "caps" / name).read_bytes() == data


@BOTH_ADBS
def test_concurrent_streams(adb_server: AdbServer, virtual_device: Factory, tmp_path: Path) -> None:
    dev = virtual_device()
    blob = os.urandom(3_000_000)
    (tmp_path / "b").write_bytes(blob)
    adb_server.run("push", str(tmp_path / "b"), "/data/local/tmp/b", serial=dev.serial)
    results: dict[str, subprocess.CompletedProcess[bytes]] = {}

    def run(key: str, *args: str) -> None:
        results[key] = adb_server.run(*args, serial=dev.serial)

    jobs = [threading.Thread(target=run, args=(f"cat{i}", "exec-out", "cat /data/local/tmp/b"))
            for i in range(3)]
    jobs += [threading.Thread(target=run, args=(f"seq{i}", "shell", f"seq 1 20000; sleep 0.3; exit {i}"))
             for i in range(3)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    for i in range(3):
        assert results[f"cat{i}"].stdout == blob
        seq = results[f"seq{i}"]
        assert seq.returncode == i
        assert seq.stdout == "".join(f"{n}\n" for n in range(1, 20001)).encode()


@BOTH_ADBS
def test_killing_local_adb_shell_kills_remote_command(adb_server: AdbServer,
                                                      virtual_device: Factory) -> None:
    dev = virtual_device()
    local = subprocess.Popen([adb_server.adb, "-P", str(adb_server.port), "-s", dev.serial, "shell",
                              "echo $$; sleep 300 & sleep 301"], stdout=subprocess.PIPE,
                             env=adb_server.env())
    assert local.stdout is not None
    pid = int(local.stdout.readline())
    deadline = time.monotonic() + 10
    while adb_server.run("shell", "ps -A -o PID,NAME | grep -c sleep",
                         serial=dev.serial).stdout.strip() != b"2":
        assert time.monotonic() < deadline, "the remote sleeps did not start"
        time.sleep(0.1)
    local.send_signal(signal.SIGKILL)
    local.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = adb_server.run("shell", "pidof sleep", serial=dev.serial)
        gone = adb_server.run("shell", f"kill -0 {pid}", serial=dev.serial)
        if left.returncode == 1 and gone.returncode != 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"remote shell {pid} or its sleeps survived: {left.stdout!r}")


@BOTH_ADBS
def test_adb_root_restarts_and_reconnects(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device("adb-root")
    assert adb_server.run("shell", "id -u", serial=dev.serial).stdout == b"2000\n"
    res = adb_server.run("root", serial=dev.serial, timeout=30)
    assert res.returncode == 0 and res.stdout == b"restarting adbd as root\n"
    adb_server.run("wait-for-device", serial=dev.serial, timeout=30)
    assert adb_server.run("shell", "id -u; getprop service.adb.root", serial=dev.serial).stdout == b"0\n1\n"
    assert adb_server.run("root", serial=dev.serial).stdout == b"adbd is already running as root\n"
    assert adb_server.run("unroot", serial=dev.serial).stdout == b"restarting adbd as non root\n"
    adb_server.run("wait-for-device", serial=dev.serial, timeout=30)
    assert adb_server.run("shell", "id -u", serial=dev.serial).stdout == b"2000\n"


@BOTH_ADBS
def test_adb_root_refused_on_production_build(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device("stock")
    res = adb_server.run("root", serial=dev.serial)
    assert res.stdout == b"adbd cannot run as root in production builds\n"
    assert adb_server.run("shell", "id -u", serial=dev.serial).stdout == b"2000\n"


@BOTH_ADBS
def test_hangup_kills_root_children_started_through_su(adb_server: AdbServer,
                                                       virtual_device: Factory) -> None:
    dev = virtual_device("magisk")
    local = subprocess.Popen([adb_server.adb, "-P", str(adb_server.port), "-s", dev.serial,
                              "exec-out", "su -c 'echo started; exec sleep 302'"],
                             stdout=subprocess.PIPE, env=adb_server.env())
    assert local.stdout is not None and local.stdout.readline() == b"started\n"
    deadline = time.monotonic() + 10
    while ["root", "sleep"] not in [line.split() for line in adb_server.run(
            "shell", "ps -A -o USER,NAME", serial=dev.serial).stdout.decode().splitlines()]:
        assert time.monotonic() < deadline, "the root sleep did not start"
        time.sleep(0.1)
    local.kill()
    local.wait()
    deadline = time.monotonic() + 10
    while adb_server.run("shell", "pidof sleep", serial=dev.serial).returncode == 0:
        assert time.monotonic() < deadline, "the root child survived the hang-up"
        time.sleep(0.2)


@BOTH_ADBS
def test_pty_shell(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    res = adb_server.run("shell", "-t", "-t", "tty; echo $TERM", serial=dev.serial)
    out = res.stdout.decode().replace("\r\n", "\n").splitlines()
    assert out[0].startswith("/dev/pts/"), res
    assert res.returncode == 0


@BOTH_ADBS
def test_shell_without_command_reads_stdin(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    res = adb_server.run("shell", serial=dev.serial, input=b"id -u\necho $PWD\nexit 3\n")
    assert (res.returncode, res.stdout) == (3, b"2000\n/\n")
