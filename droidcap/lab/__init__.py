"""Real RTMP lab: nginx-rtmp, node-media-server, ffmpeg/GStreamer publishers, ffmpeg/rtmpdump
players and tcpdump, each started by PID, time-bounded and cleaned up (see docs/lab.md).

Nothing here is a mock: every peer is the real Debian/npm program.  The pytest fixtures live in
:mod:`droidcap.lab.pytest_plugin`; :func:`record_session` records a whole scenario to a pcap.
"""

from droidcap.lab.capture import CaptureResult, Tcpdump
from droidcap.lab.errors import LabError, LabProcessError, LabTimeoutError, LabToolMissingError
from droidcap.lab.netns import NetNamespace
from droidcap.lab.nginx import NginxLogEvent, NginxRtmp
from droidcap.lab.node_media_server import NodeMediaServer
from droidcap.lab.players import Player, PlayResult, start_ffmpeg_player, start_rtmpdump_player
from droidcap.lab.ports import free_port
from droidcap.lab.procs import LabProcess, ProcessExit, ProcessRegistry, pid_alive
from droidcap.lab.publishers import (Publisher, PublisherSpec, PublishResult, start_ffmpeg_publisher,
                                     start_gst_publisher)
from droidcap.lab.session import SessionRecording, record_session

__all__ = [
    "CaptureResult", "LabError", "LabProcess", "LabProcessError", "LabTimeoutError",
    "LabToolMissingError", "NetNamespace", "NginxLogEvent", "NginxRtmp", "NodeMediaServer",
    "PlayResult", "Player", "ProcessExit", "ProcessRegistry", "PublishResult", "Publisher",
    "PublisherSpec", "SessionRecording", "Tcpdump", "free_port", "pid_alive", "record_session",
    "start_ffmpeg_player", "start_ffmpeg_publisher", "start_gst_publisher", "start_rtmpdump_player",
]
