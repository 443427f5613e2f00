"""A capture damaged part-way through decodes up to the damage, whatever the read block size.

A corrupt record (a length no capture has) used to cost every good record read in the same
1 MiB block; now everything before it is decoded and printed, then one error line, exit 1 — the
same messages as the capture cut cleanly just before the damage.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from droidcap.capture import iter_records
from droidcap.capture.events import CaptureNote
from droidcap.errors import CaptureFormatError
from tests.conftest import DATA, run_cli

SOURCE = DATA / "captures" / "nginx_ffmpeg_players.pcap"


def record_ends(data: bytes) -> list[int]:
    """Byte offsets just after each record of a little-endian pcap."""
    ends, pos = [], 24
    while pos + 16 <= len(data):
        (incl,) = struct.unpack_from("<I", data, pos + 8)
        pos += 16 + incl
        ends.append(pos)
    return ends


def message_lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


@pytest.mark.parametrize("records", [40, 300, 900])
def test_everything_before_a_corrupt_record_is_decoded_then_one_error(tmp_path: Path, records: int):
    data = SOURCE.read_bytes()
    cut = record_ends(data)[records - 1]
    clean = tmp_path / "clean.pcap"
    clean.write_bytes(data[:cut])
    damaged = tmp_path / "damaged.pcap"
    # a record header claiming 1 GiB of captured bytes, then some of what follows
    damaged.write_bytes(data[:cut] + struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30) + data[cut : cut + 5000])

    expected = run_cli("decode", str(clean), "-f", "ndjson")
    got = run_cli("decode", str(damaged), "-f", "ndjson")
    assert expected.returncode == 0
    assert got.returncode == 1
    assert message_lines(got.stdout) == message_lines(expected.stdout)
    assert len(message_lines(got.stdout)) > 5
    err = got.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("droidcap: ") and "corrupt" in err
    assert "Traceback" not in err


def test_the_reader_returns_the_good_records_before_raising(tmp_path: Path):
    data = SOURCE.read_bytes()
    cut = record_ends(data)[99]
    path = tmp_path / "damaged.pcap"
    path.write_bytes(data[:cut] + struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30))
    seen = []
    with pytest.raises(CaptureFormatError, match="record 101"):
        for record in iter_records(path):
            assert not isinstance(record, CaptureNote)
            seen.append(record.frame)
    assert seen == list(range(1, 101))
