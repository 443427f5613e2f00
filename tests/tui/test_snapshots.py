"""SVG snapshots of what a person sees (pytest-textual-snapshot), at 80x24 unless said.

Update after a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from droidcap.tui.app import create_app
from droidcap.tui.widgets.details import DetailsTree
from tests.tui.helpers import indexed, main


def _after(*keys: str):
    """Index, press ``keys``, then wait until the Hex pane has what it will show (it is read in a
    worker thread; a snapshot taken before would depend on timing)."""

    async def run(pilot: Pilot[None]) -> None:
        await indexed(pilot)
        await pilot.press(*keys)
        screen = main(pilot)
        for _ in range(500):
            row = screen.rows_list.row
            if row is None or screen._hex_for(row) != (None, None):
                break
            await pilot.pause(0.01)
        await pilot.pause()

    return run


def test_main_screen(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("j", "j"))


def test_main_screen_wide_on_publish_start(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("5"), terminal_size=(120, 36))


def test_details_and_hex(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("2"), terminal_size=(140, 40))


def test_details_and_hex_light_a_field(snap_compare) -> None:
    """The cursor on connect's tcUrl: its key and value lit in the hex, on both sides of the
    second chunk's header."""
    after_connect = _after("2")

    async def run(pilot: Pilot[None]) -> None:
        await after_connect(pilot)
        tree = main(pilot).query_one(DetailsTree)
        tree.focus()
        while tree.cursor_node is None or not str(tree.cursor_node.label).startswith("tcUrl: "):
            await pilot.press("down")
        await pilot.pause()

    assert snap_compare(create_app(), run_before=run, terminal_size=(140, 40))


def test_ladder(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("3", "l"), terminal_size=(100, 36))


def test_timeline(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("6", "t"), terminal_size=(100, 30))


def test_help(snap_compare) -> None:
    assert snap_compare(create_app(), run_before=_after("question_mark"), terminal_size=(100, 50))


def test_bad_input(snap_compare, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a capture\n" * 4)
    assert snap_compare(create_app(bad, label="notes.txt"), run_before=_after())


def test_expanded_aggregate(snap_compare) -> None:
    """The second keyframe jump lands inside the first aggregate of a real FMS session: the wire
    row ▾ with its sub-messages indented under it."""
    fms = Path(__file__).resolve().parents[1] / "data" / "fq" / "fms_aggregates.pcap"
    app = create_app(fms, label="fms_aggregates.pcap")
    assert snap_compare(app, run_before=_after("greater_than_sign", "greater_than_sign"),
                        terminal_size=(100, 32))


def test_gap_capture_at_80x24_keeps_the_problems_column(snap_compare) -> None:
    """At 80 columns the Connections pane is cut on the right: the addresses go, the problems stay."""
    gap = Path(__file__).resolve().parents[1] / "data" / "captures" / "nginx_mtu1500_gap.pcap"
    assert snap_compare(create_app(gap, label="nginx_mtu1500_gap.pcap"), run_before=_after("exclamation_mark"))
