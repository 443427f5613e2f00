"""The Textual-free model behind the screen: flags, views, finding rows, export."""

from __future__ import annotations

import json

from droidcap.capture.events import Direction
from droidcap.decode import iter_item_batches, iter_items
from droidcap.rtmp.events import Message
from droidcap.tui.app import EMBEDDED_CAPTURE
from droidcap.tui.model import COMMAND, HANDSHAKE, KEYFRAME, MEDIA, CaptureIndex, RowFilter, View, row_text


def _index() -> CaptureIndex:
    index = CaptureIndex()
    index.add(iter_items(EMBEDDED_CAPTURE))
    return index


def test_batches_give_the_same_items_as_iter_items() -> None:
    batched = [item for batch in iter_item_batches(EMBEDDED_CAPTURE) for item in batch]
    assert batched == list(iter_items(EMBEDDED_CAPTURE))


def test_rows_and_flags_of_the_sample() -> None:
    index = _index()
    assert len(index) == 634 and len(index.connections) == 3
    assert sum(1 for f in index.flags if f & HANDSHAKE) == 18  # 6 parts x 3 connections
    keyframes = [r for r, f in enumerate(index.flags) if f & KEYFRAME]
    assert keyframes and all("nalu" in row_text(index.items[r]) for r in keyframes)
    assert all(index.flags[r] & MEDIA for r in keyframes)


def test_a_view_grows_with_the_index_and_filters() -> None:
    index = CaptureIndex()
    batches = list(iter_item_batches(EMBEDDED_CAPTURE))
    index.add(batches[0][:50])
    commands = View(index, RowFilter(commands_only=True, direction=Direction.C2S))
    shown = len(commands)
    index.add(batches[0][50:])
    for batch in batches[1:]:
        index.add(batch)
    assert commands.extend() > 0 and len(commands) > shown
    assert all(index.flags[r] & COMMAND and index.items[r].dir is Direction.C2S for r in commands.rows)
    assert len(View(index)) == len(index)


def test_jumps_and_frames() -> None:
    index = _index()
    view = View(index, RowFilter(conn=2))
    play = view.find(-1, lambda r: index.matches_jump(r, "play/publish"))
    assert play is not None and "play" in row_text(index.items[play])
    pos = view.find_frame(200)
    assert pos is not None and index.frames[view.rows[pos]] >= 200 > index.frames[view.rows[pos - 1]]


def test_export_json_document_carries_the_connection_summary() -> None:
    index = _index()
    rows = list(index.rows_of(1))
    doc = json.loads(index.export(rows, "json", conn=1))
    assert len(doc["events"]) == len(rows) and doc["connection"]["role"] == "player"
    assert doc["events"][0] == index.record(rows[0])


def test_every_row_of_every_committed_capture_has_text_and_a_record() -> None:
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    captures = [*sorted((data / "captures").glob("*.pcap")), data / "wireshark_rtmp_sample.cap"]
    assert len(captures) >= 10
    for path in captures:
        index = CaptureIndex()
        index.add(iter_items(path))
        assert index.connections, path
        for row in range(len(index)):
            assert row_text(index.items[row]), (path, row)
            index.search_text(row)
            assert index.record(row)["frame"] == index.frames[row]
        folded = View(index, RowFilter(collapse_media=True))
        assert all(folded.position_of(r) < len(folded) for r in range(0, len(index), 97))


def test_the_index_keeps_fields_not_media_bytes() -> None:
    index = _index()
    media = [it.event for it in index.items if isinstance(it.event, Message) and it.event.type_id in (8, 9)]
    assert media and all(getattr(ev.body, "payload", b"") == b"" for ev in media)
    assert any(ev.body.json_fields().get("data_size") for ev in media)  # the fields are all there
