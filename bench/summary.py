"""Benchmark: ``droidcap summary`` and ``droidcap export --flv`` against ``droidcap decode``,
measured in the same run on the same capture (the one bench/decode.py records or reuses under
bench/out/, a 60 s, 3 Mbit/s capture with one publisher and two players).

    .venv/bin/python bench/summary.py [--capture F] [--repeat 3]

The summary reads each record's TCP header a second time (retransmissions, zero windows) and
measures every media message; the FLV export reads the capture twice.  It prints seconds, peak
memory and each ratio to ``decode --format ndjson`` (docs/performance.md has the numbers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.decode import DROIDCAP, OUT, ROOT, Run, make_capture, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, help="use this capture instead of recording one")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs, median kept")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "droidcap")], check=True,
                   stdout=subprocess.DEVNULL)
    capture = args.capture
    if capture is None:
        OUT.mkdir(parents=True, exist_ok=True)
        capture = OUT / f"bench-{args.seconds}s.pcap"
        if not capture.exists():
            print(f"recording {capture} ({args.seconds} s, 1 publisher, 2 players)…", file=sys.stderr)
            capture.with_suffix(".port").write_text(str(make_capture(capture, args.seconds)))
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "droidcap decode --format ndjson": [*DROIDCAP, "decode", str(capture), "--format", "ndjson"],
            "droidcap summary": [*DROIDCAP, "summary", str(capture)],
            "droidcap summary --json": [*DROIDCAP, "summary", str(capture), "--json"],
            "droidcap export --conn 0 --flv": [*DROIDCAP, "export", str(capture), "--conn", "0",
                                               "--flv", str(Path(tmp) / "out.flv")],
        }
        samples: dict[str, list[Run]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                samples[name].append(measure(name, argv))
    runs = [sorted(found, key=lambda r: r.seconds)[len(found) // 2] for found in samples.values()]
    print(f"capture: {capture} ({capture.stat().st_size / 1e6:.1f} MB); median of {args.repeat} interleaved runs")
    print(f"{'command':34} {'seconds':>9} {'peak MB':>9} {'rc':>3} {'vs decode':>10}")
    for run in runs:
        print(f"{run.name:34} {run.seconds:9.2f} {run.peak_mb:9.1f} {run.returncode:>3} "
              f"{run.seconds / runs[0].seconds:9.2f}x")


if __name__ == "__main__":
    main()
