"""Upload latency over HTTP: from POSTing a 4-second WAV to the result page in the browser.

    python -m bench.upload_latency [--runs 30] [--warmup 2] [--server gunicorn|runserver]
                                   [--url http://127.0.0.1:8000]

Without ``--url`` the script starts the service itself on a free loopback port, as in
production (DEBUG off) but with a database and a media folder of its own
(``speechemotion_bench_upload``, dropped at the end; see ``bench/_common.py``): ``migrate``
and ``collectstatic``, then gunicorn (``gunicorn.conf.py``, 2 workers x 4 threads;
``--server runserver`` for Django's development server) and one analysis worker
(``manage.py procrastinate worker``). With ``--url`` it uses a server on loopback that is
already running (and its workers).

Each run does what a browser does: GET ``/`` for the CSRF cookie and form token, POST the
file as the form's ``file`` field, follow the redirect and read the result page. Analyses
run in the worker, so two figures are printed:

* *result page*: from the POST to the HTML of the page it redirects to (the upload has
  been checked and stored, the analysis is queued);
* *analysed*: from the POST until the status URL that page polls says the analysis is no
  longer pending or running, and the finished result page has been read.

Every analysis made here is deleted at the end through the app's delete view. Prints
figures; asserts nothing (the exit status is 1 only when the service cannot be reached).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    CLIP_SECONDS,
    Client,
    analysis_id,
    bench_database,
    check_loopback,
    csrf_token,
    delete_analysis,
    describe_machine,
    figure,
    load_average,
    make_client,
    median,
    ms_summary,
    post_file,
    prepare,
    service,
    service_env,
    wait_analysed,
    wav_clips,
)

_POLL_SECONDS = 0.05  # the status URL is polled this often (the page's own script: 0.5 s)
_ANALYSIS_TIMEOUT = 120


def upload(client: Client, base: str, name: str, data: bytes) -> tuple[float, float | None, str]:
    """POST one file; returns (seconds to the result page, seconds to analysed, analysis id)."""
    token = csrf_token(client.get(base + "/").text)
    started = time.perf_counter()
    page = post_file(client, base, token, name, data, follow=True)
    to_page = time.perf_counter() - started
    pk = analysis_id(page.url)
    if page.status != 200 or not pk:
        raise RuntimeError(f"upload refused (HTTP {page.status} at {page.url})")
    if not wait_analysed(client, base, pk, timeout=_ANALYSIS_TIMEOUT, poll=_POLL_SECONDS):
        return to_page, None, pk
    client.get(f"{base}/analyses/{pk}/")  # the finished page, as the browser loads it
    return to_page, time.perf_counter() - started, pk


def bench(base: str, runs: int, warmup: int) -> None:
    client = make_client()
    files = wav_clips()
    print(f"service at {base}; client: {client.name}")
    print(
        f"{len(files)} RAVDESS takes cut or padded to {CLIP_SECONDS} s, "
        f"WAV mono 16-bit ({len(files[0][1]) // 1024} KiB)"
    )
    created: list[str] = []
    to_page: list[float] = []
    to_done: list[float] = []
    timeouts = 0
    try:
        for i in range(warmup + runs):
            name, data = files[i % len(files)]
            page_s, done_s, pk = upload(client, base, name, data)
            created.append(pk)
            if i < warmup:
                continue
            to_page.append(page_s)
            if done_s is None:
                timeouts += 1
            else:
                to_done.append(done_s)
    finally:
        deleted = sum(delete_analysis(client, base, pk) for pk in created)
    print(f"\n{runs} uploads after {warmup} warm-up uploads, one at a time:")
    print(f"  {'POST -> result page HTML':<32} {ms_summary(to_page)}")
    figure("upload of a 4 s WAV, POST -> result page", median(to_page) * 1000, "ms", len(to_page))
    if to_done:
        print(f"  {'POST -> analysed, page read':<32} {ms_summary(to_done)}")
        figure(
            "upload of a 4 s WAV, POST -> analysed (one worker)",
            median(to_done) * 1000,
            "ms",
            len(to_done),
        )
    if timeouts:
        print(f"  {timeouts} analyses were not finished after {_ANALYSIS_TIMEOUT} s")
    print(f"\ndeleted {deleted} of the {len(created)} analyses made by this run")
    print(f"load average {load_average()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed uploads")
    parser.add_argument("--warmup", type=int, default=2, help="untimed uploads first")
    parser.add_argument("--server", choices=("gunicorn", "runserver"), default="gunicorn")
    parser.add_argument("--url", help="use this running server (loopback) instead of one's own")
    args = parser.parse_args(argv)
    print("\n".join(describe_machine()))
    try:
        if args.url:
            bench(check_loopback(args.url), args.runs, args.warmup)
            return 0
        with (
            bench_database("upload") as database_url,
            tempfile.TemporaryDirectory(prefix="bench-upload-") as scratch,
        ):
            logs = Path(scratch)
            env = service_env(database_url, logs)
            prepare(env)
            started = time.perf_counter()
            with service(logs, env=env, server=args.server) as running:
                print(
                    f"started {args.server} and a worker in {time.perf_counter() - started:.1f} s"
                )
                bench(running.url, args.runs, args.warmup)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"upload_latency: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
