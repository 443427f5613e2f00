"""The pipeline gives the same items whether flow events come one at a time or in batches.

``RtmpExtractor.feed_batch`` lets consecutive segments of one direction reach the decoder before
it is asked for events (the hot path of ``droidcap decode``); that must change nothing — not the
events, not their frames, not the order — on any capture, including ones with gaps, reordering
and a mid-connection start.
"""

from __future__ import annotations

import random

import pytest

from droidcap.capture.files import iter_flow_events
from droidcap.decode import iter_items
from droidcap.pipeline import RtmpExtractor
from tests.conftest import DATA
from tests.test_real_sessions import CAPTURES, MANIFEST

FILES = [CAPTURES / entry["file"] for entry in MANIFEST.values()] + [DATA / "wireshark_rtmp_sample.cap"]


def one_at_a_time(path):
    extractor = RtmpExtractor()
    items = []
    for event in iter_flow_events(path):
        items.extend(extractor.feed(event))
    items.extend(extractor.finish())
    return items


def random_batches(path, seed):
    rng = random.Random(seed)
    events = list(iter_flow_events(path))
    extractor = RtmpExtractor()
    items = []
    i = 0
    while i < len(events):
        n = rng.choice([1, 2, 3, 7, 50, 1000])
        items.extend(extractor.feed_batch(events[i : i + n]))
        i += n
    items.extend(extractor.finish())
    return items


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_batches_change_nothing(path):
    reference = one_at_a_time(path)
    assert len(reference) > 10
    assert list(iter_items(path)) == reference
    assert random_batches(path, seed=len(reference)) == reference
