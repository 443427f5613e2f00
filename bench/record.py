"""Benchmark: droidcap's capture workflow on a virtual device, against ``adb pull`` in the same run.

    .venv/bin/python bench/record.py [--size-mb 200] [--repeat 3] [--profile magisk]

Needs root (the virtual device).  It starts a private adb server and a virtual device, then:

- **Pull throughput.**  A 200 MB pcap (the embedded capture's records repeated) is put on the
  device as a droidcap capture.  Interleaved, ``repeat`` times each: ``adb pull`` of it (the
  peer), droidcap's verified pull (device ``sha256sum`` + transfer with hashing and the record
  check + rename), and droidcap's transfer alone.  Prints MB/s and the ratio to ``adb pull``.
  Target (issue 8): verified pull ≥ 0.8× ``adb pull``.
- **Start latency.**  ``Recording.start()`` on a warm device (tcpdump already pushed), until
  tcpdump is capturing.  Target: under 2 s.
- **Stop latency.**  From the stop request to a verified local file for a small capture: tcpdump
  stopped by PID, counts read, pulled, compared, NAME.json written, device copy deleted.
  Target: under 1 s plus the transfer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from droidcap.device.adb import ServerAddress  # noqa: E402
from droidcap.device.device import Device  # noqa: E402
from droidcap.device.record import Recording, RecordOptions  # noqa: E402
from droidcap.device.tcpdump import CAPTURE_DIR, remote_sha256  # noqa: E402
from droidcap.device.transfer import pull_verified  # noqa: E402
from droidcap.rtmplab.ports import free_port  # noqa: E402
from droidcap.virtual import adb_host  # noqa: E402
from droidcap.virtual.daemon import VirtualDevice  # noqa: E402
from droidcap.virtual.profile import load_profile  # noqa: E402


def big_pcap(path: Path, size: int) -> None:
    """A valid pcap of at least ``size`` bytes: the embedded capture's records, repeated."""
    data = (ROOT / "droidcap" / "data" / "demo.pcap").read_bytes()
    header, body = data[:24], data[24:]
    endian = "<" if header[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    # keep whole records only
    pos, end = 0, 0
    while pos + 16 <= len(body):
        caplen = struct.unpack_from(endian + "I", body, pos + 8)[0]
        if pos + 16 + caplen > len(body):
            break
        pos += 16 + caplen
        end = pos
    body = body[:end]
    with open(path, "wb") as f:
        f.write(header)
        written = 24
        while written < size:
            f.write(body)
            written += len(body)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", default="magisk")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/record.py needs root (the virtual device)", file=sys.stderr)
        return 2
    adb = adb_host.adb_executable()
    port = free_port()
    os.environ.update(ADB_USB="0", ADB_MDNS="0", XDG_CACHE_HOME=tempfile.mkdtemp())
    adb_host.run_adb(["start-server"], adb_port=port, adb=adb, timeout=30)
    try:
        with tempfile.TemporaryDirectory(prefix="droidcap-bench-") as tmp, \
                VirtualDevice(load_profile(args.profile), Path(tmp) / "device") as vdev:
            work = Path(tmp)
            serial = vdev.connect(adb_port=port, adb=adb)
            dev = Device.connect(serial, adb=ServerAddress(port=port))
            dev.tcpdump()  # warm: pushed once
            env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(port))

            # ----- pull throughput
            local = work / "big.pcap"
            big_pcap(local, args.size_mb * 1_000_000)
            size = local.stat().st_size
            remote = f"{CAPTURE_DIR}/bench.pcap"
            subprocess.run([adb, "-s", serial, "push", str(local), remote], env=env, check=True,
                           capture_output=True, timeout=600)
            local.unlink()
            adb_s, verified_s, transfer_s, hash_s = [], [], [], []
            for i in range(args.repeat):
                by_adb = work / f"adb-{i}.pcap"
                adb_s.append(timed(lambda p=by_adb: subprocess.run(
                    [adb, "-s", serial, "pull", remote, str(p)], env=env, check=True,
                    capture_output=True, timeout=600)))
                by_adb.unlink()
                ours = work / f"droidcap-{i}.pcap"
                verified_s.append(timed(lambda p=ours: pull_verified(dev.transport, remote, p)))
                ours.unlink()
                with open(work / "raw", "wb") as f:
                    transfer_s.append(timed(lambda: dev.transport.pull(remote, f, timeout=600)))
                (work / "raw").unlink()
                hash_s.append(timed(lambda: remote_sha256(dev.transport, remote, timeout=600)))
            mb = size / 1e6
            a, v, t = (statistics.median(x) for x in (adb_s, verified_s, transfer_s))
            print(f"pull of {mb:.0f} MB, median of {args.repeat} interleaved runs:")
            print(f"  adb pull                      {a:6.2f} s  {mb / a:7.1f} MB/s")
            print(f"  droidcap verified pull        {v:6.2f} s  {mb / v:7.1f} MB/s  "
                  f"{a / v:.2f}x adb pull (target >= 0.8x)")
            print(f"  droidcap transfer only        {t:6.2f} s  {mb / t:7.1f} MB/s  {a / t:.2f}x adb pull")
            h = statistics.median(hash_s)
            print(f"  device sha256sum alone        {h:6.2f} s  {mb / h:7.1f} MB/s  (runs during the "
                  "transfer: the verified pull takes about the longer of the two)")
            subprocess.run([adb, "-s", serial, "shell", f"rm -f {remote}"], env=env, timeout=60,
                           check=False)

            # ----- start and stop latency
            starts, stops = [], []
            for i in range(args.repeat):
                rec = Recording(dev, RecordOptions(output=work / f"lat-{i}.pcap"))
                starts.append(timed(rec.start))
                time.sleep(1.0)

                def stop(rec: Recording = rec) -> None:
                    counts, how = rec.stop_capture()
                    rec.collect("bench", counts, how)

                stops.append(timed(stop))
            print(f"record start on a warm device (until tcpdump captures): median "
                  f"{statistics.median(starts):.2f} s, max {max(starts):.2f} s (target < 2 s)")
            print(f"stop to verified local file (small capture): median "
                  f"{statistics.median(stops):.2f} s, max {max(stops):.2f} s (target < 1 s + transfer)")
    finally:
        adb_host.kill_server(port, adb=adb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
