"""SVG snapshots of what a person sees (pytest-textual-snapshot), at 80x24 unless said.

Update after a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from droidcap.tui.app import create_app
from droidcap.tui.widgets.hex_view import HexView
from tests.tui.helpers import indexed


async def _ready(pilot: Pilot[None]) -> None:
    await indexed(pilot)


async def _connect_with_hex(pilot: Pilot[None]) -> None:
    await indexed(pilot)
    await pilot.press("2")
    hexview = pilot.app.screen.query_one(HexView)
    for _ in range(200):
        if hexview.raw is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause()


def test_main_screen(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_ready, press=["j", "j"])


def test_main_screen_wide_on_publish_start(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_ready, press=["5"], terminal_size=(120, 36))


def test_details_and_hex(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_connect_with_hex, terminal_size=(140, 40))


def test_ladder(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_ready, press=["3", "l"], terminal_size=(100, 36))


def test_timeline(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_ready, press=["6", "t"], terminal_size=(100, 30))


def test_help(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_ready, press=["question_mark"], terminal_size=(100, 50))


def test_bad_input(snap_compare, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a capture\n" * 4)
    assert snap_compare(create_app(bad, label="notes.txt"), run_before=_ready)
