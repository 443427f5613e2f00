"""record_session: whole scenarios recorded to pcaps, with the facts known from the producers."""

from __future__ import annotations

from pathlib import Path

import pytest

from droidcap.rtmplab import record_session
from droidcap.rtmplab.capture import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2
from droidcap.rtmplab.pcapedit import read_pcap, tcp_segments
from droidcap.rtmplab.tshark import tcp_payload_lengths

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]


def test_realistic_mtu_capture_has_segments_of_at_most_1448_bytes(tmp_path: Path) -> None:
    rec = record_session(tmp_path / "mtu.pcap", duration=3.0, players=("ffmpeg",), realistic_mtu=True,
                         bitrate=600_000)
    lengths = tcp_payload_lengths(rec.pcap)  # read back by tshark, not by our own parser
    assert rec.linktype == LINKTYPE_ETHERNET and rec.mtu == 1500 and rec.max_tcp_payload == 1448
    assert max(lengths) <= 1448
    assert lengths.count(1448) >= 10  # big messages really were cut at the MTU
    assert rec.published.video_packets == 75  # 25 fps × 3 s
    assert rec.published.flv_tags is not None and rec.published.flv_tags[9] == 75 + 2  # + seq header + EOS
    assert rec.players[0].video_frames > 0
    assert rec.capture.dropped_by_kernel == 0


def test_any_interface_midconnection_capture(tmp_path: Path) -> None:
    rec = record_session(tmp_path / "mid.pcap", duration=3.0, players=1, link="any",
                         start_capture_after_publish=True)
    assert rec.linktype == LINKTYPE_LINUX_SLL2
    assert rec.start_capture_after_publish
    segs = tcp_segments(read_pcap(rec.pcap))
    assert segs and not any(s.flags & 0x02 for s in segs)  # no SYN: every connection predates the file
    assert rec.publisher_client_port in {s.sport for s in segs}
