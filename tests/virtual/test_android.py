"""Android behaviour of the virtual device: paths, properties, identities, su flavours, tools."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.pytest_plugin import AdbServer

Factory = Callable[..., VirtualDevice]
ROOT = Path(__file__).resolve().parents[2]


def sh(adb: AdbServer, dev: VirtualDevice, command: str) -> tuple[int, str, str]:
    r = adb.run("shell", command, serial=dev.serial)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_getprop_reflects_the_profile(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device("pixel-arm64")
    code, out, _ = sh(adb_server, dev, "getprop")
    props = dict(line[1:-1].split("]: [") for line in out.splitlines())
    assert code == 0
    assert props["ro.product.model"] == "Pixel 8"
    assert props["ro.product.cpu.abilist"] == "arm64-v8a,armeabi-v7a,armeabi"
    assert props["ro.product.cpu.abilist64"] == "arm64-v8a"
    assert props["ro.build.version.sdk"] == "35" and props["ro.build.version.release"] == "15"
    assert props["ro.build.type"] == "user" and props["ro.debuggable"] == "0"
    assert sh(adb_server, dev, "getprop ro.no.such; getprop ro.no.such dflt")[1] == "\ndflt\n"
    assert sh(adb_server, dev, "getenforce")[1] == "Enforcing\n"


def test_android_paths_and_mount_flags(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    script = "printf '#!/system/bin/sh\\necho ran\\n' > {d}/t.sh && chmod 755 {d}/t.sh && {d}/t.sh"
    assert sh(adb_server, dev, script.format(d="/data/local/tmp")) == (0, "ran\n", "")
    code, _, err = sh(adb_server, dev, script.format(d="/sdcard"))
    assert code == 126 and "Permission denied" in err  # /sdcard is noexec, as on a phone
    assert sh(adb_server, dev, "ls /storage/emulated/0/t.sh")[0] == 0  # the same storage
    code, _, err = sh(adb_server, dev, "touch /system/bin/x")
    assert code != 0 and "Read-only file system" in err
    assert sh(adb_server, dev, "df /data/local/tmp")[0] == 0
    assert sh(adb_server, dev, "echo $ANDROID_ROOT $EXTERNAL_STORAGE $PWD")[1] == "/system /sdcard /\n"


def _arm64_binary(tmp_path: Path) -> Path:
    arm = ROOT / "tcpdump_bins/arm64-v8a/tcpdump"
    if not arm.exists():
        pytest.fail(f"{arm} is missing: build it with tcpdump_bins/build.sh")
    return arm


def test_foreign_abi_binary_is_refused_clearly(adb_server: AdbServer, virtual_device: Factory,
                                               tmp_path: Path) -> None:
    dev = virtual_device()  # x86_64 first: an arm64 binary is foreign, as on an x86 phone
    adb_server.run("push", str(_arm64_binary(tmp_path)), "/data/local/tmp/armbin", serial=dev.serial)
    code, _, err = sh(adb_server, dev, "/data/local/tmp/armbin --version")
    if Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        assert code == 0  # the host itself runs aarch64 binaries through qemu-user
    else:
        assert code == 126 and "Exec format error" in err


def test_arm64_device_runs_arm_binaries_through_qemu(adb_server: AdbServer, virtual_device: Factory,
                                                     tmp_path: Path) -> None:
    dev = virtual_device("pixel-arm64")
    adb_server.run("push", str(_arm64_binary(tmp_path)), "/data/local/tmp/tcpdump", serial=dev.serial)
    code, out, _ = sh(adb_server, dev, "/data/local/tmp/tcpdump --version")
    assert code == 0 and out.startswith("tcpdump version")
    # the handler is the device's own: the host (and other devices) still cannot run it
    assert not Path("/proc/sys/fs/binfmt_misc/droidcap-aarch64").exists()
    assert sh(adb_server, dev, "su -c id")[1].startswith("uid=0(root)")


def test_identity_and_su_flavours(adb_server: AdbServer, virtual_device: Factory) -> None:
    magisk = virtual_device("magisk")
    assert sh(adb_server, magisk, "id")[1].startswith("uid=2000(shell) gid=2000(shell)")
    assert sh(adb_server, magisk, "su -c id")[1].startswith("uid=0(root) gid=0(root)")
    assert sh(adb_server, magisk, "su -c 'echo $USER; whoami'")[1] == "root\nroot\n"
    assert sh(adb_server, magisk, "echo id | su")[1].startswith("uid=0(root)")

    aosp = virtual_device("emulator")
    assert sh(adb_server, aosp, "su 0 id -u")[1] == "0\n"
    assert sh(adb_server, aosp, "su root sh -c 'id -u'")[1] == "0\n"
    assert sh(adb_server, aosp, "su -c id") == (1, "", "su: invalid uid/gid '-c'\n")

    stock = virtual_device("stock")
    assert sh(adb_server, stock, "su -c id") == (127, "", "/system/bin/sh: su: inaccessible or not found\n")
    assert sh(adb_server, stock, "which su")[0] != 0


def test_ps_pidof_kill(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device("magisk")
    sh(adb_server, dev, "cp /system/bin/sleep /data/local/tmp/napper; "
                        "/data/local/tmp/napper 60 </dev/null >/dev/null 2>&1 &")
    sh(adb_server, dev, "su -c '/system/bin/sleep 61 </dev/null >/dev/null 2>&1 &'")
    # (both were forked before the shells returned; wait until both have exec'd)
    code, out, _ = sh(adb_server, dev, "for i in $(seq 50); do pidof napper && pidof sleep && break; "
                                       "sleep 0.1; done >/dev/null; ps -A")
    lines = out.splitlines()
    assert lines[0].split() == ["USER", "PID", "PPID", "VSZ", "RSS", "S", "NAME"]
    napper = next(line.split() for line in lines if line.endswith(" napper"))
    assert napper[0] == "shell"
    root_sleep = next(line.split() for line in lines if line.endswith(" sleep"))
    assert root_sleep[0] == "root"
    pid = sh(adb_server, dev, "pidof napper")[1].strip()
    assert pid == napper[1]
    # (SIGTERM: a shell's background job ignores SIGINT, on mksh as on bash)
    assert sh(adb_server, dev, f"kill {pid}")[0] == 0
    assert sh(adb_server, dev, "sleep 0.2; pidof napper; echo $?")[1].strip() == "1"
    assert sh(adb_server, dev, "ps -A | grep -c sha256sum")[1].strip() == "0"  # only device processes


def test_package_lists(adb_server: AdbServer, virtual_device: Factory) -> None:
    dev = virtual_device()
    out = sh(adb_server, dev, "pm list packages -U")[1].splitlines()
    assert "package:org.videolan.vlc uid:10123" in out
    assert sh(adb_server, dev, "cmd package list packages -U")[1].splitlines() == out
    assert sh(adb_server, dev, "pm list packages vlc")[1] == "package:org.videolan.vlc\n"


@pytest.mark.parametrize("tool", ["chmod", "sha256sum", "df", "kill", "ls", "cat"])
def test_toybox_tools_present(adb_server: AdbServer, virtual_device: Factory, tool: str) -> None:
    dev = virtual_device()
    assert sh(adb_server, dev, f"command -v {tool}")[1].strip() in (f"/system/bin/{tool}", tool)


def test_shell_user_is_really_unprivileged(adb_server: AdbServer, virtual_device: Factory,
                                           tmp_path: Path) -> None:
    from dataclasses import replace

    from droidcap.virtual.profile import load_profile

    dev = virtual_device(replace(load_profile("magisk"), system_tcpdump=True))
    # Capturing needs root, exactly as on a phone: without su tcpdump is refused.
    code, _, err = sh(adb_server, dev, "tcpdump -n -i lo -c 1 -w /dev/null")
    assert code != 0 and "permission" in err.lower()
    assert sh(adb_server, dev, "su -c 'tcpdump -n -i lo -c 1 -w /dev/null port 9 & sleep 0.5; "
                               "kill %1; wait'")[0] == 0
    # Files pushed while adbd runs as shell belong to shell; root's processes are off limits.
    (tmp_path / "f").write_text("x")
    adb_server.run("push", str(tmp_path / "f"), "/data/local/tmp/sub/f", serial=dev.serial)
    assert sh(adb_server, dev, "stat -c '%U %G' /data/local/tmp/sub/f /data/local/tmp/sub")[1] == \
        "shell shell\nshell shell\n"
    sh(adb_server, dev, "su -c 'sleep 30 </dev/null >/dev/null 2>&1 &'")
    pid = sh(adb_server, dev, "pidof sleep")[1].strip()
    code, _, err = sh(adb_server, dev, f"kill {pid}")
    assert code != 0 and "Operation not permitted" in err
    assert sh(adb_server, dev, f"su -c 'kill {pid}'")[0] == 0
    assert sh(adb_server, dev, "touch /data/system.txt")[0] != 0  # /data itself is root's


def test_sync_respects_the_shell_users_permissions(adb_server: AdbServer, virtual_device: Factory,
                                                   tmp_path: Path) -> None:
    dev = virtual_device("adb-root")
    src = tmp_path / "f"
    src.write_bytes(b"data")
    res = adb_server.run("push", str(src), "/data/secret/f", serial=dev.serial)
    assert res.returncode == 1 and b"Permission denied" in res.stdout + res.stderr
    adb_server.run("root", serial=dev.serial)
    adb_server.run("wait-for-device", serial=dev.serial, timeout=30)
    assert adb_server.run("push", str(src), "/data/secret/f", serial=dev.serial).returncode == 0
    adb_server.run("shell", "chmod 600 /data/secret/f; chmod 755 /data/secret", serial=dev.serial)
    adb_server.run("unroot", serial=dev.serial)
    adb_server.run("wait-for-device", serial=dev.serial, timeout=30)
    res = adb_server.run("pull", "/data/secret/f", str(tmp_path / "g"), serial=dev.serial)
    assert res.returncode == 1 and b"Permission denied" in res.stdout + res.stderr
