"""``droidcap inspect``: the Textual TUI that steps through the RTMP sessions of a capture."""

from __future__ import annotations

import os
import sys
from typing import Annotated, BinaryIO

import typer

from droidcap.cli import app, fail


def _stdin_capture() -> BinaryIO:
    """The pcap on standard input, with the terminal put back on fd 0 for the TUI's keys
    (what less does): the capture keeps a duplicate of the pipe."""
    if sys.stdin.isatty():
        raise fail("inspect - reads a capture from standard input, but it is a terminal; "
                   "pipe one in (e.g. adb exec-out ... | droidcap inspect -)")
    pipe = os.dup(0)
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        raise fail("inspect - needs a terminal for its keys (/dev/tty cannot be opened)") from None
    os.dup2(tty, 0)
    os.close(tty)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the TUI reads keys from it
    return os.fdopen(pipe, "rb")


@app.command()
def inspect(
    capture: Annotated[str | None, typer.Argument(
        help="A .pcap/.pcapng file, - for standard input; none opens the sample capture.")] = None,
    follow: Annotated[bool, typer.Option(
        help="Keep reading a capture that is still being written; the list follows its end.")] = False,
) -> None:
    """Step through the RTMP sessions of CAPTURE in a terminal UI (? lists the keys)."""
    from droidcap.tui.app import create_app

    if capture == "-":
        if follow:
            raise fail("--follow is for a growing file; standard input is followed anyway")
        tui = create_app(_stdin_capture(), label="standard input")
    else:
        tui = create_app(capture, follow=follow)
    try:
        tui.run()
    finally:
        tui.discard_spool()
    if tui.return_code:
        if tui.failed:
            typer.echo(f"droidcap: {tui.failed}", err=True)
        raise typer.Exit(tui.return_code)
