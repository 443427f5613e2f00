"""``droidcap summary``: stream health per connection of a capture."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from droidcap.cli import app, fail
from droidcap.cli.decode_cmd import _connection_index, _open
from droidcap.errors import DroidcapError


@app.command()
def summary(
    capture: Annotated[str, typer.Argument(help="A .pcap/.pcapng file, or - for standard input.")],
    conn: Annotated[int | None, typer.Option(callback=_connection_index,
        help="Only this connection (its index, from 0).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON (docs/summary.md).")] = False,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="Also write a self-contained HTML page with timelines.")] = None,
    stall_ms: Annotated[float, typer.Option(min=1, help="No media for longer than this (ms) is a stall.")] = 200.0,
    keyframe_interval_ms: Annotated[float, typer.Option(min=1, help="A longer keyframe interval (ms) warns.")] = 4000.0,
    drift_ms: Annotated[float, typer.Option(min=1, help="Audio/video drift of this many ms or more warns.")] = 1000.0,
    jump_ms: Annotated[float, typer.Option(min=1, help="A timestamp step larger than this (ms) is a jump.")] = 1000.0,
    declared_off_pct: Annotated[float, typer.Option(min=0, help="onMetaData rates this far off (%) warn.")] = 30.0,
) -> None:
    """Stream health of CAPTURE: startup, statuses and their meaning, media figures, stalls, gaps."""
    from droidcap.analysis.findings import Thresholds
    from droidcap.summarise import summarise

    source = _open(capture)
    limits = Thresholds(stall_ms=stall_ms, keyframe_interval_ms=keyframe_interval_ms, drift_ms=drift_ms,
                        timestamp_jump_ms=jump_ms, declared_off_pct=declared_off_pct)
    try:
        result = summarise(source, thresholds=limits, conn=conn)
    except DroidcapError as err:
        raise fail(str(err), 1) from None
    if html_out is not None:
        from droidcap.render.summary_html import render_html

        try:
            html_out.write_text(render_html(result, title=f"droidcap summary of {Path(capture).name}"),
                                encoding="utf-8")
        except OSError as err:
            raise fail(f"cannot write {html_out}: {err.strerror}", 1) from None
    if as_json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        from droidcap.render.summary_text import write_summary

        write_summary(sys.stdout, result)
