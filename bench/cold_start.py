"""Cold start to the first answer, and the memory of the web and queue workers.

    python bench/cold_start.py [--cli-runs 5] [--service-runs 3] [--uploads 10]

(a) **Command line**: ``python -m ml predict --jsonl clip.wav`` on a 4-second RAVDESS take,
    timed from the spawn of the process to its exit (Python, the model in ONNX Runtime, one
    prediction), ``--cli-runs`` times; with its peak memory (``ru_maxrss`` of that child).

(b) **Service**: from nothing (no process running; the database migrated and the static
    files collected, as after a deployment) to the first uploaded clip's result:
    gunicorn (``gunicorn.conf.py``, 2 workers x 4 threads) and one analysis worker are
    spawned, ``/`` is polled until it answers, a 4-second WAV is posted, and its status
    URL is polled every 20 ms until the analysis is no longer pending or running.
    ``--service-runs`` times, each with new processes. Printed: when the server first
    answered, when the upload was accepted, when the result was there.

Then, in each service run, ``--uploads`` more uploads, one at a time, each waited for:
the resident memory (now, and the peak: the kernel's VmHWM) of every gunicorn worker
after serving them and of the queue worker after analysing them.

The service runs with DEBUG off, a database of its own (``speechemotion_bench_cold``,
dropped at the end) and a temporary media folder; only loopback is contacted. The page
cache is warm after the first run, so "cold" means new processes, not a cold disk.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    analysis_id,
    bench_database,
    check_alive,
    csrf_token,
    describe_machine,
    figure,
    load_average,
    make_client,
    median,
    peak_rss_mb,
    post_file,
    prepare,
    rss_mb,
    run_measured,
    service,
    service_env,
    wait_analysed,
    wav_clips,
    write_clips,
)

POLL_SECONDS = 0.02
TIMEOUT = 300


def cli_runs(runs: int) -> None:
    print(f"\n(a) python -m ml predict --jsonl clip.wav, {runs} runs, each a new process")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    seconds, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
        clip = write_clips(Path(folder))[0]
        for _ in range(runs):
            done = run_measured(
                [sys.executable, "-m", "ml", "predict", "--jsonl", str(clip)],
                env=env,
                timeout=TIMEOUT,
            )
            answer = json.loads(done.stdout.splitlines()[-1]) if done.stdout.strip() else {}
            print(
                f"  {done.seconds:6.2f} s  peak {done.peak_rss_mb:5.0f} MB  exit "
                f"{done.returncode}  -> {answer.get('emotion') or answer.get('error')}"
            )
            seconds.append(done.seconds)
            peaks.append(done.peak_rss_mb)
    print(f"  median {median(seconds):.2f} s, peak memory median {median(peaks):.0f} MB")
    figure("cold start: python -m ml predict, spawn -> answer", median(seconds), "s", runs)
    figure("cold start: python -m ml predict, peak memory", median(peaks), "MB", runs)


def _memory(pids: list[int]) -> tuple[float, float]:
    """(largest RSS now, largest peak RSS) of ``pids``, in MB."""
    return max(rss_mb(pid) for pid in pids), max(peak_rss_mb(pid) for pid in pids)


def service_runs(runs: int, uploads: int) -> None:
    print(
        f"\n(b) gunicorn + one queue worker from nothing to the first result, {runs} runs; "
        f"then {uploads} more uploads for the memory figures"
    )
    files = wav_clips()
    rows = []
    with (
        bench_database("cold") as database_url,
        tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch,
    ):
        logs = Path(scratch)
        env = service_env(database_url, logs)
        prepare(env)
        for run in range(runs):
            started = time.perf_counter()
            with service(logs, env=env, wait=False) as running:
                client = make_client()
                while True:
                    check_alive(running, logs)
                    if time.perf_counter() - started > TIMEOUT:
                        raise RuntimeError("the service did not answer")
                    try:
                        form = client.get(running.url + "/", timeout=5)
                        if form.status == 200:
                            break
                    except OSError:
                        pass
                    time.sleep(POLL_SECONDS)
                up = time.perf_counter() - started
                name, data = files[run % len(files)]
                answer = post_file(
                    client, running.url, csrf_token(form.text), name, data, follow=False
                )
                accepted = time.perf_counter() - started
                pk = analysis_id(answer.location)
                if pk is None:
                    raise RuntimeError(f"upload refused: HTTP {answer.status}")
                if not wait_analysed(client, running.url, pk, timeout=TIMEOUT, poll=POLL_SECONDS):
                    raise RuntimeError("the first analysis did not finish")
                done = time.perf_counter() - started
                for i in range(uploads):
                    name, data = files[i % len(files)]
                    token = csrf_token(client.get(running.url + "/").text)
                    answer = post_file(client, running.url, token, name, data, follow=False)
                    pk = analysis_id(answer.location)
                    if pk:
                        wait_analysed(client, running.url, pk, timeout=TIMEOUT, poll=0.1)
                web_now, web_peak = _memory(running.web_pids)
                queue_now, queue_peak = _memory(running.queue_pids)
            rows.append((up, accepted, done, web_now, web_peak, queue_now, queue_peak))
            print(
                f"  run {run + 1}: answering {up:5.2f} s, upload accepted {accepted:5.2f} s, "
                f"result {done:5.2f} s | after {uploads + 1} uploads: web worker "
                f"{web_now:.0f} MB (peak {web_peak:.0f}), queue worker {queue_now:.0f} MB "
                f"(peak {queue_peak:.0f})"
            )

    def col(i: int) -> float:
        return median([row[i] for row in rows])

    print(
        f"  median: server answering {col(0):.2f} s, first result {col(2):.2f} s after the "
        f"spawn; web worker {col(3):.0f} MB (peak {col(4):.0f}), queue worker {col(5):.0f} MB "
        f"(peak {col(6):.0f})"
    )
    figure("cold start: gunicorn + worker spawn -> server answering", col(0), "s", runs)
    figure("cold start: gunicorn + worker spawn -> first result", col(2), "s", runs)
    figure("memory: web (gunicorn) worker peak RSS", col(4), "MB", runs)
    figure("memory: queue worker peak RSS", col(6), "MB", runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--service-runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=10, help="after the first, per run")
    args = parser.parse_args(argv)
    print("\n".join(describe_machine()))
    try:
        if args.cli_runs > 0:
            cli_runs(args.cli_runs)
        if args.service_runs > 0:
            service_runs(args.service_runs, args.uploads)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"cold_start: {err}", file=sys.stderr)
        return 1
    print(f"\nload average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
