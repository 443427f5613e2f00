"""Benchmark: droidcap inspect on a big capture and on a growing one, against droidcap decode.

    .venv/bin/python bench/tui.py [--big-gb 1.0] [--seconds 60] [--keep]

It reuses bench/decode.py's recorded scenario (bench/out/bench-60s.pcap, recorded by the lab with
real nginx-rtmp and ffmpeg if it is not there) and grows it to at least --big-gb with the same
``grow_capture``.  Then, each in its own process so peak memory is the TUI's alone:

- the inspect app, headless (Textual's ``run_test``, 120x40): time to the first row on screen,
  time to the whole index, the details latency at the end of the file (Details and Hex of the
  last RTMP message and of another connection's last message: cold walks, which resume from the
  decoder checkpoint the indexer left before them; then stepping, and a jump back to halfway
  through a connection), and the process's peak RSS;
- ``droidcap decode BIG --format ndjson > /dev/null`` in the same run, for the index-vs-decode
  ratio;
- follow mode: the app follows a file that a writer grows record by record from the sample
  capture; for each write, the time until a new row is in the Messages pane.

The big file is deleted afterwards unless --keep.  Targets (issue 9): first screen within 0.5 s,
the index about as fast as decode, details within 300 ms, peak memory under 200 MB, a followed
message on screen within 250 ms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from decode import DROIDCAP, LAUNCHER, OUT, grow_capture, make_capture, measure  # noqa: E402

CHILD_BIG = r"""
import asyncio, json, sys, time
t0 = time.monotonic()
from droidcap.tui.app import create_app
from droidcap.rtmp.events import Message
from droidcap.tui.widgets.hex_view import HexView

async def main():
    app = create_app(sys.argv[1])
    out = {}
    async with app.run_test(size=(120, 40)) as pilot:
        out["screen_up_s"] = time.monotonic() - t0  # mounted: panes and "indexing…" drawn
        screen = app.main
        while screen.rows_list.row is None:
            await pilot.pause(0.005)
        await pilot.pause(0)  # one refresh: the row is drawn
        out["first_screen_s"] = time.monotonic() - t0
        while not app.index.done:
            await pilot.pause(0.05)
        out["index_s"] = time.monotonic() - t0
        out["rows"] = len(app.index)
        out["connections"] = len(app.index.connections)
        index = app.index
        hexview = screen.query_one(HexView)
        last = [r for r in range(len(index) - 1, max(-1, len(index) - 5000), -1)
                if type(index.items[r].event) is Message and not index.items[r].event.aggregate]
        from droidcap.tui.widgets.details import DetailsTree
        tree = screen.query_one(DetailsTree)
        async def show(row):
            # select a row; seconds until its Details tree, and until its Hex, are drawn
            start = time.monotonic()
            screen._go_row(row)
            label = f"frame {index.frames[row]} "
            while not str(tree.root.label).startswith(label):
                await pilot.pause(0.001)
            tree_s = time.monotonic() - start
            while hexview.raw is None or hexview.raw is not screen._hex_cache.get(row):
                await pilot.pause(0.002)
            return tree_s, time.monotonic() - start

        def key(r):
            return index.conns[r], index.items[r].dir

        out["tree_last_s"], out["hex_last_s"] = await show(last[0])  # a cold walk of its direction
        # a cold walk: the last message of another connection direction
        other = next(r for r in last if key(r) != key(last[0]))
        out["tree_other_s"], out["hex_other_s"] = await show(other)
        # stepping: earlier messages of that direction, then forward again through them
        same = [r for r in last if key(r) == key(other)][:12][::-1]
        earlier, steps = same[0], []
        await show(earlier)
        for r in same[1:]:
            steps.append((await show(r))[1])
        steps.sort()
        out["hex_step_median_s"] = steps[len(steps) // 2]
        out["hex_step_max_s"] = steps[-1]
        # a back jump: halfway through that direction, far behind its walk (which resumes from
        # the walk checkpoint before the message, not from the connection's start)
        whole = [r for r in range(len(index)) if key(r) == key(other)
                 and type(index.items[r].event) is Message and not index.items[r].event.aggregate]
        out["hex_back_s"] = (await show(whole[len(whole) // 2]))[1]
    print(json.dumps(out))

asyncio.run(main())
"""

CHILD_FOLLOW = r"""
import asyncio, json, struct, sys, time
from pathlib import Path
from droidcap.decode import iter_items
from droidcap.pipeline import DecodedEvent
from droidcap.tui.app import create_app, EMBEDDED_CAPTURE

data = EMBEDDED_CAPTURE.read_bytes()
records, p = [], 24
while p < len(data):
    n = struct.unpack_from("<I", data, p + 8)[0]
    records.append(data[p:p + 16 + n]); p += 16 + n
# the frames in which a row completes: each write ends with one, so each write shows a new row
completing = sorted({i.event.frame for i in iter_items(EMBEDDED_CAPTURE) if type(i) is DecodedEvent})
path = Path(sys.argv[1])
START = 40  # records written before the app starts (RTMP is recognised once both sides spoke)
path.write_bytes(data[:24] + b"".join(records[:START]))

async def main():
    app = create_app(path, follow=True)
    lat, held = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        lst = app.main.rows_list
        give_up = time.monotonic() + 10
        while lst.row is None:
            assert time.monotonic() < give_up, "the first records gave no row"
            await pilot.pause(0.01)
        done = START
        with path.open("ab", buffering=0) as out:
            for frame in (f for f in completing if f > START):
                before = len(lst.view)
                written = time.monotonic()
                out.write(b"".join(records[done:frame]))  # frames are 1-based: up to this one
                done = frame
                while len(lst.view) == before and time.monotonic() < written + 1.0:
                    await pilot.pause(0.002)
                if len(lst.view) == before:
                    # TCP reassembly holds data until a later record (an ACK, a retransmission)
                    # proves it: that row comes with a later write, not late
                    held.append(frame)
                    continue
                assert lst.cursor == len(lst.view) - 1  # the list follows the end
                lat.append(time.monotonic() - written)
    lat.sort()
    print(json.dumps({"writes_with_new_rows": len(lat), "writes_held": len(held),
                      "median_ms": 1000 * lat[len(lat) // 2],
                      "p95_ms": 1000 * lat[int(len(lat) * 0.95)], "max_ms": 1000 * lat[-1]}))

asyncio.run(main())
"""


def run_measured(code: str, *args: str) -> tuple[dict[str, float], float]:
    """Run a child script; its JSON result (last line of its output) and its peak RSS in MB."""
    out_path = OUT / "tui-child.json"
    err_path = OUT / "tui-child.err"
    # Through decode.py's small launcher: wait4's ru_maxrss of a child forked straight from this
    # process would count the pages this process holds (the grown capture's source) at fork.
    with out_path.open("wb") as out, err_path.open("wb") as err:
        done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, sys.executable, "-c", code, *args],
                              stdout=out, stderr=subprocess.PIPE, text=True, check=False)
        err.write(done.stderr.encode())
    _seconds, maxrss_kib, rc = done.stderr.strip().splitlines()[-1].split()
    if int(rc) or done.returncode:
        raise SystemExit(f"child failed ({rc}):\n{err_path.read_text()[-3000:]}")
    err_path.unlink()
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    out_path.unlink()
    return result, int(maxrss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-gb", type=float, default=1.0, help="size of the big capture")
    parser.add_argument("--seconds", type=int, default=60, help="length of the recorded scenario")
    parser.add_argument("--keep", action="store_true", help="keep the big capture afterwards")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "droidcap")], check=True,
                   stdout=subprocess.DEVNULL)
    base = OUT / f"bench-{args.seconds}s.pcap"
    if not base.exists():
        print(f"recording {base} ({args.seconds} s, 1 publisher, 2 players)…", file=sys.stderr)
        port = make_capture(base, args.seconds)
        base.with_suffix(".port").write_text(str(port))
    big = OUT / f"bench-tui-{args.big_gb:g}GB.pcap"
    if args.big_gb > 0:
        try:
            copies = grow_capture(base, big, int(args.big_gb * 1e9))
            size_gb = big.stat().st_size / 1e9
            print(f"capture: {big} ({size_gb:.2f} GB, {copies} copies of {base.name})")
            decode = measure("droidcap decode", [*DROIDCAP, "decode", str(big), "--format", "ndjson"])
            tui, peak = run_measured(CHILD_BIG, str(big))
            print(f"droidcap decode --format ndjson:   {decode.seconds:7.2f} s, peak {decode.peak_mb:6.1f} MB")
            print(f"inspect: screen up (indexing…)     {tui['screen_up_s']:7.3f} s")
            print(f"inspect: first rows on screen      {tui['first_screen_s']:7.3f} s")
            print(f"inspect: whole index               {tui['index_s']:7.2f} s "
                  f"({tui['rows']:,} rows, {tui['connections']} connections) = "
                  f"{tui['index_s'] / decode.seconds:.2f}x decode's time")
            print(f"inspect: details tree              {1000 * tui['tree_last_s']:7.0f} ms (last message), "
                  f"{1000 * tui['tree_other_s']:.0f} ms (another connection's)")
            print(f"inspect: hex, last message         {1000 * tui['hex_last_s']:7.0f} ms "
                  "(a first walk of its direction, resumed from the indexer's checkpoint)")
            print(f"inspect: hex, another connection's {1000 * tui['hex_other_s']:7.0f} ms (another first walk)")
            print(f"inspect: hex, stepping             {1000 * tui['hex_step_median_s']:7.0f} ms median, "
                  f"{1000 * tui['hex_step_max_s']:.0f} ms max")
            print(f"inspect: hex, back to halfway      {1000 * tui['hex_back_s']:7.0f} ms "
                  "(a walk resumed from a checkpoint inside the connection)")
            print(f"inspect: peak memory               {peak:7.1f} MB")
        finally:
            if not args.keep:
                big.unlink(missing_ok=True)
    growing = OUT / "bench-tui-follow.pcap"
    try:
        follow, _ = run_measured(CHILD_FOLLOW, str(growing))
    finally:
        growing.unlink(missing_ok=True)
    print(f"follow: append-to-row latency over {follow['writes_with_new_rows']} writes "
          f"({follow['writes_held']} more waited for a later record): median "
          f"{follow['median_ms']:.0f} ms, p95 {follow['p95_ms']:.0f} ms, max {follow['max_ms']:.0f} ms")


if __name__ == "__main__":
    main()
