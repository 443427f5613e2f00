"""The ``droidcap`` command: thin Typer commands over the library.

Each command module registers itself on :data:`app`; commands call the library, catch its one error
family (:class:`~droidcap.errors.DroidcapError`), print one line and exit non-zero.  Heavy imports
happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from droidcap import __version__
from droidcap.errors import DroidcapError

app = typer.Typer(
    name="droidcap",
    help="Capture and decode RTMP sessions on Android devices.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"droidcap {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print droidcap's version and exit.")] = False,
) -> None:
    """Capture and decode RTMP sessions on Android devices."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``droidcap: message`` on stderr and return the Exit to raise."""
    typer.echo(f"droidcap: {message}", err=True)
    return typer.Exit(code)


def _register() -> None:
    # Importing a command module adds its commands to ``app``.
    from droidcap.cli import decode_cmd, device_cmd, export_cmd, inspect_cmd, summary_cmd  # noqa: F401
    from droidcap.cli.lab_cmd import lab_app
    from droidcap.cli.virtual_cmd import virtual_app

    app.add_typer(virtual_app, name="virtual")
    app.add_typer(lab_app, name="lab")


def _command_path(args: list[str]) -> str:
    """The command the arguments name, as ``droidcap decode``: Click's option parser reports a
    missing option value without the command's context, and the hint must still name it."""
    command, path = typer.main.get_command(app), ["droidcap"]
    for arg in args:
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        command, path = sub, [*path, arg]
    return " ".join(path)


def _usage_error(err: typer.TyperException, args: list[str]) -> int:
    """Say a usage error in one line (Click prints a usage block and a panel) and return its code.

    Every Click error is a :class:`typer.TyperException`; with ``no_args_is_help`` Typer has
    already printed the help and the message is empty, so nothing is added to it.
    """
    message = err.format_message().rstrip(".")
    if message:
        ctx = getattr(err, "ctx", None)
        path = ctx.command_path if ctx is not None else _command_path(args)
        typer.echo(f"droidcap: error: {message}; see '{path} --help'", err=True)
    return err.exit_code


def main() -> None:
    """The entry point: Typer runs without standalone mode so that every way out is ours —
    usage errors in one line, library errors in one line, Ctrl-C quietly with 130."""
    _register()
    args = sys.argv[1:]
    try:
        # a typer.Exit comes back as its code; a command that ends normally returns None
        code = app(args, prog_name="droidcap", standalone_mode=False)
    except typer.TyperException as err:
        code = _usage_error(err, args)
    except DroidcapError as err:  # a library error that a command did not translate itself
        typer.echo(f"droidcap: {err}", err=True)
        code = 2
    except (KeyboardInterrupt, typer.Abort):  # Ctrl-C, or end of input at a prompt
        code = 130
    sys.exit(code or 0)
