"""The device's own commands (getprop, id, su, ps, pidof, am, pm, cmd, ...), run *inside* the
device sandbox as ``/system/bin/<name>`` symlinks to one script, like Android's toybox.

They read the device description the daemon wrote to ``/system/etc/droidcap-device.json``, run with
the caller's real uid (2000 for the shell), and print what the real tools print, including their
refusals and exit codes.  What needs privileges (``su``, ``am``, ``ps``) asks the daemon's broker
over ``/system/socket/droidcap`` (see :mod:`droidcap.virtual.broker`).  This file is copied into
each device and run by the system Python: standard library only.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG = Path("/system/etc/droidcap-device.json")
PROPS_OVERRIDE = Path("/data/property/droidcap-props.json")
SHELL_GROUPS = ("2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),"
                "1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),"
                "3006(net_bw_stats),3009(readproc),3011(uhid),3012(readtracefs)")
ROOT_GROUPS = ("0(root),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),"
               "3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid)")


def _config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CONFIG.read_text())
    return config


def _profile() -> dict[str, Any]:
    profile: dict[str, Any] = _config()["profile"]
    return profile


def _uid() -> int:
    return os.getuid()


BROKER = "/system/socket/droidcap"
FRAME_LEN = struct.Struct("<I")


def _broker_connect() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(BROKER)
    return sock


def send_msg(sock: socket.socket, obj: object, fds: list[int] | None = None) -> None:
    """One framed JSON message (4-byte little-endian length, then the JSON), with file
    descriptors attached when given.  The broker imports this framing from here: this file must
    stay standalone inside the device, so it is the one place the wire format is written."""
    data = json.dumps(obj).encode()
    payload = FRAME_LEN.pack(len(data)) + data
    if fds:
        sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.sendall(payload)


def read_exact(sock: socket.socket, n: int, head: bytes = b"") -> bytes | None:
    """``head`` completed to ``n`` bytes from ``sock``; None if the peer closed first."""
    while len(head) < n:
        more = sock.recv(n - len(head))
        if not more:
            return None
        head += more
    return head


def _recv(sock: socket.socket) -> dict[str, Any] | None:
    head = read_exact(sock, FRAME_LEN.size)
    if head is None:
        return None
    body = read_exact(sock, FRAME_LEN.unpack(head)[0])
    return None if body is None else json.loads(body)


def _ask(request: dict[str, Any]) -> dict[str, Any]:
    with _broker_connect() as sock:
        send_msg(sock, request)
        return _recv(sock) or {"error": "no answer from the device"}


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def _apps() -> list[dict[str, Any]]:
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
        context = os.environ.get("DROIDCAP_CONTEXT", "u:r:su:s0")
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
    """Run ``argv`` as root with our stdin/stdout/stderr; our exit code is its exit code."""
    if _uid() == 0:
        env = dict(os.environ, USER="root", LOGNAME="root")
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as err:
            _err(f"su: failed to exec {argv[0]}: {err.strerror}")
            return 1
    sys.stdout.flush()
    try:
        sock = _broker_connect()
    except OSError as err:
        _err(f"su: cannot reach the su daemon: {err.strerror}")
        return 1
    send_msg(sock, {"op": "su", "argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}, [0, 1, 2])
    first = _recv(sock)
    if first is None or "error" in first:
        _err((first or {}).get("error", "su: no answer"))
        return 1

    def relay(signum: int, _frame: object) -> None:
        try:
            send_msg(sock, {"signal": signum})
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, relay)
    while True:
        try:
            msg = _recv(sock)
        except InterruptedError:
            continue
        if msg is None:
            return 1
        if "exit" in msg:
            return int(msg["exit"])


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
            elif a in ("-", "-l", "--login", "-mm", "-M", "--mount-master", "-p", "--preserve-environment",
                       "0", "root"):
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
def _device_processes() -> list[dict[str, Any]]:
    """This device's processes, from the broker (toybox reads all of /proc; the shell user here
    cannot read other users' namespaces)."""
    procs: list[dict[str, Any]] = _ask({"op": "ps"}).get("processes", [])
    for p in procs:
        p["user"] = _user_name(int(p["uid"]))
    return procs


#: toybox ps columns: (width, right-aligned, value); the header is aligned like the values.
_PS_FIELDS: dict[str, tuple[int, bool, Callable[[dict[str, Any]], object]]] = {
    "USER": (10, False, lambda p: p["user"]),
    "PID": (5, True, lambda p: p["pid"]),
    "PPID": (5, True, lambda p: p["ppid"]),
    "VSZ": (8, True, lambda p: p["vsz"]),
    "RSS": (6, True, lambda p: p["rss"]),
    "S": (1, False, lambda p: p["state"]),
    "NAME": (0, False, lambda p: p["name"]),
    "CMD": (0, False, lambda p: p["comm"]),
    "COMM": (0, False, lambda p: p["comm"]),
    "ARGS": (0, False, lambda p: p["args"]),
    "CMDLINE": (0, False, lambda p: p["args"]),
}


def _ps_cell(col: str, value: object) -> str:
    width, right, _ = _PS_FIELDS[col]
    return f"{value!s:>{width}}" if right else f"{value!s:<{width}}"


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
    print(" ".join(_ps_cell(c, c) for c in cols).rstrip())
    for p in procs:
        print(" ".join(_ps_cell(c, _PS_FIELDS[c][2](p)) for c in cols).rstrip())
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
def _find_app(name: str) -> dict[str, Any] | None:
    return next((a for a in _apps() if a["name"] == name), None)


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
            _err("Security exception: Permission Denial: forceStopPackage() requires "
                 "android.permission.FORCE_STOP_PACKAGES")
            return 255
        _ask({"op": "force-stop", "package": package})
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
        elif a == "-p":  # limit the intent to one package (its default activity)
            package_only = next(it, None)
            component = f"{package_only}/.MainActivity" if package_only else None
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
    answer = _ask({"op": "am-start", "package": package, "url": data})
    if "error" in answer:
        _err(f"Error: {answer['error']}")
        return 1
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
        found = _find_app(args[1])
        if found is None:
            return 1
        print(f"package:/data/app/{found['name']}-1/base.apk")
        return 0
    _err(f"Unknown command: {' '.join(args)}" if args else "usage: pm list packages [-U]")
    return 1


def _resolve_activity(args: list[str]) -> int:
    """``cmd package resolve-activity --brief -a ACTION -d URL``: the app that handles an intent
    (what ``am start`` without ``-n`` would start), its component on the last line."""
    data = None
    it = iter(args)
    for a in it:
        if a in ("-a", "-d", "-t", "-c", "--user"):
            value = next(it, None)
            if a == "-d":
                data = value
    if not data or not data.startswith(("rtmp://", "rtmps://")):
        print("No activity found")
        return 0
    package = _profile()["default_player"]
    print("priority=0 preferredOrder=0 match=0x208000 specificIndex=-1 isDefault=true")
    print(f"{package}/.MainActivity")
    return 0


def cmd(args: list[str]) -> int:
    if args[:2] == ["package", "resolve-activity"]:
        return _resolve_activity(args[2:])
    if args and args[0] == "package":
        return pm(args[1:])
    if args and args[0] == "activity":
        return am(args[1:])
    if not args or args[0] == "-l":
        print("Currently running services:\n  activity\n  package")
        return 0
    _err(f"cmd: Can't find service: {args[0]}")
    return 20


LOG_BUFFER = Path("/system/socket/logd.buffer")


def _log_entries() -> list[dict[str, Any]]:
    try:
        lines = LOG_BUFFER.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _threadtime(e: dict[str, Any]) -> str:
    """logcat's default format (threadtime): ``MM-DD HH:MM:SS.mmm  PID  TID L TAG     : message``."""
    t = float(e["time"])
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"
    return f"{stamp} {e['pid']:5d} {e['tid']:5d} {e['level']} {e['tag']:<8}: {e['message']}"


def _since(text: str) -> float | None:
    """``-T 'MM-DD HH:MM:SS.mmm'`` (this year, device local time) as epoch seconds."""
    try:
        head, _, millis = text.partition(".")
        parsed = time.strptime(f"{time.localtime().tm_year}-{head}", "%Y-%m-%d %H:%M:%S")
        return time.mktime(parsed) + (int(millis[:3].ljust(3, "0")) / 1000 if millis else 0.0)
    except ValueError:
        return None


def logcat(args: list[str]) -> int:
    """The main/system buffer: ``-d`` (dump and exit), ``-c`` (clear), ``-T``/``-t`` (since a
    time ``'MM-DD HH:MM:SS.mmm'`` or the last N lines; ``-t`` implies ``-d``), ``-v threadtime``,
    ``-b main|system|all``; without ``-d`` it follows the log until killed, as logcat does."""
    dump, since, last = False, None, None
    it = iter(args)
    for a in it:
        if a == "-d":
            dump = True
        elif a == "-c":
            if _uid() not in (0, 2000):
                _err("failed to clear the 'main' log")
                return 1
            _ask({"op": "log-clear"})  # the buffer is logd's (here: the daemon's), not the caller's
            return 0
        elif a in ("-T", "-t"):
            value = next(it, None)
            if value is None:
                _err(f"logcat: option requires an argument -- '{a[1]}'")
                return 1
            dump = dump or a == "-t"
            if value.isdigit():
                last = int(value)
            else:
                since = _since(value)
                if since is None:
                    _err(f"unknown time format: {value}")  # what logcat says to a bad -T
                    return 1
        elif a in ("-v", "-b"):
            value = next(it, None)
            if a == "-v" and value not in ("threadtime", None):
                _err(f"logcat: only -v threadtime is supported on this device, not {value}")
                return 1
        else:
            _err(f"logcat: unknown option -- {a.lstrip('-')}")
            return 1
    entries = _log_entries()
    if since is not None:
        entries = [e for e in entries if float(e["time"]) >= since]
    if last is not None:
        entries = entries[-last:] if last else []
    for e in entries:
        print(_threadtime(e))
    if dump:
        return 0
    sys.stdout.flush()
    seen = len(_log_entries())
    while True:  # follow, as logcat without -d does, until the caller goes away
        time.sleep(0.2)
        now = _log_entries()
        for e in now[seen:]:
            print(_threadtime(e), flush=True)
        seen = len(now)


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


