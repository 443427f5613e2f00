"""MediaHealthTracker fed messages built from real body bytes: the cases no lab capture has yet
(a sender waiting on an RTMP Acknowledgement), and the timestamp anchor."""

from __future__ import annotations

from droidcap.analysis.findings import Thresholds, assess_stream
from droidcap.analysis.health import MediaHealthTracker, TimestampAnchor
from droidcap.rtmp.control import Acknowledgement, WindowAckSize
from droidcap.rtmp.events import Message
from droidcap.rtmp.media import parse_video

KEY = bytes([0x17, 1, 0, 0, 0]) + (1).to_bytes(4, "big") + b"\x65"
INTER = bytes([0x27, 1, 0, 0, 0]) + (1).to_bytes(4, "big") + b"\x41"
START = 1000.0


def video(frame: int, at: float, ts: int, *, key: bool = False, length: int = 2000) -> Message:
    return Message(frame=frame, time=START + at, csid=6, fmt=1, timestamp=ts, type_id=9, stream_id=1,
                   length=length, body=parse_video(KEY if key else INTER))


def control(frame: int, at: float, type_id: int, body: object) -> Message:
    return Message(frame=frame, time=START + at, csid=2, fmt=0, timestamp=0, type_id=type_id, stream_id=0,
                   length=4, body=body)  # type: ignore[arg-type]


def run(ack_after_full: bool) -> MediaHealthTracker:
    t = MediaHealthTracker(start_time=START)
    t.feed("s2c", control(1, 0.0, 5, WindowAckSize(ack_window=10_000)))
    frames = 5 if ack_after_full else 2  # 5 × 2000 bytes fill the 10 000-byte window
    for i in range(frames):
        t.feed("s2c", video(2 + i, 0.04 * i, 40 * i, key=i == 0))
    t.feed("c2s", control(10, 1.0, 3, Acknowledgement(sequence=10_000)))
    t.feed("s2c", video(11, 1.01, 40 * frames))
    return t


def test_a_stall_ended_by_an_acknowledgement_of_a_full_window_is_an_ack_window_stall():
    (stream,) = run(ack_after_full=True).result()
    (stall,) = stream.stalls
    assert stall.waiting_on_ack and stream.ack_window_stalls == 1
    assert stall.start.frame == 6 and stall.end.frame == 11
    codes = [f.code for f in assess_stream(stream, Thresholds(), mid_connection=False)]
    assert "ack_window_stall" in codes and "stall" not in codes


def test_an_acknowledgement_of_a_window_not_full_does_not_explain_a_stall():
    (stream,) = run(ack_after_full=False).result()
    (stall,) = stream.stalls
    assert not stall.waiting_on_ack and stream.ack_window_stalls == 0


def test_timestamp_anchor_places_a_resynchronised_run_on_the_stream_clock():
    anchor = TimestampAnchor()
    assert anchor.place(3000, 10.0, False) == 3000
    # after a gap the decoder's timestamps restart from the deltas: 40, 80 ...
    assert anchor.place(40, 10.5, True) == 3500
    assert anchor.place(80, 10.54, True) == 3540
    assert anchor.place(4000, 11.0, False) == 4000  # a full header ends the run
