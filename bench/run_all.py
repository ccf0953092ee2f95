"""Run every bench with short settings and print one table of figures for the README.

    python -m bench.run_all [--full] [--only NAME ...]     (make bench)

The machine is described at the top (CPU, cores, RAM, Python, TensorFlow, load average).
Each bench runs as a child process of its own, its output shown as it comes; each records
its figures with ``bench._common.figure`` into a file that this script reads at the end
and prints as a Markdown table (figure, median, unit, runs), ready to paste.

The short settings keep the whole run near ten minutes on two cores. The load test keeps
its 16 clients for 60 s but waits at most 30 s for the queue to drain (the rate is
measured all the same); ``--full`` runs every bench with its own defaults instead (about
an hour here: a queue of over a thousand analyses to drain, twice).
A bench that fails is reported and the others go on. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import REPO, describe_machine, load_average

# In this order: the quiet ones first, the load test (which leaves a busy machine) last.
BENCHES: dict[str, list[str]] = {
    "analysis_latency": ["--runs", "20", "--baseline-runs", "5"],
    "upload_latency": ["--runs", "20"],
    "worker_throughput": ["--clips", "40", "--runs", "3"],
    "long_recordings": [],  # 1, 10 and 60 minutes: the hour takes well under a minute
    "cold_start": ["--cli-runs", "5", "--service-runs", "3", "--uploads", "5"],
    "fuzz_decoder": ["--count", "300"],
    "load_test": [
        "--seconds",
        "60",
        "--drain-timeout",
        "30",
        "--memory-uploads",
        "1000",
        "--memory-drain-timeout",
        "30",
    ],
}


def _value(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value == int(value) and abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def print_table(rows: list[dict]) -> None:
    names = [len(row["name"]) for row in rows] or [6]
    width = max(*names, 6)
    print(f"| {'figure':<{width}} | {'median':>8} | {'unit':<18} | {'runs':>5} |")
    print(f"|{'-' * (width + 2)}|{'-' * 9}:|{'-' * 20}|{'-' * 6}:|")
    for row in rows:
        print(
            f"| {row['name']:<{width}} | {_value(row['value']):>8} | {row['unit']:<18} "
            f"| {row['runs']:>5} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="each bench with its own defaults")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), metavar="NAME")
    args = parser.parse_args(argv)

    machine = describe_machine()
    print("\n".join(machine))
    started = time.perf_counter()
    failed = []
    with tempfile.NamedTemporaryFile(prefix="bench-figures-", suffix=".jsonl") as figures:
        env = {**os.environ, "BENCH_FIGURES": figures.name, "PYTHONUNBUFFERED": "1"}
        for name, short in BENCHES.items():
            if args.only and name not in args.only:
                continue
            command = [sys.executable, "-m", f"bench.{name}"]
            command += [] if args.full else short
            print(f"\n{'=' * 78}\n== {' '.join(['python', *command[1:]])}")
            print(f"== load average {load_average()}\n{'=' * 78}", flush=True)
            bench_started = time.perf_counter()
            code = subprocess.run(command, cwd=REPO, env=env).returncode
            print(f"== {name}: exit {code} after {time.perf_counter() - bench_started:.0f} s")
            if code != 0:
                failed.append(name)
        rows = [json.loads(line) for line in Path(figures.name).read_text().splitlines() if line]

    minutes = (time.perf_counter() - started) / 60
    print(f"\n{'=' * 78}\nSummary ({minutes:.1f} min{'' if args.full else ', short settings'})\n")
    for line in machine:
        print(f"    {line}")
    print(f"    load average at the end: {load_average()}\n")
    print_table(rows)
    if failed:
        print(f"\nfailed: {', '.join(failed)} (their figures are missing above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
