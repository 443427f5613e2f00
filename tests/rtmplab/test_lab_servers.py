"""The lab's real peers do what the decoder tests rely on (see docs/rtmplab.md)."""

from __future__ import annotations

import time

import pytest

from droidcap.rtmplab import NginxRtmp, pid_alive
from droidcap.rtmplab.ports import listening_ports
from droidcap.rtmplab.tshark import rtmp_message_table, tcp_payload_lengths

pytestmark = pytest.mark.rtmplab


def test_nginx_logs_ffmpeg_publish_and_publisher_reports_its_frames(rtmp_server, rtmp_publisher):
    pub = rtmp_publisher(rtmp_server, "cam1", duration=2.0, fps=25)
    [event] = rtmp_server.wait_event("publish", name="cam1", app="live")
    assert event.client == "127.0.0.1"
    result = pub.wait()
    assert result.returncode == 0
    assert result.video_packets == 50  # 25 fps × 2 s, as ffmpeg itself counted them
    assert result.audio_packets and result.audio_packets > 80  # 44100/1024 per second, ≈ 86 in 2 s
    kinds = [e.kind for e in rtmp_server.events() if e.conn == event.conn]
    assert kinds[:4] == ["client connected", "connect", "createStream", "publish"]


@pytest.mark.slow
def test_ffmpeg_and_rtmpdump_players_receive_media(rtmp_server, rtmp_publisher, rtmp_player):
    pub = rtmp_publisher(rtmp_server, duration=5.0)
    ffplay = rtmp_player(rtmp_server, kind="ffmpeg", seconds=2.0)
    dump = rtmp_player(rtmp_server, kind="rtmpdump", seconds=2.5)
    rtmp_server.wait_playing("test", count=2, app="live")
    a, b = ffplay.wait(), dump.wait()
    pub.wait()
    assert a.returncode == 0 and a.how == "exited"
    assert a.video_frames > 10 and (a.audio_packets or 0) > 10
    assert b.flv_bytes and b.flv_bytes > 10_000
    assert b.video_packets > 10 and b.audio_packets > 10
    plays = rtmp_server.wait_event("play", name="test", app="live", count=2)
    assert {e.conn for e in plays} and len({e.conn for e in plays}) == 2


@pytest.mark.slow
def test_ffmpeg_player_hangs_after_stream_eof_and_is_stopped_by_pid(rtmp_server, rtmp_publisher, rtmp_player):
    """The trap the lab bounds every player for: nginx ends a live stream with User Control
    'Stream EOF' only, and ffmpeg then waits forever (here: well past the publisher's end)."""
    pub = rtmp_publisher(rtmp_server, duration=1.5)
    player = rtmp_player(rtmp_server, seconds=60.0)
    rtmp_server.wait_playing("test")
    pub.wait()
    time.sleep(2.0)
    assert player.process.running, "ffmpeg left by itself: the Stream EOF hang did not happen"
    result = player.wait(timeout=0.5)  # past its bound: stopped (SIGTERM, SIGKILL if ignored)
    assert result.how in ("signalled", "killed")
    assert not pid_alive(player.process.pid)


def test_node_media_server_publish_and_play(node_media_server, rtmp_publisher, rtmp_player):
    assert node_media_server.chunk_size == 60000
    pub = rtmp_publisher(node_media_server, duration=3.0)
    player = rtmp_player(node_media_server, seconds=1.5)
    node_media_server.wait_playing("test")
    result = player.wait()
    pub.wait()
    assert result.video_frames > 10
    log = node_media_server.log_text()
    assert "[rtmp publish] New stream." in log and "streamPath=/live/test" in log
    assert "[rtmp play] Join stream." in log


def test_gstreamer_publisher_feeds_an_ffmpeg_player(rtmp_server, gst_publisher, rtmp_player, tmp_path):
    flv = tmp_path / "gst.flv"
    pub = gst_publisher(rtmp_server, "gst", duration=3.0, flv_copy=flv)
    player = rtmp_player(rtmp_server, "gst", seconds=1.5)
    rtmp_server.wait_playing("gst")
    got = player.wait()
    result = pub.wait()
    assert got.video_frames > 10
    # flvmux's own output, teed to a file: 75 frames + the AVC sequence header.
    assert result.flv_tags is not None and result.flv_tags[9] >= 76
    [connect] = [e for e in rtmp_server.events() if e.kind == "connect" and "LNX 10,0,32,18" in e.line]
    assert connect.app == "live"


def test_lab_capture_records_the_publish_on_the_server_port(rtmp_server, rtmp_publisher, lab_capture):
    dump = lab_capture(rtmp_server)
    pub = rtmp_publisher(rtmp_server, duration=1.0)
    pub.wait()
    cap = dump.stop()
    assert cap.linktype == 1 and cap.packets_captured > 50 and cap.dropped_by_kernel == 0
    table = rtmp_message_table(cap.path, rtmp_server.port)
    assert "publish" in table and "@setDataFrame" in table and "onMetaData" in table


@pytest.mark.parametrize("rtmp_server", [{"host": "::1", "chunk_size": 8192}], indirect=True)
def test_nginx_on_ipv6_loopback_with_another_chunk_size(rtmp_server, rtmp_publisher):
    assert rtmp_server.url("live", "v6").startswith("rtmp://[::1]:")
    assert "chunk_size 8192;" in (rtmp_server.prefix / "nginx.conf").read_text()
    pub = rtmp_publisher(rtmp_server, "v6", duration=1.0)
    [event] = rtmp_server.wait_event("publish", name="v6", app="live")
    assert event.client == "::1"
    assert pub.wait().video_packets == 25


def test_peers_in_a_private_namespace_see_1500_byte_mtu(lab_registry, lab_netns, rtmp_publisher, lab_capture,
                                                       tmp_path):
    server = NginxRtmp.start(lab_registry, tmp_path / "ns-nginx", netns=lab_netns)
    assert server.port in lab_netns.listening_ports()
    assert server.port not in listening_ports("self")  # the host's loopback does not see it
    dump = lab_capture(server, netns=lab_netns)
    rtmp_publisher(server, duration=1.5, video_bitrate=600_000, netns=lab_netns).wait()
    lengths = tcp_payload_lengths(dump.stop().path)
    assert max(lengths) == 1448
