"""Benchmark: droidcap decode against tshark and pyshark, measured in the same run.

    .venv/bin/python bench/decode.py [--capture F] [--port P] [--big-gb 1.0] [--repeat 5] [--skip-pyshark]

Without --capture it makes (or reuses, under bench/out/) a 60 s, 3 Mbit/s capture with 1500-byte
segments, one publisher and two players, recorded from real nginx-rtmp and ffmpeg peers by the
lab (droidcap.rtmplab).  It then times, each as its own process:

- ``droidcap decode F --format ndjson > /dev/null``
- ``tshark -r F -o rtmpt.max_packet_size:16777216 -d tcp.port==P,rtmpt -Y rtmpt -T fields
  -e frame.number -e rtmpt.header.typeid``
- pyshark's default FileCapture touching one field per RTMP packet

and prints seconds, peak memory and the ratios.  With --big-gb it also builds a capture of at
least that size by repeating the recorded one with shifted ports and times, and reports
droidcap's time and peak memory on it (the claim: peak memory does not grow with the capture).
Targets (issue 2): droidcap ≥1.5× faster than the tshark command, ≥30× faster than pyshark, peak
memory under 100 MB whatever the capture size.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DROIDCAP = [str(ROOT / ".venv" / "bin" / "droidcap")]

PYSHARK_SNIPPET = """
import sys, pyshark
cap = pyshark.FileCapture(sys.argv[1], display_filter="rtmpt",
                          override_prefs={"rtmpt.max_packet_size": "16777216"},
                          decode_as={f"tcp.port=={sys.argv[2]}": "rtmpt"})
n = 0
for packet in cap:
    if packet.rtmpt.get_field("header_typeid") is not None:
        n += 1
cap.close()
print(n, file=sys.stderr)
"""


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    seconds: float
    peak_mb: float
    returncode: int


# Runs one command and reports its wall time and peak RSS.  It is a fresh, small interpreter so
# that the command is forked from a ~10 MB process: ``ru_maxrss`` of a child counts the pages it
# shared with its parent at fork, and this benchmark's own process holds the whole source capture
# while it grows the big one (175 MB reported for a 33 MB decode, issue 12).
LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=sys.stdout, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""


def measure(name: str, argv: list[str], *, stdout: int = subprocess.DEVNULL) -> Run:
    """Run ``argv`` once from the small launcher: its wall time and its own peak RSS."""
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *argv], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, check=True)
    seconds, maxrss_kib, returncode = done.stderr.split()
    return Run(name, float(seconds), int(maxrss_kib) / 1024, int(returncode))


def make_capture(path: Path, seconds: int) -> int:
    """Record the standard benchmark scenario with the lab; returns the RTMP server port."""
    from droidcap.rtmplab import record_session

    recording = record_session(path, duration=seconds, players=2, realistic_mtu=True,
                               bitrate=3_000_000, width=640, height=360)
    return recording.server_port


def grow_capture(src: Path, dst: Path, min_bytes: int) -> int:
    """Write ``dst`` (pcap) by repeating ``src``'s records, each copy with TCP ports shifted by
    the copy number and times shifted past the previous copy, so every copy is its own set of
    flows.  Handles Ethernet/IPv4 captures from `tcpdump -i lo`; returns the copies written."""
    data = src.read_bytes()
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        raise SystemExit(f"{src}: --big-gb needs a little-endian pcap")
    records = []
    offset = 24
    first = last = None
    while offset + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, offset)
        body = data[offset + 16: offset + 16 + incl]
        records.append((sec, frac, orig, body))
        first = sec if first is None else first
        last = sec
        offset += 16 + incl
    span = (last - first + 1) if records else 1
    copies = 0
    with dst.open("wb") as out:
        out.write(data[:24])
        while out.tell() < min_bytes:
            shift = copies * 7  # keeps ports distinct per copy, still valid 16-bit numbers
            for sec, frac, orig, record in records:
                body = bytearray(record)
                if len(body) >= 14 + 20 and body[12:14] == b"\x08\x00" and body[23] == 6:
                    ihl = (body[14] & 0x0F) * 4
                    tcp = 14 + ihl
                    sport, dport = struct.unpack_from(">HH", body, tcp)
                    # Shift only the client (ephemeral) port, so the server port stays known.
                    if sport > dport:
                        sport = 1024 + (sport - 1024 + shift) % 64000
                    else:
                        dport = 1024 + (dport - 1024 + shift) % 64000
                    struct.pack_into(">HH", body, tcp, sport, dport)
                out.write(struct.pack("<IIII", sec + copies * span, frac, len(body), orig))
                out.write(body)
            copies += 1
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, help="use this capture instead of recording one")
    parser.add_argument("--port", type=int, help="RTMP server port in --capture (for tshark's -d)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the recorded scenario")
    parser.add_argument("--big-gb", type=float, default=0.0, help="also measure on a capture this large")
    parser.add_argument("--repeat", type=int, default=5, help="runs of droidcap and tshark (median kept)")
    parser.add_argument("--skip-pyshark", action="store_true", help="pyshark takes about a minute")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    # As an installed droidcap would be: bytecode compiled (an editable install compiles none, and
    # PYTHONDONTWRITEBYTECODE would make every timed start recompile the package).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "droidcap")], check=True,
                   stdout=subprocess.DEVNULL)
    capture = args.capture
    port = args.port
    if capture is None:
        capture = OUT / f"bench-{args.seconds}s.pcap"
        port_file = capture.with_suffix(".port")
        if not capture.exists() or not port_file.exists():
            print(f"recording {capture} ({args.seconds} s, 1 publisher, 2 players)…", file=sys.stderr)
            port = make_capture(capture, args.seconds)
            port_file.write_text(str(port))
        port = int(port_file.read_text())
    if port is None:
        raise SystemExit("--port is needed with --capture")
    size_mb = capture.stat().st_size / 1e6

    commands = {
        "droidcap decode --format ndjson": [*DROIDCAP, "decode", str(capture), "--format", "ndjson"],
        "tshark -T fields": ["tshark", "-r", str(capture), "-o", "rtmpt.max_packet_size:16777216",
                             "-d", f"tcp.port=={port},rtmpt", "-Y", "rtmpt", "-T", "fields",
                             "-e", "frame.number", "-e", "rtmpt.header.typeid"],
    }
    # Interleaved repeats, median kept: this VM's speed drifts by tens of percent from minute
    # to minute, and both engines must see the same conditions.
    samples: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            samples[name].append(measure(name, argv))
    runs = [sorted(found, key=lambda r: r.seconds)[len(found) // 2] for found in samples.values()]
    if not args.skip_pyshark:
        runs.append(measure("pyshark FileCapture", [sys.executable, "-c", PYSHARK_SNIPPET, str(capture), str(port)]))

    print(f"capture: {capture} ({size_mb:.1f} MB), RTMP port {port}")
    print(f"median of {args.repeat} interleaved runs for droidcap and tshark, one for pyshark")
    print(f"{'engine':34} {'seconds':>9} {'peak MB':>9} {'rc':>3}")
    for run in runs:
        print(f"{run.name:34} {run.seconds:9.2f} {run.peak_mb:9.1f} {run.returncode:>3}")
    ours = runs[0].seconds
    for run in runs[1:]:
        print(f"droidcap is {run.seconds / ours:.2f}x faster than {run.name}")

    if args.big_gb:
        big = OUT / f"bench-{args.big_gb:g}GB.pcap"
        if not big.exists() or big.stat().st_size < args.big_gb * 1e9:
            copies = grow_capture(capture, big, int(args.big_gb * 1e9))
            print(f"built {big} from {copies} copies", file=sys.stderr)
        run = measure("droidcap decode (big)", [*DROIDCAP, "decode", str(big), "--format", "ndjson"])
        print(f"big capture: {big.stat().st_size / 1e9:.2f} GB: droidcap {run.seconds:.1f} s, "
              f"peak {run.peak_mb:.1f} MB, rc {run.returncode}")


if __name__ == "__main__":
    main()
