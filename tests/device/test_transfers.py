"""Pulls that are interrupted or lose the device, remote adb servers, and the packaged binaries."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from droidcap.device import recover
from droidcap.device.adb import AdbServer, ServerAddress
from droidcap.device.device import Device, list_devices
from droidcap.device.errors import AdbServerError, DeviceError
from droidcap.device.transfer import pull_verified
from droidcap.virtual import adb_host
from droidcap.rtmplab.ports import free_port

pytestmark = [pytest.mark.slow]
BIG = "/data/local/tmp/big.bin"


def _big_file(adb_server, serial: str, mb: int = 24) -> str:
    res = adb_server.run("shell", f"dd if=/dev/urandom of={BIG} bs=1048576 count={mb} 2>/dev/null; "
                         f"sha256sum {BIG}", serial=serial)
    return res.stdout.decode().split()[0]


def test_ctrl_c_during_a_pull_keeps_only_a_part_file_and_the_device_copy(device_for, adb_server,
                                                                        tmp_path):
    vdev, dev = device_for("magisk")
    digest = _big_file(adb_server, vdev.serial)

    def interrupt(done: int) -> None:
        if done > 4 << 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pull_verified(dev.transport, BIG, tmp_path / "big.bin", progress=interrupt, capture=False)
    assert not (tmp_path / "big.bin").exists() and (tmp_path / "big.bin.part").exists()
    assert adb_server.run("shell", f"sha256sum {BIG}", serial=vdev.serial).stdout.decode().split()[0] == digest
    (tmp_path / "big.bin.part").unlink()
    pulled = pull_verified(dev.transport, BIG, tmp_path / "big.bin", capture=False)
    assert pulled.sha256 == digest == hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest()


def test_the_device_vanishing_mid_pull_is_an_error_and_loses_nothing(device_for, adb_server, tmp_path):
    vdev, dev = device_for("magisk")
    digest = _big_file(adb_server, vdev.serial)
    pulled_cable = []

    def cable(done: int) -> None:
        if done > 2 << 20 and not pulled_cable:
            pulled_cable.append(adb_server.run("disconnect", vdev.serial))

    with pytest.raises(DeviceError):
        pull_verified(dev.transport, BIG, tmp_path / "big.bin", progress=cable, capture=False)
    assert not (tmp_path / "big.bin").exists()
    adb_host.connect(vdev.serial, adb_port=adb_server.port, adb=adb_server.adb)
    (tmp_path / "big.bin.part").unlink()
    assert recover.pull_paths(dev, BIG, tmp_path).sha256 == digest


def test_a_missing_remote_path_is_an_error_not_an_empty_file(device_for, tmp_path):
    _, dev = device_for("magisk")
    with pytest.raises(DeviceError, match="does not exist"):
        recover.pull_paths(dev, "/data/local/tmp/none.pcap", tmp_path)
    assert not list(tmp_path.glob("none*"))


def test_a_remote_adb_server_is_used_and_never_started_locally(virtual_device, adb_server, tmp_path):
    """A stock adb server listening on the network (``adb -a``), reached at another address."""
    port = free_port()
    env = adb_server.env() | {"ANDROID_ADB_SERVER_PORT": str(port)}
    # As a lab host runs it: `adb -a nodaemon server start` listens on every interface.
    server = subprocess.Popen([adb_server.adb, "-a", "-P", str(port), "nodaemon", "server", "start"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if f":{port} " in subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout:
                break
            time.sleep(0.05)
        vdev = virtual_device("magisk", connect=False)
        vdev.connect(port, adb=adb_server.adb)
        remote = ServerAddress(host="127.0.0.2", port=port)  # not "this machine's" server address
        assert remote.remote
        reports = list_devices(remote)
        assert [r.serial for r in reports] == [vdev.serial] and reports[0].root == "su-c"
        assert Device.connect(adb=remote).info.model == "Pixel 7"
    finally:
        adb_host.kill_server(port, adb=adb_server.adb)
        server.wait(10)
    nobody = ServerAddress(host="127.0.0.3", port=free_port())
    with pytest.raises(AdbServerError, match="adb -a nodaemon server start"):
        AdbServer(nobody).ensure_running()
    listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
    assert f":{nobody.port} " not in listening  # no local server was started for it


def test_the_wheel_ships_the_tcpdump_binaries(tmp_path):
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(root)], check=True, timeout=300, capture_output=True)
    wheel = next(tmp_path.glob("droidcap-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for abi in ("arm64-v8a", "armeabi-v7a", "x86", "x86_64"):
        assert f"droidcap/data/tcpdump_bins/{abi}/tcpdump" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, timeout=300, capture_output=True)
    code = ("from droidcap import tcpdump_bins as t; print(t.bins_dir()); print(t.verify('arm64-v8a'))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out[0].startswith(str(target)) and len(out[1]) == 64
