"""The summary as a person reads it in a terminal: per connection who, startup, statuses, media
health per stream, transport, and the findings with where they are."""

from __future__ import annotations

from typing import TextIO

from droidcap.analysis.health import StreamHealth
from droidcap.analysis.summary import CaptureSummary, ConnectionHealth


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:g}" if isinstance(value, int) else f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def write_summary(out: TextIO, summary: CaptureSummary) -> None:
    for c in summary.connections:
        _connection(out, c)
    out.writelines(f"note: {note}\n" for note in summary.notes)


def _connection(out: TextIO, c: ConnectionHealth) -> None:
    w = out.write
    names = ", ".join(c.stream_names) or "-"
    w(f"conn {c.conn}  {c.role}  {c.client} -> {c.server}  app={c.app or '-'} stream={names}"
      f"{'  (capture starts mid-connection)' if c.mid_connection else ''}\n")
    w(f"  tcUrl {c.tc_url or '-'}  flashVer {c.flash_ver or '-'}  server {c.server_version or '-'}"
      f"  encoder {c.encoder or '-'}\n")
    s = c.startup
    w(f"  startup  handshake rtt {_ms(s.handshake_rtt_ms)}, connect {_ms(s.connect_ms)}, createStream "
      f"{_ms(s.create_stream_ms)}, play→start {_ms(s.play_start_ms)}, publish→start {_ms(s.publish_start_ms)}\n")
    w(f"           first audio {_ms(s.time_to_first_audio_ms)}, first video {_ms(s.time_to_first_video_ms)}, "
      f"first keyframe {_ms(s.time_to_first_keyframe_ms)} (after the connection's start)\n")
    for r in c.statuses:
        said = f" — server: {r.description!r}" if r.description else ""
        w(f"  status   {r.code or r.source}  {r.meaning}{said}  (frame {r.where.frame}, "
          f"{r.where.after_ms / 1000:.3f} s)\n")
    for st in c.streams:
        _stream(out, st)
    t = c.transport
    w(f"  tcp      gaps {t.tcp_gaps} ({t.tcp_gap_bytes} bytes), retransmissions {t.retransmissions}, "
      f"out of order {t.out_of_order}, zero windows {t.zero_windows}\n")
    if c.findings:
        for f in c.findings:
            where = "" if f.where is None else f"  [frame {f.where.frame}, {f.where.after_ms / 1000:.3f} s]"
            w(f"  {f.severity:<8} {f.message}{where}\n")
    else:
        w("  ok       no findings\n")
    w("\n")


def _stream(out: TextIO, st: StreamHealth) -> None:
    w = out.write
    w(f"  stream {st.stream_id} ({st.dir})  metadata {st.metadata_state}, stalls {st.stall_count} "
      f"(max {_num(st.max_stall_ms)} ms), max drift {_num(st.max_drift_ms, ' ms')}, "
      f"timestamps backwards {st.timestamps_backwards}, jumps {st.timestamp_jumps}\n")
    v = st.video
    if v is not None:
        size = f"{v.width}x{v.height}" if v.width else "-"
        w(f"    video  {v.codec or '-'} {v.profile or ''} {_num(v.level)} {size}  {v.frames} frames, "
          f"{_num(v.frame_rate, ' fps')}, {_num(v.video_kbps, ' kbps')} (1 s min {_num(v.video_kbps_min)}, "
          f"max {_num(v.video_kbps_max)}), keyframe every {_num(v.keyframe_interval_ms_mean, ' ms')} "
          f"(max {_num(v.keyframe_interval_ms_max, ' ms')}, {_num(v.keyframe_interval_frames_max)} frames), "
          f"sequence header {v.sequence_header.state}\n")
    a = st.audio
    if a is not None:
        w(f"    audio  {a.codec or '-'} {a.profile or ''} {_num(a.sample_rate, ' Hz')} {_num(a.channels, ' ch')}  "
          f"{a.packets} packets, {_num(a.audio_kbps, ' kbps')}, sequence header {a.sequence_header.state}\n")
