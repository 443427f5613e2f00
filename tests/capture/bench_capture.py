"""Throughput of the capture layer (pcap → TCP streams), on a synthetic or a given capture.

    .venv/bin/python tests/capture/bench_capture.py [CAPTURE ...] [--packets 80000] [--flows 3]

Without a capture it writes (once, under /tmp) an Ethernet/IPv4/TCP pcap of ``--packets`` records:
``--flows`` connections, each a handshake, then 1448-byte segments server → client with a pure
ACK from the client every second segment (as a delayed-ACK receiver does), then FIN both ways.
It prints, for the best of five runs, wall and CPU seconds and packets per second for reading records only
(``CaptureReader.read_raw``) and for the whole path (``iter_flow_events``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capwriter import ACK, FIN, Conversation, Pkt, ethernet, pcap  # noqa: E402

from droidcap.capture import CaptureReader, StreamData, iter_flow_events  # noqa: E402


def synthetic(packets: int, flows: int) -> bytes:
    convs = [Conversation(client=("10.0.0.1", 40000 + n), server=("10.0.0.2", 1935)) for n in range(flows)]
    recs: list[Pkt] = []
    t = 1_700_000_000.0

    def add(ip: bytes) -> None:
        nonlocal t
        t += 0.0001
        recs.append(Pkt(t, ethernet(ip)))

    for conv in convs:
        for ip in conv.handshake():
            add(ip)
    payload = bytes(range(256)) * 5 + bytes(168)  # 1448 bytes
    n = 0
    while len(recs) < packets - 4 * flows:
        conv = convs[n % flows]
        add(conv.segment(False, payload))
        if n % 2:
            add(conv.segment(True))
        n += 1
    for conv in convs:
        add(conv.segment(False, flags=FIN | ACK))
        add(conv.segment(True, flags=FIN | ACK))
    return pcap(recs)


def best_of(runs: int, fn) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``runs`` calls (CPU time is what a shared, busy machine
    distorts least)."""
    wall = cpu = float("inf")
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


RUNS = 5


def measure(path: Path) -> None:
    blob = path.read_bytes()

    def records_only() -> int:
        reader = CaptureReader()
        reader.receive_data(blob)
        reader.receive_eof()
        return len(reader.read_raw())

    count = records_only()

    def whole() -> None:
        payload = 0
        for event in iter_flow_events(path):
            if type(event) is StreamData:
                payload += len(event.data)

    mb = len(blob) / 1e6
    print(f"{path} ({mb:.1f} MB, {count} records), best of {RUNS}")
    for name, fn in (("records only      ", records_only), ("pcap → TCP streams", whole)):
        wall, cpu = best_of(RUNS, fn)
        print(f"  {name}  wall {wall:.3f} s  cpu {cpu:.3f} s  {count / cpu:,.0f} packets/s (cpu)  "
              f"{mb / cpu:.0f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("captures", nargs="*", type=Path)
    parser.add_argument("--packets", type=int, default=80_000)
    parser.add_argument("--flows", type=int, default=3)
    args = parser.parse_args()
    paths = args.captures
    if not paths:
        path = Path(f"/tmp/droidcap-bench-{args.packets}-{args.flows}.pcap")
        if not path.exists():
            path.write_bytes(synthetic(args.packets, args.flows))
        paths = [path]
    for path in paths:
        measure(path)


if __name__ == "__main__":
    main()
