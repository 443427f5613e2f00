"""Real RTMP lab: nginx-rtmp, node-media-server, ffmpeg/GStreamer publishers, ffmpeg/rtmpdump
players and tcpdump, each started by PID, time-bounded and cleaned up (see docs/rtmplab.md).

Nothing here is a mock: every peer is the real Debian/npm program.  The pytest fixtures live in
:mod:`droidcap.rtmplab.pytest_plugin`; :func:`record_session` records a whole scenario to a pcap.
"""

from droidcap.rtmplab.capture import CaptureResult, Tcpdump
from droidcap.rtmplab.errors import LabError, LabProcessError, LabTimeoutError, LabToolMissingError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.nginx import NginxLogEvent, NginxRtmp
from droidcap.rtmplab.node_media_server import NodeMediaServer
from droidcap.rtmplab.players import Player, PlayResult, start_ffmpeg_player, start_rtmpdump_player
from droidcap.rtmplab.ports import free_port
from droidcap.rtmplab.procs import LabProcess, ProcessExit, ProcessRegistry, pid_alive
from droidcap.rtmplab.publishers import (
    Publisher,
    PublisherSpec,
    PublishResult,
    start_ffmpeg_publisher,
    start_gst_publisher,
)
from droidcap.rtmplab.session import SessionRecording, record_session

__all__ = [
    "CaptureResult", "LabError", "LabProcess", "LabProcessError", "LabTimeoutError",
    "LabToolMissingError", "NetNamespace", "NginxLogEvent", "NginxRtmp", "NodeMediaServer",
    "PlayResult", "Player", "ProcessExit", "ProcessRegistry", "PublishResult", "Publisher",
    "PublisherSpec", "SessionRecording", "Tcpdump", "free_port", "pid_alive", "record_session",
    "start_ffmpeg_player", "start_ffmpeg_publisher", "start_gst_publisher", "start_rtmpdump_player",
]
