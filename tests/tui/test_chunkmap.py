"""The chunk walker behind the Hex pane finds every message the decoder reported, byte-exact."""

from __future__ import annotations

import threading
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from droidcap import pipeline
from droidcap.capture.tcp import ResumePoint
from droidcap.decode import iter_items
from droidcap.rtmp.events import Message
from droidcap.rtmp.messages import parse_body
from droidcap.tui import chunkmap
from droidcap.tui.chunkmap import RecordCheckpoints, Target, Unavailable, message_bytes
from droidcap.tui.model import CaptureIndex
from droidcap.tui.feed import Batch, CaptureSource, Finished, feed
from tests.tui.helpers import CAPTURES


def _index(path: Path) -> CaptureIndex:
    index = CaptureIndex()
    index.add(iter_items(path))
    return index


def _bytes(path: Path, index: CaptureIndex, row: int,
           checkpoints: RecordCheckpoints | None = None) -> chunkmap.MessageBytes:
    item = index.items[row]
    ev = item.event
    assert isinstance(ev, Message)
    c = item.connection
    return message_bytes(path, client=c.client, server=c.server, opened_frame=c.opened_frame,
                         rtmp_dir=item.dir, checkpoints=checkpoints,
                         target=Target(csid=ev.csid, type_id=ev.type_id, length=ev.length,
                                       timestamp=ev.timestamp, frame=ev.frame))


@pytest.mark.parametrize("name", ["nginx_gst_publisher", "nginx_chunk128_acks_mtu1500", "nms_ffmpeg_players"])
def test_every_tenth_message_is_found_and_its_body_parses_the_same(name: str) -> None:
    path = CAPTURES / f"{name}.pcap"
    index = _index(path)
    rows = [r for r, it in enumerate(index.items) if type(it.event) is Message][::10]
    assert len(rows) > 20
    for row in rows:
        ev = index.items[row].event
        assert isinstance(ev, Message)
        raw = _bytes(path, index, row)
        body = b"".join(raw.data[c.start + c.header_size:c.end] for c in raw.chunks)
        assert len(body) == ev.length
        assert parse_body(ev.type_id, body) == ev.body  # the same bytes the decoder parsed
        assert ev.frame in raw.chunks[-1].frames
        assert raw.chunks[0].fmt in (0, 1, 2, 3) and all(c.csid == ev.csid for c in raw.chunks)


def test_checkpoints_give_the_same_bytes_as_reading_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunkmap, "CHECKPOINT_EVERY", 16)  # many checkpoints in a small capture
    path = CAPTURES / "nginx_ffmpeg_players.pcap"
    checkpoints = RecordCheckpoints.build(path)
    assert checkpoints is not None and len(checkpoints.frames) > 10
    index = _index(path)
    rows = [r for r, it in enumerate(index.items) if type(it.event) is Message]
    for row in rows[::25] + rows[-3:]:
        assert _bytes(path, index, row, checkpoints) == _bytes(path, index, row)


def test_a_message_after_a_gap_is_unavailable_not_guessed() -> None:
    path = CAPTURES / "nginx_mtu1500_gap.pcap"
    index = _index(path)
    gap = next(r for r, it in enumerate(index.items) if type(it.event).__name__ == "Gap")
    after = next(r for r in range(gap + 1, len(index)) if type(index.items[r].event) is Message
                 and index.items[r].dir is index.items[gap].dir
                 and index.conns[r] == index.conns[gap])
    with pytest.raises(Unavailable, match="gap"):
        _bytes(path, index, after)


def test_pcapng_has_no_checkpoints(tmp_path: Path) -> None:
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(24))
    assert RecordCheckpoints.build(ng) is None


def test_a_cursor_steps_forward_and_back_with_the_same_bytes_as_one_off_walks() -> None:
    path = CAPTURES / "nginx_ffmpeg_players.pcap"
    index = _index(path)
    cache = chunkmap.CursorCache(path, lambda: RecordCheckpoints.build(path))
    rows = [r for r, it in enumerate(index.items) if type(it.event) is Message]
    order = rows[:300:3] + rows[30:0:-7] + rows[-40:]  # forward, back past what is kept, the end
    try:
        for row in order:
            item = index.items[row]
            ev = item.event
            assert isinstance(ev, Message)
            c = item.connection
            got = cache.find(client=c.client, server=c.server, opened_frame=c.opened_frame,
                             rtmp_dir=item.dir, target=Target(csid=ev.csid, type_id=ev.type_id,
                                                              length=ev.length, timestamp=ev.timestamp,
                                                              frame=ev.frame))
            assert got == _bytes(path, index, row)
    finally:
        cache.close()


@pytest.mark.parametrize("name", ["nginx_ffmpeg_players", "nginx_chunk128_acks_mtu1500", "nms_ffmpeg_players"])
def test_a_walk_resumed_from_an_inner_checkpoint_gives_the_same_bytes(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunkmap, "CHECKPOINT_EVERY", 16)
    monkeypatch.setattr(chunkmap, "WALK_CHECKPOINT_BYTES", 32 * 1024)  # many in a small capture
    path = CAPTURES / f"{name}.pcap"
    records = RecordCheckpoints.build(path)
    assert records is not None
    index = _index(path)
    directions: dict[tuple[int, object], list[int]] = {}
    for r, it in enumerate(index.items):
        if type(it.event) is Message and not it.event.aggregate:
            directions.setdefault((index.conns[r], it.dir), []).append(r)
    resumed = 0
    for rows in directions.values():
        item = index.items[rows[-1]]
        c = item.connection
        where = {"client": c.client, "server": c.server, "opened_frame": c.opened_frame, "rtmp_dir": item.dir}

        def target(row: int) -> Target:
            ev = index.items[row].event
            assert isinstance(ev, Message)
            return Target(csid=ev.csid, type_id=ev.type_id, length=ev.length, timestamp=ev.timestamp,
                          frame=ev.frame)

        book = chunkmap.CheckpointBook()
        first = chunkmap.open_cursor(path, **where, checkpoints=records, book=book)
        try:
            assert first.find(target(rows[-1])) == _bytes(path, index, rows[-1])  # leaves checkpoints
        finally:
            first.close()
        key = chunkmap.direction_key(c.client, c.server, c.opened_frame, item.dir)
        saved = [book.before(key, f) for f in range(1, index.frames[rows[-1]] + 2)]
        frames = sorted({p.frame for p in saved if p is not None})
        assert len(frames) == book.count(key) and all(a < b for a, b in pairwise(frames))
        late = rows[-30:] + rows[len(rows) // 2::max(1, len(rows) // 20)]
        for row in late:
            cursor = chunkmap.open_cursor(path, **where, checkpoints=records, book=book,
                                          target_frame=target(row).frame)
            try:
                got = cursor.find(target(row))
                resumed += cursor.resumed
            finally:
                cursor.close()
            assert got == _bytes(path, index, row)  # byte-identical, chunk headers and frames too
    assert resumed > 50  # most late messages were found by resumed walks, not from the start


@pytest.mark.parametrize("name", ["nginx_ffmpeg_players", "nginx_chunk128_acks_mtu1500", "nms_ffmpeg_players",
                                  "nginx_gst_publisher"])
def test_decoder_checkpoints_taken_while_indexing_resume_walks_to_the_same_bytes(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The indexer hands the decoder's checkpoints to the book: the first look at a message deep in
    a connection resumes from the one before it, and finds the bytes a walk from the start finds."""
    monkeypatch.setattr(pipeline, "CHECKPOINT_EVERY", 40)  # records: many in a small capture
    monkeypatch.setattr(chunkmap, "CHECKPOINT_EVERY", 16)
    path = CAPTURES / f"{name}.pcap"
    book = chunkmap.CheckpointBook()
    index = CaptureIndex()

    def post(out: Batch | Finished) -> None:
        if isinstance(out, Batch):
            index.add(out.items)
        else:
            assert out.error is None

    feed(CaptureSource(label=name, path=path), post, lambda: False, threading.Semaphore(1 << 20), book=book)
    records = RecordCheckpoints.build(path)
    assert records is not None
    directions: dict[tuple[object, ...], list[int]] = {}
    for r, it in enumerate(index.items):
        if type(it.event) is Message and not it.event.aggregate:
            c = it.connection
            directions.setdefault(chunkmap.direction_key(c.client, c.server, c.opened_frame, it.dir), []).append(r)
    checkpointed = resumed = 0
    for key, rows in directions.items():
        count = book.count(key)
        checkpointed += count > 0
        item = index.items[rows[0]]
        c = item.connection
        for row in rows[len(rows) // 3::max(1, len(rows) // 15)] + rows[-3:]:
            ev = index.items[row].event
            assert isinstance(ev, Message)
            target = Target(csid=ev.csid, type_id=ev.type_id, length=ev.length, timestamp=ev.timestamp,
                            frame=ev.frame)
            cursor = chunkmap.open_cursor(path, client=c.client, server=c.server, opened_frame=c.opened_frame,
                                          rtmp_dir=item.dir, checkpoints=records, book=book,
                                          target_frame=ev.frame)
            try:
                got = cursor.find(target)
                resumed += cursor.resumed
            finally:
                cursor.close()
            assert got == _bytes(path, index, row)  # chunk headers, offsets and frames too
        assert book.count(key) == count  # the walks (2 MiB apart) added none: these are the decoder's
    assert checkpointed >= 4 and resumed > 30


def test_a_full_book_thins_the_direction_it_grows() -> None:
    book = chunkmap.CheckpointBook(limit=10)
    point = chunkmap.WalkCheckpoint(frame=0, tcp=ResumePoint(key=(b"", 1, 2), seq=0), walker=chunkmap.WalkerState(
        base=0, pending=b"", marks=(), chunk_size=128, headers=()))
    for frame in range(1, 30):
        book.add(("a",), replace(point, frame=frame))
    assert book.count(("a",)) <= 10
    kept = sorted({p.frame for f in range(2, 31) if (p := book.before(("a",), f)) is not None})
    assert kept[0] == 1 and kept[-1] == 29 and len(kept) >= 5  # thinned, the first and the newest kept


def test_twin_messages_of_one_frame_each_get_their_own_bytes() -> None:
    """nginx sends two onMetaData with the same csid, type, length and timestamp in one segment
    (one to each player, differing in a data rate): each row's hex is its own message."""
    path = CAPTURES / "nginx_gst_publisher.pcap"
    index = _index(path)
    twins = [r for r in range(len(index)) if type(index.items[r].event) is Message
             and not index.items[r].event.aggregate and index.hex_target(r).nth > 0]
    assert twins
    cache = chunkmap.CursorCache(path, lambda: RecordCheckpoints.build(path))
    try:
        for row in twins:
            first = next(r for r in range(row - 1, -1, -1) if index.hex_target(r).nth == 0
                         and index.hex_target(r).frame == index.frames[row]
                         and index.items[r].dir is index.items[row].dir)
            for r in (first, row):
                item = index.items[r]
                ev = item.event
                assert isinstance(ev, Message)
                c = item.connection
                raw = cache.find(client=c.client, server=c.server, opened_frame=c.opened_frame,
                                 rtmp_dir=item.dir, target=index.hex_target(r))
                body = b"".join(raw.data[ch.start + ch.header_size:ch.end] for ch in raw.chunks)
                assert parse_body(ev.type_id, body) == ev.body
    finally:
        cache.close()
