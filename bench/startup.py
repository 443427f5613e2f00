"""Benchmark: how long ``droidcap`` takes to start, per installed environment, in the same run.

    .venv/bin/python bench/startup.py [--venv .venv --venv /tmp/other-venv] [--repeat 20]

For each virtualenv (default: this worktree's .venv) it times, as their own processes, the
commands a user runs most briefly — ``droidcap --version``, ``droidcap --help``,
``droidcap decode --help`` and a decode of the small Wireshark sample capture — interleaved,
``--repeat`` times each, and prints the median and best in milliseconds, the typer version, and
whether the command imported pydantic (from ``python -X importtime``).  Comparing a venv with
typer 0.28 against one with 0.29 is how docs/performance.md measured the typer pin.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "wireshark_rtmp_sample.cap"
COMMANDS = {
    "--version": ["--version"],
    "--help": ["--help"],
    "decode --help": ["decode", "--help"],
    "decode sample -f ndjson": ["decode", str(SAMPLE), "-f", "ndjson"],
}


def typer_version(venv: Path) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import typer; print(typer.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def imports_pydantic(venv: Path, args: list[str]) -> bool:
    done = subprocess.run([str(venv / "bin" / "python"), "-X", "importtime", "-m", "droidcap", *args],
                          capture_output=True, text=True, check=False)
    return any(line.split("|")[-1].strip() == "pydantic" for line in done.stderr.splitlines())


def once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, action="append", help="a virtualenv with droidcap installed")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    venvs = args.venv or [ROOT / ".venv"]
    for venv in venvs:  # as an installed droidcap would be: bytecode compiled
        subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(ROOT / "droidcap")],
                       check=True, stdout=subprocess.DEVNULL)
    samples: dict[tuple[Path, str], list[float]] = {(v, c): [] for v in venvs for c in COMMANDS}
    for _ in range(args.repeat):  # interleaved: this VM's speed drifts from minute to minute
        for venv in venvs:
            for name, cmd in COMMANDS.items():
                samples[venv, name].append(once([str(venv / "bin" / "droidcap"), *cmd]))
    print(f"{'venv':28} {'typer':7} {'command':26} {'median ms':>9} {'best ms':>8}  pydantic")
    for venv in venvs:
        version = typer_version(venv)
        for name, cmd in COMMANDS.items():
            runs = samples[venv, name]
            print(f"{str(venv)[-28:]:28} {version:7} {name:26} {statistics.median(runs) * 1000:9.0f} "
                  f"{min(runs) * 1000:8.0f}  {'yes' if imports_pydantic(venv, cmd) else 'no'}")


if __name__ == "__main__":
    main()
