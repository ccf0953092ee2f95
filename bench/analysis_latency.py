"""How long a warm process takes to analyse a 4-second recording, and what reloading costs.

    python -m bench.analysis_latency [--runs 50] [--baseline-runs 5] [--sample-rate 16000]

A few real RAVDESS takes are cut or zero-padded to 4.0 s and written as WAV files. With
the model loaded once (``get_recognizer()``, as the service does), each clip is analysed
``--runs`` times after a warm-up: ``predict_file`` decodes the WAV from disk, checks it for
speech, computes the features and runs the model. Then the baseline that many public demos
use: load the model again for every request (``EmotionRecognizer.from_path`` and then
``predict_file``), ``--baseline-runs`` times. TensorFlow is already imported for the
baseline, so its figure is a lower bound for a fresh process.

Prints figures; asserts nothing. The machine's load average is printed with them: on a
busy machine every figure grows.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench._common import (
    CLIP_SECONDS,
    describe_machine,
    figure,
    load_average,
    write_clips,
)
from ml.audio import SAMPLE_RATE, ensure_speech, load_audio
from ml.recognizer import EmotionRecognizer, default_model_path, get_recognizer


class Timings:
    """Wall-clock and CPU seconds (all threads of the process) of each call."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __iadd__(self, other: Timings) -> Timings:
        self.wall += other.wall
        self.cpu += other.cpu
        return self

    def __len__(self) -> int:
        return len(self.wall)

    def summary(self) -> str:
        ms = np.asarray(self.wall) * 1000
        return (
            f"median {np.median(ms):7.1f} ms  p90 {np.percentile(ms, 90):7.1f} ms  "
            f"min {ms.min():7.1f} ms  (CPU median {np.median(self.cpu) * 1000:6.1f} ms)"
        )


def timed(func: Callable[[], object], runs: int) -> Timings:
    out = Timings()
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        out.cpu.append(time.process_time() - cpu)
        out.wall.append(time.perf_counter() - wall)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per clip (warm)")
    parser.add_argument("--baseline-runs", type=int, default=5, help="model reloads timed")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per clip first")
    parser.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help="of the WAVs")
    args = parser.parse_args(argv)

    model_path = default_model_path()
    print("\n".join(describe_machine()))
    started = time.perf_counter()
    rec = get_recognizer()
    load_seconds = time.perf_counter() - started
    print(f"model {rec.name} from {model_path} (sha256 {rec.sha256[:12]})")
    print(f"first load in this process (TensorFlow import included): {load_seconds:.2f} s")

    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as folder:
        clips = write_clips(Path(folder), args.sample_rate)
        print(
            f"\n{len(clips)} RAVDESS takes cut or padded to {CLIP_SECONDS} s, "
            f"WAV {args.sample_rate} Hz mono 16-bit"
        )

        print(
            f"\nwarm process: rec.predict_file(path), {args.runs} runs per clip "
            f"after {args.warmup} warm-up runs"
        )
        warm = Timings()
        for clip in clips:
            timed(lambda clip=clip: rec.predict_file(clip), args.warmup)
            seconds = timed(lambda clip=clip: rec.predict_file(clip), args.runs)
            warm += seconds
            answer = rec.predict_file(clip)
            label = f"{clip.stem} -> {answer.emotion.value} {answer.confidence:.0%}"
            print(f"  {label:<44} {seconds.summary()}")
        print(f"  {f'all {len(warm)} runs':<44} {warm.summary()}")

        # Where the time goes, on the first clip.
        clip = clips[0]
        signal = load_audio(clip).signal
        stages = {
            "decode (load_audio)": lambda: load_audio(clip),
            "speech check (ensure_speech)": lambda: ensure_speech(signal),
            "features + model (predict_signal)": lambda: rec.predict_signal(
                signal, check_speech=False
            ),
        }
        print(f"  stages on {clip.stem}:")
        for name, func in stages.items():
            print(f"    {name:<42} {timed(func, args.runs).summary()}")

        print(
            f"\nbaseline: EmotionRecognizer.from_path(...) then predict_file, "
            f"{args.baseline_runs} runs"
        )
        # Every load builds new tf.functions; TensorFlow warns about retracing. Expected here.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        reload = Timings()
        for i in range(args.baseline_runs):
            clip = clips[i % len(clips)]
            reload += timed(
                lambda clip=clip: EmotionRecognizer.from_path(model_path).predict_file(clip), 1
            )
        print(f"  {'model loaded per request':<44} {reload.summary()}")

    warm_ms = statistics.median(warm.wall) * 1000
    reload_ms = statistics.median(reload.wall) * 1000
    ratio = reload_ms / warm_ms
    print(
        f"\n>>> the warm process is {ratio:.0f}x faster than loading the model per request "
        f"(median {warm_ms:.1f} ms against {reload_ms:.0f} ms per 4 s clip)"
    )
    print(f"load average {load_average()}")
    figure("analysis of a 4 s clip, warm process", warm_ms, "ms", len(warm))
    figure("analysis of a 4 s clip, model loaded per request", reload_ms, "ms", len(reload))
    figure("warm process vs model loaded per request", ratio, "x faster", len(reload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
