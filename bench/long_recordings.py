"""Real-time factor of the timeline analysis on recordings of 1, 10 and 60 minutes.

    python -m bench.long_recordings [--minutes 1 10 60] [--quick] [--runs 3] [--no-charts]

Each recording is made of RAVDESS takes (all actors, shuffled with a fixed seed) joined by
pauses of 0.3 to 1.5 s of faint noise, and written as a 16 kHz mono 16-bit WAV in a
temporary folder (an hour is about 115 MB). Each is analysed in a child process of its
own, as the queue worker does it: the bundled model is loaded and warmed up on the first
30 s, then each run decodes the file (``ml.audio.load_audio``) and classifies every window
of speech (``ml.timeline.timeline``). Printed per recording: the median time of
``--runs`` runs (1 run for 60 minutes), split into decoding and windows, and how many
times faster than real time that is. Then, once, the charts the worker draws after the
result (``ml.overview``: the data the page draws them from; ``--no-charts`` skips it), and the
child's peak resident memory (its own ``ru_maxrss`` from ``os.wait4``), that is the
worker's peak for that recording with TensorFlow and the model loaded.

The issue's target: 10 minutes analysed in 10 s or less (60x real time) on this machine.
``--quick`` leaves out the 60-minute recording. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench._common import (
    REPO,
    describe_machine,
    figure,
    load_average,
    median,
    peak_rss_mb,
    ravdess_dir,
    run_measured,
)

SAMPLE_RATE = 16000
PAUSE = (0.3, 1.5)  # seconds between two takes
NOISE_RMS = 10 ** (-60 / 20)  # a quiet room, -60 dBFS
TARGET_MINUTES, TARGET_SECONDS = 10, 10.0
WARMUP_SECONDS = 30


def build_recording(path: Path, minutes: float, seed: int = 0) -> int:
    """Write ``minutes`` of takes and pauses to ``path``; returns the number of takes."""
    takes = sorted(ravdess_dir().glob("Actor_*/*.flac"))
    if not takes:
        raise SystemExit(f"no RAVDESS takes under {ravdess_dir()}")
    order = random.Random(seed)
    order.shuffle(takes)
    rng = np.random.default_rng(seed)
    total = round(minutes * 60 * SAMPLE_RATE)
    written = count = 0
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, subtype="PCM_16") as out:
        while written < total:
            signal, rate = sf.read(takes[count % len(takes)], dtype="float32", always_2d=True)
            signal = signal.mean(axis=1)
            if rate != SAMPLE_RATE:
                import soxr

                signal = soxr.resample(signal, rate, SAMPLE_RATE)
            pause = rng.normal(0, NOISE_RMS, round(rng.uniform(*PAUSE) * SAMPLE_RATE))
            chunk = np.concatenate([signal, pause]).astype(np.float32)[: total - written]
            out.write(chunk)
            written += len(chunk)
            count += 1
    return count


# --- the child: one warm process per recording ----------------------------------------------


def child(path: Path, runs: int, charts: bool) -> int:
    """Load the model, warm up, analyse ``path`` ``runs`` times; one JSON line per result."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ml.audio import load_audio
    from ml.recognizer import get_recognizer
    from ml.timeline import timeline

    started = time.perf_counter()
    rec = get_recognizer()
    warm = load_audio(path).signal[: WARMUP_SECONDS * SAMPLE_RATE]
    timeline(rec, warm)
    del warm
    print(json.dumps({"load_seconds": time.perf_counter() - started}), flush=True)
    for _ in range(runs):
        t0 = time.perf_counter()
        signal = load_audio(path).signal
        t1 = time.perf_counter()
        segments = timeline(rec, signal)
        t2 = time.perf_counter()
        row = {
            "decode": t1 - t0,
            "windows": t2 - t1,
            "segments": len(segments),
            "duration": len(signal) / SAMPLE_RATE,
        }
        print(json.dumps(row), flush=True)
    print(json.dumps({"peak_analysis_mb": peak_rss_mb(os.getpid())}), flush=True)
    if charts:
        from ml.overview import overview

        t0 = time.perf_counter()
        data = overview(signal, SAMPLE_RATE).to_dict()
        row = {
            "charts": time.perf_counter() - t0,
            "chart_kb": len(json.dumps(data)) / 1024,
        }
        print(json.dumps(row), flush=True)
    return 0


# --- the parent ---------------------------------------------------------------------------


def measure(path: Path, runs: int, charts: bool) -> dict:
    command = [sys.executable, "-m", "bench.long_recordings", "--child", str(path)]
    command += ["--runs", str(runs)] + ([] if charts else ["--no-charts"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    done = run_measured(command, env=env, timeout=3600)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not any("windows" in row for row in rows):
        raise RuntimeError(f"the analysis of {path.name} failed ({done.returncode})")
    out: dict = {"runs": [r for r in rows if "windows" in r], "peak_mb": done.peak_rss_mb}
    for row in rows:
        if "windows" not in row:
            out.update(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--quick", action="store_true", help="leave out 60 minutes")
    parser.add_argument("--runs", type=int, default=3, help="per recording (60 min: 1)")
    parser.add_argument("--no-charts", action="store_true", help="do not time the charts")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.runs, not args.no_charts)

    minutes = [m for m in args.minutes if not (args.quick and m >= 60)]
    print("\n".join(describe_machine()))
    print(f"model: {os.environ.get('SPEECHEMOTION_MODEL') or REPO / 'ml/models/bundled'}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-long-") as folder:
        for length in minutes:
            path = Path(folder, f"recording-{length:g}min.wav")
            started = time.perf_counter()
            takes = build_recording(path, length)
            runs = 1 if length >= 60 else args.runs
            print(
                f"\n{length:g} min: {takes} RAVDESS takes with pauses, "
                f"{path.stat().st_size / 1e6:.0f} MB WAV (written in "
                f"{time.perf_counter() - started:.1f} s); {runs} run(s) in a warm process; "
                f"load average {load_average()}"
            )
            result = measure(path, runs, not args.no_charts)
            path.unlink()
            results[length] = result
            _print_result(length, result)
    _print_summary(results)
    print(f"\nload average {load_average()}")
    return 0


def _print_result(length: float, result: dict) -> None:
    runs = result["runs"]
    total = [r["decode"] + r["windows"] for r in runs]
    seconds = median(total)
    duration = runs[0]["duration"]
    print(
        f"  model loaded and warmed up in {result['load_seconds']:.1f} s; "
        f"{runs[0]['segments']} windows of speech"
    )
    print(
        f"  analysis: median {seconds:.2f} s (decode {median([r['decode'] for r in runs]):.2f} s"
        f", windows {median([r['windows'] for r in runs]):.2f} s) over {len(runs)} run(s): "
        f"{duration / seconds:.0f}x real time"
    )
    if "charts" in result:
        print(f"  charts: {result['charts']:.2f} s ({result['chart_kb']:.0f} KB of JSON), once")
    print(
        f"  peak memory of the process: {result['peak_analysis_mb']:.0f} MB analysing, "
        f"{result['peak_mb']:.0f} MB with the charts"
    )
    name = f"long recording, {length:g} min"
    figure(f"{name}: analysis (decode + windows)", seconds, "s", len(runs))
    figure(f"{name}: speed", duration / seconds, "x real time", len(runs))
    if "charts" in result:
        figure(f"{name}: charts drawn after the result", result["charts"], "s", 1)
    if length == TARGET_MINUTES:
        figure(f"{name}: peak memory of the worker process", result["peak_mb"], "MB", 1)


def _print_summary(results: dict) -> None:
    print("\nhow the time grows:")
    print(f"  {'minutes':>8} {'seconds':>9} {'x real time':>12} {'s per audio minute':>19}")
    for length, result in results.items():
        seconds = median([r["decode"] + r["windows"] for r in result["runs"]])
        print(
            f"  {length:8g} {seconds:9.2f} {length * 60 / seconds:12.0f} {seconds / length:19.2f}"
        )
    if TARGET_MINUTES in results:
        runs = results[TARGET_MINUTES]["runs"]
        seconds = median([r["decode"] + r["windows"] for r in runs])
        verdict = "met" if seconds <= TARGET_SECONDS else "NOT met"
        print(
            f"  target: {TARGET_MINUTES} min in <= {TARGET_SECONDS:g} s: {verdict} "
            f"({seconds:.1f} s, load average {load_average()})"
        )


if __name__ == "__main__":
    sys.exit(main())
