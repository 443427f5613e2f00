"""The IO driver: files, file objects, pipes, standard input, and following a growing file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from droidcap.capture import CaptureNote, Record, StreamData, iter_flow_events, iter_records
from tests.capture.capwriter import Conversation, Pcapng, Pkt, ethernet, pcap
from tests.capture.helpers import C2S, ends, stream

PAYLOADS = [bytes([n]) * (100 + n) for n in range(40)]


def capture(fmt: str = "pcap") -> bytes:
    conv = Conversation()
    ips = [*conv.handshake(), *(conv.segment(True, p) for p in PAYLOADS)]
    if fmt == "pcap":
        return pcap([Pkt(1000.0 + n, ethernet(ip)) for n, ip in enumerate(ips)])
    ng = Pcapng().shb().idb(1, tsresol=9)
    for n, ip in enumerate(ips):
        ng.epb(0, 1000.0 + n, ethernet(ip))
    return ng.bytes()


def test_path_and_file_object_give_the_same_records(tmp_path: Path) -> None:
    blob = capture()
    path = tmp_path / "c.pcap"
    path.write_bytes(blob)
    from_path = list(iter_records(path))
    assert len(from_path) == 43 and all(isinstance(r, Record) for r in from_path)
    assert list(iter_records(str(path))) == from_path
    assert list(iter_records(io.BytesIO(blob))) == from_path


def test_flow_events_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(capture())
    events = list(iter_flow_events(path))
    assert stream(events, C2S) == [b"".join(PAYLOADS)]
    assert ends(events)[-1][2] == "eof"


def test_truncated_file_ends_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(capture()[:-50])
    events = list(iter_flow_events(path))
    notes = [e for e in events if isinstance(e, CaptureNote)]
    assert len(notes) == 1 and "capture ends inside record 43" in notes[0].message
    assert stream(events, C2S) == [b"".join(PAYLOADS[:-1])]


def test_pipe_delivers_records_as_they_arrive() -> None:
    blob = capture()
    read_fd, write_fd = os.pipe()
    first_record_end = 24 + 16 + len(ethernet(Conversation().handshake()[0]))
    seen_early = threading.Event()
    got_first_early: list[bool] = []

    def writer() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as out:
            out.write(blob[:first_record_end + 5])
            # The reader must have the first record before the rest exists.
            got_first_early.append(seen_early.wait(10))
            out.write(blob[first_record_end + 5 :])

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "rb") as pipe:
        records = []
        for record in iter_records(pipe):
            records.append(record)
            seen_early.set()
    thread.join()
    assert got_first_early == [True] and len(records) == 43


def test_standard_input() -> None:
    code = (
        "from droidcap.capture import iter_flow_events, StreamData\n"
        "print(sum(len(e.data) for e in iter_flow_events('-') if isinstance(e, StreamData)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], input=capture(), capture_output=True,
                            check=True, timeout=60)
    assert int(result.stdout) == sum(map(len, PAYLOADS))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_following_a_growing_file(tmp_path: Path, fmt: str) -> None:
    """A writer appends records in odd-sized pieces; the reader yields each as it completes and
    stops when told, at the current end."""
    blob = capture(fmt)
    path = tmp_path / "growing.pcap"
    path.write_bytes(b"")
    done = threading.Event()

    def writer() -> None:
        with open(path, "ab", buffering=0) as out:
            for start in range(0, len(blob), 333):
                out.write(blob[start : start + 333])
                time.sleep(0.005)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    events = []
    for event in iter_flow_events(path, follow=True, poll_interval=0.01, stop=done.is_set):
        events.append(event)
    thread.join()
    assert stream(events, C2S) == [b"".join(PAYLOADS)]
    assert not [e for e in events if isinstance(e, CaptureNote)]
    data_events = [e for e in events if isinstance(e, StreamData)]
    assert [e.data for e in data_events] == PAYLOADS


def test_following_yields_a_record_before_the_file_is_complete(tmp_path: Path) -> None:
    blob = capture()
    path = tmp_path / "growing.pcap"
    path.write_bytes(blob[:100])  # header, one record and a part of the next
    it = iter_records(path, follow=True, poll_interval=0.01, idle_timeout=2.0)
    first = next(it)
    assert isinstance(first, Record) and first.frame == 1
    with open(path, "ab") as out:
        out.write(blob[100:])
    assert len(list(it)) == 42


def test_following_stops_after_idle_timeout_with_a_note_for_a_partial_record(tmp_path: Path) -> None:
    path = tmp_path / "stalled.pcap"
    path.write_bytes(capture()[:-7])
    start = time.monotonic()
    events = list(iter_records(path, follow=True, poll_interval=0.01, idle_timeout=0.2))
    assert 0.2 <= time.monotonic() - start < 5
    assert len(events) == 43 and isinstance(events[-1], CaptureNote)
