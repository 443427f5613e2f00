"""Big transfers and adbutils (the library droidcap uses) against a virtual device."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import pytest

from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.pytest_plugin import AdbServer
from tests.virtual.conftest import BOTH_ADBS

Factory = Callable[..., VirtualDevice]
SIZE = 50 * 1024 * 1024


@BOTH_ADBS
def test_50mb_push_and_pull_are_byte_identical(adb_server: AdbServer, virtual_device: Factory,
                                               tmp_path: Path, record_property: Callable[..., None]) -> None:
    dev = virtual_device()
    src = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    t0 = time.monotonic()
    res = adb_server.run("push", str(src), "/data/local/tmp/big.bin", serial=dev.serial)
    t1 = time.monotonic()
    assert res.returncode == 0, res.stdout + res.stderr
    on_device = adb_server.run("shell", "sha256sum /data/local/tmp/big.bin", serial=dev.serial)
    assert on_device.stdout.split()[0].decode() == digest
    back = tmp_path / "back.bin"
    t2 = time.monotonic()
    res = adb_server.run("pull", "/data/local/tmp/big.bin", str(back), serial=dev.serial)
    t3 = time.monotonic()
    assert res.returncode == 0, res.stdout + res.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    record_property("push_MBps", round(50 / (t1 - t0), 1))
    record_property("pull_MBps", round(50 / (t3 - t2), 1))
    print(f"push {50 / (t1 - t0):.0f} MB/s, pull {50 / (t3 - t2):.0f} MB/s")


def test_adbutils_shell_sync_and_properties(adb_server: AdbServer, virtual_device: Factory,
                                            tmp_path: Path) -> None:
    dev = virtual_device("magisk")
    client = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port, socket_timeout=20)
    d = client.device(dev.serial)
    assert d.prop.model == "Pixel 7"
    assert d.getprop("ro.product.cpu.abilist") == "x86_64"
    assert d.getprop("ro.build.type") == "user"
    assert d.shell("id -u") == "2000"
    assert d.shell(["su", "-c", "id -u"]) == "0"
    r = d.shell2("echo hi; echo bad >&2; exit 5", v2=True)
    assert (r.returncode, r.stdout, r.stderr) == (5, "hi\n", "bad\n")
    payload = os.urandom(200_000)
    (tmp_path / "p").write_bytes(payload)
    d.sync.push(str(tmp_path / "p"), "/data/local/tmp/p.bin", mode=0o755)
    st = d.sync.stat("/data/local/tmp/p.bin")
    assert st.size == len(payload) and st.mode & 0o777 == 0o755
    assert "p.bin" in [e.path for e in d.sync.list("/data/local/tmp")]
    d.sync.pull("/data/local/tmp/p.bin", str(tmp_path / "q"))
    assert (tmp_path / "q").read_bytes() == payload
    # adbutils quirk, same as a real adbd: stat of a missing path reports size 0 and mode 0.
    assert d.sync.stat("/data/local/tmp/missing").mode == 0
    assert d.root() == "adbd cannot run as root in production builds\n"


def test_two_devices_are_separate(adb_server: AdbServer, virtual_device: Factory) -> None:
    a = virtual_device(serialno="VDEVA")
    b = virtual_device("magisk", serialno="VDEVB")
    adb_server.run("shell", "echo a > /sdcard/who", serial=a.serial)
    adb_server.run("shell", "echo b > /sdcard/who", serial=b.serial)
    assert adb_server.run("shell", "cat /sdcard/who; getprop ro.serialno", serial=a.serial).stdout == b"a\nVDEVA\n"
    assert adb_server.run("shell", "cat /sdcard/who; getprop ro.serialno", serial=b.serial).stdout == b"b\nVDEVB\n"
    adb_server.run("shell", "sleep 30 </dev/null >/dev/null 2>&1 &", serial=a.serial)
    assert adb_server.run("shell", "pidof sleep", serial=a.serial).returncode == 0
    assert adb_server.run("shell", "pidof sleep", serial=b.serial).returncode == 1


@pytest.mark.parametrize("adb_server", [None], indirect=True, ids=["default-adb"])
def test_stop_disconnects_and_kills_detached_processes(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    adb_server.run("shell", "nohup sleep 123 </dev/null >/dev/null 2>&1 &", serial=dev.serial)
    pid = int(adb_server.run("shell", "pidof sleep", serial=dev.serial).stdout)
    dev.stop()
    assert dev.serial not in adb_server.run("devices").stdout.decode()
    assert _dead(pid)


def _dead(pid: int, timeout: float = 3.0) -> bool:
    """Gone or a zombie (init reaps it when it gets to it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False
