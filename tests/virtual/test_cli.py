"""``droidcap virtual start|list|stop``: detached daemons registered with a real adb server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from droidcap.cli.virtual_cmd import virtual_app
from droidcap.virtual.pytest_plugin import AdbServer


@pytest.fixture
def cli_env(adb_server: AdbServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AdbServer:
    monkeypatch.setenv("DROIDCAP_VIRTUAL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    monkeypatch.setenv("DROIDCAP_ADB", adb_server.adb)
    return adb_server


def test_start_list_stop(cli_env: AdbServer) -> None:
    runner = CliRunner()
    res = runner.invoke(virtual_app, ["start", "--profile", "magisk", "--count", "2"])
    try:
        assert res.exit_code == 0, res.output
        serials = res.stdout.split()
        assert len(serials) == 2 and all(s.startswith("127.0.0.1:") for s in serials)
        devices = cli_env.run("devices").stdout.decode()
        assert all(f"{s}\tdevice" in devices for s in serials)
        # Two devices from one profile get distinct ro.serialno values.
        serialnos = {cli_env.run("shell", "getprop ro.serialno", serial=s).stdout for s in serials}
        assert len(serialnos) == 2
        listed = runner.invoke(virtual_app, ["list"]).stdout.splitlines()
        assert [line.split("\t")[0] for line in listed] == serials
        assert all("\tmagisk\t" in line for line in listed)
        res = runner.invoke(virtual_app, ["stop", serials[0]])
        assert res.exit_code == 0 and res.stdout == f"stopped {serials[0]}\n"
        assert serials[0] not in cli_env.run("devices").stdout.decode()
    finally:
        runner.invoke(virtual_app, ["stop"])
    assert runner.invoke(virtual_app, ["list"]).stdout == ""
    assert "127.0.0.1:" not in cli_env.run("devices").stdout.decode()


def test_user_errors_are_one_line(cli_env: AdbServer, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(virtual_app, ["start", "--profile", "no-such-profile"])
    assert res.exit_code == 2
    assert res.stderr.startswith("droidcap: no profile file 'no-such-profile'")
    assert res.stderr.count("\n") == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "magisk"\nroot_metod = "magisk"\n')
    res = runner.invoke(virtual_app, ["start", "--profile", str(bad)])
    assert (res.exit_code, res.stderr) == (2, "droidcap: unknown profile keys: root_metod\n")
    res = runner.invoke(virtual_app, ["stop", "127.0.0.1:1"])
    assert res.exit_code == 2 and res.stderr.startswith("droidcap: no running virtual device")


def test_toml_profile(cli_env: AdbServer, tmp_path: Path) -> None:
    prof = tmp_path / "lab-phone.toml"
    prof.write_text('base = "magisk"\nmodel = "Lab Phone"\nsdk = 33\nrelease = "13"\n'
                    'system_tcpdump = true\n[[apps]]\nname = "tv.example.live"\nuid = 10200\n')
    runner = CliRunner()
    res = runner.invoke(virtual_app, ["start", "--profile", str(prof)])
    try:
        assert res.exit_code == 0, res.output
        serial = res.stdout.strip()
        out = cli_env.run("shell", "getprop ro.product.model; getprop ro.build.version.sdk; "
                                   "pm list packages -U tv.example; command -v tcpdump",
                          serial=serial).stdout.decode()
        assert out == "Lab Phone\n33\npackage:tv.example.live uid:10200\n/system/bin/tcpdump\n"
    finally:
        runner.invoke(virtual_app, ["stop"])
