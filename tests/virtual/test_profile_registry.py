"""Profiles (built-in and TOML) and the background-device registry's cleanup."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from droidcap.virtual import registry
from droidcap.virtual.profile import (
    BUILTIN_PROFILES,
    BuildType,
    ProfileError,
    RootMethod,
    load_profile,
)
from droidcap.virtual.pytest_plugin import AdbServer


def test_builtin_profiles_imply_consistent_properties() -> None:
    for profile in BUILTIN_PROFILES.values():
        props = profile.properties()
        assert props["ro.product.cpu.abi"] == profile.abis[0]
        assert props["ro.debuggable"] == ("0" if profile.build_type is BuildType.USER else "1")
        assert props["ro.build.fingerprint"].endswith(
            f":{profile.build_type}/{'release-keys' if profile.build_type is BuildType.USER else 'test-keys'}")
        assert profile.banner_properties()["ro.product.model"] == profile.model


def test_toml_profile_with_base(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('base = "stock"\nmodel = "X"\nabis = ["x86_64", "x86"]\n')
    p = load_profile(str(f))
    assert (p.name, p.model, p.root_method, p.abis) == ("p", "X", RootMethod.NONE, ("x86_64", "x86"))
    assert p.properties()["ro.product.cpu.abilist32"] == "x86"


@pytest.mark.parametrize("text, message", [
    ('root_method = "kingroot"\n', "invalid profile"),
    ('base = "nope"\n', "unknown base"),
    ('build_type = "user"\nroot_method = "adb-root"\n', "adb root needs a userdebug"),
    ('abis = []\n', "abis must not be empty"),
    ('model = \n', "cannot read profile"),
])
def test_bad_profiles_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(f))


def test_killed_daemon_leaves_nothing_behind(adb_server: AdbServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROIDCAP_VIRTUAL_STATE", str(tmp_path / "state"))
    [rec] = registry.start_devices("magisk", adb_port=adb_server.port, adb=adb_server.adb)
    try:
        holders = [int(p) for p in os.listdir("/proc") if p.isdigit()
                   and _ppid(int(p)) == rec.pid and _comm(int(p)) == "sleep"]
        assert len(holders) == 1
        os.kill(rec.pid, signal.SIGKILL)  # no chance to clean up
        deadline = time.monotonic() + 5
        while _comm(holders[0]) not in ("", "<zombie>"):
            assert time.monotonic() < deadline, "the sandbox holder outlived its daemon"
            time.sleep(0.05)
        assert registry.list_devices() == []  # the stale entry is gone
        assert not (tmp_path / "state" / rec.name).exists()
    finally:
        registry.stop_devices()
        adb_server.run("disconnect", rec.serial)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _comm(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return "<zombie>" if stat.rsplit(")", 1)[1].split()[0] == "Z" else Path(f"/proc/{pid}/comm").read_text().strip()


def test_state_file_written_by_daemon_is_json(adb_server: AdbServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROIDCAP_VIRTUAL_STATE", str(tmp_path / "state"))
    [rec] = registry.start_devices(None, adb_port=adb_server.port, adb=adb_server.adb)
    try:
        data = json.loads((tmp_path / "state" / rec.name / "device.json").read_text())
        assert data["serial"] == rec.serial and data["adb_port"] == adb_server.port
    finally:
        registry.stop_devices()
