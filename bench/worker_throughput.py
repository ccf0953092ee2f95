"""One queue worker against the model alone: analyses per second on 4-second clips.

    python -m bench.worker_throughput [--clips 40] [--runs 3] [--warmup 3]

Issue 11 asks that one worker does at least 75 % of the analyses per second that the model
alone manages in the same run. Each run measures both, one after the other:

* **Model alone**: in this process, warm (the recognizer loaded once with
  ``get_recognizer(settings.SPEECHEMOTION_MODEL)`` and one clip analysed untimed), each clip
  is decoded from its file and put through exactly the ``ml`` calls the worker makes for
  the result: ``load_audio``, the full-length speech check only when the worker makes it
  (recordings of 59 s or more: the web process checked the first minute of shorter ones,
  so for these clips it is skipped, as in the worker), ``ml.timeline.timeline`` (Silero VAD
  regions, then every window through the encoder and the ONNX members) and
  ``ml.timeline.summarise``. Analyses per second over all clips, as many clips at a time
  as the worker has job slots (threads), timed just before and just after the worker (the
  mean of both: a machine whose load changes changes both sides alike), and one at a time.
* **One queue worker**: with no worker running, ``--warmup`` + ``--clips`` analyses are
  created through the real intake (``analyzer.services.analysis_create``: the web
  process's checks, the file written to the storage, the row and its Procrastinate job).
  Then one ``manage.py procrastinate worker`` is started, with the service's own settings
  (two job slots by default). The database is watched every 20 ms and the moment each
  analysis ends (done or failed, its charts' data stored) is noted; the rate is
  ``--clips`` analyses over the time from the ``--warmup``-th end to the last, so the
  worker's start and its model loading are not counted, and neither is the time before
  the first job starts.

The clips are distinct RAVDESS takes from ``../shared/data`` (or
``$SPEECHEMOTION_DATA_DIR``), both genders, every emotion, cut or zero-padded to 4.0 s and
written as 16-bit WAV at their own rate (48 kHz); every run changes their last sample, so
no upload is the same file as another. A database of its own (``speechemotion_bench_worker``,
dropped at the end) and a temporary ``MEDIA_ROOT``. Printed per run and as medians over
``--runs``: both rates and their ratio (worker / model alone), and the CPU time per
analysis of each side (the worker process's from ``/proc``, PostgreSQL's not counted): a
busy machine moves the rates much more than the CPU times. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bench._common import (
    CLIP_SECONDS,
    REPO,
    WORKER_ENV,
    bench_database,
    describe_machine,
    figure,
    load_average,
    median,
    prepare,
    ravdess_dir,
    service_env,
    stop,
)
from bench.load_test import setup_django

POLL_SECONDS = 0.02
WORKER_TIMEOUT = 600  # seconds for one run's analyses, the worker's start included


# --- the clips ----------------------------------------------------------------------------------


def takes(count: int) -> list[Path]:
    """``count`` distinct RAVDESS takes spread over the actors and emotions."""
    files = sorted(ravdess_dir().glob("Actor_*/03-01-*.flac"))
    if len(files) < count:
        raise SystemExit(f"need {count} RAVDESS takes under {ravdess_dir()}, found {len(files)}")
    # A stride through the sorted list walks across emotions, intensities and actors.
    step = len(files) / count
    return [files[int(i * step)] for i in range(count)]


def clip_bytes(path: Path) -> bytes:
    """``path`` cut or zero-padded to 4.0 s, as 16-bit WAV bytes at its own rate."""
    signal, rate = sf.read(path, dtype="float32")
    if signal.ndim > 1:
        signal = signal.mean(axis=1)
    n = round(CLIP_SECONDS * rate)
    signal = np.pad(signal[:n], (0, max(0, n - len(signal))))
    buffer = io.BytesIO()
    sf.write(buffer, signal, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def variant(data: bytes, n: int) -> bytes:
    """``data`` (a 16-bit WAV) with its last sample set from ``n``: another file."""
    return data[:-2] + (n % 65536).to_bytes(2, "little")


# --- (a) the model alone ------------------------------------------------------------------------


def model_alone(files: list[Path], *, slots: int) -> tuple[float, float]:
    """Analyses per second of the worker's ``ml`` calls on ``files``, in this warm process,
    ``slots`` clips at a time (threads, as the worker's job slots), and the CPU seconds
    (all threads) per analysis."""
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    from ml.audio import SAMPLE_RATE, SPEECH_CHECK_SECONDS, ensure_speech, load_audio, readable_path
    from ml.recognizer import get_recognizer
    from ml.timeline import summarise, timeline
    from ml.verdict import rule_from_meta

    recognizer = get_recognizer(settings.SPEECHEMOTION_MODEL)
    clarity = rule_from_meta(recognizer.meta)
    max_duration = settings.SPEECHEMOTION_MAX_DURATION_SECONDS

    def analyse(path: Path) -> None:
        with path.open("rb") as stored, readable_path(stored) as readable:
            signal = load_audio(readable, max_duration=max_duration).signal
        if len(signal) >= (SPEECH_CHECK_SECONDS - 1) * SAMPLE_RATE:
            ensure_speech(signal)
        windows = timeline(recognizer, signal)
        if windows:
            summarise(windows, clarity=clarity)

    analyse(files[0])  # warm: the first call of each session allocates
    # The worker's own BLAS threads (WORKER_ENV), so that the ratio compares the work
    # around the model, not two settings of OpenBLAS.
    blas = int(WORKER_ENV["OPENBLAS_NUM_THREADS"])
    with (
        threadpool_limits(limits=blas, user_api="blas"),
        ThreadPoolExecutor(max_workers=slots, thread_name_prefix="alone") as pool,
    ):
        started, cpu = time.perf_counter(), time.process_time()
        for _ in pool.map(analyse, files):
            pass
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(files) / seconds, cpu / len(files)


# --- (b) one queue worker -----------------------------------------------------------------------


@dataclass
class WorkerRun:
    rate: float
    seconds: float
    cpu: float  # CPU seconds of the worker process (all threads) per analysis
    statuses: dict[str, int]
    start_to_first_end: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, all its threads (NaN once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # utime and stime are the 14th and 15th fields, counted after the command's ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_analyses(clips: list[tuple[str, bytes]]) -> list[str]:
    """Analyses of ``clips`` through the real intake, queued; their ids in order."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from analyzer.services import analysis_create

    ids = []
    for name, data in clips:
        upload = SimpleUploadedFile(name, data, content_type="audio/wav")
        # limit=False, as the operator's `analyze` command: the queue is filled on purpose.
        analysis = analysis_create(
            upload=upload, owner=None, session_key="bench-worker-throughput", limit=False
        )
        ids.append(str(analysis.pk))
    return ids


def _ended_count(ids: list[str]) -> Callable[[], int]:
    """How many of ``ids`` have ended (not active, charts' data stored), as a function
    that asks the database: one prepared count on one connection, about a tenth of the
    CPU of the ORM query it replaced, polled every 20 ms while the worker runs (on a
    busy two-core machine the bench's own polling takes CPU from the worker it times)."""
    from django.db import connection

    from analyzer.models import Analysis

    meta = Analysis._meta
    quote = connection.ops.quote_name
    sql = (
        f"SELECT count(*) FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = ANY(%s) "
        f"AND NOT {quote(meta.get_field('charts_pending').column)} "
        f"AND {quote(meta.get_field('status').column)} <> ALL(%s)"
    )
    params = [[meta.pk.to_python(pk) for pk in ids], [str(s) for s in Analysis.ACTIVE_STATUSES]]
    cursor = connection.cursor()

    def count() -> int:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]

    return count


def _statuses(ids: list[str]) -> dict[str, int]:
    """How many of ``ids`` ended with each status."""
    from collections import Counter

    from analyzer.models import Analysis

    return dict(Counter(Analysis.objects.filter(pk__in=ids).values_list("status", flat=True)))


def one_worker(env: dict[str, str], log: Path, ids: list[str], warmup: int) -> WorkerRun:
    """Start one queue worker on the queued ``ids``; the rate after ``warmup`` ends."""
    from django.db import connections

    ends: list[float] = []  # when the 1st, 2nd, ... analysis was seen ended
    cpus: list[float] = []  # the worker's CPU seconds then
    ended = _ended_count(ids)
    with log.open("ab") as out:
        started = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker"],
            cwd=REPO,
            env={**env, **WORKER_ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = started + WORKER_TIMEOUT
        while len(ends) < len(ids):
            if worker.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the worker exited with {worker.returncode}:\n{tail}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(ids) - len(ends)} analyses still waiting")
            count = ended()
            if count > len(ends):
                now, cpu = time.perf_counter(), cpu_seconds(worker.pid)
                ends += [now] * (count - len(ends))
                cpus += [cpu] * (count - len(cpus))
            time.sleep(POLL_SECONDS)
        counts = _statuses(ids)
    finally:
        stop(worker)
        connections.close_all()
    measured = len(ends) - warmup
    seconds = ends[-1] - ends[warmup - 1]
    cpu = (cpus[-1] - cpus[warmup - 1]) / measured
    return WorkerRun(measured / seconds, seconds, cpu, counts, ends[0] - started)


# --- the run ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40, help="measured analyses per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="worker analyses not counted")
    parser.add_argument(
        "--slots",
        type=int,
        help="the worker's job slots (WORKER_CONCURRENCY; default: the service's own)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.clips < 2 or args.runs < 1 or args.warmup < 1:
        raise SystemExit("--clips must be 2 or more, --runs and --warmup 1 or more")
    print("\n".join(describe_machine()))
    paths = takes(args.clips + args.warmup)
    base = [(f"{path.stem}.wav", clip_bytes(path)) for path in paths]
    alone_rates, single_rates, worker_rates, ratios = [], [], [], []
    alone_cpus, worker_cpus, cpu_ratios = [], [], []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-worker-") as scratch,
            bench_database("worker") as database_url,
        ):
            env = service_env(database_url, Path(scratch))
            if args.slots:
                env["WORKER_CONCURRENCY"] = os.environ["WORKER_CONCURRENCY"] = str(args.slots)
            prepare(env)
            os.environ["LOG_LEVEL"] = "WARNING"  # not a line per analysis created here
            setup_django(env)
            from django.conf import settings

            slots = settings.PROCRASTINATE_WORKER_DEFAULTS["concurrency"]
            folder = Path(scratch, "clips")
            folder.mkdir()
            log = Path(scratch, "worker.log")
            print(
                f"{args.clips} clips of {CLIP_SECONDS:.0f} s (+{args.warmup} warm-up for the "
                f"worker), {args.runs} run(s); the worker has {slots} job slot(s), so the model "
                f"alone is timed {slots} clip(s) at a time, and one at a time"
            )
            for run in range(args.runs):
                clips = [(name, variant(data, run + 1)) for name, data in base]
                files = []
                for name, data in clips[args.warmup :]:
                    files.append(folder / name)
                    files[-1].write_bytes(data)
                ids = create_analyses(clips)
                # The model alone just before and just after the worker, the mean of both:
                # a machine whose load changes (training, say) changes both sides alike.
                single, single_cpu = model_alone(files, slots=1)
                before, before_cpu = model_alone(files, slots=slots)
                worker = one_worker(env, log, ids, args.warmup)
                after, after_cpu = model_alone(files, slots=slots)
                alone = (before + after) / 2
                alone_cpu = (single_cpu + before_cpu + after_cpu) / 3
                cpu_ratio = alone_cpu / worker.cpu
                ratio = worker.rate / alone
                alone_rates.append(alone)
                single_rates.append(single)
                alone_cpus.append(alone_cpu)
                worker_cpus.append(worker.cpu)
                cpu_ratios.append(cpu_ratio)
                worker_rates.append(worker.rate)
                ratios.append(ratio)
                print(
                    f"run {run + 1}: model alone {alone:5.2f}/s ({before:.2f} before, "
                    f"{after:.2f} after the worker; {single:.2f}/s one at a time)  "
                    f"one worker {worker.rate:5.2f}/s ({args.clips} in {worker.seconds:.1f} s; "
                    f"first end {worker.start_to_first_end:.1f} s after its start)  "
                    f"ratio {ratio:.2f}; CPU per analysis: model alone {alone_cpu * 1000:.0f} ms, "
                    f"worker {worker.cpu * 1000:.0f} ms, ratio {cpu_ratio:.2f}  {worker.statuses}  "
                    f"load {load_average()}",
                    flush=True,
                )
            from django.db import connections

            connections.close_all()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"worker_throughput: {err}", file=sys.stderr)
        return 1
    runs = len(ratios)
    print(
        f"\nmedian of {runs}: model alone {median(alone_rates):.2f} analyses/s "
        f"({median(single_rates):.2f} one at a time), one worker "
        f"{median(worker_rates):.2f} analyses/s, ratio {median(ratios):.2f} (goal: 0.75 or more)"
        f"\nCPU per analysis: model alone {median(alone_cpus) * 1000:.0f} ms, worker process "
        f"{median(worker_cpus) * 1000:.0f} ms (PostgreSQL's share not counted), "
        f"ratio {median(cpu_ratios):.2f}"
    )
    figure("4 s clips, model alone (warm process)", median(alone_rates), "analyses/s", runs)
    figure("4 s clips, model alone one at a time", median(single_rates), "analyses/s", runs)
    figure("4 s clips, one queue worker", median(worker_rates), "analyses/s", runs)
    figure("one queue worker / model alone", median(ratios), "ratio", runs)
    figure("4 s clips, CPU per analysis, model alone", median(alone_cpus) * 1000, "ms", runs)
    figure("4 s clips, CPU per analysis, queue worker", median(worker_cpus) * 1000, "ms", runs)
    print(f"load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
