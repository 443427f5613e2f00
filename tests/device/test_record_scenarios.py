"""record() and the device layer against the situations a real phone puts them in."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
import subprocess
from pathlib import Path

import pytest

from droidcap import tcpdump_bins
from droidcap.decode import iter_items
from droidcap.device.errors import (CaptureError, CaptureRunningError, DeviceError,
                                    NotRootedError)
from droidcap.device.record import RecordOptions, RecordWarning, Recording, record
from droidcap.device.root import RootMethod
from droidcap.session import SessionTracker
from droidcap.virtual.profile import BUILTIN_PROFILES

from tests.device.conftest import no_tcpdump_left

pytestmark = [pytest.mark.rtmplab, pytest.mark.slow]
REACHABLE = pytest.mark.parametrize("rtmp_server", [{"host": "0.0.0.0"}], indirect=True)


def _sh(adb_server, serial: str, command: str) -> str:
    return adb_server.run("shell", command, serial=serial).stdout.decode(errors="replace")


def _nothing_left(adb_server, serial: str) -> bool:
    return _sh(adb_server, serial, "ls /data/local/tmp/droidcap/captures 2>/dev/null").strip() == ""


def _summaries(pcap: Path):
    tracker = SessionTracker()
    for item in iter_items(pcap):
        tracker.feed(item)
    return tracker.summaries()


@pytest.mark.parametrize("profile,abi", [
    ("pixel-arm64", "arm64-v8a"),
    (replace(BUILTIN_PROFILES["pixel-arm64"], name="armv7", abis=("armeabi-v7a", "armeabi")),
     "armeabi-v7a"),
    ("magisk", "x86_64"),
])
def test_the_binary_for_the_first_abi_is_pushed_verified_and_run(profile, abi, device_for):
    vdev, dev = device_for(profile)
    first = dev.tcpdump()
    assert (first.abi, first.pushed, first.version) == (abi, True, "4.99.3")
    assert first.sha256 == tcpdump_bins.expected_sha256(abi)
    assert first.path == f"/data/local/tmp/droidcap/tcpdump-{abi}"
    again = dev.tcpdump()
    assert again.pushed is False and again.sha256 == first.sha256  # checked on the device, not re-sent


def test_an_interrupted_push_leaves_no_binary_that_could_be_run(device_for, adb_server):
    vdev, dev = device_for("magisk")
    abi = "x86_64"

    def interrupt(sent: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the first 64 KB

    with pytest.raises(KeyboardInterrupt):
        dev.tcpdump(progress=interrupt)
    listing = _sh(adb_server, vdev.serial, "ls /data/local/tmp/droidcap/")
    assert f"tcpdump-{abi}\n" not in listing + "\n"  # only the .part, never the final name
    assert dev.tcpdump().pushed is True  # the next run pushes it again, verified


def test_an_unknown_abi_is_refused_before_anything_is_pushed(device_for, adb_server):
    vdev, dev = device_for(replace(BUILTIN_PROFILES["magisk"], name="mips", abis=("mips",)))
    with pytest.raises(DeviceError, match="no droidcap tcpdump for this device.*mips"):
        record(dev, RecordOptions(duration=1, output=Path("/tmp/never.pcap")))
    assert "droidcap" not in _sh(adb_server, vdev.serial, "ls /data/local/tmp")


def test_an_unrooted_phone_is_explained_and_nothing_is_left(device_for, adb_server, tmp_path):
    vdev, dev = device_for("stock")
    with pytest.raises(NotRootedError, match="no root droidcap can use"):
        record(dev, RecordOptions(duration=1, output=tmp_path / "x.pcap"))
    assert "droidcap" not in _sh(adb_server, vdev.serial, "ls /data/local/tmp")
    assert not list(tmp_path.glob("x.*"))


def test_adb_root_builds_get_root_by_restarting_adbd(device_for, adb_server, tmp_path):
    vdev, dev = device_for("adb-root")
    assert dev.root().method is RootMethod.ADB_ROOT
    result = record(dev, RecordOptions(duration=1.5, output=tmp_path / "r.pcap"))
    assert result.pcap.exists() and no_tcpdump_left(adb_server, vdev.serial)


def test_a_bad_filter_shows_tcpdumps_own_error(device_for, adb_server, tmp_path):
    vdev, dev = device_for("magisk")
    with pytest.raises(CaptureError, match="tcpdump did not start: .*(syntax error|parse filter)"):
        record(dev, RecordOptions(bpf="tcp port", duration=1, output=tmp_path / "f.pcap"))
    assert no_tcpdump_left(adb_server, vdev.serial)


CANARY = "/data/local/tmp/canary"
HOSTILE = [
    f"'; touch {CANARY}; '",
    f"\"; touch {CANARY}; \"",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"x; touch {CANARY}",
]


@REACHABLE
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_filters_urls_and_names_execute_nothing(text, device_for, adb_server, rtmp_server,
                                                        tmp_path):
    vdev, dev = device_for("magisk")
    # A filter: tcpdump gets it as one argument and says it cannot parse it.
    with pytest.raises(CaptureError):
        record(dev, RecordOptions(bpf=text, duration=1, output=tmp_path / "a.pcap"))
    # A URL the player is asked to open, and an output name with the same characters.
    url = rtmp_server.url(host=vdev.host_address) + text.replace(" ", "%20")
    out = tmp_path / f"b {text.replace('/', '_')}.pcap"
    result = record(dev, RecordOptions(play=url, duration=1.5, output=out))
    assert result.pcap == out and out.exists()
    # A player name never gets that far.
    with pytest.raises(DeviceError, match="--player must be"):
        record(dev, RecordOptions(play=url, player="org.videolan.vlc" + text, duration=1,
                                  output=tmp_path / "c.pcap"))
    assert "No such file" in adb_server.run("shell", f"ls {CANARY}", serial=vdev.serial).stderr.decode()
    assert no_tcpdump_left(adb_server, vdev.serial)


def test_newlines_are_refused(device_for, tmp_path):
    _, dev = device_for("magisk")
    for options in (RecordOptions(bpf="tcp\ntouch /x", duration=1, output=tmp_path / "n.pcap"),
                    RecordOptions(play="rtmp://h/a\ntouch", duration=1, output=tmp_path / "n.pcap")):
        with pytest.raises(DeviceError, match="one line"):
            record(dev, options)


def test_a_second_record_on_the_same_device_is_refused_with_the_way_out(device_for, adb_server,
                                                                         tmp_path):
    vdev, dev = device_for("magisk")
    first = Recording(dev, RecordOptions(output=tmp_path / "one.pcap"))
    first.start()
    try:
        with pytest.raises(CaptureRunningError, match=f"droidcap stop -s {vdev.serial}"):
            record(dev, RecordOptions(duration=1, output=tmp_path / "two.pcap"))
    finally:
        counts, how = first.stop_capture()
    result = first.collect("test", counts, how)
    assert how == "INT" and result.pcap.exists()
    assert not (tmp_path / "two.pcap").exists() and no_tcpdump_left(adb_server, vdev.serial)


def test_an_existing_file_is_never_overwritten(device_for, tmp_path):
    _, dev = device_for("magisk")
    (tmp_path / "x.pcap").write_bytes(b"precious")
    with pytest.raises(DeviceError, match="already exists"):
        record(dev, RecordOptions(duration=1, output=tmp_path / "x.pcap"))
    assert (tmp_path / "x.pcap").read_bytes() == b"precious"


@REACHABLE
def test_tcpdump_killed_mid_write_gives_a_trimmed_whole_capture(device_for, adb_server,
                                                               rtmp_server, rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=30)
    vdev, dev = device_for("magisk")
    rec = Recording(dev, RecordOptions(play=rtmp_server.url(host=vdev.host_address),
                                       output=tmp_path / "k.pcap"))
    events: list[object] = []
    rec.on_event = events.append
    rec.start()
    time.sleep(3)
    _sh(adb_server, vdev.serial, f"su -c 'kill -9 {rec.pid}'")
    reason = rec.wait()
    assert reason == "tcpdump exited"
    counts, how = rec.stop_capture()
    result = rec.collect(reason, counts, how)
    assert how == "gone" and counts is None  # SIGKILL: tcpdump printed no counts
    assert result.pulled.records > 10
    assert _summaries(result.pcap)  # every record in the file decodes
    assert no_tcpdump_left(adb_server, vdev.serial) and _nothing_left(adb_server, vdev.serial)


@REACHABLE
def test_full_storage_is_reported_and_what_was_written_kept_whole(device_for, adb_server, rtmp_server,
                                                           rtmp_publisher, tmp_path):
    rtmp_publisher(rtmp_server, duration=30, video_bitrate=1_000_000)
    vdev, dev = device_for("magisk")
    dev.tcpdump()  # creates the capture directory
    _sh(adb_server, vdev.serial, "su -c 'mount -t tmpfs -o size=256k tmpfs /data/local/tmp/droidcap/captures'")
    events: list[object] = []
    result = record(dev, RecordOptions(play=rtmp_server.url(host=vdev.host_address), duration=6,
                                       output=tmp_path / "full.pcap", keep_on_device=True),
                    on_event=events.append)
    # tcpdump -U does not check its writes: it runs on, and the file stops at the limit.
    assert 100_000 < result.pulled.size <= 256 * 1024
    assert result.counts is not None and result.counts.captured > result.pulled.records
    warnings = [e.text for e in events if isinstance(e, RecordWarning)]
    assert any("storage is probably full" in w for w in warnings), warnings
    assert _summaries(result.pcap)  # what was kept is whole and decodes
    assert no_tcpdump_left(adb_server, vdev.serial)
    _sh(adb_server, vdev.serial, "su -c 'umount /data/local/tmp/droidcap/captures'")


@REACHABLE
def test_live_prints_milestones_and_stops_when_the_stream_ends(device_for, adb_server, rtmp_server,
                                                               rtmp_publisher, tmp_path):
    publisher = rtmp_publisher(rtmp_server, duration=60)
    vdev, dev = device_for("magisk")
    events: list[object] = []
    stopper = threading.Timer(6.0, publisher.stop)  # the publisher leaves: nginx ends the play
    stopper.start()
    started = time.monotonic()
    result = record(dev, RecordOptions(play=rtmp_server.url(host=vdev.host_address), duration=40,
                                       live=True, output=tmp_path / "live.pcap"),
                    on_event=events.append)
    stopper.join()
    assert result.stop_reason == "stream ended" and time.monotonic() - started < 30
    names = [m.name for m in result.milestones]
    assert names.index("handshake_done") < names.index("connect") < names.index("play_start") \
        < names.index("first_video_keyframe")
    assert not [e for e in events if isinstance(e, RecordWarning)]
    assert not (tmp_path / "live.pcap.part").exists()
    player = [s for s in _summaries(result.pcap) if s.role == "player"][0]
    assert player.milestone("play_start") is not None


def test_adb_over_wifi_is_never_captured(device_for, adb_server, tmp_path):
    vdev, dev = device_for("magisk-wifi")
    assert vdev.serial == f"{vdev.device_address}:5555"
    # Capture everything the device sees (empty filter): adb's own transport must not be in it,
    # although every command droidcap sends while capturing crosses wlan0.
    result = record(dev, RecordOptions(bpf="", duration=2, output=tmp_path / "w.pcap"))
    fields = subprocess.run(["tshark", "-r", str(result.pcap), "-T", "fields", "-e", "tcp.port"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    ports = {p for line in fields.split() for p in line.split(",") if p}
    assert "5555" not in ports
    assert "not (tcp port 5555)" in result.metadata.read_text()


def test_a_refused_start_leaves_nothing_on_the_device(device_for, adb_server, tmp_path):
    vdev, dev = device_for("magisk")
    with pytest.raises(CaptureError, match="tcpdump did not start"):
        record(dev, RecordOptions(bpf="port nonsense", duration=1, output=tmp_path / "g.pcap"))
    assert _nothing_left(adb_server, vdev.serial)  # no NAME.json/.pid/.log for pull --all to trip on
    assert not list(tmp_path.glob("g.*"))


def test_a_capture_left_on_the_device_is_never_overwritten(device_for, adb_server, tmp_path):
    vdev, dev = device_for("magisk")
    first = Recording(dev, RecordOptions(output=tmp_path / "a" / "same.pcap"))
    (tmp_path / "a").mkdir()
    first.start()
    first.stop_capture()  # interrupted before the pull: the capture stays on the device
    kept = _sh(adb_server, vdev.serial, "sha256sum /data/local/tmp/droidcap/captures/same.pcap")
    (tmp_path / "b").mkdir()
    second = record(dev, RecordOptions(duration=1, output=tmp_path / "b" / "same.pcap"))
    assert second.pcap.exists()
    meta = second.metadata.read_text()
    assert '"name": "same-1"' in meta  # another name on the device
    assert _sh(adb_server, vdev.serial, "sha256sum /data/local/tmp/droidcap/captures/same.pcap") == kept


@REACHABLE
def test_live_says_a_server_error_at_once_and_stops(device_for, adb_server, rtmp_server, tmp_path):
    """A play of a file the server does not have (nginx's vod application): StreamNotFound is
    printed as it arrives and the run ends without waiting for the duration."""
    vdev, dev = device_for("magisk")
    started = time.monotonic()
    result = record(dev, RecordOptions(play=rtmp_server.url("vod", "nobody.flv", host=vdev.host_address),
                                       duration=30, live=True, output=tmp_path / "nf.pcap"))
    assert result.stop_reason == "stream ended" and time.monotonic() - started < 20
    errors = [m.text for m in result.milestones if m.name == "error"]
    assert errors and errors[0].startswith("server error: NetStream.Play.StreamNotFound"), errors


def test_doctor_goes_on_past_a_failed_tcpdump_check(device_for, adb_server):
    from droidcap.device.adb import ServerAddress
    from droidcap.device.doctor import Status, run_checks

    vdev, _ = device_for(replace(BUILTIN_PROFILES["magisk"], name="mips", abis=("mips",)))
    checks = {c.name: c for c in run_checks(vdev.serial, adb=ServerAddress(port=adb_server.port))}
    assert checks["tcpdump"].status is Status.FAIL and "mips" in checks["tcpdump"].detail
    assert checks["root"].status is Status.OK
    for name in ("SELinux", "free space", "clock offset", "captures left on the device"):
        assert checks[name].status is not Status.FAIL, checks[name]
    assert "capture interfaces" not in checks  # needs the binary: not run, not guessed


PUBLISHER = "com.example.rtmppublisher/.BroadcastActivity"


@REACHABLE
def test_record_while_a_broadcasting_app_publishes(device_for, adb_server, rtmp_server, tmp_path):
    vdev, dev = device_for("magisk")
    url = rtmp_server.url(stream="phone", host=vdev.host_address)
    result = record(dev, RecordOptions(publish=url, publisher=PUBLISHER, duration=6, live=True,
                                       output=tmp_path / "pub.pcap"))
    names = [m.name for m in result.milestones]
    assert "publish_start" in names, names
    publisher = [s for s in _summaries(result.pcap) if s.role == "publisher"]
    assert publisher and publisher[0].milestone("publish_start") is not None
    assert publisher[0].connect["app"] == "live" and \
        publisher[0].connect.get("pageUrl") in (None, "android-app://com.example.rtmppublisher")
    assert any(e.kind == "publish" for e in rtmp_server.events())  # nginx saw the phone publish
    # the app was force-stopped at the end, and nothing of the capture is left running
    assert adb_server.run("shell", "pidof com.example.rtmppublisher", serial=vdev.serial).returncode == 1
    assert no_tcpdump_left(adb_server, vdev.serial)


def test_publish_needs_its_app(device_for, tmp_path):
    _, dev = device_for("magisk")
    with pytest.raises(DeviceError, match="--publish needs --publisher"):
        record(dev, RecordOptions(publish="rtmp://h/live/x", duration=1, output=tmp_path / "p.pcap"))
    with pytest.raises(DeviceError, match="exclude each other"):
        record(dev, RecordOptions(publish="rtmp://h/live/x", play="rtmp://h/live/y", publisher=PUBLISHER,
                                  duration=1, output=tmp_path / "p.pcap"))
