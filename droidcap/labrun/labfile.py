"""The lab file (TOML): adb servers, device selection, scenarios and their expectations.

``load_lab(path)`` gives a frozen :class:`Lab` or raises :class:`LabFileError` naming the file,
the line and the key and saying what is allowed; ``check_lab(path)`` gives every error at once
(``droidcap lab validate``).  Unknown keys are errors, so a typo never silently drops an
expectation.  The reference is docs/lab.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from droidcap.device.adb import ServerAddress
from droidcap.device.errors import AdbServerError
from droidcap.labrun.durations import HELP as DURATION_HELP
from droidcap.labrun.durations import parse_ms
from droidcap.labrun.errors import LabFileError
from droidcap.labrun.expectations import RULES, Expectation, parse_expectation
from droidcap.labrun.locator import KeyLocator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+(/[A-Za-z0-9_.$]+)?$")
_RTMP_SCHEMES = ("rtmp", "rtmps", "rtmpt")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSelector:
    """Which devices a scenario runs on: ``all``, serials, or properties (all must match)."""

    all: bool = False
    serials: tuple[str, ...] = ()
    model: str | None = None
    abi: str | None = None
    release: str | None = None
    sdk: int | None = None
    tag: str | None = None

    def describe(self) -> str:
        if self.all:
            return "all"
        if self.serials:
            return ", ".join(self.serials)
        parts = [f"{k}={getattr(self, k)}" for k in ("model", "abi", "release", "sdk", "tag")
                 if getattr(self, k) is not None]
        return " and ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    devices: DeviceSelector
    play: str | None = None          #: URL the device's player opens; None: capture while apps run
    player: str | None = None        #: PKG or PKG/ACTIVITY
    publish: str | None = None       #: URL a broadcasting app on the device publishes to
    publisher: str | None = None     #: that app's PKG/ACTIVITY
    duration_s: float
    repetitions: int = 1
    filter: str | None = None        #: tcpdump filter; None: RTMP's port and the URL's
    interface: str = "any"
    timeout_s: float                 #: one attempt's limit, capture and pull included
    retries: int = 0                 #: attempts after an infrastructure error (not after a failed expectation)
    live: bool = True                #: milestones as they happen (the progress table shows them)
    expect: tuple[Expectation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Lab:
    path: Path
    name: str
    adb: tuple[ServerAddress, ...]
    parallel: int
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scenarios: tuple[Scenario, ...] = ()
    adb_default: bool = False  #: no ``adb`` in the file: the local server (or $ANDROID_ADB_SERVER_*)


_LAB_KEYS = {"name": "a name (letters, digits, . _ -)",
             "adb": 'a list of adb servers "HOST:PORT" (default: the local one)',
             "parallel": "the most runs at the same time, a whole number >= 1 (default 4)"}
_SCENARIO_KEYS = {
    "name": "a unique name (letters, digits, . _ -)",
    "devices": '"all", a list of serials, or a table of model/abi/release/sdk/tag',
    "play": "an rtmp:// URL the device's player opens",
    "publish": "an rtmp:// URL a broadcasting app on the device publishes to (with publisher)",
    "publisher": "the component (com.example.app/.Activity) of the app that publishes",
    "player": "an Android package (com.example.app) or component (com.example.app/.Activity)",
    "duration": DURATION_HELP,
    "repetitions": "a whole number >= 1",
    "filter": "a tcpdump filter",
    "interface": "an interface name such as any or wlan0",
    "timeout": DURATION_HELP,
    "retries": "a whole number >= 0",
    "live": "true or false",
    "expect": "a table of expectations",
}
_SELECTOR_KEYS = {"model": "a model name (ro.product.model)", "abi": "an ABI such as arm64-v8a",
                  "release": 'an Android version such as "14"', "sdk": "an API level such as 34",
                  "tag": "a tag from [tags]"}
_TOP_KEYS = {"lab": "a table", "tags": "a table of tag = [serials]", "scenario": "[[scenario]] tables"}


class _Checker:
    """Collects located errors while reading the parsed document."""

    def __init__(self, path: Path, locator: KeyLocator) -> None:
        self.path, self.locator = path, locator
        self.errors: list[LabFileError] = []

    def error(self, where: tuple[str | int, ...], problem: str) -> None:
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where).replace(".[", "[")
        self.errors.append(LabFileError(self.path, self.locator.line(where), key, problem))

    def unknown(self, table: dict[str, Any], allowed: dict[str, str], where: tuple[str | int, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.error((*where, key), f"unknown key; allowed here: {', '.join(allowed)}")

    def typed(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...],
              where: tuple[str | int, ...], allowed: str) -> Any:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
            self.error((*where, key), f"must be {allowed}, not {_toml_type(value)}")
            return None
        return value


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def check_lab(path: Path | str) -> tuple[Lab | None, list[LabFileError]]:
    """The lab and no errors, or None and every error found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        return None, [LabFileError(path, None, "", f"cannot read the lab file: {err.strerror}")]
    except UnicodeDecodeError:
        return None, [LabFileError(path, None, "", "not UTF-8 text: a lab file is TOML")]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column \d+\)", str(err))
        return None, [LabFileError(path, int(m.group(1)) if m else None, "",
                                   f"not valid TOML: {str(err).split(' (at line')[0]}")]
    check = _Checker(path, KeyLocator.scan(text))
    lab = _read(doc, path, check)
    return (lab, []) if not check.errors else (None, check.errors)


def load_lab(path: Path | str) -> Lab:
    """The lab of ``path``; raises the first :class:`LabFileError`."""
    lab, errors = check_lab(path)
    if errors:
        raise errors[0]
    assert lab is not None
    return lab


def _read(doc: dict[str, Any], path: Path, check: _Checker) -> Lab | None:
    check.unknown(doc, _TOP_KEYS, ())
    head = doc.get("lab", {})
    if not isinstance(head, dict):
        check.error(("lab",), "must be a table ([lab])")
        head = {}
    check.unknown(head, _LAB_KEYS, ("lab",))
    name = check.typed(head, "name", str, ("lab",), _LAB_KEYS["name"]) or path.stem
    if not _NAME.match(name):
        check.error(("lab", "name"), f"must be {_LAB_KEYS['name']}, not {name!r}")
    adb = _servers(head, check)
    parallel = check.typed(head, "parallel", int, ("lab",), _LAB_KEYS["parallel"])
    parallel = 4 if parallel is None else parallel
    if parallel < 1:
        check.error(("lab", "parallel"), f"must be {_LAB_KEYS['parallel']}, not {parallel}")
    tags = _tags(doc.get("tags", {}), check)
    raw = doc.get("scenario")
    if raw is None or not isinstance(raw, list) or not raw:
        check.error(("scenario",) if raw is not None else (),
                    "a lab needs at least one [[scenario]] table (name, devices, play, duration, [scenario.expect])")
        raw = []
    scenarios = [s for i, t in enumerate(raw) if (s := _scenario(t, i, tags, check)) is not None]
    seen: set[str] = set()
    for i, s in enumerate(scenarios):
        if s.name in seen:
            check.error(("scenario", i, "name"), f"{s.name!r} is used by another scenario: names must be unique")
        seen.add(s.name)
    return Lab(path=path, name=name, adb=tuple(adb), parallel=parallel, tags=tags,
               scenarios=tuple(scenarios), adb_default="adb" not in head)


def _servers(head: dict[str, Any], check: _Checker) -> list[ServerAddress]:
    raw = head.get("adb")
    if raw is None:
        return [ServerAddress.parse(None)]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        check.error(("lab", "adb"), f"must be {_LAB_KEYS['adb']}")
        return []
    out = []
    for spec in raw:
        try:
            out.append(ServerAddress.parse(spec if ":" in spec else f"{spec}:5037"))
        except AdbServerError:
            check.error(("lab", "adb"), f"{spec!r} is not HOST:PORT with a port from 1 to 65535")
    if len(set(out)) != len(out):
        check.error(("lab", "adb"), "lists the same adb server twice")
    return out


def _tags(raw: Any, check: _Checker) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        check.error(("tags",), _TOP_KEYS["tags"])
        return {}
    out = {}
    for tag, serials in raw.items():
        if not isinstance(serials, list) or not serials or not all(isinstance(s, str) for s in serials):
            check.error(("tags", tag), "must be a list of device serials")
            continue
        out[tag] = tuple(serials)
    return out


def _selector(raw: Any, where: tuple[str | int, ...], tags: dict[str, tuple[str, ...]],
              check: _Checker) -> DeviceSelector | None:
    if raw is None or raw == "all":
        return DeviceSelector(all=True)
    if isinstance(raw, list) and raw and all(isinstance(s, str) for s in raw):
        return DeviceSelector(serials=tuple(raw))
    if isinstance(raw, dict) and raw:
        check.unknown(raw, _SELECTOR_KEYS, where)
        values = {k: check.typed(raw, k, int if k == "sdk" else str, where, _SELECTOR_KEYS[k])
                  for k in _SELECTOR_KEYS}
        tag = values["tag"]
        if tag is not None and tag not in tags:
            check.error((*where, "tag"), f"no tag {tag!r} in [tags] (defined: {', '.join(tags) or 'none'})")
        return DeviceSelector(**values)
    check.error(where, f"must be {_SCENARIO_KEYS['devices']}")
    return None


def _scenario(raw: Any, index: int, tags: dict[str, tuple[str, ...]], check: _Checker) -> Scenario | None:
    where: tuple[str | int, ...] = ("scenario", index)
    if not isinstance(raw, dict):
        check.error(where, "must be a table")
        return None
    before = len(check.errors)
    check.unknown(raw, _SCENARIO_KEYS, where)
    name = check.typed(raw, "name", str, where, _SCENARIO_KEYS["name"])
    if name is None:
        if "name" not in raw:
            check.error(where, f"needs a name ({_SCENARIO_KEYS['name']})")
    elif not _NAME.match(name):
        check.error((*where, "name"), f"must be {_SCENARIO_KEYS['name']}, not {name!r}")
    devices = _selector(raw.get("devices"), (*where, "devices"), tags, check)
    play = _url(raw, "play", where, check)
    publish = _url(raw, "publish", where, check)
    publisher = check.typed(raw, "publisher", str, where, _SCENARIO_KEYS["publisher"])
    if play is not None and publish is not None:
        check.error((*where, "publish"), "play and publish exclude each other: a run follows one stream")
    if publish is not None and publisher is None:
        check.error(where, f"publish needs a publisher ({_SCENARIO_KEYS['publisher']}): Android has "
                    "no default app that publishes a URL")
    if publisher is not None and not _PACKAGE.match(publisher):
        check.error((*where, "publisher"), f"must be {_SCENARIO_KEYS['publisher']}, not {publisher!r}")
    player = check.typed(raw, "player", str, where, _SCENARIO_KEYS["player"])
    if player is not None and not _PACKAGE.match(player):
        check.error((*where, "player"), f"must be {_SCENARIO_KEYS['player']}, not {player!r}")
    duration = _duration(raw, "duration", where, check)
    if duration is None and "duration" not in raw:
        check.error(where, f"needs a duration ({DURATION_HELP})")
    timeout = _duration(raw, "timeout", where, check)
    reps = check.typed(raw, "repetitions", int, where, _SCENARIO_KEYS["repetitions"])
    if reps is not None and reps < 1:
        check.error((*where, "repetitions"), f"must be {_SCENARIO_KEYS['repetitions']}, not {reps}")
    retries = check.typed(raw, "retries", int, where, _SCENARIO_KEYS["retries"])
    if retries is not None and retries < 0:
        check.error((*where, "retries"), f"must be {_SCENARIO_KEYS['retries']}, not {retries}")
    bpf = check.typed(raw, "filter", str, where, _SCENARIO_KEYS["filter"])
    if bpf is not None and any(c in bpf for c in "\r\n\0"):
        check.error((*where, "filter"), "must be one line")
    iface = check.typed(raw, "interface", str, where, _SCENARIO_KEYS["interface"])
    if iface is not None and not re.match(r"^[A-Za-z0-9_.:@-]{1,32}$", iface):
        check.error((*where, "interface"), f"must be {_SCENARIO_KEYS['interface']}, not {iface!r}")
    live = check.typed(raw, "live", bool, where, _SCENARIO_KEYS["live"])
    expect = _expectations(raw.get("expect", {}), (*where, "expect"), check)
    if len(check.errors) > before or name is None or devices is None or duration is None:
        return None
    dur_s = duration / 1000
    return Scenario(name=name, devices=devices, play=play, player=player, publish=publish,
                    publisher=publisher, duration_s=dur_s,
                    repetitions=reps or 1, filter=bpf, interface=iface or "any",
                    timeout_s=timeout / 1000 if timeout is not None else dur_s + 90.0,
                    retries=retries or 0, live=True if live is None else live, expect=expect)


def _url(raw: dict[str, Any], key: str, where: tuple[str | int, ...], check: _Checker) -> str | None:
    url: str | None = check.typed(raw, key, str, where, _SCENARIO_KEYS[key])
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in _RTMP_SCHEMES or not parts.hostname or any(c in url for c in "\r\n\0"):
            check.error((*where, key), f"must be {_SCENARIO_KEYS[key]} (rtmp, rtmps, rtmpt), not {url!r}")
    return url


def _duration(raw: dict[str, Any], key: str, where: tuple[str | int, ...], check: _Checker) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    ms = parse_ms(value) if isinstance(value, str) else None
    if ms is None or ms <= 0:
        check.error((*where, key), f"must be {DURATION_HELP}, not {value!r}")
    return ms


def _expectations(raw: Any, where: tuple[str | int, ...], check: _Checker) -> tuple[Expectation, ...]:
    if not isinstance(raw, dict):
        check.error(where, f"must be a table of expectations ({', '.join(RULES)})")
        return ()
    out = []
    for name, value in raw.items():
        if name not in RULES:
            check.error((*where, name), f"unknown expectation; allowed: {', '.join(RULES)}")
            continue
        parsed = parse_expectation(name, value)
        if isinstance(parsed, str):
            check.error((*where, name), f"{parsed}, not {value!r}")
        else:
            out.append(parsed)
    return tuple(out)


__all__ = ["DeviceSelector", "Lab", "Scenario", "check_lab", "load_lab"]
