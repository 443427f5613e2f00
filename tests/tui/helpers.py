"""Helpers for the TUI tests: wait for indexing, read the screen's state, split a pcap."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from textual.pilot import Pilot

from droidcap.rtmp.events import Message
from droidcap.tui.app import InspectApp
from droidcap.tui.model import command_name, row_text, status_code
from droidcap.tui.screens.main import MainScreen

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


async def indexed(pilot: Pilot[None], *, timeout: float = 20.0) -> None:
    """Wait until the worker has indexed the whole capture (or the app gave up on it)."""
    app = pilot.app
    assert isinstance(app, InspectApp)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (app.index.done or app.failed):
        assert loop.time() < end, "indexing did not finish"
        await pilot.pause(0.02)
    await pilot.pause()


def main(pilot: Pilot[None]) -> MainScreen:
    app = pilot.app
    assert isinstance(app, InspectApp)
    return app.main


def selected_text(pilot: Pilot[None]) -> str:
    screen = main(pilot)
    row = screen.rows_list.row
    assert row is not None
    return row_text(screen.index.items[row])


def selected_command(pilot: Pilot[None]) -> str | None:
    screen = main(pilot)
    row = screen.rows_list.row
    assert row is not None
    ev = screen.index.items[row].event
    return command_name(ev) if isinstance(ev, Message) and ev.type_id in (17, 20) else None


def selected_status(pilot: Pilot[None]) -> str | None:
    screen = main(pilot)
    row = screen.rows_list.row
    assert row is not None
    ev = screen.index.items[row].event
    return status_code(ev) if isinstance(ev, Message) and ev.type_id in (17, 20) else None


def pcap_records(path: Path) -> tuple[bytes, list[bytes]]:
    """The global header and the records (header and data) of a classic pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, p = [], 24
    while p < len(data):
        incl = struct.unpack_from(endian + "I", data, p + 8)[0]
        out.append(data[p:p + 16 + incl])
        p += 16 + incl
    return data[:24], out
