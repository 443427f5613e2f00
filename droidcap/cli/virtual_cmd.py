"""``droidcap virtual start|stop|list``: virtual Android devices for trying droidcap without a phone.

Thin commands over :mod:`droidcap.virtual.registry`; errors print one line and exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from droidcap.errors import DroidcapError

virtual_app = typer.Typer(
    help="Virtual rooted Android devices on 127.0.0.1 that the real adb server connects to. "
         "They run commands ON THIS HOST (shell as uid 2000; su and adb root give real root), "
         "in a per-device sandbox: see docs/virtual-device.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_ADB_PORT_HELP = "adb server port to register with (default: $ANDROID_ADB_SERVER_PORT or 5037)"


def _fail(err: DroidcapError) -> typer.Exit:
    typer.echo(f"droidcap: {err}", err=True)
    return typer.Exit(2)


@virtual_app.command()
def start(
    profile: Annotated[str | None, typer.Option(
        "--profile", help="built-in profile name (emulator, magisk, pixel-arm64, adb-root, stock) "
                          "or a TOML profile file")] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=16, help="how many devices")] = 1,
    adb_port: Annotated[int | None, typer.Option("--adb-port", help=_ADB_PORT_HELP)] = None,
) -> None:
    """Start devices in the background, `adb connect` them and print their serials."""
    from droidcap.virtual import registry

    try:
        for rec in registry.start_devices(profile, count, adb_port=adb_port):
            typer.echo(rec.serial)
    except DroidcapError as err:
        raise _fail(err) from None


@virtual_app.command()
def stop(
    devices: Annotated[list[str] | None, typer.Argument(
        help="serials, ro.serialno values or names to stop (default: all)")] = None,
) -> None:
    """Stop devices: disconnect them from adb and end every process they started."""
    from droidcap.virtual import registry

    try:
        stopped = registry.stop_devices(devices or None)
    except DroidcapError as err:
        raise _fail(err) from None
    for rec in stopped:
        typer.echo(f"stopped {rec.serial}")


@virtual_app.command("list")
def list_() -> None:
    """List running devices: serial, profile, ro.serialno, adb server port, daemon pid, and the
    host address the device reaches the host at (serve RTMP there)."""
    from droidcap.virtual import registry

    try:
        records = registry.list_devices()
    except DroidcapError as err:
        raise _fail(err) from None
    if not records:
        typer.echo("no virtual devices running (start one with `droidcap virtual start`)", err=True)
    for rec in records:
        typer.echo(f"{rec.serial}\t{rec.profile}\t{rec.serialno}\tadb-port={rec.adb_port}\tpid={rec.pid}"
                   f"\thost={rec.host_address}\twlan0={rec.device_address}")


if __name__ == "__main__":
    virtual_app()
