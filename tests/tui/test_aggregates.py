"""Aggregate messages (type 22) in the Messages pane: one wire row, its sub-messages as children.

The capture is a real Flash Media Server session (tests/data/fq/FMS_AGGREGATES.md): the server
sends most of its media in five aggregates of 35 to 112 sub-messages, nine of its ten keyframes
inside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot

from droidcap.decode import iter_items
from droidcap.rtmp.events import Message
from droidcap.tui.app import create_app
from droidcap.tui.model import KEYFRAME, MEDIA, CaptureIndex, RowFilter, View
from droidcap.tui.widgets.message_list import MARKER_X, MessageList
from tests.tui.helpers import indexed, main

FMS = Path(__file__).resolve().parents[1] / "data" / "fq" / "fms_aggregates.pcap"
FIRST = 138  # the first aggregate's wire row: 112 sub-messages, rows 139..250
KEY_INSIDE = 142  # the second keyframe of the capture, the first inside an aggregate
SIZE = (100, 32)


def _index() -> CaptureIndex:
    index = CaptureIndex()
    index.add(iter_items(FMS))
    return index


def _line(pilot: Pilot[None]) -> str:
    """The text of the cursor's line in the Messages pane."""
    lst = main(pilot).rows_list
    return lst.render_line(lst.cursor - lst.scroll_offset.y).text


# -- the model -------------------------------------------------------------------------------


def test_the_committed_capture_is_the_fms_session_resegmented(tmp_path: Path) -> None:
    from tests.test_tshark_crosscheck import fms_capture

    assert fms_capture(tmp_path / "fms.pcap").read_bytes() == FMS.read_bytes()


def test_the_index_ties_sub_messages_to_their_wire_row() -> None:
    index = _index()
    assert sorted(index.aggregates) == list(index.agg_heads) == [138, 251, 355, 455, 491]
    agg = index.aggregates[FIRST]
    assert (agg.head, agg.last, agg.count) == (138, 250, 112)
    assert agg.text() == "112 sub-messages (video x18 (2 key), audio x94) 66 KB"
    assert agg.media_only
    for row in range(FIRST + 1, agg.last + 1):
        ev = index.items[row].event
        assert isinstance(ev, Message) and ev.aggregate and index.parent(row) is agg
    assert index.parent(FIRST) is None and index.parent(agg.last + 1) is None
    assert sum(a.count for a in index.aggregates.values()) == 444  # as the decoder tests count


def test_views_fold_aggregates_and_find_reveals_what_is_inside() -> None:
    index = _index()
    view = View(index)
    assert len(view) == len(index) - 444  # every aggregate folded: its wire row only
    assert view.position_of(KEY_INSIDE) == view.position_of(FIRST)
    key = view.find(view.position_of(126), lambda r: bool(index.flags[r] & KEYFRAME))
    assert key == KEY_INSIDE  # not skipped for being folded
    backwards = view.find(view.position_of(251), lambda r: bool(index.flags[r] & KEYFRAME), forward=False)
    assert backwards is not None and FIRST < backwards <= 250  # the last keyframe inside the first
    pos = view.reveal(KEY_INSIDE)
    assert view.rows[pos] == KEY_INSIDE and len(view) == len(index) - 444 + 112
    assert view.expanded == {FIRST}
    view.toggle(index.aggregates[FIRST])
    assert len(view) == len(index) - 444 and view.position_of(KEY_INSIDE) == view.position_of(FIRST)


def test_filters_judge_an_aggregate_by_its_sub_messages() -> None:
    index = _index()
    video = View(index, RowFilter(types=frozenset({"video"})), expanded={FIRST})
    assert [r for r in video.rows if r in index.aggregates] == [138, 251, 355, 455, 491]
    kids = [r for r in video.rows if FIRST < r <= 250]
    assert len(kids) == 18 and all(index.items[r].event.type_id == 9 for r in kids)  # type: ignore[union-attr]
    assert not any(r in index.aggregates for r in View(index, RowFilter(hide_media=True)).rows)
    assert not any(r in index.aggregates for r in View(index, RowFilter(commands_only=True)).rows)
    named = View(index, RowFilter(types=frozenset({"aggregate"})), expanded={FIRST})
    assert list(named.rows[:113]) == list(range(138, 251)) and len(named) == 5 + 112
    # media runs take the aggregates of media whole, as the decode table does
    folded = View(index, RowFilter(collapse_media=True))
    run = folded.runs[125]
    assert (run.video, run.audio, run.keyframes, run.aggregates) == (101, 356, 10, 5)
    assert all(folded.position_of(r) == folded.position_of(125) for r in (FIRST, KEY_INSIDE, 586))


def test_export_of_the_shown_rows_keeps_folded_sub_messages() -> None:
    index = _index()
    view = View(index, RowFilter(types=frozenset({"video"})))
    rows = view.export_rows()
    assert len(rows) == len(view) + 90  # the 90 video sub-messages, folded on screen
    assert rows == sorted(rows) and set(view.rows) <= set(rows)


def test_a_growing_index_takes_an_aggregate_once_it_is_whole() -> None:
    items = list(iter_items(FMS))
    cut = next(i for i, it in enumerate(items)
               if isinstance(getattr(it, "event", None), Message) and it.event.type_id == 22) + 5
    index = CaptureIndex()
    index.add(items[:cut])
    view = View(index, expanded={FIRST})
    assert index.settled == FIRST and list(view.rows) == list(range(FIRST))  # the wire row waits
    index.add(items[cut:])
    view.extend()
    assert list(view.rows) == list(View(index, expanded={FIRST}).rows)
    assert view.rows[FIRST:FIRST + 113].tolist() == list(range(FIRST, 251))


# -- the app ---------------------------------------------------------------------------------


pilot_test = pytest.mark.asyncio


@pilot_test
async def test_an_aggregate_is_folded_and_enter_expands_and_collapses_it() -> None:
    app = create_app(FMS)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        folded = len(screen.view)
        await pilot.press("colon", *"87", "enter")  # the aggregate's frame: its wire row
        assert screen.rows_list.row == FIRST
        assert "aggregate ▸ 112 sub-messages (video x18 (2 key), audio x94) 66 KB" in _line(pilot)
        await pilot.press("enter")
        assert len(screen.view) == folded + 112 and "▾ 112 sub-messages" in _line(pilot)
        await pilot.press("j")
        assert screen.rows_list.row == FIRST + 1 and "  ├ audio" in _line(pilot)
        await pilot.press("end", "colon", *"138", "enter", "k")  # the last sub-message
        assert screen.rows_list.row == 250 and "  └ video" in _line(pilot)
        await pilot.press("enter")  # on a sub-message: folds its aggregate, back on the wire row
        assert len(screen.view) == folded and screen.rows_list.row == FIRST


@pilot_test
async def test_a_click_on_the_fold_marker_toggles() -> None:
    app = create_app(FMS)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("colon", *"87", "enter")
        lst = screen.rows_list
        y = lst.cursor - lst.scroll_offset.y
        await pilot.click(MessageList, offset=(MARKER_X + 10, y))  # the summary: only selects
        assert FIRST not in screen.expanded
        await pilot.click(MessageList, offset=(MARKER_X, y))
        assert FIRST in screen.expanded and screen.rows_list.row == FIRST
        await pilot.click(MessageList, offset=(MARKER_X, y))
        assert FIRST not in screen.expanded


@pilot_test
async def test_keyframe_jumps_land_inside_folded_aggregates() -> None:
    app = create_app(FMS)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("6")
        assert screen.rows_list.row == 126  # the first keyframe, sent on its own
        await pilot.press("greater_than_sign")
        assert screen.rows_list.row == KEY_INSIDE and screen.expanded == {FIRST}
        assert "  ├ video" in _line(pilot)
        await pilot.press("backspace")
        assert screen.rows_list.row == 126
        keys = [r for r in range(len(screen.index)) if screen.index.flags[r] & KEYFRAME]
        for key in keys[1:]:  # from the first, every one in turn
            await pilot.press("greater_than_sign")
            assert screen.rows_list.row == key
        assert screen.expanded == {138, 251, 355, 491}  # 455 holds no keyframe


@pilot_test
async def test_search_bookmarks_and_filters_with_aggregates() -> None:
    app = create_app(FMS)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("colon", *"87", "enter", "slash", *"320x240 6 kb")
        assert screen.rows_list.row == FIRST and not screen.expanded  # typing: on the wire row
        await pilot.press("enter")
        assert screen.rows_list.row == KEY_INSIDE  # the match inside, its aggregate expanded
        await pilot.press("m", "enter")  # bookmark it, fold its aggregate
        assert screen.rows_list.row == FIRST and "*" in _line(pilot)[:3]  # a bookmark inside
        await pilot.press("g", "apostrophe")
        assert screen.rows_list.row == KEY_INSIDE and FIRST in screen.expanded
        await pilot.press("T", *"video", "enter")  # the filter keeps it open, video only
        assert screen.rows_list.row == KEY_INSIDE
        shown = [r for r in screen.view.rows if FIRST < r <= 250]
        assert len(shown) == 18 and all(screen.index.flags[r] & MEDIA for r in shown)
        await pilot.press("M")  # and no media: no aggregate of media either
        assert not any(r in screen.index.aggregates for r in screen.view.rows)
        await pilot.press("0", "6", "greater_than_sign", "R")  # media runs take aggregates whole
        assert screen.rows_list.row == 125 and "in 5 aggregate(s)" in _line(pilot)
        await pilot.press("enter")  # unfolds the runs; the aggregates are as they were
        assert not screen.row_filter.collapse_media and FIRST in screen.expanded


@pilot_test
async def test_export_of_a_wire_row_carries_its_sub_messages(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(FMS)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        await pilot.press("colon", *"87", "enter", "w", "ctrl+a", "ctrl+k", *"agg.ndjson", "enter")
        records = [json.loads(line) for line in (tmp_path / "agg.ndjson").read_text().splitlines()]
        assert records[0]["type_id"] == 22 and records[0]["sub_messages"] == 112
        assert len(records) == 113 and all(r.get("aggregate") for r in records[1:])
        await pilot.press("T", *"video", "enter", "E", "ctrl+a", "ctrl+k", *"video.ndjson", "enter")
        shown = [json.loads(line) for line in (tmp_path / "video.ndjson").read_text().splitlines()]
        assert sum(1 for r in shown if r["type_id"] == 9) == 101  # folded or not
        assert sum(1 for r in shown if r["type_id"] == 22) == 5


def test_the_ladder_draws_aggregates_of_media_inside_the_media_arrow() -> None:
    from droidcap.tui.widgets.ladder import ladder_steps

    index = _index()
    steps = ladder_steps(index, KEY_INSIDE, 40)
    assert steps[-1] == (125, steps[-1][1], "media: video x101, audio x356 in 5 aggregate(s)")
