"""``droidcap lab validate`` and ``droidcap lab run``: thin commands over :mod:`droidcap.labrun`."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from droidcap.cli import fail

lab_app = typer.Typer(help="Scripted device-lab runs: one lab file, many devices (docs/lab.md).",
                      no_args_is_help=True)


@lab_app.command()
def validate(lab_file: Annotated[Path, typer.Argument(help="The lab file (TOML).")]) -> None:
    """Check LAB_FILE: every error with its file, line and key, and what is allowed (exit 2)."""
    from droidcap.labrun import check_lab

    lab, errors = check_lab(lab_file)
    for err in errors:
        typer.echo(f"droidcap: {err}", err=True)
    if errors:
        raise typer.Exit(2)
    assert lab is not None
    runs = sum(s.repetitions for s in lab.scenarios)
    typer.echo(f"{lab_file}: lab {lab.name}, {len(lab.scenarios)} scenarios "
               f"({runs} runs per matching device), adb {', '.join(str(a) for a in lab.adb)}: OK")


@lab_app.command()
def run(
    lab_file: Annotated[Path, typer.Argument(help="The lab file (TOML).")],
    parallel: Annotated[int | None, typer.Option(
        min=1, help="At most this many captures at once (default: the lab file's, else 4).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Directory for artefacts and reports (default: lab-results/NAME-TIME).")] = None,
) -> None:
    """Run LAB_FILE's scenarios on its devices; reports in the output directory.

    Exit 0 when every expectation held, 1 when one failed or a device errored, 2 for a bad lab
    file or no devices.  Ctrl-C stops every capture, pulls what exists and writes the report."""
    from droidcap.labrun import LabError, LabRunner, load_lab, run_lab
    from droidcap.labrun.progress import ProgressTable

    try:
        lab = load_lab(lab_file)
    except LabError as err:
        raise fail(str(err), 2) from None
    out = output or Path("lab-results") / f"{lab.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    runners: list[LabRunner] = []

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if any(r.interrupted for r in runners):  # a second Ctrl-C: give up waiting for the pulls
            typer.echo(f"droidcap: abandoned: the reports in {out} hold the runs finished so far; "
                       "captures still on a device: droidcap stop -s SERIAL", err=True)
            raise KeyboardInterrupt
        typer.echo("droidcap: interrupted: stopping every capture, pulling what exists "
                   "(Ctrl-C again to abandon)", err=True)
        for r in runners:
            r.interrupt()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with ProgressTable(sys.stderr) as progress:
            result = run_lab(lab, out, parallel=parallel, on_event=progress, runner_ready=runners.append)
    except LabError as err:
        raise fail(str(err), 2) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    from droidcap.labrun.reports.markdown import render_markdown

    typer.echo(render_markdown(result))
    typer.echo(f"reports: {out}/lab.json lab.md junit.xml lab.html")
    raise typer.Exit(result.exit_code)
