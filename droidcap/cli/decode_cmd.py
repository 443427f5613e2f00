"""``droidcap decode`` and ``droidcap demo``: print the RTMP sessions in a capture."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from droidcap.cli import app, fail
from droidcap.errors import DroidcapError

if TYPE_CHECKING:  # imported for real inside the command: --help must not wait for them
    from droidcap.capture.events import CaptureNote
    from droidcap.pipeline import PipelineItem


class OutputFormat(StrEnum):
    """``--format``: Typer shows the choices in ``--help`` and rejects others itself."""

    table = "table"
    json = "json"
    ndjson = "ndjson"


class Engine(StrEnum):
    native = "native"
    tshark = "tshark"


def _open(capture: str) -> Path | BinaryIO:
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
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="The ladder table, one JSON document, "
        "or one JSON object per line (docs/ndjson.md).")] = OutputFormat.table,
    conn: Annotated[int | None, typer.Option(callback=_connection_index,
        help="Only this connection (its index, from 0).")] = None,
    types: Annotated[list[str] | None, typer.Option("--type", "-t",
        help="Only these message types (e.g. command, video, set_chunk_size) or kinds (handshake, gap).")] = None,
    engine: Annotated[Engine, typer.Option(
        help="droidcap's own decoder, or Wireshark's through pyshark (to cross-check).")] = Engine.native,
    follow: Annotated[bool, typer.Option(
        help="Keep reading a capture that is still being written, until Ctrl-C. The table format prints "
             "the ladder when following stops; --format ndjson prints each item as soon as it is complete.")] = False,
    max_message_size: Annotated[int, typer.Option(callback=_at_least_min_message_size,
        help=f"Larger RTMP messages are reported, not buffered (at least {MIN_MESSAGE_SIZE}).")] = 16 * 1024 * 1024,
) -> None:
    """Decode the RTMP sessions in CAPTURE: handshake, commands, status, metadata, media."""
    from droidcap.decode import DecodeFilter, decode_to, iter_items
    from droidcap.render.records import resolve_types

    try:
        wanted = resolve_types(types) if types else None
    except ValueError as err:
        raise fail(str(err)) from None
    source = _open(capture)
    items: Iterator[PipelineItem]
    if engine is Engine.tshark:
        if capture == "-" or follow:
            raise fail("--engine tshark needs a capture file (not - or --follow)")
        from droidcap.tshark_engine import tshark_items

        items = tshark_items(Path(capture))
    else:
        items = iter_items(source, follow=follow, max_message_size=max_message_size)
        if follow:
            items = _until_interrupted(items)

    def warn(note: CaptureNote) -> None:
        where = f" (frame {note.frame})" if note.frame else ""
        typer.echo(f"droidcap: warning: {note.message}{where}", err=True)

    out = sys.stdout
    if follow and fmt is OutputFormat.ndjson and isinstance(out, io.TextIOWrapper):
        out.reconfigure(line_buffering=True)  # each item must reach a pipe when complete, not per 8 KiB
    try:
        decode_to(out, items, fmt=fmt.value, selection=DecodeFilter(conn=conn, types=wanted), on_note=warn)
        out.flush()
    except BrokenPipeError:  # `droidcap decode x | head`: the reader left, which is fine
        sys.stderr.close()
        raise typer.Exit(0) from None
    except DroidcapError as err:
        raise fail(str(err), 1) from None


def _until_interrupted(items: Iterator[PipelineItem]) -> Iterator[PipelineItem]:
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
    offline: Annotated[bool, typer.Option(
        help="Only decode the capture embedded in droidcap (no root, no virtual device).")] = False,
    duration: Annotated[float, typer.Option(help="Seconds to record.", min=1)] = 10.0,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the capture.")] = Path("."),
    no_inspect: Annotated[bool, typer.Option(
        "--no-inspect", help="Do not open droidcap inspect on the capture afterwards.")] = False,
) -> None:
    """Record a real RTMP play session on a virtual rooted device (no phone needed), then decode it.

    Starts nginx-rtmp with an ffmpeg publisher and a virtual device, runs `droidcap record --play
    URL --duration N --live` against it, pulls the capture verified, prints the session ladder,
    and, in a terminal, opens `droidcap inspect` on the capture (q quits)."""
    if offline:
        path = embedded_capture()
        typer.echo(f"# droidcap decode {path}", err=True)
        decode(str(path), fmt=OutputFormat.table, conn=None, types=None, engine=Engine.native, follow=False,
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
        raise fail(str(err), 1) from None
    printer.close()
    typer.echo(f"# {result.pcap} ({result.pulled.size} bytes, SHA-256 verified) and {result.metadata}", err=True)
    typer.echo(f"# droidcap decode {result.pcap}", err=True)
    decode(str(result.pcap), fmt=OutputFormat.table, conn=None, types=None, engine=Engine.native, follow=False,
           max_message_size=16 * 1024 * 1024)
    if not no_inspect and sys.stdin.isatty() and sys.stdout.isatty():
        from droidcap.tui.app import create_app

        typer.echo(f"# droidcap inspect {result.pcap}   (q quits)", err=True)
        create_app(result.pcap).run()
