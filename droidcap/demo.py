"""``droidcap demo``: the whole chain with no phone — the virtual device is the phone.

A virtual rooted device (Magisk profile) registered with a private adb server, nginx-rtmp with an
ffmpeg publisher on this machine, then exactly what a user runs against a real phone:
``record --play URL --duration N`` (our tcpdump pushed and verified, the device's player opening
the URL, the capture pulled verified) and the session ladder of the capture.  Everything it
started is stopped on the way out, also on Ctrl-C or an error.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from droidcap.device.adb import ServerAddress
from droidcap.device.device import Device
from droidcap.device.record import RecordEvent, RecordOptions, RecordResult, record
from droidcap.errors import DeviceError


def run_demo(out_dir: Path, *, duration: float = 10.0, profile: str = "magisk",
             on_event: Callable[[RecordEvent], None] | None = None,
             say: Callable[[str], None] = lambda s: None) -> RecordResult:
    """Record a play session on a virtual device; the verified capture in ``out_dir``."""
    if os.geteuid() != 0:
        raise DeviceError("the demo's virtual device needs root on this machine (mount "
                          "namespaces); run it as root, or try 'droidcap demo --offline'")
    from droidcap.rtmplab.nginx import NginxRtmp
    from droidcap.rtmplab.ports import free_port
    from droidcap.rtmplab.procs import ProcessRegistry
    from droidcap.rtmplab.publishers import PublisherSpec, start_ffmpeg_publisher
    from droidcap.virtual import adb_host
    from droidcap.virtual.daemon import VirtualDevice
    from droidcap.virtual.profile import load_profile

    adb = adb_host.adb_executable()
    port = free_port()
    while 5554 <= port <= 5585 or port == 5037:  # adb's own ports
        port = free_port()
    os.environ.setdefault("ADB_MDNS", "0")
    os.environ.setdefault("ADB_USB", "0")
    with tempfile.TemporaryDirectory(prefix="droidcap-demo-") as tmp:
        work = Path(tmp)
        adb_host.run_adb(["start-server"], adb_port=port, adb=adb, timeout=30)
        try:
            with ProcessRegistry(work / "logs") as reg, \
                    VirtualDevice(load_profile(profile), work / "device") as vdev:
                serial = vdev.connect(adb_port=port, adb=adb)
                say(f"virtual device {serial} ({profile} profile) attached to adb on port {port}; "
                    f"its wlan0 is {vdev.device_address}")
                # The server listens where the device's network reaches the host, as a phone
                # reaches a server on its LAN.
                nginx = NginxRtmp.start(reg, work / "nginx", host=vdev.host_address)
                say(f"nginx-rtmp listening at {nginx.url()}")
                start_ffmpeg_publisher(reg, nginx.url(), PublisherSpec(duration=duration + 30,
                                                                       width=640, height=360))
                nginx.wait_publishing("test", timeout=20.0)
                say("ffmpeg is publishing testsrc2 + a sine tone to it")
                say(f"$ droidcap record -s {serial} --play {nginx.url()} --duration {duration:g} --live")
                dev = Device.connect(serial, adb=ServerAddress(port=port))
                return record(dev, RecordOptions(
                    play=nginx.url(), duration=duration, live=True,
                    output=_free_name(out_dir), command_line=tuple(sys.argv)), on_event=on_event)
        finally:
            adb_host.kill_server(port, adb=adb)


def _free_name(out_dir: Path) -> Path:
    for i in range(1000):
        p = out_dir / ("droidcap-demo.pcap" if i == 0 else f"droidcap-demo-{i}.pcap")
        if not p.exists() and not p.with_suffix(".json").exists():
            return p
    raise DeviceError(f"{out_dir} is full of demo captures: remove some")


__all__ = ["run_demo"]
