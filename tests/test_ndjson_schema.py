"""The fields docs/ndjson.md promises on every object, checked on real captures — including the
rarer shapes: oversize messages (a small --max-message-size), gaps, skips and resynchronisation
(the capture with a segment removed, the one started mid-connection)."""

from __future__ import annotations

import pytest

from droidcap.decode import iter_items
from droidcap.pipeline import DecodedEvent
from droidcap.render.records import event_record
from tests.test_real_sessions import CAPTURES, MANIFEST

EVERY = {"conn", "client", "server", "dir", "frame", "time", "kind"}
PER_KIND = {
    "message": {"csid", "fmt", "timestamp", "type_id", "type", "stream_id", "length"},
    "handshake": {"part"},
    "gap": {"size"},
    "skipped": {"size", "reason"},
    "sync": {"chunk_size", "confirmed"},
}


@pytest.mark.parametrize("max_message_size", [16 * 1024 * 1024, 2048])
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_record_has_the_documented_fields(name: str, max_message_size: int) -> None:
    kinds = set()
    oversize = 0
    for item in iter_items(CAPTURES / MANIFEST[name]["file"], max_message_size=max_message_size):
        if type(item) is not DecodedEvent:
            continue
        record = event_record(item)
        kinds.add(record["kind"])
        missing = (EVERY | PER_KIND[record["kind"]]) - record.keys()
        assert not missing, (record, missing)
        oversize += bool(record.get("oversize"))
    assert "message" in kinds
    if max_message_size == 2048 and not MANIFEST[name]["starts_mid_connection"]:
        # keyframes are larger than 2 KiB in every capture (a resynchronising reader trusts no
        # header above the limit, so mid-connection the big ones are skipped, not announced)
        assert oversize > 0
