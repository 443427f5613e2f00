"""WireMap: body spans through the chunks to the Hex pane's bytes, headers between them unlit."""

from __future__ import annotations

from droidcap.decode import iter_items
from droidcap.rtmp.events import Message
from droidcap.rtmp.messages import parse_body
from droidcap.rtmp.spans import field_spans
from droidcap.tui.chunkmap import CursorCache, Target
from droidcap.tui.model import CaptureIndex
from droidcap.tui.wiremap import WireMap
from tests.tui.helpers import CAPTURES


def test_every_field_of_a_128_byte_chunked_capture_maps_to_its_body_bytes() -> None:
    path = CAPTURES / "nginx_chunk128_acks_mtu1500.pcap"  # 128-byte chunks: fields straddle them
    index = CaptureIndex()
    index.add(iter_items(path))
    cursors = CursorCache(path, lambda: None)
    straddling = messages = media = 0
    try:
        for item in index.items:
            ev = item.event
            if type(ev) is not Message or ev.type_id not in (8, 9, 18, 20) or ev.aggregate:
                continue
            if ev.type_id in (8, 9):  # every AMF message, one media message in 25
                media += 1
                if media % 25:
                    continue
            c = item.connection
            raw = cursors.find(client=c.client, server=c.server, opened_frame=c.opened_frame, rtmp_dir=item.dir,
                               target=Target(csid=ev.csid, type_id=ev.type_id, length=ev.length,
                                             timestamp=ev.timestamp, frame=ev.frame))
            wire = WireMap.of(raw)
            body = wire.body(raw.data)
            assert len(body) == ev.length and parse_body(ev.type_id, body).json_fields().keys() == \
                ev.body.json_fields().keys()
            headers = {i for ch in raw.chunks for i in range(ch.start, ch.start + ch.header_size)}
            for span in field_spans(ev.type_id, body).values():
                ranges = wire.ranges(span.start, span.end)
                assert b"".join(raw.data[a:b] for a, b in ranges) == body[span.start:span.end]
                assert not any(i in headers for a, b in ranges for i in range(a, b))
                assert all(a < b for a, b in ranges)
                straddling += len(ranges) > 1
            messages += 1
    finally:
        cursors.close()
    assert messages > 30 and straddling > 10


def test_ranges_outside_the_body_are_empty() -> None:
    path = CAPTURES / "nginx_chunk128_acks_mtu1500.pcap"
    index = CaptureIndex()
    index.add(iter_items(path))
    item = next(it for it in index.items if type(it.event) is Message and it.event.type_id == 20)
    ev = item.event
    assert isinstance(ev, Message)
    c = item.connection
    cursors = CursorCache(path, lambda: None)
    try:
        raw = cursors.find(client=c.client, server=c.server, opened_frame=c.opened_frame, rtmp_dir=item.dir,
                           target=Target(csid=ev.csid, type_id=ev.type_id, length=ev.length,
                                         timestamp=ev.timestamp, frame=ev.frame))
    finally:
        cursors.close()
    wire = WireMap.of(raw)
    assert wire.ranges(ev.length, ev.length + 10) == ()
    assert wire.ranges(5, 5) == ()
    assert wire.ranges(0, ev.length) == tuple((ch.start + ch.header_size, ch.end) for ch in raw.chunks)
