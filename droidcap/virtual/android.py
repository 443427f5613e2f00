"""The device's filesystem and process world: a per-device mount namespace on the host.

Why a namespace: commands must see the real Android paths (``/data/local/tmp`` executable,
``/sdcard`` writable but noexec, a read-only ``/system/bin`` holding the device's tools) while
everything else (``/usr``, ``/proc``, ``/dev``, the host network) stays the host's, so real
programs (tcpdump, ffmpeg) run unmodified.  A *holder* process, started with ``unshare --mount``,
builds a synthetic root under ``SANDBOX/root`` from bind mounts and chroots into it; every command
joins it with ``nsenter``.  The daemon reads and writes device files through
``/proc/HOLDER/root``, so ``adb push`` and the shell see one and the same tree, mounts included.
Needs root on the host (documented in docs/virtual-device.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from droidcap.errors import DeviceError
from droidcap.virtual.profile import DeviceProfile

#: Android's PATH for the shell user (sdk 29+), in its order.
ANDROID_PATH = ("/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:"
                "/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin")

#: Host programs that stand in for toybox applets on the device (linked into /system/bin).
TOYBOX_FROM_HOST = (
    "awk base64 basename cat chmod chown cmp cp cut date dd df dirname du echo env expr false find "
    "grep gzip head hostname ifconfig ip kill ln ls md5sum mkdir mktemp mount mv netstat nohup od printf pkill pgrep "
    "readlink realpath rm rmdir sed seq sha1sum sha256sum sha512sum sleep sort stat sync tail tar "
    "tee test timeout touch tr true uname uniq uptime wc which xargs"
).split()
#: The device's own tools, implemented in :mod:`droidcap.virtual.toolbox`.
DEVICE_TOOLS = ("getprop", "setprop", "id", "whoami", "ps", "pidof", "am", "pm", "cmd",
                "getenforce", "setenforce", "logcat", "wm", "settings")

SHELL_UID = 2000
ROOT_UID = 0

_HOST_TOP_SKIP = {"data", "sdcard", "storage", "system", "vendor", "product", "apex", "odm",
                  "system_ext", "lost+found", "boot"}


class SandboxError(DeviceError):
    """The device's sandbox could not be built or entered."""


_SETUP_SCRIPT = r"""
set -e
R="$1"
for entry in /*; do
  name=${entry#/}
  case " $SKIP " in *" $name "*) continue;; esac
  if [ -L "$entry" ]; then
    [ -e "$R/$name" ] || [ -L "$R/$name" ] || ln -s "$(readlink "$entry")" "$R/$name"
  elif [ -d "$entry" ]; then
    mkdir -p "$R/$name"
    mount --rbind "$entry" "$R/$name"
  fi
done
# /data: exec and suid even if the sandbox lives on a noexec filesystem.
mount --bind "$R/data" "$R/data"
mount -o remount,bind,exec,suid "$R/data"
# Shared storage: writable, never executable (as on every Android since 4.4 / FUSE / sdcardfs).
mount --bind "$R/storage/emulated/0" "$R/storage/emulated/0"
mount -o remount,bind,noexec,nosuid,nodev "$R/storage/emulated/0"
mount --rbind "$R/storage/emulated/0" "$R/sdcard"
# /system is read-only.
mount --bind "$R/system" "$R/system"
mount -o remount,bind,ro "$R/system"
echo ready
exec chroot "$R" /bin/sleep infinity >/dev/null 2>&1 </dev/null
"""


class Sandbox:
    """One device's filesystem and processes.  ``start()`` builds it, ``stop()`` ends every
    process in it; files under ``base_dir`` persist between runs (like a phone's storage)."""

    def __init__(self, profile: DeviceProfile, base_dir: Path) -> None:
        self.profile = profile
        self.base_dir = Path(base_dir)
        self.root = self.base_dir / "root"
        self._holder: subprocess.Popen[bytes] | None = None
        self._ns: str | None = None
        self._nsenter = "nsenter"

    # ----- lifecycle
    def start(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError("a virtual device needs root on the host (mount namespaces, bind mounts)")
        for tool in ("unshare", "nsenter", "chroot", "mount"):
            if shutil.which(tool) is None:
                raise SandboxError(f"{tool} not found: install util-linux/coreutils")
        self._nsenter = shutil.which("nsenter") or "nsenter"
        self._build_tree()
        env = dict(os.environ, SKIP=" ".join(sorted(_HOST_TOP_SKIP)))
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
             _SETUP_SCRIPT, "droidcap-vdev-setup", str(self.root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True)
        assert self._holder.stdout is not None
        line = self._holder.stdout.readline()
        if line.strip() != b"ready":
            err = self._holder.stderr.read().decode(errors="replace") if self._holder.stderr else ""
            self._holder.kill()
            raise SandboxError(f"building the device sandbox failed: {err.strip() or 'no output'}")
        # Wait until the holder has chrooted (its root changes), so nsenter -r sees the device root.
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{self._holder.pid}/root") == "/" or \
                os.readlink(f"/proc/{self._holder.pid}/exe").endswith("/chroot"):
            if time.monotonic() > deadline or self._holder.poll() is not None:
                raise SandboxError("the device sandbox holder did not start")
            time.sleep(0.01)
        self._ns = os.readlink(f"/proc/{self._holder.pid}/ns/mnt")

    def stop(self) -> None:
        """Kill every process of the device (including detached ones), then the namespace."""
        if self._holder is None:
            return
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        self._holder.kill()
        self._holder.wait()
        for stream in (self._holder.stdout, self._holder.stderr):
            if stream:
                stream.close()
        self._holder = None

    @property
    def holder_pid(self) -> int:
        if self._holder is None:
            raise SandboxError("the device sandbox is not running")
        return self._holder.pid

    def pids(self) -> list[int]:
        """Every process living in this device (by mount namespace), except the holder."""
        if self._ns is None:
            return []
        out = []
        holder = self._holder.pid if self._holder else -1
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == holder:
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") == self._ns:
                    out.append(int(entry))
            except OSError:
                continue
        return out

    # ----- files
    def host_path(self, device_path: str) -> Path:
        """Where a device path is, seen from the host (mounts and read-only flags included)."""
        norm = os.path.normpath("/" + device_path.lstrip("/"))
        return Path(f"/proc/{self.holder_pid}/root") / norm.lstrip("/")

    # ----- processes
    def command_env(self, *, uid: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": ANDROID_PATH,
            "ANDROID_ROOT": "/system",
            "ANDROID_DATA": "/data",
            "ANDROID_STORAGE": "/storage",
            "ANDROID_ART_ROOT": "/apex/com.android.art",
            "ANDROID_I18N_ROOT": "/apex/com.android.i18n",
            "ANDROID_TZDATA_ROOT": "/apex/com.android.tzdata",
            "EXTERNAL_STORAGE": "/sdcard",
            "ASEC_MOUNTPOINT": "/mnt/asec",
            "BOOTCLASSPATH": "/apex/com.android.art/javalib/core-oj.jar",
            "HOME": "/",
            "HOSTNAME": "localhost",
            "LOGNAME": "root" if uid == ROOT_UID else "shell",
            "USER": "root" if uid == ROOT_UID else "shell",
            "SHELL": "/system/bin/sh",
            "TMPDIR": "/data/local/tmp",
            "TERM": "dumb",
            "BASH_ENV": "/system/etc/droidcap-sh.rc",
            "DROIDCAP_UID": str(uid),
            "DROIDCAP_SERIALNO": self.profile.serialno,
        }
        if extra:
            env.update(extra)
        return env

    def spawn(self, command: str | None, *, uid: int, stdin: int, stdout: int, stderr: int,
              env_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Run ``command`` with the device's /system/bin/sh in its own session (pgid == pid)."""
        argv = [self._nsenter, "-t", str(self.holder_pid), "-m", "-r", "-w", "--", "/system/bin/sh"]
        argv += ["-c", command] if command is not None else ["-i"]
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                env=self.command_env(uid=uid, extra=env_extra),
                                start_new_session=True, close_fds=True)

    # ----- building the tree
    def _build_tree(self) -> None:
        r = self.root
        for d in ("data/local/tmp", "data/data", "data/app", "storage/emulated/0/Download",
                  "storage/emulated/0/DCIM", "sdcard", "system/bin", "system/xbin", "system/etc",
                  "vendor/bin", "product/bin", "apex", "odm", "system_ext/bin"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "data/local/tmp").chmod(0o771)
        bin_dir = r / "system/bin"
        for entry in bin_dir.iterdir():  # regenerate: the profile may have changed
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
        for app in self.profile.all_apps():
            (r / "data/data" / app.name).mkdir(exist_ok=True)
        # The shell: bash (as a plain shell, so it still says "cannot execute binary file: Exec
        # format error" for a foreign ELF instead of running it as a script like dash does).
        bash = shutil.which("bash") or "/bin/bash"
        (bin_dir / "sh").write_text(f"#!{bash}\nexec {bash} \"$@\"\n")
        (bin_dir / "sh").chmod(0o755)
        (r / "system/etc/droidcap-sh.rc").write_text(
            "command_not_found_handle() {\n"
            "  printf '/system/bin/sh: %s: inaccessible or not found\\n' \"$1\" >&2\n"
            "  return 127\n}\n")
        for name in TOYBOX_FROM_HOST:
            host = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            if host:
                (bin_dir / name).symlink_to(host)
        toolbox = bin_dir / "toolbox"
        toolbox.write_text(f"#!{sys.executable}\nfrom droidcap.virtual.toolbox import main\nmain()\n")
        toolbox.chmod(0o755)
        tools = list(DEVICE_TOOLS)
        if self.profile.root_method.value in ("magisk", "aosp-su"):
            tools.append("su")
        for name in tools:
            (bin_dir / name).symlink_to("toolbox")
        if self.profile.system_tcpdump:
            host_tcpdump = shutil.which("tcpdump", path="/usr/sbin:/usr/bin:/sbin:/bin")
            if host_tcpdump is None:
                raise SandboxError("profile wants /system/bin/tcpdump but the host has no tcpdump")
            shutil.copy2(host_tcpdump, bin_dir / "tcpdump")
        config = {"profile": self.profile.to_dict()}
        (r / "system/etc/droidcap-device.json").write_text(json.dumps(config, indent=1))
        (r / "system/build.prop").write_text(
            "".join(f"{k}={v}\n" for k, v in self.profile.properties().items()))


def device_path_join(base: str, name: str) -> str:
    return str(PurePosixPath(base) / name)
