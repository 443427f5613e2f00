"""pytest plugin: real RTMP lab fixtures (registered as the ``droidcap_rtmplab`` entry point).

Every fixture starts real programs (nginx + libnginx-mod-rtmp, node-media-server, ffmpeg,
GStreamer, rtmpdump, tcpdump) through one function-scoped :class:`ProcessRegistry`, whose
teardown stops them all by PID — also when the test body failed.  Waits are bounded everywhere;
a missing tool is an error (``./dev setup`` installs them), never a skip.

Fixtures (see docs/rtmplab.md for examples):

- ``lab_registry`` — the test's :class:`ProcessRegistry` (logs under ``tmp_path/lab-logs``).
- ``rtmp_server`` — a started :class:`NginxRtmp`; parametrize indirectly with a dict of
  :meth:`NginxRtmp.start` keywords, e.g. ``{"chunk_size": 128}`` or ``{"host": "::1"}``.
- ``node_media_server`` — a started :class:`NodeMediaServer` (chunk size 60000; indirect dict too).
- ``rtmp_publisher(target, stream="test", *, app="live", wait=True, flv_copy=None, **spec)`` —
  starts an ffmpeg publisher (``spec``: :class:`PublisherSpec` fields); with ``wait`` it returns
  once the server has logged the publish.
- ``gst_publisher(target, stream="test", *, app="live", wait=True, chunk_size=128, flv_copy=None, **spec)``.
- ``rtmp_player(target, stream="test", *, kind="ffmpeg"|"rtmpdump", seconds=2.0, app="live")``.
- ``lab_capture(target, *, interface="lo", name="lab.pcap")`` — tcpdump on the server's port;
  ``.stop()`` returns a :class:`CaptureResult`.
- ``lab_netns`` — a private network namespace with ``lo`` at MTU 1500 and offloads off.

``target`` is a lab server (its URL and log are used) or an ``rtmp://`` URL string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from droidcap.rtmplab.capture import Tcpdump
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.nginx import NginxRtmp
from droidcap.rtmplab.node_media_server import NodeMediaServer
from droidcap.rtmplab.players import Player, start_ffmpeg_player, start_rtmpdump_player
from droidcap.rtmplab.procs import ProcessRegistry
from droidcap.rtmplab.publishers import Publisher, PublisherSpec, start_ffmpeg_publisher, start_gst_publisher
from droidcap.rtmplab.servers import RtmpServer

Target = RtmpServer | str


def pytest_configure(config: pytest.Config) -> None:
    # Declared here too so that users' own projects can mark lab tests without copying our ini.
    config.addinivalue_line("markers", "rtmplab: runs real RTMP servers/players (droidcap.rtmplab)")


def _params(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", None) or {})


def _url(target: Target, app: str, stream: str) -> str:
    return target if isinstance(target, str) else target.url(app, stream)


@pytest.fixture
def lab_registry(tmp_path: Path) -> Iterator[ProcessRegistry]:
    """The test's process registry; teardown stops every lab process by PID (SIGKILL at worst)."""
    reg = ProcessRegistry(tmp_path / "lab-logs")
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def rtmp_server(request: pytest.FixtureRequest, lab_registry: ProcessRegistry, tmp_path: Path) -> NginxRtmp:
    """nginx-rtmp on a free 127.0.0.1 port with a ``live`` application (chunk_size 4096)."""
    return NginxRtmp.start(lab_registry, tmp_path / "nginx", **_params(request))


@pytest.fixture
def node_media_server(request: pytest.FixtureRequest, lab_registry: ProcessRegistry,
                      tmp_path: Path) -> NodeMediaServer:
    """node-media-server (npm, ``.lab/npm``) on a free 127.0.0.1 port, chunk size 60000."""
    return NodeMediaServer.start(lab_registry, tmp_path / "nms", **_params(request))


@pytest.fixture
def lab_netns(lab_registry: ProcessRegistry) -> NetNamespace:
    """A private network namespace (lo at MTU 1500, TSO/GSO/GRO off); pass it as ``netns=``."""
    return NetNamespace(lab_registry, mtu=1500, offloads=False)


@pytest.fixture
def rtmp_publisher(lab_registry: ProcessRegistry) -> Callable[..., Publisher]:
    """Factory: start an ffmpeg publisher (testsrc2 + sine, libx264 -g 25, AAC) to ``target``."""

    def start(target: Target, stream: str = "test", *, app: str = "live", wait: bool = True,
              flv_copy: Path | None = None, netns: NetNamespace | None = None, **spec: Any) -> Publisher:
        pub = start_ffmpeg_publisher(lab_registry, _url(target, app, stream), PublisherSpec(**spec),
                                     flv_copy=flv_copy, netns=netns)
        if wait and not isinstance(target, str):
            target.wait_publishing(stream, app=app, timeout=20.0)
        return pub

    return start


@pytest.fixture
def gst_publisher(lab_registry: ProcessRegistry) -> Callable[..., Publisher]:
    """Factory: start a GStreamer publisher (openh264 + voaac, flvmux, rtmp2sink chunk size 128)."""

    def start(target: Target, stream: str = "test", *, app: str = "live", wait: bool = True,
              chunk_size: int = 128, flv_copy: Path | None = None, netns: NetNamespace | None = None,
              **spec: Any) -> Publisher:
        pub = start_gst_publisher(lab_registry, _url(target, app, stream), PublisherSpec(**spec),
                                  chunk_size=chunk_size, flv_copy=flv_copy, netns=netns)
        if wait and not isinstance(target, str):
            target.wait_publishing(stream, app=app, timeout=20.0)
        return pub

    return start


@pytest.fixture
def rtmp_player(lab_registry: ProcessRegistry, tmp_path: Path) -> Callable[..., Player]:
    """Factory: start a bounded ffmpeg (``-t``) or rtmpdump (``-v``, SIGINT after ``seconds``) player."""
    count = 0

    def start(target: Target, stream: str = "test", *, kind: str = "ffmpeg", seconds: float = 2.0,
              app: str = "live", netns: NetNamespace | None = None) -> Player:
        nonlocal count
        count += 1
        url = _url(target, app, stream)
        if kind == "ffmpeg":
            return start_ffmpeg_player(lab_registry, url, seconds=seconds, netns=netns)
        if kind == "rtmpdump":
            return start_rtmpdump_player(lab_registry, url, tmp_path / f"rtmpdump-{count}.flv",
                                         seconds=seconds, netns=netns)
        raise ValueError(f"unknown player kind {kind!r} (ffmpeg or rtmpdump)")

    return start


@pytest.fixture
def lab_capture(lab_registry: ProcessRegistry, tmp_path: Path) -> Callable[..., Tcpdump]:
    """Factory: start tcpdump on a lab server's port (``interface="any"`` for SLL2); returns once
    it is listening.  ``.stop()`` (SIGINT) gives the :class:`CaptureResult`."""

    def start(target: RtmpServer | int, *, interface: str = "lo", name: str = "lab.pcap",
              netns: NetNamespace | None = None) -> Tcpdump:
        port = target if isinstance(target, int) else target.port
        return Tcpdump.start(lab_registry, tmp_path / name, port=port, interface=interface, netns=netns)

    return start
