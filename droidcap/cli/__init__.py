"""The ``droidcap`` command: thin Typer commands over the library.

Each command module registers itself on :data:`app`; commands call the library, catch its one error
family (:class:`~droidcap.errors.DroidcapError`), print one line and exit non-zero.  Heavy imports
happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import sys

import typer

from droidcap.errors import DroidcapError

app = typer.Typer(
    name="droidcap",
    help="Capture and decode RTMP sessions on Android devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``droidcap: message`` on stderr and return the Exit to raise."""
    typer.echo(f"droidcap: {message}", err=True)
    return typer.Exit(code)


def _register() -> None:
    # Importing a command module adds its commands to ``app``.
    from droidcap.cli import decode_cmd  # noqa: F401
    from droidcap.cli.virtual_cmd import virtual_app

    app.add_typer(virtual_app, name="virtual")


def main() -> None:
    _register()
    try:
        app()
    except DroidcapError as err:  # a library error that a command did not translate itself
        typer.echo(f"droidcap: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("droidcap: interrupted", err=True)
        sys.exit(130)
