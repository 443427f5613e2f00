"""The inspect app driven by keys (App.run_test) on committed lab captures and the sample."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from droidcap.rtmp.events import HandshakePart, Message
from droidcap.tui.app import EMBEDDED_CAPTURE, create_app
from droidcap.tui.model import COMMAND, KEYFRAME, MEDIA, PROBLEM, UNCERTAIN
from droidcap.tui.screens.bad_input import BadInputScreen
from droidcap.tui.widgets.details import DetailsTree
from droidcap.tui.widgets.hex_view import HexView
from tests.tui.helpers import (
    CAPTURES,
    indexed,
    main,
    pcap_records,
    selected_command,
    selected_status,
    selected_text,
)

pytestmark = pytest.mark.asyncio

SIZE = (100, 32)


async def test_sample_opens_on_the_handshake_and_steps() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        assert len(screen.index.connections) == 3  # publisher and two players (MANIFEST of demo)
        assert selected_text(pilot) == "C0 version 3"
        await pilot.press(*"jjjjjj")
        assert selected_command(pilot) == "connect"
        await pilot.press("k")
        assert selected_text(pilot) == "C2"
        await pilot.press("G")
        assert screen.rows_list.cursor == len(screen.view) - 1
        await pilot.press("g")
        assert screen.rows_list.cursor == 0


async def test_jumps_land_on_the_session_steps_of_the_selected_connection() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("2")
        assert selected_command(pilot) == "connect"
        await pilot.press("3")
        assert selected_command(pilot) == "createStream"
        await pilot.press("4")
        assert selected_command(pilot) == "publish"  # conn 0 is the publisher
        await pilot.press("5")
        assert selected_status(pilot) == "NetStream.Publish.Start"
        await pilot.press("6")
        row = screen.rows_list.row
        assert row is not None and screen.index.flags[row] & KEYFRAME
        assert "nalu" in selected_text(pilot)  # a picture, not the sequence header before it
        first_key = row
        await pilot.press("greater_than_sign")
        row = screen.rows_list.row
        assert row is not None and screen.index.flags[row] & KEYFRAME
        assert row > first_key and screen.index.conns[row] == 0
        await pilot.press("less_than_sign")
        assert screen.rows_list.row == first_key
        await pilot.press("1")
        assert isinstance(screen.index.items[screen.rows_list.row].event, HandshakePart)  # type: ignore[index]
        # Back retraces the jumps: 1 came from the first keyframe, which came from >
        await pilot.press("backspace")
        assert screen.rows_list.row == first_key
        await pilot.press("c")
        assert screen.index.flags[screen.rows_list.row] & COMMAND  # type: ignore[index]


async def test_player_connection_jumps_to_play_and_play_start() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")  # filter: conn 1
        screen = main(pilot)
        assert screen.row_filter.conn == 1
        assert {screen.index.conns[r] for r in screen.view.rows} == {1}
        await pilot.press("4")
        assert selected_command(pilot) == "play"
        await pilot.press("5")
        assert selected_status(pilot) == "NetStream.Play.Start"


async def test_filters_give_the_right_rows() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        index = screen.index
        everything = len(screen.view)
        await pilot.press("O")
        assert 0 < len(screen.view) < everything
        assert all(index.flags[r] & COMMAND for r in screen.view.rows)
        await pilot.press("O", "M")
        assert not any(index.flags[r] & MEDIA for r in screen.view.rows)
        await pilot.press("D")  # client → server only
        assert all(index.items[r].dir.value == "c2s" for r in screen.view.rows)
        await pilot.press("0")
        assert len(screen.view) == everything
        await pilot.press("T")
        await pilot.press(*"set_chunk_size", "enter")
        # the publisher and nginx both set 4096 on conn 0; on the players only nginx does
        assert [index.conns[r] for r in screen.view.rows] == [0, 0, 1, 2]
        assert all(index.items[r].event.type_id == 1 for r in screen.view.rows)  # type: ignore[union-attr]


async def test_incremental_search_and_next_match() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("slash", *"play.start", "enter")
        assert selected_status(pilot) == "NetStream.Play.Start"
        first = screen.rows_list.row
        assert first is not None and screen.index.conns[first] == 1
        await pilot.press("n")
        second = screen.rows_list.row
        assert second is not None and screen.index.conns[second] == 2
        assert selected_status(pilot) == "NetStream.Play.Start"
        await pilot.press("N")
        assert screen.rows_list.row == first
        # AMF values are searched too: the publisher's tcUrl carries the server port
        await pilot.press("slash", *"flashver", "enter")
        assert selected_command(pilot) == "connect"


async def test_bookmarks_and_goto_frame() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("2", "m")
        marked = screen.rows_list.row
        await pilot.press("colon", *"1000", "enter")
        row = screen.rows_list.row
        assert row is not None and screen.index.frames[row] >= 1000
        assert screen.index.frames[screen.view.rows[screen.rows_list.cursor - 1]] < 1000
        await pilot.press("apostrophe")
        assert screen.rows_list.row == marked
        await pilot.press("m", "colon", *"1000", "enter", "apostrophe")  # no bookmark left
        assert screen.rows_list.row != marked


async def test_export_row_as_json_and_connection_as_ndjson(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths are short to type
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("2", "w", "ctrl+a", "ctrl+k", *"row.json", "enter")
        doc = json.loads((tmp_path / "row.json").read_text())
        assert [e["command"] for e in doc["events"]] == ["connect"]
        assert doc["events"][0]["frame"] == 12
        await pilot.press("W", "ctrl+a", "ctrl+k", *"conn.ndjson", "enter")
        lines = (tmp_path / "conn.ndjson").read_text().splitlines()
        conn0 = [r for r in range(len(screen.index)) if screen.index.conns[r] == 0]
        assert len(lines) == len(conn0)
        assert {json.loads(line)["conn"] for line in lines} == {0}


async def test_details_and_hex_show_the_chunks_of_connect() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        hexview = pilot.app.screen.query_one(HexView)
        for _ in range(200):
            if hexview.raw is not None:
                break
            await pilot.pause(0.02)
        raw = hexview.raw
        assert raw is not None
        screen = main(pilot)
        ev = screen.index.items[screen.rows_list.row].event  # type: ignore[index]
        assert isinstance(ev, Message)
        # every chunk's payload adds up to the message; the first header is fmt 0 on csid 3
        assert sum(c.payload_size for c in raw.chunks) == ev.length
        assert raw.chunks[0].fmt == 0 and raw.chunks[0].csid == 3 and raw.chunks[0].header_size == 12
        assert raw.data[raw.chunks[0].header_size:][:3] == b"\x02\x00\x07"  # AMF0 string "connect"
        assert 12 in raw.chunks[-1].frames


async def test_midconnection_capture_marks_uncertain_rows() -> None:
    app = create_app(CAPTURES / "nginx_midconnection.pcap")
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("exclamation_mark")
        row = screen.rows_list.row
        assert row is not None and screen.index.flags[row] & (PROBLEM | UNCERTAIN)
        assert "(uncertain)" in screen.rows_list.render_line(
            screen.rows_list.cursor - screen.rows_list.scroll_offset.y).text


async def test_gap_capture_next_problem_finds_the_gap() -> None:
    app = create_app(CAPTURES / "nginx_mtu1500_gap.pcap")
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        texts = []
        for _ in range(4):
            await pilot.press("exclamation_mark")
            texts.append(selected_text(pilot))
        assert any(t.startswith("GAP: ") for t in texts)
        assert any(t.startswith("SKIPPED ") for t in texts)


async def test_stdin_stream_gives_the_same_rows_as_the_file() -> None:
    with EMBEDDED_CAPTURE.open("rb") as stream:
        app = create_app(stream, label="standard input")
        async with app.run_test(size=SIZE) as pilot:
            await indexed(pilot)
            assert len(main(pilot).index) == 634
            await pilot.press("2")
            assert selected_command(pilot) == "connect"


async def test_a_pipe_gets_hex_from_its_copy_and_the_copy_is_deleted() -> None:
    """Standard input is a pipe (a writer thread feeds it, as adb exec-out would): it is copied to
    a file as it is read, so the Hex pane has the wire bytes; the copy goes when the app ends."""
    read_end, write_end = os.pipe()
    data = EMBEDDED_CAPTURE.read_bytes()

    def write() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            for i in range(0, len(data), 4096):
                pipe.write(data[i:i + 4096])

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        app = create_app(stream, label="standard input")
        spool = app.source.spool
        assert spool is not None
        async with app.run_test(size=SIZE) as pilot:
            await indexed(pilot)
            writer.join()
            assert spool.read_bytes() == data  # the copy is the whole capture
            await pilot.press("2")
            hexview = pilot.app.screen.query_one(HexView)
            for _ in range(200):
                if hexview.raw is not None:
                    break
                await pilot.pause(0.02)
            raw = hexview.raw
            assert raw is not None, hexview.render()
            assert raw.data[raw.chunks[0].header_size:][:10] == b"\x02\x00\x07connect"
    assert not spool.exists()


async def test_follow_picks_up_appended_records(tmp_path: Path) -> None:
    head, records = pcap_records(EMBEDDED_CAPTURE)
    growing = tmp_path / "live.pcap"
    growing.write_bytes(head + b"".join(records[:40]))
    app = create_app(growing, follow=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = main(pilot)
        for _ in range(200):
            if screen.rows_list.row is not None:
                break
            await pilot.pause(0.02)
        before = len(screen.index)
        assert before > 0
        assert screen.rows_list.cursor == len(screen.view) - 1  # following the end
        with growing.open("ab") as out:
            out.write(b"".join(records[40:400]))
        for _ in range(200):
            if len(screen.index) > before:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        assert len(screen.index) > before
        assert screen.rows_list.cursor == len(screen.view) - 1  # still at the end
        await pilot.press("k")  # the user scrolls up: the list stops following
        grown = len(screen.index)
        with growing.open("ab") as out:
            out.write(b"".join(records[400:]))
        for _ in range(200):
            if len(screen.index) > grown:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        assert screen.rows_list.unseen > 0
        assert screen.rows_list.cursor < len(screen.view) - 1
        await pilot.press("end")
        assert screen.rows_list.unseen == 0
        assert screen.rows_list.cursor == len(screen.view) - 1


@pytest.mark.parametrize("content,expect", [
    (b"this is not a capture at all\n" * 4, "pcap"),
    (None, "no such file"),
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(8) + b"\xff\xff\x00\x00\x01\x00\x00\x00", "no RTMP"),
])
async def test_bad_input_opens_a_message_and_quits_non_zero(tmp_path: Path, content: bytes | None,
                                                            expect: str) -> None:
    path = tmp_path / "bad.pcap"
    if content is not None:
        path.write_bytes(content)
    app = create_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        assert isinstance(pilot.app.screen, BadInputScreen)
        assert expect.lower() in pilot.app.screen.message.lower()
        await pilot.press("q")
    assert app.return_code == 1


async def test_media_runs_fold_into_one_row_and_unfold() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        everything = len(screen.view)
        await pilot.press("6", "R")  # fold, with the cursor on the first keyframe of conn 0
        assert len(screen.view) < everything / 5
        head = screen.rows_list.row
        assert head is not None and head in screen.view.runs
        run = screen.view.runs[head]
        assert run.video > 50 and run.audio > 100 and run.keyframes >= 3  # the publisher's 3.8 s
        assert "folded" in screen.rows_list.render_line(
            screen.rows_list.cursor - screen.rows_list.scroll_offset.y).text
        await pilot.press("enter")
        assert len(screen.view) == everything
        assert screen.rows_list.row == head


async def test_truncated_capture_opens_with_a_note(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(EMBEDDED_CAPTURE.read_bytes()[:300_000])  # ends inside record 1053
    app = create_app(cut)
    async with app.run_test(size=(160, 30)) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        assert 0 < len(screen.index) < 634
        status = str(screen.query_one("#status").render())
        assert "truncated" in status and "1053" in status


async def test_timeline_click_jumps_and_ladder_follows_the_selection() -> None:
    from droidcap.tui.widgets.ladder import LadderPane
    from droidcap.tui.widgets.timeline import LABEL, TimelinePane

    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        screen = main(pilot)
        await pilot.press("6", "t")  # conn 0's first keyframe, then the timeline of conn 0
        timeline = pilot.app.screen.query_one(TimelinePane)
        assert timeline.conn == 0 and "video" in str(timeline.render())
        await pilot.click(TimelinePane, offset=(1 + LABEL + 10, 2))  # a column 2.5 s in
        row = screen.rows_list.row
        assert row is not None and screen.index.conns[row] == 0
        assert 2.4 <= screen.index.relative_time(row) <= 2.9
        await pilot.press("3", "l")
        ladder = pilot.app.screen.query_one(LadderPane)
        assert ladder.row == screen.rows_list.row
        assert "createStream #4" in str(ladder.render()) and "─▶│" in str(ladder.render())


async def test_highlighting_a_tree_field_lights_its_bytes_in_the_hex() -> None:
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await indexed(pilot)
        await pilot.press("2")  # connect
        hexview = pilot.app.screen.query_one(HexView)
        for _ in range(200):
            if hexview.raw is not None:
                break
            await pilot.pause(0.02)
        raw = hexview.raw
        assert raw is not None
        tree = pilot.app.screen.query_one(DetailsTree)
        tree.focus()
        await pilot.pause()

        async def cursor_to(label: str) -> bytes:
            for _ in range(60):
                node = tree.cursor_node
                if node is not None and str(node.label).startswith(label):
                    break
                await pilot.press("down")
            else:
                raise AssertionError(f"no {label!r} node")
            await pilot.pause()
            return b"".join(raw.data[start:end] for start, end in hexview.lit)

        # a chunk node still lights its whole chunk (the chunks come before the body)
        await cursor_to("#0 ")
        assert hexview.lit == ((raw.chunks[0].start, raw.chunks[0].end),)
        # a property lights its key and its value: the AMF0 key "app", then the string
        assert await cursor_to("app: ") == b"\x00\x03app\x02\x00\x04live"
        assert len(hexview.lit) == 1
        # tcUrl straddles the 128-byte chunk boundary: two ranges, the fmt 3 header between them unlit
        lit = await cursor_to("tcUrl: ")
        (_, first_end), (second_start, _) = hexview.lit
        assert raw.data[first_end:second_start] == b"\xc3"  # fmt 3, csid 3
        assert lit == b"\x00\x05tcUrl\x02\x00\x1brtmp://127.0.0.1:33357/live"
