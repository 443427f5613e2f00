"""A virtual device in the real RTMP lab: ``am start`` plays from nginx-rtmp as an app, and the
full capture rehearsal (push tcpdump, start it through su, play, SIGINT, pull) yields a pcap that
holds the play session."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import pytest

from droidcap.decode import iter_items
from droidcap.rtmplab.errors import LabTimeoutError
from droidcap.rtmplab.nginx import NginxRtmp
from droidcap.rtmplab.procs import ProcessRegistry
from droidcap.rtmplab.publishers import Publisher, PublisherSpec, start_ffmpeg_publisher
from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.commands import Command
from droidcap.rtmp.events import Message
from droidcap.virtual.daemon import VirtualDevice
from droidcap.virtual.pytest_plugin import AdbServer

Factory = Callable[..., VirtualDevice]
PublisherFactory = Callable[..., Publisher]
ROOT = Path(__file__).resolve().parents[2]
TCPDUMP_BINS = ROOT / "tcpdump_bins"
PLAYER = "org.videolan.vlc"

pytestmark = pytest.mark.rtmplab


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0,
          diagnose: Callable[[], str] | None = None) -> None:
    """Bounded wait; generous because the lab machine's 2 cores are shared."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f": {diagnose()}" if diagnose else ""))
        time.sleep(0.1)


def _play_connect_lines(nginx: NginxRtmp, package: str) -> list[str]:
    return [e.line for e in nginx.events()
            if e.kind == "connect" and f"page_url='android-app://{package}'" in e.line]


#: Servers the virtual devices play from listen where the devices' networks reach them.
REACHABLE = [{"host": "0.0.0.0"}]


@pytest.mark.slow
@pytest.mark.parametrize("rtmp_server", REACHABLE, indirect=True)
def test_am_start_plays_as_the_app_and_force_stop_ends_it(
        adb_server: AdbServer, virtual_device: Factory, rtmp_server: NginxRtmp,
        rtmp_publisher: PublisherFactory) -> None:
    nginx = rtmp_server
    publisher = rtmp_publisher(nginx, duration=30)
    dev = virtual_device("magisk")
    d = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port).device(dev.serial)
    url = nginx.url(host=dev.host_address)
    out = d.shell(f"am start -a android.intent.action.VIEW -d {url} -n {PLAYER}/.gui.video.VideoPlayerActivity")
    assert out == f"Starting: Intent {{ act=android.intent.action.VIEW dat={url} cmp={PLAYER}/.gui.video.VideoPlayerActivity }}"
    _wait_playing(nginx, d)
    assert _play_connect_lines(nginx, PLAYER), nginx.log_text()[-2000:]
    pid = d.shell(f"pidof {PLAYER}")
    ps = d.shell("ps -A -o USER,PID,NAME")
    assert ["u0_a123", pid, PLAYER] in [line.split() for line in ps.splitlines()]  # the app's uid
    d.shell(f"am force-stop {PLAYER}")
    _wait(lambda: d.shell2(f"pidof {PLAYER}").returncode == 1, "the player to stop")
    _wait(lambda: any(e.kind == "disconnect" for e in nginx.events()
                      if e.conn != nginx.wait_event("publish")[0].conn), "nginx to see the player leave")
    publisher.stop()


def _tcpdump_for(abi: str) -> Path:
    path = TCPDUMP_BINS / abi / "tcpdump"
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with tcpdump_bins/build.sh")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("rtmp_server", REACHABLE, indirect=True)
def test_full_capture_rehearsal(adb_server: AdbServer, virtual_device: Factory,
                                rtmp_server: NginxRtmp, rtmp_publisher: PublisherFactory,
                                tmp_path: Path) -> None:
    nginx = rtmp_server
    publisher = rtmp_publisher(nginx, duration=30)
    dev = virtual_device("magisk")
    d = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port).device(dev.serial)

    # What droidcap's recorder does on a phone: pick the binary by the first ABI, push, chmod.
    abi = d.getprop("ro.product.cpu.abilist").split(",")[0]
    d.sync.push(str(_tcpdump_for(abi)), "/data/local/tmp/tcpdump", mode=0o755)
    assert "tcpdump version" in d.shell("/data/local/tmp/tcpdump --version 2>&1")
    pcap = "/data/local/tmp/rehearsal.pcap"
    d.shell(["su", "-c", f"nohup /data/local/tmp/tcpdump -i any -n -U -s 0 -w {pcap} tcp port {nginx.port} "
                         ">/data/local/tmp/tcpdump.log 2>&1 &"])
    _wait(lambda: "listening on" in d.shell("cat /data/local/tmp/tcpdump.log"), "tcpdump to listen")
    tcpdump_pid = int(d.shell("pidof tcpdump"))
    ps = [line.split() for line in d.shell("ps -A -o USER,PID,NAME").splitlines()]
    assert ["root", str(tcpdump_pid), "tcpdump"] in ps

    d.shell(f"am start -a android.intent.action.VIEW -d {nginx.url(host=dev.host_address)} -n {PLAYER}/.Player")
    _wait_playing(nginx, d)
    time.sleep(2.0)  # let some media flow
    d.shell(f"am force-stop {PLAYER}")
    r = d.shell2(["su", "-c", f"kill -INT {tcpdump_pid}"], v2=True)
    assert r.returncode == 0, r.stderr
    _wait(lambda: d.shell2("pidof tcpdump").returncode == 1, "tcpdump to exit on SIGINT")
    assert "packets captured" in d.shell("cat /data/local/tmp/tcpdump.log")
    size = d.sync.stat(pcap).size
    assert size > 10_000
    local = tmp_path / "rehearsal.pcap"
    d.sync.pull(pcap, str(local))
    assert local.stat().st_size == size
    publisher.stop()

    fields = subprocess.run(
        ["tshark", "-r", str(local), "-o", "rtmpt.max_packet_size:16777216",
         "-d", f"tcp.port=={nginx.port},rtmpt", "-Y", "rtmpt", "-T", "fields", "-e", "amf.string"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    strings = {s for line in fields.splitlines() for s in line.split(",")}
    assert {"connect", "createStream", "play", "onStatus", "NetStream.Play.Start"} <= strings
    assert f"android-app://{PLAYER}" in strings
    # droidcap's own decoder agrees: the player's connect (naming the app) and its play.
    commands = [item.event.body for item in iter_items(local) if isinstance(item, DecodedEvent)
                and isinstance(item.event, Message) and isinstance(item.event.body, Command)]
    names = [c.command for c in commands]
    assert "connect" in names and "play" in names, names
    connect = next(c for c in commands if c.command == "connect")
    assert connect.args[0]["pageUrl"] == f"android-app://{PLAYER}"
    play = next(c for c in commands if c.command == "play")
    assert "test" in play.args


@pytest.mark.slow
def test_two_devices_capture_only_their_own_lab(adb_server: AdbServer, virtual_device: Factory,
                                                lab_registry: ProcessRegistry, tmp_path: Path) -> None:
    """Each device has its own network: an unfiltered ``tcpdump -i any`` on one sees its own
    player's RTMP and never the other device's, nor the publishers on the host."""
    runs = []
    for tag in ("a", "b"):
        nginx = NginxRtmp.start(lab_registry, tmp_path / f"nginx-{tag}", host="0.0.0.0")
        start_ffmpeg_publisher(lab_registry, nginx.url(), PublisherSpec(duration=30))
        dev = virtual_device("magisk", serialno=f"VDEV{tag.upper()}")
        d = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port).device(dev.serial)
        d.sync.push(str(_tcpdump_for("x86_64")), "/data/local/tmp/tcpdump", mode=0o755)
        runs.append((tag, nginx, d, dev))
    for _tag, nginx, d, _dev in runs:
        nginx.wait_publishing("test")
        d.shell(["su", "-c", "nohup /data/local/tmp/tcpdump -i any -n -U -w /data/local/tmp/c.pcap "
                             ">/data/local/tmp/t.log 2>&1 &"])
    for _tag, _nginx, d, _dev in runs:
        _wait(lambda d=d: "listening on" in d.shell("cat /data/local/tmp/t.log"), "tcpdump")
    for _tag, nginx, d, dev in runs:
        started = d.shell(f"am start -a android.intent.action.VIEW -d {nginx.url(host=dev.host_address)}")
        assert "Starting: Intent" in started and "Error" not in started, started
    for _tag, nginx, d, _dev in runs:
        _wait_playing(nginx, d)
    time.sleep(1.0)
    for tag, nginx, d, dev in runs:
        pid = d.shell("pidof tcpdump").strip()
        r = d.shell2(["su", "-c", f"kill -INT {pid}"], v2=True)
        assert r.returncode == 0, (pid, r)
        _wait(lambda d=d: d.shell2("pidof tcpdump").returncode == 1, "tcpdump to exit",
              diagnose=lambda d=d: d.shell("ps -A; cat /data/local/tmp/t.log"))
        d.sync.pull("/data/local/tmp/c.pcap", str(tmp_path / f"{tag}.pcap"))
        ports = subprocess.run(["tshark", "-r", str(tmp_path / f"{tag}.pcap"), "-T", "fields",
                                "-e", "tcp.srcport", "-e", "tcp.dstport"],
                               capture_output=True, text=True, timeout=60, check=True).stdout.split()
        other = next(n for t, n, _, _ in runs if t != tag)
        assert str(nginx.port) in ports and str(other.port) not in ports
        addresses = subprocess.run(["tshark", "-r", str(tmp_path / f"{tag}.pcap"), "-T", "fields",
                                    "-e", "ip.src", "-e", "ip.dst"], capture_output=True, text=True,
                                   timeout=60, check=True).stdout.split()
        assert set(addresses) <= {dev.host_address, dev.device_address}, set(addresses)


def _wait_playing(nginx: NginxRtmp, d: adbutils.AdbDevice) -> None:
    """Wait for the app's player to reach nginx.  30 s: in the full suite two libx264 publishers,
    two players and two tcpdumps share 2 cores; a timeout shows the players' own logs."""
    try:
        nginx.wait_playing("test", timeout=30.0)
    except LabTimeoutError as err:
        logs = d.shell(["su", "-c", "cat /data/data/*/player.log; ps -A"])
        raise AssertionError(f"{err}\nplayer logs and processes on the device:\n{logs}") from None
