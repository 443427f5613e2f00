"""CaptureReader: every pcap/pcapng variant, truncation, bad input, and feeding in pieces."""

from __future__ import annotations

import gzip
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.capture import CaptureNote, CaptureReader, Record
from droidcap.errors import CaptureFormatError
from tests.capture.capwriter import Pcapng, Pkt, pcap

FRAMES = [b"\x01" * 60, b"\x02" * 1514, b"", b"\x04" * 7]
TIMES = [1_700_000_000.123456, 1_700_000_001.5, 1_700_000_002.000001, 1_700_000_003.999999]


def read_all(blob: bytes) -> list[Record | CaptureNote]:
    reader = CaptureReader()
    reader.receive_data(blob)
    reader.receive_eof()
    events = list(reader.events())
    assert reader.finished
    return events


def read_pieces(blob: bytes, cuts: list[int]) -> list[Record | CaptureNote]:
    reader = CaptureReader()
    events: list[Record | CaptureNote] = []
    last = 0
    for cut in sorted(cuts) + [len(blob)]:
        reader.receive_data(blob[last:cut])
        events.extend(reader.events())
        last = cut
    reader.receive_eof()
    events.extend(reader.events())
    return events


def sample_pcap(**kw: object) -> bytes:
    return pcap([Pkt(t, d) for t, d in zip(TIMES, FRAMES, strict=True)], **kw)  # type: ignore[arg-type]


# -- classic pcap -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_variants(order: str, nanosecond: bool) -> None:
    events = read_all(sample_pcap(linktype=113, nanosecond=nanosecond, order=order))
    assert [e.data for e in events] == FRAMES  # type: ignore[union-attr]
    assert [e.frame for e in events] == [1, 2, 3, 4]
    assert all(type(e) is Record and e.linktype == 113 and e.interface == 0 for e in events)
    for event, t in zip(events, TIMES, strict=True):
        assert event.time == pytest.approx(t, abs=1e-6)  # type: ignore[union-attr]


def test_pcap_nanosecond_timestamps_keep_sub_microsecond_digits() -> None:
    blob = pcap([Pkt(1.000000250, b"x")], nanosecond=True)
    (event,) = read_all(blob)
    assert event.time == pytest.approx(1.00000025, abs=1e-12)  # type: ignore[union-attr]


def test_pcap_orig_len_and_fcs_bits_of_linktype() -> None:
    blob = pcap([Pkt(1.0, b"abc", orig_len=1500)], linktype=0x14000000 | 1)
    (event,) = read_all(blob)
    assert event.orig_len == 1500 and event.linktype == 1  # type: ignore[union-attr]


def test_pcap_with_no_records() -> None:
    reader = CaptureReader()
    reader.receive_data(sample_pcap()[:24])
    reader.receive_eof()
    assert list(reader.events()) == []
    assert reader.format == "pcap" and reader.finished


def test_pcap_unsupported_version() -> None:
    blob = bytearray(sample_pcap())
    blob[4:6] = struct.pack("<H", 1)
    with pytest.raises(CaptureFormatError, match="version 1.4"):
        read_all(bytes(blob))


def test_pcap_absurd_record_length_is_a_format_error() -> None:
    blob = sample_pcap()[:24] + struct.pack("<IIII", 0, 0, 0xFFFFFF00, 60)
    with pytest.raises(CaptureFormatError, match="record 1 claims"):
        read_all(blob)


# -- pcapng -------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_epb_both_byte_orders(order: str) -> None:
    ng = Pcapng(order).shb().idb(1)
    for t, d in zip(TIMES, FRAMES, strict=True):
        ng.epb(0, t, d)
    events = read_all(ng.bytes())
    assert [e.data for e in events] == FRAMES  # type: ignore[union-attr]
    assert [e.frame for e in events] == [1, 2, 3, 4]
    for event, t in zip(events, TIMES, strict=True):
        assert event.time == pytest.approx(t, abs=1e-6)  # type: ignore[union-attr]


def test_pcapng_interfaces_with_own_linktype_and_resolution() -> None:
    ng = (Pcapng().shb().idb(1).idb(276, tsresol=9).idb(101, tsresol=0x80 | 20, tsoffset=1000)
          .idb(113, tsresol=3))
    ng.epb(0, 10.123456, b"eth").epb(1, 10.123456789, b"sll2").epb(2, 10.5, b"raw")
    ng.epb(3, 10.123, b"sll")
    events = read_all(ng.bytes())
    assert [(e.interface, e.linktype, e.data) for e in events] == [  # type: ignore[union-attr]
        (0, 1, b"eth"), (1, 276, b"sll2"), (2, 101, b"raw"), (3, 113, b"sll")]
    times = [e.time for e in events]  # type: ignore[union-attr]
    assert times[0] == pytest.approx(10.123456, abs=1e-9)
    assert times[1] == pytest.approx(10.123456789, abs=1e-12)
    assert times[2] == pytest.approx(1010.5, abs=1e-6)  # 2^-20 units plus if_tsoffset
    assert times[3] == pytest.approx(10.123, abs=1e-12)


def test_pcapng_simple_and_obsolete_packet_blocks() -> None:
    ng = Pcapng(">").shb().idb(1, snaplen=5)
    ng.epb(0, 7.25, b"first").spb(b"simple", orig_len=9).pb(0, 8.5, b"old")
    events = read_all(ng.bytes())
    assert [(e.data, e.orig_len) for e in events] == [  # type: ignore[union-attr]
        (b"first", 5), (b"simpl", 9), (b"old", 3)]
    # An SPB has no timestamp: it carries the previous record's.
    assert [e.time for e in events] == [7.25, 7.25, 8.5]  # type: ignore[union-attr]


def test_pcapng_skips_other_blocks_and_notes_unknown_types_once() -> None:
    ng = Pcapng().shb().idb(1)
    ng.block(4, b"\x00" * 4)  # name resolution: skipped quietly
    ng.block(5, b"\x00" * 12)  # interface statistics: skipped quietly
    ng.block(0x1234, b"xyz").epb(0, 1.0, b"a").block(0x1234, b"").epb(0, 2.0, b"b")
    events = read_all(ng.bytes())
    notes = [e for e in events if isinstance(e, CaptureNote)]
    assert [e.data for e in events if isinstance(e, Record)] == [b"a", b"b"]
    assert len(notes) == 1 and "0x00001234" in notes[0].message


def test_pcapng_new_section_switches_byte_order_and_interfaces() -> None:
    first = Pcapng("<").shb().idb(1).epb(0, 1.0, b"le")
    second = Pcapng(">").shb().idb(113, tsresol=9).epb(0, 2.0, b"be")
    events = read_all(first.bytes() + second.bytes())
    assert [(e.frame, e.linktype, e.data, e.time) for e in events] == [  # type: ignore[union-attr]
        (1, 1, b"le", 1.0), (2, 113, b"be", 2.0)]


def test_pcapng_record_for_undeclared_interface() -> None:
    blob = Pcapng().shb().idb(1).bytes()
    bogus = Pcapng()
    bogus.resolutions = [10**6, 10**6]
    with pytest.raises(CaptureFormatError, match="interface 1"):
        read_all(blob + bogus.epb(1, 1.0, b"x").bytes())


def test_pcapng_trailing_length_mismatch() -> None:
    blob = bytearray(Pcapng().shb().idb(1).epb(0, 1.0, b"abcd").bytes())
    blob[-4:] = struct.pack("<I", 4)
    with pytest.raises(CaptureFormatError, match="trailing length"):
        read_all(bytes(blob))


def test_pcapng_bad_byte_order_magic() -> None:
    blob = bytearray(Pcapng().shb().bytes())
    blob[8:12] = b"\x00\x00\x00\x00"
    with pytest.raises(CaptureFormatError, match="byte-order magic"):
        read_all(bytes(blob))


# -- truncation and bad input ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_file_gives_records_before_the_cut_and_a_note(fmt: str) -> None:
    if fmt == "pcap":
        blob = sample_pcap()
    else:
        ng = Pcapng().shb().idb(1)
        for t, d in zip(TIMES, FRAMES, strict=True):
            ng.epb(0, t, d)
        blob = ng.bytes()
    events = read_all(blob[:-5])
    records = [e for e in events if isinstance(e, Record)]
    assert [r.data for r in records] == FRAMES[:3]
    assert isinstance(events[-1], CaptureNote) and "truncated" in events[-1].message
    assert len(events) == 4


def test_partial_record_waits_until_eof() -> None:
    blob = sample_pcap()
    reader = CaptureReader()
    reader.receive_data(blob[:-3])
    assert [e.frame for e in reader.events()] == [1, 2, 3]  # type: ignore[union-attr]
    assert list(reader.events()) == [] and not reader.finished
    assert reader.buffered == 16 + len(FRAMES[3]) - 3
    reader.receive_data(blob[-3:])
    assert [e.data for e in reader.events()] == [FRAMES[3]]  # type: ignore[union-attr]
    reader.receive_eof()
    assert list(reader.events()) == [] and reader.finished


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "empty"),
        (b"\xd4\xc3", "only 2 bytes"),
        (b"<!DOCTYPE html><html></html>", "not a pcap or pcapng capture"),
        (gzip.compress(b"\xd4\xc3\xb2\xa1" + bytes(40)), "gzip"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "ends inside its 24-byte file header"),
        (b"\x0a\x0d\x0d\x0a" + bytes(20), "byte-order magic"),
    ],
)
def test_not_a_capture(blob: bytes, match: str) -> None:
    with pytest.raises(CaptureFormatError, match=match):
        read_all(blob)


def test_receive_data_after_eof_is_a_usage_error() -> None:
    reader = CaptureReader()
    reader.receive_eof()
    with pytest.raises(RuntimeError):
        reader.receive_data(b"x")


# -- feeding in pieces --------------------------------------------------------------------------


def _mixed_pcapng() -> bytes:
    ng = Pcapng(">").shb().idb(1).idb(276, tsresol=9).block(0x99, b"?")
    for n, (t, d) in enumerate(zip(TIMES, FRAMES, strict=True)):
        ng.epb(n % 2, t, d)
    return ng.spb(b"tail").bytes()


BLOBS = [sample_pcap(), sample_pcap(nanosecond=True, order=">"), _mixed_pcapng()]


@pytest.mark.parametrize("blob", BLOBS)
def test_one_byte_at_a_time_equals_whole(blob: bytes) -> None:
    assert read_pieces(blob, list(range(1, len(blob)))) == read_all(blob)


@settings(max_examples=150, deadline=None)
@given(which=st.sampled_from(range(len(BLOBS))), data=st.data())
def test_random_split_points_equal_whole(which: int, data: st.DataObject) -> None:
    blob = BLOBS[which]
    cuts = data.draw(st.lists(st.integers(0, len(blob)), max_size=30))
    cut_at = data.draw(st.integers(0, len(blob)))  # and a truncated variant of the same capture
    assert read_pieces(blob, cuts) == read_all(blob)
    short = blob[:cut_at]
    try:
        whole = read_all(short)
    except CaptureFormatError as err:
        with pytest.raises(CaptureFormatError, match=re.escape(str(err))):
            read_pieces(short, [c for c in cuts if c <= cut_at])
    else:
        assert read_pieces(short, [c for c in cuts if c <= cut_at]) == whole
