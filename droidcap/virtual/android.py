"""The device's filesystem and process world: a per-device mount namespace on the host.

Why a namespace: commands must see the real Android paths (``/data/local/tmp`` executable,
``/sdcard`` writable but noexec, a read-only ``/system/bin`` holding the device's tools) while
everything else (``/usr``, ``/proc``, ``/dev``) stays the host's, so real programs (tcpdump,
ffmpeg) run unmodified.  The device has a network namespace of its own (``lo`` and ``wlan0``, see
:mod:`droidcap.virtual.network`), so its captures see only its own traffic.  A *holder*
process, started with ``unshare --mount --net``, builds a synthetic root under ``SANDBOX/root``
from bind mounts and chroots into it; every command joins it with ``nsenter``.  The daemon reads
and writes device files through ``/proc/HOLDER/root``, so ``adb push`` and the shell see one and
the same tree, mounts included.
Needs root on the host (documented in docs/virtual-device.md).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from droidcap.errors import DeviceError
from droidcap.virtual.profile import DeviceProfile

if TYPE_CHECKING:
    from droidcap.virtual.broker import Broker
    from droidcap.virtual.network import DeviceNetwork

#: Android's PATH for the shell user (sdk 29+), in its order.
ANDROID_PATH = ("/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:"
                "/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin")

#: Host programs that stand in for toybox applets on the device (linked into /system/bin).
TOYBOX_FROM_HOST = (
    "awk base64 basename cat chmod chown cmp cp cut date dd df dirname du echo env expr false find "
    "grep gzip head hostname ifconfig ip kill ln ls md5sum mkdir mktemp mount mv netstat nohup od printf pkill pgrep "
    "getconf readlink realpath rm rmdir sed seq setsid sha1sum sha256sum sha512sum sleep sort stat sync tail tar "
    "tee test timeout touch tr true tty stty uname uniq uptime wc which xargs vi less more hexdump xxd"
).split()
#: The device's own tools, implemented in :mod:`droidcap.virtual.toolbox`.
DEVICE_TOOLS = ("getprop", "setprop", "id", "whoami", "ps", "pidof", "am", "pm", "cmd",
                "getenforce", "setenforce", "logcat", "wm", "settings")

SHELL_UID = 2000
ROOT_UID = 0

_HOST_TOP_SKIP = {"data", "sdcard", "storage", "system", "vendor", "product", "apex", "odm",
                  "system_ext", "lost+found", "boot"}


#: The ABI the host runs natively, by ``uname -m``.
HOST_ABI = {"x86_64": "x86_64", "aarch64": "arm64-v8a", "i686": "x86"}.get(platform.machine(), "")
#: qemu-user binfmt_misc registrations per Android ABI (Debian's magic and mask, F: the
#: interpreter is opened at registration, so it works inside the device's chroot too).
_ELF_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
_QEMU = {
    "arm64-v8a": ("aarch64", r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"),
    "armeabi-v7a": ("arm", r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00"),
}


def qemu_registrations(abis: tuple[str, ...]) -> list[str]:
    """binfmt_misc lines for a device whose primary ABI the host cannot run natively, or [].

    Such a device gets a user namespace of its own (ids mapped 1:1) so it can have private
    binfmt_misc handlers.  The price: its root is root only inside that namespace, so it cannot
    capture on the host's interfaces (live capture under qemu-user does not work anyway)."""
    if not abis or abis[0] == HOST_ABI or abis[0] not in _QEMU:
        return []
    out = []
    for abi in dict.fromkeys(a if a != "armeabi" else "armeabi-v7a" for a in abis):
        if abi not in _QEMU:
            continue
        arch, magic = _QEMU[abi]
        qemu = shutil.which(f"qemu-{arch}-static")
        if qemu:
            out.append(f":droidcap-{arch}:M::{magic}:{_ELF_MASK}:{qemu}:F")
    return out


class SandboxError(DeviceError):
    """The device's sandbox could not be built or entered."""


_SETUP_SCRIPT = r"""
set -e
R="$1"
if [ -n "$QEMU_BINFMT" ]; then
  read _maps_written
  # This user namespace's own binfmt_misc (Linux >= 6.7): foreign ELFs run through qemu-user
  # for this device only; the host's handlers are untouched.
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  printf '%s\n' "$QEMU_BINFMT" | while IFS= read -r reg; do
    printf '%s' "$reg" > /proc/sys/fs/binfmt_misc/register
  done
fi
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
# This device's own network namespace: its /sys/class/net lists its interfaces, not the host's.
mount -t sysfs sysfs "$R/sys"
# /data: exec and suid even if the sandbox lives on a noexec filesystem.
mount --bind "$R/data" "$R/data"
mount -o remount,bind,exec,suid "$R/data"
# Shared storage: writable, never executable (as on every Android since 4.4 / FUSE / sdcardfs).
mount --bind "$R/storage/emulated/0" "$R/storage/emulated/0"
mount -o remount,bind,noexec,nosuid,nodev "$R/storage/emulated/0"
mount --rbind "$R/storage/emulated/0" "$R/sdcard"
# Android's user names (shell, u0_aNN) for ls -l and friends, in this namespace only.
mount --bind "$R/system/etc/passwd" "$R/etc/passwd"
mount --bind "$R/system/etc/group" "$R/etc/group"
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
        self._setsid = "setsid"
        self._userns = False
        self._broker: Broker | None = None
        self.network: DeviceNetwork | None = None

    # ----- lifecycle
    def start(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError("a virtual device needs root on the host (mount namespaces, bind mounts)")
        for tool in ("unshare", "nsenter", "chroot", "mount"):
            if shutil.which(tool) is None:
                raise SandboxError(f"{tool} not found: install util-linux/coreutils")
        self._nsenter = shutil.which("nsenter") or "nsenter"
        self._setsid = shutil.which("setsid") or "setsid"
        self._build_tree()
        env = dict(os.environ, SKIP=" ".join(sorted(_HOST_TOP_SKIP)))
        binfmt = qemu_registrations(self.profile.abis)
        self._userns = bool(binfmt)
        if binfmt:
            env["QEMU_BINFMT"] = "\n".join(binfmt)
        # --pdeathsig: if the daemon is killed outright, the holder (and so the namespace) goes
        # too.  It fires when the *thread* that started it ends: start devices from a thread that
        # lives as long as they do (the main thread, normally).
        pdeath = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
        self._holder = subprocess.Popen(
            [*pdeath, "unshare", *(["--user"] if self._userns else []), "--mount", "--net", "--propagation",
             "private", "--", "/bin/sh", "-c", _SETUP_SCRIPT, "droidcap-vdev-setup", str(self.root)],
            stdin=subprocess.PIPE if self._userns else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, start_new_session=True)
        assert self._holder.stdout is not None
        if self._userns:
            self._map_identity(self._holder)
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
        from droidcap.virtual.network import DeviceNetwork

        try:
            self.network = DeviceNetwork.create(self._holder.pid)
        except DeviceError:
            self.stop()
            raise
        from droidcap.virtual.broker import Broker

        self._broker = Broker(self.profile, self.root / "system/socket/droidcap",
                              self.broker_spawn, self.processes,
                              log_buffer=self.root / "system/socket/logd.buffer")
        try:
            self._broker.start()
        except OSError as err:
            self.stop()
            raise SandboxError(f"cannot start the device's privilege broker: {err}") from None

    def _map_identity(self, holder: subprocess.Popen[bytes]) -> None:
        """Map uids/gids 0-65535 of the new user namespace onto the same host ids, then let the
        setup script go on.  (Only a parent with CAP_SETUID may write such a map.)"""
        mine = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/user") == mine:
            if time.monotonic() > deadline or holder.poll() is not None:
                raise SandboxError("the device's user namespace was not created")
            time.sleep(0.005)
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{holder.pid}/{name}").write_text("0 0 65536\n")
        assert holder.stdin is not None
        holder.stdin.write(b"go\n")
        holder.stdin.close()

    def stop(self) -> None:
        """Kill every process of the device (including detached ones), then the namespace."""
        if self._holder is None:
            return
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
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
            "DROIDCAP_SERIALNO": self.profile.serialno,
        }
        if extra:
            env.update(extra)
        return env

    def spawn(self, command: str | None, *, uid: int, stdin: int, stdout: int, stderr: int,
              env_extra: dict[str, str] | None = None, tty: bool = False) -> subprocess.Popen[bytes]:
        """Run ``command`` with the device's /system/bin/sh in its own session (pgid == pid)."""
        # No command: like adbd's `sh -`, a shell reading stdin (interactive when stdin is a pty).
        argv = ["/system/bin/sh"] + (["-c", command] if command is not None else [])
        return self.spawn_argv(argv, uid=uid, env=self.command_env(uid=uid, extra=env_extra),
                               stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

    def spawn_argv(self, argv: list[str], *, uid: int, env: dict[str, str], cwd: str | None = None,
                   stdin: int, stdout: int, stderr: int, tty: bool = False) -> subprocess.Popen[bytes]:
        """Run ``argv`` inside the device as ``uid`` (gid = uid, no supplementary groups), in its
        own session; with ``tty`` stdin (a pty) becomes its controlling terminal (job control,
        ^C), via ``setsid -c`` which keeps the pid, so pgid == pid still holds."""
        full = [self._nsenter, "-t", str(self.holder_pid), *(["-U"] if self._userns else []),
                "-m", "-n", "-r", "-w"]
        if uid != ROOT_UID:
            full += ["-S", str(uid), "-G", str(uid)]
        if cwd:  # nsenter --wd=DIR would resolve DIR outside the device root: chdir inside
            argv = ["/usr/bin/env", "-C", cwd, "--", *argv]
        env = dict(env)
        env.setdefault("PATH", ANDROID_PATH)
        full += ["--", *argv]
        if tty:
            full = [self._setsid, "-c", *full]
        return subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=stderr,
                                env=env, start_new_session=not tty, close_fds=True)

    def broker_spawn(self, argv: list[str], *, uid: int, cwd: str, env: dict[str, str],
                     stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
        """Spawner for the broker: the device environment with the caller's overrides."""
        full_env = self.command_env(uid=uid)
        full_env.update(env)
        return self.spawn_argv(argv, uid=uid, env=full_env, cwd=cwd, stdin=stdin, stdout=stdout,
                               stderr=stderr)

    def processes(self) -> list[dict[str, object]]:
        """This device's processes as toybox ps sees them (real uids, argv[0] names)."""
        out: list[dict[str, object]] = []
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                status = Path(f"/proc/{pid}/status").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            uid = next((int(line.split()[1]) for line in status.splitlines()
                        if line.startswith("Uid:")), 0)
            args = [c.decode(errors="replace") for c in cmdline if c]
            if args and "python" in os.path.basename(args[0]):
                tool = next((i for i, a in enumerate(args) if a.startswith("/system/bin/")), None)
                if tool is not None:
                    args = args[tool:]  # a device tool: show it as the applet, as toybox would
            if comm == "nsenter":
                continue  # the instant before nsenter execs the command: not a device process yet
            out.append({"pid": pid, "ppid": int(fields[1]), "state": fields[0],
                        "vsz": int(fields[20]) // 1024, "rss": int(fields[21]) * 4, "uid": uid,
                        "name": os.path.basename(args[0]) if args else comm,
                        "args": " ".join(args) or f"[{comm}]", "comm": comm})
        out.sort(key=lambda p: int(p["pid"]))  # type: ignore[call-overload]
        return out

    # ----- building the tree
    def _build_tree(self) -> None:
        r = self.root
        for d in ("data/local/tmp", "data/data", "data/app", "storage/emulated/0/Download",
                  "storage/emulated/0/DCIM", "sdcard", "system/bin", "system/xbin", "system/etc",
                  "vendor/bin", "product/bin", "apex", "odm", "system_ext/bin"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "data/local/tmp").chmod(0o771)
        os.chown(r / "data/local/tmp", SHELL_UID, SHELL_UID)
        (r / "storage/emulated/0").chmod(0o777)  # sdcardfs/FUSE lets the shell user write here
        for entry in (r / "storage/emulated/0").iterdir():
            entry.chmod(0o777)
        (r / "system/socket").mkdir(exist_ok=True)
        bin_dir = r / "system/bin"
        for entry in bin_dir.iterdir():  # regenerate: the profile may have changed
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
        for app in self.profile.all_apps():
            (r / "data/data" / app.name).mkdir(exist_ok=True)
            os.chown(r / "data/data" / app.name, app.uid, app.uid)
            (r / "data/data" / app.name).chmod(0o700)
        # The shell: bash (as a plain shell, so it still says "cannot execute binary file: Exec
        # format error" for a foreign ELF instead of running it as a script like dash does).
        bash = shutil.which("bash") or "/bin/bash"
        (bin_dir / "sh").write_text(
            f"#!{bash}\nexec {bash} --rcfile /system/etc/droidcap-sh.rc \"$@\"\n")
        (bin_dir / "sh").chmod(0o755)
        (r / "system/etc/droidcap-sh.rc").write_text(
            "command_not_found_handle() {\n"
            "  printf '/system/bin/sh: %s: inaccessible or not found\\n' \"$1\" >&2\n"
            "  return 127\n}\n"
            # Interactive shells only (bash drops PS1 from non-interactive ones): Android's prompt.
            f"if [ -n \"$PS1\" ]; then PS1='{self.profile.device}:\\w \\$ '\n"
            "  bind 'set enable-bracketed-paste off' 2>/dev/null\nfi\n")
        for name in TOYBOX_FROM_HOST:
            host = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            if host:
                (bin_dir / name).symlink_to(host)
        toolbox = bin_dir / "toolbox"
        # A standalone copy (stdlib only), run by a Python every uid can execute: the shell user
        # cannot reach a venv under /root.
        python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3")
                       if os.access(p, os.X_OK)), sys.executable)
        source = Path(__file__).with_name("toolbox.py").read_text()
        toolbox.write_text(f"#!{python} -I\n{source}")
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
        names = {0: "root", 1000: "system", SHELL_UID: "shell", 1015: "sdcard_rw", 3003: "inet"}
        for app in self.profile.all_apps():
            names.setdefault(app.uid, f"u0_a{app.uid - 10000}" if app.uid >= 10000 else str(app.uid))
        for table, field in (("passwd", "x:{id}:{id}::/:/system/bin/sh"), ("group", "x:{id}:")):
            host_lines = [line for line in Path(f"/etc/{table}").read_text().splitlines()
                          if line.split(":")[2:3] and int(line.split(":")[2]) not in names
                          and line.split(":")[0] not in names.values()]
            ours = [f"{name}:{field.format(id=uid)}" for uid, name in sorted(names.items())]
            (r / "system/etc" / table).write_text("\n".join(ours + host_lines) + "\n")
        config = {"profile": self.profile.to_dict()}
        (r / "system/etc/droidcap-device.json").write_text(json.dumps(config, indent=1))
        (r / "system/build.prop").write_text(
            "".join(f"{k}={v}\n" for k, v in self.profile.properties().items()))


def device_path_join(base: str, name: str) -> str:
    return str(PurePosixPath(base) / name)
