"""``droidcap export``: one connection of a capture as FLV, pcap or ndjson."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from droidcap.cli import app, fail
from droidcap.errors import DroidcapError


@app.command()
def export(
    capture: Annotated[Path, typer.Argument(help="A .pcap/.pcapng file.")],
    conn: Annotated[int, typer.Option(
        min=0, help="The connection to export (its index, from 0; see droidcap summary).")],
    flv: Annotated[Path | None, typer.Option(help="Write its metadata, audio and video as FLV.")] = None,
    pcap: Annotated[Path | None, typer.Option(help="Write its packets, as captured, as pcap.")] = None,
    ndjson: Annotated[Path | None, typer.Option(help="Write its decoded messages as ndjson.")] = None,
) -> None:
    """Export connection CONN of CAPTURE: what a player received or a publisher sent (--flv), its
    packets (--pcap) or its messages (--ndjson)."""
    from droidcap import export as exports

    chosen = [(name, path) for name, path in (("flv", flv), ("pcap", pcap), ("ndjson", ndjson)) if path is not None]
    if len(chosen) != 1:
        raise fail("give exactly one of --flv OUT, --pcap OUT or --ndjson OUT")
    if str(capture) == "-":
        raise fail("export reads the capture twice: give a capture file, not - (standard input)")
    if not capture.exists():
        raise fail(f"no such file: {capture}")
    if capture.is_dir():
        raise fail(f"{capture} is a directory; give a .pcap or .pcapng file")
    name, out = chosen[0]
    if out.parent and not out.parent.is_dir():
        raise fail(f"cannot write {out}: no directory {out.parent}")
    try:
        if name == "flv":
            result = exports.export_flv(capture, conn, out)
            r = result.report
            typer.echo(f"{out}: {r.video_frames} video frames, {r.audio_packets} audio packets "
                       f"({'sent by the publisher' if result.direction == 'c2s' else 'received'}), "
                       f"{r.tags} tags", err=True)
            if result.left_out:
                typer.echo(f"droidcap: warning: {' and '.join(result.left_out)} left out: no sequence header "
                           "in the capture (it starts mid-connection)", err=True)
            if r.dropped_count:
                reasons = sorted({d.reason for d in r.dropped})
                first = r.dropped[0]
                typer.echo(f"droidcap: warning: {r.dropped_count} damaged or undecodable frames left out "
                           f"({', '.join(reasons)}; the first at frame {first.frame})", err=True)
        elif name == "pcap":
            typer.echo(f"{out}: {exports.export_pcap(capture, conn, out).packets} packets", err=True)
        else:
            typer.echo(f"{out}: {exports.export_ndjson(capture, conn, out).records} records", err=True)
    except DroidcapError as err:
        raise fail(str(err), 1) from None
    except OSError as err:
        raise fail(f"cannot write {out}: {err.strerror}", 1) from None
