"""Throw thousands of random and mutated inputs at the decoder and count what comes out.

    python -m bench.fuzz_decoder [--count 3000] [--seed N] [--max-duration 3] [--timeout 10]
                                 [--save-unexpected DIR]

The inputs are the fuzz corpus of ``ml/fuzzing.py`` (``ml/tests/test_fuzz_decoder.py``
runs a few hundred of them): small valid WAV/FLAC/Ogg/MP3/MP4/WebM/MKV files with flipped
bytes, cut at random, with their headers spliced onto random bytes or their fields set to
extremes, random bytes behind real signatures, empty files, all under random names.
Prints how many ended as decoded audio, as each MLError, and as anything else
(UNEXPECTED, a bug), then the slowest inputs. A figure, not a test: the exit status is 0
whatever the outcome.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from bench._common import figure
from ml.fuzzing import (
    DECODED,
    FUZZ_SEED,
    MAX_DURATION,
    TIMEOUT,
    UNEXPECTED,
    Outcome,
    fuzz_cases,
    make_seeds,
    quiet_stderr,
    run_case,
    scratch_tempdir,
)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="inputs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=FUZZ_SEED, help="default: %(default)s")
    parser.add_argument("--max-duration", type=float, default=MAX_DURATION, metavar="S")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, metavar="S")
    parser.add_argument(
        "--save-unexpected", type=Path, metavar="DIR", help="keep the inputs that broke"
    )
    return parser


def _print_table(outcomes: list[Outcome]) -> None:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome.seconds * 1000)
    order = sorted(by_kind, key=lambda k: (k == UNEXPECTED, k != DECODED, -len(by_kind[k])))
    print(f"{'outcome':<24} {'count':>6} {'share':>7} {'median ms':>10} {'max ms':>8}")
    for kind in order:
        times = by_kind[kind]
        print(
            f"{kind:<24} {len(times):>6} {len(times) / len(outcomes):>7.1%} "
            f"{statistics.median(times):>10.1f} {max(times):>8.1f}"
        )
    if UNEXPECTED not in by_kind:
        print(f"{UNEXPECTED:<24} {0:>6} {0:>7.1%}")


def _print_mutations(outcomes: list[Outcome]) -> None:
    kinds = Counter(o.kind for o in outcomes)
    columns = [k for k, _ in kinds.most_common()]
    short = {k: k.replace("Error", "").replace("Audio", "")[:10] for k in columns}
    print(f"\n{'mutation':<10}" + "".join(f"{short[k]:>11}" for k in columns))
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        per[outcome.case.mutation][outcome.kind] += 1
    for mutation in sorted(per):
        print(f"{mutation:<10}" + "".join(f"{per[mutation][k]:>11}" for k in columns))


def _print_broken(outcomes: list[Outcome], save: Path | None) -> None:
    broken = [o for o in outcomes if o.kind == UNEXPECTED or o.problems]
    if not broken:
        print("\nno UNEXPECTED outcome: every input was decoded or refused with an MLError")
        return
    bar = "!" * 78
    print(f"\n{bar}\n!!! {len(broken)} INPUTS BROKE THE DECODER'S PROMISES (UNEXPECTED and more)")
    print(bar)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    for outcome in broken[:10]:
        print(f"\n{outcome.case.label}: {outcome.kind} {outcome.message}")
        for problem in outcome.problems:
            print("    " + problem.replace("\n", "\n    "))
        if save is not None:
            name = f"case-{outcome.case.index}.{outcome.case.extension or 'bin'}"
            (save / name).write_bytes(outcome.case.data)
    if save is not None:
        print(f"\nthe first {min(len(broken), 10)} inputs were saved in {save}")
    print(bar)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="fuzz_decoder_"))
    try:
        (root / "seeds").mkdir()
        (root / "cases").mkdir()
        seeds = make_seeds(root / "seeds")
        print(
            f"fuzz_decoder: {args.count} inputs from {len(seeds)} seed files (seed "
            f"{args.seed}), max_duration {args.max_duration:g} s, timeout {args.timeout:g} s"
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
            f"load average {_load()}"
        )
        started = time.perf_counter()
        outcomes: list[Outcome] = []
        with scratch_tempdir(root / "tmp"), quiet_stderr():
            for case in fuzz_cases(seeds, args.count, args.seed):
                outcome = run_case(
                    case, root / "cases", max_duration=args.max_duration, timeout=args.timeout
                )
                if outcome.kind != UNEXPECTED and not outcome.problems:
                    # Keep only the inputs that broke something, so that the memory
                    # figure below is the decoder's, not the corpus's.
                    outcome = replace(outcome, case=replace(case, data=b""))
                outcomes.append(outcome)
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    _print_table(outcomes)
    _print_mutations(outcomes)
    print("\nslowest inputs:")
    for outcome in sorted(outcomes, key=lambda o: -o.seconds)[:5]:
        print(f"  {outcome.seconds * 1000:8.1f} ms  {outcome.case.label}: {outcome.kind}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{len(outcomes)} inputs in {elapsed:.1f} s ({elapsed / len(outcomes) * 1000:.1f} ms "
        f"each on average); peak memory of this process {peak_mb:.0f} MB; load average "
        f"{_load()}"
    )
    _print_broken(outcomes, args.save_unexpected)
    unexpected = sum(o.kind == UNEXPECTED or bool(o.problems) for o in outcomes)
    figure("fuzz: decoder inputs with an UNEXPECTED outcome", unexpected, "count", len(outcomes))
    ms = statistics.median(o.seconds for o in outcomes) * 1000
    figure("fuzz: time per hostile input", ms, "ms", len(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
