"""Record a whole RTMP scenario to a pcap and return what is KNOWN about it.

A decoder test is only as good as its oracle.  Here the oracle is the producer: the recorder
knows which server and chunk size it configured, how many frames the publisher encoded (ffmpeg's
own summary), what each player received, and whether the capture saw the handshakes.  Those facts
travel with the pcap as a :class:`SessionRecording` (``to_json()`` for a manifest).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from droidcap.rtmplab.capture import CaptureResult, Tcpdump
from droidcap.rtmplab.errors import LabError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.nginx import NginxRtmp
from droidcap.rtmplab.node_media_server import NodeMediaServer
from droidcap.rtmplab.players import Player, PlayResult, start_ffmpeg_player, start_rtmpdump_player
from droidcap.rtmplab.ports import established_local_ports
from droidcap.rtmplab.procs import ProcessRegistry
from droidcap.rtmplab.publishers import PublisherSpec, PublishResult, start_ffmpeg_publisher, start_gst_publisher
from droidcap.rtmplab.servers import RtmpServer

ServerKind = Literal["nginx", "node-media-server"]
PublisherKind = Literal["ffmpeg", "gstreamer"]
PlayerKind = Literal["ffmpeg", "rtmpdump"]

# IPv4 (20) + TCP with timestamps (32) inside a 1500-byte MTU.
_TCP_IP_OVERHEAD = 52


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecording:
    """A recorded scenario: the pcap and the facts known from the peers that produced it."""

    pcap: Path
    server: str
    server_version: str
    host: str
    server_port: int
    app: str
    stream: str
    server_chunk_size: int
    server_ack_window: int
    publisher: str
    publisher_chunk_size: int
    spec: PublisherSpec
    published: PublishResult
    players: tuple[PlayResult, ...]
    capture: CaptureResult
    publisher_client_port: int | None
    player_client_ports: tuple[int | None, ...]
    link: str
    linktype: int
    realistic_mtu: bool
    mtu: int | None
    max_tcp_payload: int | None
    isolated_netns: bool
    start_capture_after_publish: bool
    started_at: str
    wall_seconds: float

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (paths as strings)."""
        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            return v
        out: dict[str, Any] = conv(dataclasses.asdict(self))
        return out


def record_session(
    out: Path,
    *,
    duration: float = 4.0,
    server: ServerKind = "nginx",
    publisher: PublisherKind = "ffmpeg",
    players: int | Sequence[PlayerKind] = 1,
    realistic_mtu: bool = False,
    link: Literal["lo", "any"] = "lo",
    start_capture_after_publish: bool = False,
    bitrate: int = 200_000,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gop: int = 25,
    audio_rate: int = 44100,
    server_chunk_size: int | None = None,
    server_ack_window: int | None = None,
    host: str = "127.0.0.1",
    isolated: bool | None = None,
    app: str = "live",
    stream: str = "test",
    workdir: Path | None = None,
    keep_logs: bool = False,
    publisher_flv: Path | None = None,
) -> SessionRecording:
    """Run one publisher and ``players`` against a fresh server while tcpdump records ``out``.

    - ``players``: a count of ffmpeg players, or a sequence of kinds (``"ffmpeg"``, ``"rtmpdump"``).
      Players join once the publisher is publishing and leave about 1 s before it ends, so none
      of them ever hits ffmpeg's hang after "Stream EOF".
    - ``realistic_mtu``: run everything in a private network namespace whose ``lo`` has MTU 1500
      and no offloads, so TCP payloads are ≤ 1448 bytes; ``isolated`` (default: same as
      ``realistic_mtu``) uses such a namespace with the normal loopback MTU.
    - ``link``: ``"lo"`` gives Ethernet framing (DLT 1), ``"any"`` Linux SLL2 (DLT 276).
    - ``start_capture_after_publish``: tcpdump starts only after the publisher and all players are
      connected and streaming: no handshake, connect or Set Chunk Size in the file.
    - ``server_chunk_size``: nginx's ``chunk_size`` (default 4096); node-media-server's (60000).
    - ``server_ack_window``: nginx's ``ack_window`` (default 5000000: no Acknowledgements in a
      short session; e.g. 32768 makes the players acknowledge a few times).
    - ``publisher_flv``: keep the ffmpeg publisher's copy (ffmpeg or GStreamer) of the FLV tag stream it sent there (it
      is always made; ``published.flv_tags`` counts its tags by type either way).

    The benchmark's big capture: ``record_session(p, duration=60, bitrate=3_000_000, width=640,
    height=360, players=2, realistic_mtu=True)``.  Every process is stopped by PID before this
    returns or raises; logs are kept in ``workdir`` when given (or when ``keep_logs``)."""
    if isolated is None:
        isolated = realistic_mtu
    if realistic_mtu and not isolated:
        raise ValueError("realistic_mtu needs a private network namespace (isolated=True)")
    one_ffmpeg: tuple[PlayerKind] = ("ffmpeg",)
    kinds = one_ffmpeg * players if isinstance(players, int) else tuple(players)
    spec = PublisherSpec(duration=duration, width=width, height=height, fps=fps, gop=gop,
                         video_bitrate=bitrate, audio_rate=audio_rate)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    own_workdir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="droidcap-lab-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    ok = False
    try:
        with ProcessRegistry(work / "logs") as reg:
            netns = NetNamespace(reg, mtu=1500 if realistic_mtu else None, offloads=not realistic_mtu) \
                if isolated else None
            srv: RtmpServer
            if server == "nginx":
                srv = NginxRtmp.start(reg, work / "nginx", host=host, chunk_size=server_chunk_size or 4096,
                                      ack_window=server_ack_window or 5_000_000, app=app, netns=netns)
            elif server == "node-media-server":
                if server_ack_window is not None:
                    raise ValueError("node-media-server's ack window is fixed (5000000)")
                if app != "live":
                    raise ValueError("the node-media-server lab serves any app; keep app='live'")
                srv = NodeMediaServer.start(reg, work / "nms", host=host,
                                            chunk_size=server_chunk_size or 60000, netns=netns)
            else:
                raise ValueError(f"unknown server {server!r}")
            url = srv.url(app, stream)
            cap_path = out

            def start_capture() -> Tcpdump:
                return Tcpdump.start(reg, cap_path, port=srv.port, interface=link, netns=netns)

            dump = None if start_capture_after_publish else start_capture()
            if publisher == "ffmpeg":
                flv = Path(publisher_flv).resolve() if publisher_flv else work / "publisher.flv"
                pub = start_ffmpeg_publisher(reg, url, spec, flv_copy=flv, netns=netns)
            elif publisher == "gstreamer":
                flv = Path(publisher_flv).resolve() if publisher_flv else work / "publisher.flv"
                pub = start_gst_publisher(reg, url, spec, flv_copy=flv, netns=netns)
            else:
                raise ValueError(f"unknown publisher {publisher!r}")
            srv.wait_publishing(stream, app=app, timeout=20.0)
            t_pub = time.monotonic()
            play_seconds = max(1.0, duration - 1.0 - 1.0)
            running: list[Player] = []
            for i, kind in enumerate(kinds):
                if kind == "ffmpeg":
                    running.append(start_ffmpeg_player(reg, url, seconds=play_seconds, netns=netns))
                elif kind == "rtmpdump":
                    running.append(start_rtmpdump_player(reg, url, work / f"rtmpdump-{i}.flv",
                                                         seconds=play_seconds, netns=netns))
                else:
                    raise ValueError(f"unknown player {kind!r}")
            if kinds:
                srv.wait_playing(stream, count=len(kinds), app=app, timeout=15.0)
            pub_port = _client_port(pub.process.pid)
            player_ports = tuple(_client_port(p.process.pid) for p in running)
            if dump is None:
                time.sleep(0.5)  # let every connection get past connect/play into steady media flow
                dump = start_capture()
            # Players first: each ends by its own bound while the publisher is still live.
            results = tuple(p.wait(timeout=max(5.0, play_seconds + 15.0 - (time.monotonic() - t_pub)))
                            for p in running)
            published = pub.wait(timeout=duration + 30.0)
            time.sleep(0.3)  # the last FIN/ACKs
            capture = dump.stop()
            srv.stop()
        ok = True
    except Exception as exc:
        exc.add_note(f"droidcap rtmplab: peer logs kept in {work / 'logs'}")
        raise
    finally:
        if own_workdir and ok and not keep_logs:
            shutil.rmtree(work, ignore_errors=True)
    if own_workdir and not keep_logs:
        # The rtmpdump FLVs went with the temporary work directory.
        results = tuple(dataclasses.replace(r, flv_path=None) for r in results)
        if publisher_flv is None and published.flv_copy is not None:
            published = dataclasses.replace(published, flv_copy=None)
    if capture.dropped_by_kernel:
        raise LabError(f"tcpdump dropped {capture.dropped_by_kernel} packets: {out} is incomplete")
    mtu = 1500 if realistic_mtu else None
    return SessionRecording(
        pcap=out, server=srv.kind, server_version=srv.version, host=host, server_port=srv.port,
        app=app, stream=stream, server_chunk_size=srv.chunk_size,
        server_ack_window=server_ack_window or 5_000_000, publisher=pub.kind,
        publisher_chunk_size=pub.chunk_size, spec=spec, published=published, players=results,
        capture=capture, publisher_client_port=pub_port, player_client_ports=player_ports, link=link,
        linktype=capture.linktype, realistic_mtu=realistic_mtu, mtu=mtu,
        max_tcp_payload=(mtu - _TCP_IP_OVERHEAD - (20 if ":" in host else 0)) if mtu else None,
        isolated_netns=isolated, start_capture_after_publish=start_capture_after_publish,
        started_at=started_at, wall_seconds=round(time.monotonic() - t0, 2),
    )


def _client_port(pid: int, timeout: float = 3.0) -> int | None:
    """The local port of ``pid``'s one established TCP connection (None if not exactly one)."""
    deadline = time.monotonic() + timeout
    while True:
        ports = established_local_ports(pid)
        if len(ports) == 1:
            return ports.pop()
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
