"""The device's own commands (getprop, id, su, ps, pidof, am, pm, cmd, ...), run *inside* the
device sandbox as ``/system/bin/<name>`` symlinks to one script, like Android's toybox.

They read the device description the daemon wrote to ``/system/etc/droidcap-device.json`` and the
caller's identity from ``DROIDCAP_UID`` (the daemon sets it; ``su`` changes it for its child), and
print what the real tools print, including their refusals and exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CONFIG = Path("/system/etc/droidcap-device.json")
PROPS_OVERRIDE = Path("/data/property/droidcap-props.json")
SHELL_GROUPS = ("2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),"
                "1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),"
                "3006(net_bw_stats),3009(readproc),3011(uhid),3012(readtracefs)")
ROOT_GROUPS = "0(root),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid)"


def _config() -> dict:
    return json.loads(CONFIG.read_text())


def _profile() -> dict:
    return _config()["profile"]


def _uid() -> int:
    return int(os.environ.get("DROIDCAP_UID", "2000"))


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def _apps() -> list[dict]:
    system = [{"name": "android", "uid": 1000}, {"name": "com.android.shell", "uid": 2000},
              {"name": "com.android.settings", "uid": 1000}]
    return system + list(_profile()["apps"])


def _user_name(uid: int) -> str:
    if uid == 0:
        return "root"
    if uid == 1000:
        return "system"
    if uid == 2000:
        return "shell"
    if uid >= 10000:
        return f"u0_a{uid - 10000}"
    return str(uid)


# ---------------------------------------------------------------- properties
def _properties() -> dict[str, str]:
    props = dict(_read_build_prop())
    props["service.adb.root"] = "1" if os.environ.get("DROIDCAP_ADBD_ROOT") == "1" else "0"
    try:
        props.update(json.loads(PROPS_OVERRIDE.read_text()))
    except (OSError, ValueError):
        pass
    return dict(sorted(props.items()))


def _read_build_prop() -> dict[str, str]:
    out = {}
    for line in Path("/system/build.prop").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def getprop(args: list[str]) -> int:
    props = _properties()
    if not args:
        for k, v in props.items():
            print(f"[{k}]: [{v}]")
        return 0
    print(props.get(args[0], args[1] if len(args) > 1 else ""))
    return 0


def setprop(args: list[str]) -> int:
    if len(args) != 2:
        _err("usage: setprop NAME VALUE")
        return 1
    key, value = args
    if key.startswith("ro.") and key in _properties():
        _err(f"Failed to set property '{key}' to '{value}'.\nSee dmesg for error reason.")
        return 1
    if _uid() != 0:
        _err(f"Failed to set property '{key}' to '{value}'.\nSee dmesg for error reason.")
        return 1
    PROPS_OVERRIDE.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = json.loads(PROPS_OVERRIDE.read_text())
    except (OSError, ValueError):
        current = {}
    current[key] = value
    PROPS_OVERRIDE.write_text(json.dumps(current))
    return 0


def getenforce(args: list[str]) -> int:
    print(_properties().get("droidcap.selinux", _profile()["selinux"]))
    return 0


def setenforce(args: list[str]) -> int:
    if _uid() != 0:
        _err("setenforce: Couldn't set enforcing status to '%s': Permission denied" % (args[0] if args else ""))
        return 1
    if not args or args[0] not in ("0", "1", "Enforcing", "Permissive"):
        _err("usage: setenforce [enforcing|permissive|1|0]")
        return 1
    mode = "Enforcing" if args[0] in ("1", "Enforcing") else "Permissive"
    PROPS_OVERRIDE.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = json.loads(PROPS_OVERRIDE.read_text())
    except (OSError, ValueError):
        current = {}
    current["droidcap.selinux"] = mode
    PROPS_OVERRIDE.write_text(json.dumps(current))
    return 0


# ---------------------------------------------------------------- identity and su
def id_(args: list[str]) -> int:
    uid = _uid()
    if "-u" in args:
        print(uid if "-n" not in args else _user_name(uid))
        return 0
    if uid == 0:
        context = "u:r:magisk:s0" if _profile()["root_method"] == "magisk" else "u:r:su:s0"
        print(f"uid=0(root) gid=0(root) groups={ROOT_GROUPS} context={context}")
    elif uid == 2000:
        print(f"uid=2000(shell) gid=2000(shell) groups={SHELL_GROUPS} context=u:r:shell:s0")
    else:
        name = _user_name(uid)
        print(f"uid={uid}({name}) gid={uid}({name}) groups={uid}({name}),3003(inet) "
              f"context=u:r:untrusted_app:s0")
    return 0


def whoami(args: list[str]) -> int:
    print(_user_name(_uid()))
    return 0


def _exec_as_root(argv: list[str]) -> int:
    env = dict(os.environ, DROIDCAP_UID="0", USER="root", LOGNAME="root")
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as err:
        _err(f"su: failed to exec {argv[0]}: {err.strerror}")
        return 1
    return 0


def su(args: list[str]) -> int:
    method = _profile()["root_method"]
    uid = _uid()
    if method == "magisk":
        # Magisk: su [options] [-] [user [argument...]]; -c runs the command through sh.
        command: str | None = None
        rest = list(args)
        while rest:
            a = rest.pop(0)
            if a in ("-c", "--command"):
                if not rest:
                    _err("su: option requires an argument -- 'c'")
                    return 2
                command = " ".join(rest)
                rest = []
            elif a in ("-", "-l", "--login", "-mm", "-M", "--mount-master", "-p", "--preserve-environment"):
                continue
            elif a in ("0", "root"):
                continue
            elif a in ("-h", "--help"):
                print("MagiskSU\n\nUsage: su [options] [-] [user [argument...]]")
                return 0
            else:
                _err(f"su: invalid option: {a}" if a.startswith("-") else f"su: unknown user {a}")
                return 2
        if command is None:
            return _exec_as_root(["/system/bin/sh"])
        return _exec_as_root(["/system/bin/sh", "-c", command])
    # AOSP su (system/extras/su): su [WHO [COMMAND...]]; only root and shell may use it.
    if uid not in (0, 2000):
        _err("su: not allowed")
        return 1
    rest = list(args)
    if rest and rest[0] in ("-h", "--help"):
        _err("usage: su [WHO [COMMAND...]]\n\nSwitch to WHO (default 'root') and run the given "
             "COMMAND (default sh).\n\nWHO is a comma-separated list of user, group, and "
             "supplementary groups in that order.\n")
        return 0
    if rest:
        who = rest.pop(0).split(",")[0]
        if who not in ("0", "root"):
            if who.isdigit() or who in ("shell", "system"):
                _err("su: droidcap virtual device only switches to root")
                return 1
            _err(f"su: invalid uid/gid '{who}'")
            return 1
    if not rest:
        return _exec_as_root(["/system/bin/sh"])
    return _exec_as_root(rest)


# ---------------------------------------------------------------- processes
def _device_processes() -> list[dict]:
    """Processes of this device: those sharing our mount namespace (the device sandbox)."""
    mine = os.readlink("/proc/self/ns/mnt")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != mine:
                continue
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if comm == "sleep" and cmdline[:2] == [b"/bin/sleep", b"infinity"]:
            continue  # the sandbox holder, an artefact of the virtual device
        env = {}
        for item in environ:
            if b"=" in item:
                k, v = item.split(b"=", 1)
                env[k.decode(errors="replace")] = v.decode(errors="replace")
        args = [c.decode(errors="replace") for c in cmdline if c]
        uid = int(env.get("DROIDCAP_UID", "0") or 0)
        name = os.path.basename(args[0]) if args else comm
        out.append({"pid": pid, "ppid": int(fields[1]), "state": fields[0],
                    "vsz": int(fields[20]) // 1024, "rss": int(fields[21]) * 4,
                    "user": _user_name(uid), "name": name, "args": " ".join(args) or f"[{comm}]",
                    "comm": comm, "app": env.get("DROIDCAP_APP", "")})
    out.sort(key=lambda p: p["pid"])
    return out


_PS_FIELDS: dict[str, tuple[str, Callable[[dict], str]]] = {
    "USER": ("USER", lambda p: f"{p['user']:<10}"),
    "PID": ("PID", lambda p: f"{p['pid']:>5}"),
    "PPID": ("PPID", lambda p: f"{p['ppid']:>5}"),
    "VSZ": ("VSZ", lambda p: f"{p['vsz']:>8}"),
    "RSS": ("RSS", lambda p: f"{p['rss']:>6}"),
    "S": ("S", lambda p: p["state"]),
    "NAME": ("NAME", lambda p: p["name"]),
    "CMD": ("CMD", lambda p: p["comm"]),
    "COMM": ("COMM", lambda p: p["comm"]),
    "ARGS": ("ARGS", lambda p: p["args"]),
    "CMDLINE": ("CMDLINE", lambda p: p["args"]),
}


def ps(args: list[str]) -> int:
    cols = ["USER", "PID", "PPID", "VSZ", "RSS", "S", "NAME"]
    only: set[int] | None = None
    names: set[str] = set()
    show_all = False
    it = iter(args)
    for a in it:
        if a in ("-A", "-e", "-ef"):
            show_all = True
        elif a == "-o":
            cols = [c.strip().upper() for c in next(it, "").split(",") if c.strip()]
        elif a.startswith("-o"):
            cols = [c.strip().upper() for c in a[2:].split(",") if c.strip()]
        elif a == "-p":
            only = {int(x) for x in next(it, "").split(",") if x.isdigit()}
        elif a.isdigit():
            only = (only or set()) | {int(a)}
        elif not a.startswith("-"):
            names.add(a)
    for c in cols:
        if c not in _PS_FIELDS:
            _err(f"ps: bad -o {c}")
            return 1
    procs = _device_processes()
    if only is not None:
        procs = [p for p in procs if p["pid"] in only]
    elif names:
        procs = [p for p in procs if p["name"] in names]
    elif not show_all:  # toybox without -A: processes of this terminal session's user
        uid_name = _user_name(_uid())
        procs = [p for p in procs if p["user"] == uid_name]
    print(" ".join(_PS_FIELDS[c][0] for c in cols))
    for p in procs:
        print(" ".join(_PS_FIELDS[c][1](p) for c in cols))
    return 0 if procs or not (only or names) else 1


def pidof(args: list[str]) -> int:
    single = "-s" in args
    wanted = [a for a in args if not a.startswith("-")]
    found = []
    for p in reversed(_device_processes()):
        if p["pid"] == os.getpid():
            continue
        full = p["args"].split(" ")[0] if p["args"] else ""
        if any(w in (p["name"], p["comm"], full) for w in wanted):
            found.append(p["pid"])
    if single:
        found = found[:1]
    if not found:
        return 1
    print(" ".join(str(p) for p in found))
    return 0


# ---------------------------------------------------------------- activity and package manager
def _find_app(name: str) -> dict | None:
    return next((a for a in _apps() if a["name"] == name), None)


def _player_argv(url: str, package: str) -> list[str]:
    """The real player an app stands for.  The page URL names the app, so the RTMP server's log
    (nginx: ``page_url='android-app://PKG'``) shows which app played."""
    page = f"android-app://{package}"
    if _profile()["player"] == "rtmpdump":
        return ["/usr/bin/rtmpdump", "-q", "-v", "-r", url, "-p", page, "-o", "/dev/null"]
    return ["/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-rtmp_pageurl", page,
            "-rtmp_live", "live", "-i", url, "-f", "null", "-"]


def am(args: list[str]) -> int:
    if not args:
        _err("usage: am [start|force-stop|kill] ...")
        return 1
    sub, rest = args[0], args[1:]
    if sub in ("force-stop", "kill"):
        if not rest:
            _err(f"Error: no package specified for am {sub}")
            return 1
        package = rest[-1]
        if _uid() not in (0, 2000):
            _err("Security exception: Permission Denial")
            return 255
        for p in _device_processes():
            if p["app"] == package:
                try:
                    os.kill(p["pid"], signal.SIGKILL)
                except OSError:
                    pass
        return 0
    if sub not in ("start", "start-activity"):
        _err(f"Error: Unknown command: {sub}")
        return 1
    action = data = component = None
    it = iter(rest)
    for a in it:
        if a == "-a":
            action = next(it, None)
        elif a == "-d":
            data = next(it, None)
        elif a == "-n":
            component = next(it, None)
        elif a in ("-W", "-S", "-R"):
            if a == "-R":
                next(it, None)
            continue
        elif a in ("--user", "-t", "-c", "-f", "-e", "--es", "--ei", "--ez"):
            next(it, None)
            if a in ("-e", "--es", "--ei", "--ez"):
                next(it, None)
    parts = []
    if action:
        parts.append(f"act={action}")
    if data:
        parts.append(f"dat={data}")
    if component:
        parts.append(f"cmp={component}")
    print(f"Starting: Intent {{ {' '.join(parts)} }}")
    package = component.split("/")[0] if component else _profile()["default_player"]
    app = _find_app(package)
    if app is None:
        _err(f"Error type 3\nError: Activity class {{{component}}} does not exist.")
        return 1
    if action != "android.intent.action.VIEW" or not data or not data.startswith(("rtmp://", "rtmps://")):
        # Only RTMP playback does something observable; other intents start nothing.
        return 0
    env = dict(os.environ, DROIDCAP_UID=str(app["uid"]), DROIDCAP_APP=package,
               USER=_user_name(app["uid"]), HOME=f"/data/data/{package}")
    argv = _player_argv(data, package)
    log = open(f"/data/data/{package}/player.log", "ab")  # noqa: SIM115 — handed to the child
    # Own session: the app outlives the adb shell that started it, as on a phone.
    subprocess.Popen([package] + argv[1:], executable=argv[0], stdin=subprocess.DEVNULL,
                     stdout=log, stderr=log, env=env, cwd=f"/data/data/{package}",
                     start_new_session=True, close_fds=True)
    return 0


def pm(args: list[str]) -> int:
    if len(args) >= 2 and args[0] == "list" and args[1] == "packages":
        opts = [a for a in args[2:] if a.startswith("-")]
        filters = [a for a in args[2:] if not a.startswith("-")]
        for app in _apps():
            if filters and not any(f in app["name"] for f in filters):
                continue
            line = f"package:{app['name']}"
            if "-U" in opts:
                line += f" uid:{app['uid']}"
            print(line)
        return 0
    if len(args) >= 2 and args[0] == "path":
        app = _find_app(args[1])
        if app is None:
            return 1
        print(f"package:/data/app/{app['name']}-1/base.apk")
        return 0
    _err(f"Unknown command: {' '.join(args)}" if args else "usage: pm list packages [-U]")
    return 1


def cmd(args: list[str]) -> int:
    if args and args[0] == "package":
        return pm(args[1:])
    if args and args[0] == "activity":
        return am(args[1:])
    if not args or args[0] == "-l":
        print("Currently running services:\n  activity\n  package")
        return 0
    _err(f"cmd: Can't find service: {args[0]}")
    return 20


def logcat(args: list[str]) -> int:
    return 0


def wm(args: list[str]) -> int:
    if args[:1] == ["size"]:
        print("Physical size: 1080x2400")
    return 0


def settings(args: list[str]) -> int:
    if args[:1] == ["get"]:
        print("null")
    return 0


TOOLS: dict[str, Callable[[list[str]], int]] = {
    "getprop": getprop, "setprop": setprop, "getenforce": getenforce, "setenforce": setenforce,
    "id": id_, "whoami": whoami, "su": su, "ps": ps, "pidof": pidof, "am": am, "pm": pm,
    "cmd": cmd, "logcat": logcat, "wm": wm, "settings": settings,
}


def main() -> None:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if name == "toolbox" and args:
        name, args = args[0], args[1:]
    tool = TOOLS.get(name)
    if tool is None:
        _err(f"toolbox: {name}: unknown command")
        sys.exit(127)
    try:
        code = tool(args)
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()


