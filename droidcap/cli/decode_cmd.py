"""``droidcap decode`` and ``droidcap demo``: print the RTMP sessions in a capture."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from droidcap.cli import app, fail
from droidcap.errors import DroidcapError


def _open(capture: str):
    if capture == "-":
        return sys.stdin.buffer
    path = Path(capture)
    if not path.exists():
        raise fail(f"no such file: {capture}")
    if path.is_dir():
        raise fail(f"{capture} is a directory; give a .pcap or .pcapng file")
    return path


def _connection_index(value: int | None) -> int | None:
    """Reject a negative index before the capture is read, not after the whole decode."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"{value} is not a connection index (they count from 0)")
    return value


MIN_MESSAGE_SIZE = 1024


def _at_least_min_message_size(value: int) -> int:
    """Reject a limit that control and command messages exceed: Set Chunk Size would be skipped
    as oversize with the rest, and every chunk after it misread."""
    if value < MIN_MESSAGE_SIZE:
        raise typer.BadParameter(
            f"{value} is too small: control and command messages must fit, so give at least {MIN_MESSAGE_SIZE}"
        )
    return value


@app.command()
def decode(
    capture: Annotated[str, typer.Argument(help="A .pcap/.pcapng file, or - for standard input.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or ndjson.")] = "table",
    conn: Annotated[Optional[int], typer.Option(callback=_connection_index,
        help="Only this connection (its index, from 0).")] = None,
    types: Annotated[Optional[list[str]], typer.Option("--type", "-t",
        help="Only these message types (e.g. command, video, set_chunk_size) or kinds (handshake, gap).")] = None,
    engine: Annotated[str, typer.Option(help="native (droidcap's decoder) or tshark (through pyshark, to cross-check).")] = "native",
    follow: Annotated[bool, typer.Option(
        help="Keep reading a capture that is still being written, until Ctrl-C. The table format prints "
             "the ladder when following stops; --format ndjson prints each item as soon as it is complete.")] = False,
    max_message_size: Annotated[int, typer.Option(callback=_at_least_min_message_size,
        help=f"Larger RTMP messages are reported, not buffered (at least {MIN_MESSAGE_SIZE}).")] = 16 * 1024 * 1024,
) -> None:
    """Decode the RTMP sessions in CAPTURE: handshake, commands, status, metadata, media."""
    from droidcap.decode import FORMATS, DecodeFilter, decode_to, iter_items
    from droidcap.render.records import resolve_types

    if fmt not in FORMATS:
        raise fail(f"unknown --format {fmt!r}; choose table, json or ndjson")
    if engine not in ("native", "tshark"):
        raise fail(f"unknown --engine {engine!r}; choose native or tshark")
    try:
        wanted = resolve_types(types) if types else None
    except ValueError as err:
        raise fail(str(err)) from None
    source = _open(capture)
    if engine == "tshark":
        if capture == "-" or follow:
            raise fail("--engine tshark needs a capture file (not - or --follow)")
        from droidcap.tshark_engine import tshark_items

        items = tshark_items(Path(capture))
    else:
        items = iter_items(source, follow=follow, max_message_size=max_message_size)
        if follow:
            items = _until_interrupted(items)

    def warn(note) -> None:
        where = f" (frame {note.frame})" if note.frame else ""
        typer.echo(f"droidcap: warning: {note.message}{where}", err=True)

    out = sys.stdout
    if follow and fmt == "ndjson":  # each item must reach a pipe when it is complete, not per 8 KiB
        out.reconfigure(line_buffering=True)
    try:
        decode_to(out, items, fmt=fmt, selection=DecodeFilter(conn=conn, types=wanted), on_note=warn)
        out.flush()
    except BrokenPipeError:  # `droidcap decode x | head`: the reader left, which is fine
        sys.stderr.close()
        raise typer.Exit(0) from None
    except DroidcapError as err:
        raise fail(str(err), 1) from None


def _until_interrupted(items):
    """Following a live capture ends with Ctrl-C: stop reading, still print the summary."""
    try:
        yield from items
    except KeyboardInterrupt:
        return


def embedded_capture() -> Path:
    """The capture shipped inside the package for ``droidcap demo``."""
    return Path(__file__).resolve().parents[1] / "data" / "demo.pcap"


@app.command()
def demo(
    offline: Annotated[bool, typer.Option(help="Only decode the capture embedded in droidcap (no root, no virtual device).")] = False,
    duration: Annotated[float, typer.Option(help="Seconds to record.", min=1)] = 10.0,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the capture.")] = Path("."),
) -> None:
    """Record a real RTMP play session on a virtual rooted device (no phone needed), then decode it.

    Starts nginx-rtmp with an ffmpeg publisher and a virtual device, runs `droidcap record --play
    URL --duration N --live` against it, pulls the capture verified, and prints the session ladder
    (and opens `droidcap inspect` on it in a terminal, where the TUI is installed)."""
    if offline:
        path = embedded_capture()
        typer.echo(f"# droidcap decode {path}", err=True)
        decode(str(path), fmt="table", conn=None, types=None, engine="native", follow=False,
               max_message_size=16 * 1024 * 1024)
        return
    from droidcap.cli.device_cmd import _Printer
    from droidcap.demo import run_demo

    if not output.is_dir():
        raise fail(f"--output {output} is not a directory")
    printer = _Printer()
    try:
        result = run_demo(output, duration=duration, on_event=printer.event, say=printer.line)
    except DroidcapError as err:
        printer.close()
        raise fail(str(err), 1)
    printer.close()
    typer.echo(f"# {result.pcap} ({result.pulled.size} bytes, SHA-256 verified) and {result.metadata}", err=True)
    typer.echo(f"# droidcap decode {result.pcap}", err=True)
    decode(str(result.pcap), fmt="table", conn=None, types=None, engine="native", follow=False,
           max_message_size=16 * 1024 * 1024)
