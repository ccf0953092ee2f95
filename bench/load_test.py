"""Load on loopback: 16 clients upload 4-second clips for 60 s; then the queue, the data, memory.

    python -m bench.load_test [--clients 16] [--seconds 60] [--memory-uploads 1000]
                              [--memory-clients 4] [--drain-timeout 1800]
                              [--web-workers 2] [--threads 4] [--queue-workers 2]
                              [--max-pending-per-owner N] [--max-queue-wait SECONDS]
                              [--url http://127.0.0.1:8000 [--media-root DIR]]

**Load.** gunicorn (``gunicorn.conf.py`` as deployed, 2 workers x 4 threads) and two
analysis workers are started on a free loopback port with a database and a media folder of
their own (``speechemotion_bench_load``, dropped at the end). ``--clients`` threads of this
process, each a browser with its own cookies, loop for ``--seconds``: GET the upload form,
POST a 4-second WAV as its ``file`` field (its last sample changed for every upload, so that
no upload is the same file again), GET the result page it redirects to. An upload refused by
back-pressure (429, or 503 with the queue's message) waits its Retry-After, as a browser
would, and is counted on its own: those are the service pushing back, not failures.
Printed: uploads accepted per second, p50/p95/p99 of the POST (request sent -> redirect
received), every status code by request (5xx other than back-pressure counted on their own
line), the back-pressure refusals, then how long the workers take to finish every analysis
(the queue drains; analyses done per second), whether the queue was empty 10 s after the
load ended, how many accepted uploads were analysed, and p50/p95/p99 from the POST to the
analysis done (the database is watched every 0.2 s). ``--max-pending-per-owner`` and
``--max-queue-wait`` set the service's back-pressure limits (by default its own defaults).

**Integrity.** From the database (Django's ORM, same settings) and the media folder: every
accepted upload has its row and its file, no file under ``MEDIA_ROOT/uploads`` lacks a
row, and no row is there that no client saw accepted.

**Memory.** A second, fresh service (its own database, ``GUNICORN_MAX_REQUESTS=0`` so that
worker recycling cannot hide a leak) takes ``--memory-uploads`` uploads from
``--memory-clients`` clients after a short warm-up. The resident memory (RSS) of every
gunicorn worker and of the queue worker is sampled every 0.5 s and printed at 0, 25, 50,
75 and 100 % of the uploads (the queue worker: of the analyses done), with the slope of a
least-squares line in MB per 100 uploads (or analyses), over the whole run and over its
second half (after the first growth of caches and allocator arenas, which a leak outlasts).
The queue worker is followed until the queue drains or ``--memory-drain-timeout``.

Every request loop is bounded by a count (``--max-uploads``) and by time; only loopback is
contacted. With ``--url`` a running server is loaded instead (``DATABASE_URL`` and
``--media-root`` must be those of that server); the memory part is skipped and the analyses
made are deleted at the end. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench._common import (
    CLIP_SECONDS,
    Service,
    analysis_id,
    bench_database,
    check_alive,
    check_loopback,
    csrf_token,
    describe_machine,
    figure,
    load_average,
    make_client,
    prepare,
    rss_mb,
    service,
    service_env,
    wav_clips,
)

REQUEST_TIMEOUT = 60
SAMPLE_SECONDS = 0.5
WATCH_SECONDS = 0.2
EMPTY_AFTER_SECONDS = 10
BACK_PRESSURE = "back-pressure"
# Both refusals say so (analyzer.services.AnalysisBusyError); a 503 without it is a failure.
_BACK_PRESSURE_TEXT = "waiting to be analysed"
CHECKPOINTS = (0.0, 0.25, 0.5, 0.75, 1.0)


# --- the clients --------------------------------------------------------------------------


@dataclass
class Tally:
    """What the client threads saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    begun: int = 0
    codes: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    post_seconds: list[float] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    posted_at: dict[str, float] = field(default_factory=dict)  # pk -> perf_counter at POST
    refused: Counter[int] = field(default_factory=Counter)  # back-pressure, by status

    def claim(self, limit: int) -> bool:
        """Take one upload of the ``limit`` this run may make."""
        with self.lock:
            if self.begun >= limit:
                return False
            self.begun += 1
            return True

    def code(self, request: str, status: int) -> None:
        with self.lock:
            self.codes[request, status] += 1

    def error(self, request: str, err: BaseException) -> None:
        with self.lock:
            self.errors[f"{request}: {type(err).__name__}"] += 1

    def accept(self, pk: str, seconds: float, *, started: float) -> None:
        with self.lock:
            self.accepted.append(pk)
            self.post_seconds.append(seconds)
            self.posted_at.setdefault(pk, started)

    def refuse(self, status: int) -> None:
        with self.lock:
            self.refused[status] += 1
            self.codes[f"POST / ({BACK_PRESSURE})", status] += 1

    @property
    def server_errors(self) -> int:
        """5xx answers, the back-pressure's 503 aside."""
        return sum(
            n
            for (request, status), n in self.codes.items()
            if status >= 500 and BACK_PRESSURE not in request
        )


@dataclass
class Answer:
    status: int
    location: str
    retry_after: float
    text: str


def _post_upload(client: object, base: str, token: str, name: str, data: bytes) -> Answer:
    """POST the upload form with its headers kept (Retry-After), no redirect followed."""
    r = client.session.post(  # type: ignore[attr-defined]
        base + "/",
        data={"csrfmiddlewaretoken": token},
        files={"file": (name, data, "audio/wav")},
        headers={"Referer": base + "/"},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    try:
        retry_after = float(r.headers.get("Retry-After", "1"))
    except ValueError:
        retry_after = 1.0
    return Answer(r.status_code, r.headers.get("Location", ""), retry_after, r.text)


def _unique(data: bytes, n: int) -> bytes:
    """``data`` (a 16-bit WAV) with its last sample set from ``n``: another file each time,
    so that the same-file-again check does not answer with an earlier analysis."""
    return data[:-2] + (n % 65536).to_bytes(2, "little")


def _browser(
    base: str, files: list[tuple[str, bytes]], tally: Tally, *, until: float, limit: int, first: int
) -> None:
    """One browser: form, upload, result page, again, until the deadline or the count."""
    client = make_client()
    i = first
    while time.perf_counter() < until and tally.claim(limit):
        name, data = files[i % len(files)]
        data = _unique(data, first * 100_003 + i)
        i += 1
        step = "GET /"
        try:
            form = client.get(base + "/", timeout=REQUEST_TIMEOUT)
            tally.code(step, form.status)
            if form.status != 200:
                time.sleep(0.05)
                continue
            step = "POST /"
            started = time.perf_counter()
            token = csrf_token(form.text)
            answer = _post_upload(client, base, token, name, data)
            seconds = time.perf_counter() - started
            if answer.status in (429, 503) and _BACK_PRESSURE_TEXT in answer.text:
                tally.refuse(answer.status)
                time.sleep(max(0.0, min(answer.retry_after, until - time.perf_counter())))
                continue
            tally.code(step, answer.status)
            pk = analysis_id(answer.location) if answer.status == 302 else None
            if pk is None:
                continue
            tally.accept(pk, seconds, started=started)
            step = "GET result"
            page = client.get(f"{base}/analyses/{pk}/", timeout=REQUEST_TIMEOUT)
            tally.code(step, page.status)
        except Exception as err:  # timeouts, refused connections: count them, go on
            tally.error(step, err)
            time.sleep(0.05)


def run_clients(
    base: str, clients: int, seconds: float, limit: int, tally: Tally | None = None
) -> tuple[Tally, float]:
    """``clients`` browsers for ``seconds`` (or ``limit`` uploads); (tally, elapsed seconds)."""
    files = wav_clips()
    tally = tally if tally is not None else Tally()
    started = time.perf_counter()
    until = started + seconds
    threads = [
        threading.Thread(
            target=_browser,
            args=(base, files, tally),
            kwargs={"until": until, "limit": limit, "first": i},
            daemon=True,
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, until - time.perf_counter()) + 2 * REQUEST_TIMEOUT + 10)
    return tally, time.perf_counter() - started


# --- the database, through the same settings as the service ---------------------------------


def setup_django(env: dict[str, str]) -> None:
    """Django in this process, with the service's database and media folder (no TensorFlow)."""
    for name in ("DATABASE_URL", "MEDIA_ROOT", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        if name in env:
            os.environ[name] = env[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "speechemotion.settings")
    import django

    django.setup()


def _unfinished() -> int:
    """Analyses pending, running, or done with their charts still to draw."""
    from django.db.models import Q

    from analyzer.models import Analysis

    active = Q(status__in=Analysis.ACTIVE_STATUSES) | Q(charts_pending=True)
    return Analysis.objects.filter(active).count()


class DoneWatcher(threading.Thread):
    """When each accepted upload's analysis ended (done or failed), seen from the database
    every ``WATCH_SECONDS``: ``ended[pk] = (perf_counter, status)``."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(daemon=True)
        self.tally = tally
        self.ended: dict[str, tuple[float, str]] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        from django.db import connections

        try:
            while not self.halt.is_set():
                self.sweep()
                self.halt.wait(WATCH_SECONDS)
        finally:
            connections.close_all()

    def sweep(self) -> None:
        """Look once at the analyses not seen ended yet."""
        from analyzer.models import Analysis

        with self.tally.lock:
            waiting = [pk for pk in self.tally.posted_at if pk not in self.ended]
        for start in range(0, len(waiting), 500):
            rows = (
                Analysis.objects.filter(pk__in=waiting[start : start + 500])
                .exclude(status__in=Analysis.ACTIVE_STATUSES)
                .values_list("pk", "status")
            )
            now = time.perf_counter()
            for pk, status in rows:
                self.ended[str(pk)] = (now, status)

    def to_analysed(self) -> list[float]:
        """Seconds from each POST to its analysis done (the done ones only)."""
        with self.tally.lock:
            posted = dict(self.tally.posted_at)
        return [
            ended - posted[pk]
            for pk, (ended, status) in self.ended.items()
            if status == "done" and pk in posted
        ]


def _finished() -> int:
    from analyzer.models import Analysis

    return Analysis.objects.count() - _unfinished()


def wait_drained(timeout: float, alive: Callable[[], None]) -> float | None:
    """Seconds until no analysis is pending, running or waiting for its charts (None: timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if _unfinished() == 0:
            return time.perf_counter() - started
        alive()
        time.sleep(SAMPLE_SECONDS)
    return None


def status_counts() -> Counter[str]:
    from analyzer.models import Analysis

    return Counter(Analysis.objects.values_list("status", flat=True))


def failures() -> Counter[str]:
    from analyzer.models import Analysis

    rows = Analysis.objects.filter(status=Analysis.Status.FAILED)
    return Counter(rows.values_list("error_message", flat=True))


def integrity(accepted: list[str], media_root: Path, *, own_database: bool) -> int:
    """Print the row-and-file check; returns the number of problems found."""
    from analyzer.models import Analysis

    rows = {str(pk): name for pk, name in Analysis.objects.values_list("pk", "file")}
    accepted_set = set(accepted)
    without_row = accepted_set - rows.keys()
    without_file = [pk for pk in accepted_set & rows.keys() if not (media_root / rows[pk]).exists()]
    uploads = media_root / "uploads"
    files = {
        path.relative_to(media_root).as_posix() for path in uploads.rglob("*") if path.is_file()
    }
    orphans = files - set(rows.values())
    unseen = rows.keys() - accepted_set if own_database else set()
    print(f"  accepted uploads           {len(accepted_set):6d}")
    print(f"  ... without their row      {len(without_row):6d}")
    print(f"  ... without their file     {len(without_file):6d}")
    print(f"  files under uploads/       {len(files):6d}")
    print(f"  ... without a row          {len(orphans):6d}")
    if own_database:
        print(f"  rows no client saw accepted {len(unseen):5d}")
    for label, items in (("no row", without_row), ("no file", without_file), ("orphan", orphans)):
        for item in sorted(items)[:5]:
            print(f"    {label}: {item}")
    return len(without_row) + len(without_file) + len(orphans) + len(unseen)


# --- memory -------------------------------------------------------------------------------


@dataclass
class Sample:
    uploads: int
    analyses: int
    rss: dict[str, float]  # "web <pid>" / "queue worker" -> MiB


class Sampler(threading.Thread):
    """RSS of the service's processes, with the uploads and analyses done so far."""

    def __init__(self, running: Service, uploads: Callable[[], int], analyses: Callable[[], int]):
        super().__init__(daemon=True)
        self.running, self.uploads, self.analyses = running, uploads, analyses
        self.samples: list[Sample] = []
        self.web_pids: set[int] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        from django.db import connections

        try:
            while not self.halt.is_set():
                rss = {}
                for pid in self.running.web_pids:
                    self.web_pids.add(pid)
                    rss[f"web {pid}"] = rss_mb(pid)
                for i, pid in enumerate(self.running.queue_pids):
                    rss[f"queue worker {i + 1}" if i else "queue worker"] = rss_mb(pid)
                self.samples.append(Sample(self.uploads(), self.analyses(), rss))
                self.halt.wait(SAMPLE_SECONDS)
        finally:
            connections.close_all()


def _slope(points: list[tuple[int, float]]) -> float:
    """MB per 100 of x, by least squares (NaN with fewer than two distinct x)."""
    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points])
    return float(np.polyfit(xs, ys, 1)[0] * 100) if len(xs) and np.ptp(xs) > 0 else float("nan")


def _memory_table(samples: list[Sample]) -> tuple[float, float]:
    """Print RSS at the checkpoints and the slopes; (steepest web slope, queue slope).

    The web workers are read against the uploads accepted, the queue worker against the
    analyses it finished. The slope of the second half leaves out the first growth
    (caches, allocator arenas) that a leak would not stop after.
    """
    uploads = max((s.uploads for s in samples), default=0)
    analyses = max((s.analyses for s in samples), default=0)
    names = sorted({name for s in samples for name in s.rss}, key=lambda n: (n.startswith("q"), n))
    marks = "".join(f"{f'{c:.0%}':>7}" for c in CHECKPOINTS)
    print(f"  {'RSS in MB at':<30}{marks}   MB per 100: all, 2nd half")
    web_slope, queue_slope = float("nan"), float("nan")
    for name in names:
        queue = name.startswith("queue")
        total = analyses if queue else uploads
        points = [
            (s.analyses if queue else s.uploads, s.rss[name])
            for s in samples
            if name in s.rss and not np.isnan(s.rss[name])
        ]
        if not points or total <= 0:
            continue
        cells = ""
        for share in CHECKPOINTS:
            at = next((y for x, y in points if x >= share * total), None)
            cells += f"{at:7.0f}" if at is not None else f"{'-':>7}"
        slope = _slope(points)
        late = _slope([(x, y) for x, y in points if x >= total / 2])
        what = "analyses" if queue else "uploads"
        label = f"{name} ({total} {what})"
        print(f"  {label:<30}{cells}   {slope:+6.2f}, {late:+6.2f}")
        if queue:
            queue_slope = late
        elif np.isnan(web_slope) or abs(late) > abs(web_slope):
            web_slope = late
    return web_slope, queue_slope


# --- the phases ---------------------------------------------------------------------------


def _percentiles(seconds: list[float]) -> dict[int, float]:
    if not seconds:
        return dict.fromkeys((50, 95, 99), float("nan"))
    ms = np.asarray(seconds) * 1000
    return {p: float(np.percentile(ms, p)) for p in (50, 95, 99)}


def _print_codes(tally: Tally) -> None:
    for (request, status), count in sorted(tally.codes.items()):
        print(f"    {request:<12} {status}: {count}")
    for error, count in sorted(tally.errors.items()):
        print(f"    {error}: {count}")
    print(f"  5xx responses (back-pressure aside): {tally.server_errors}")
    refused = ", ".join(f"{status}: {n}" for status, n in sorted(tally.refused.items()))
    print(f"  refused by back-pressure (429 per owner, 503 queue full): {refused or 'none'}")
    print(f"  client-side errors (timeouts, refused connections): {sum(tally.errors.values())}")


def load_phase(
    base: str,
    args: argparse.Namespace,
    media_root: Path,
    *,
    own_database: bool,
    alive: Callable[[], None],
    running: Service | None = None,
) -> list[str]:
    """The 16-client load, the drain and the integrity check; returns the analyses made.

    With ``running`` (a service of ours) its gunicorn workers are watched: a new PID is a
    worker replaced after ``max_requests``, which makes some requests wait.
    """
    # The first requests of each web worker import what they need; the first analyses too.
    warm, _ = run_clients(base, 2, 60, 4)
    wait_drained(120, alive)
    watch = Sampler(running, lambda: 0, lambda: 0) if running else None
    if watch:
        watch.start()
    print(
        f"\nload: {args.clients} clients for {args.seconds:g} s, each: GET / -> POST a "
        f"{CLIP_SECONDS:g} s WAV -> GET the result page; load average {load_average()}"
    )
    finished_before = _finished()
    tally = Tally()
    watcher = DoneWatcher(tally)
    watcher.start()
    tally, elapsed = run_clients(base, args.clients, args.seconds, args.max_uploads, tally)
    load_end = time.perf_counter()
    if watch:
        watch.halt.set()
        watch.join(timeout=10)
    done_during = _finished() - finished_before
    accepted = len(tally.accepted)
    pct = _percentiles(tally.post_seconds)
    rate = accepted / elapsed
    print(f"  uploads accepted {accepted} in {elapsed:.1f} s: {rate:.1f} uploads/s")
    print(
        f"  POST -> redirect  p50 {pct[50]:.0f} ms  p95 {pct[95]:.0f} ms  p99 {pct[99]:.0f} ms"
        f"  max {max(tally.post_seconds, default=float('nan')) * 1000:.0f} ms"
    )
    _print_codes(tally)
    if watch:
        replaced = len(watch.web_pids) - args.web_workers
        print(f"  gunicorn workers replaced during the load (max_requests): {replaced}")
    print(f"  load average at the end {load_average()}")
    figure(f"load, {args.clients} clients: uploads accepted", rate, "uploads/s", 1)
    for p in (50, 95, 99):
        figure(f"load, {args.clients} clients: POST -> redirect p{p}", pct[p], "ms", accepted)
    figure(f"load, {args.clients} clients: 5xx responses", tally.server_errors, "count", 1)
    figure(
        f"load, {args.clients} clients: refused by back-pressure (429/503)",
        sum(tally.refused.values()),
        "count",
        1,
    )

    print(f"\nqueue: {accepted} analyses queued by the load ({done_during} done while it ran)")
    drained = wait_drained(EMPTY_AFTER_SECONDS, alive)
    empty_in_time = drained is not None
    if drained is None:
        left_then = _unfinished()
        drained = wait_drained(args.drain_timeout, alive)
        if drained is not None:
            drained += EMPTY_AFTER_SECONDS
    after = time.perf_counter() - load_end
    watcher.halt.set()
    watcher.join(timeout=10)
    watcher.sweep()  # the last ones, ended within its last interval
    print(
        f"  queue empty {EMPTY_AFTER_SECONDS} s after the load ended: "
        + ("yes" if empty_in_time else f"no ({left_then} analyses were left then)")
    )
    figure(
        f"load: queue empty {EMPTY_AFTER_SECONDS} s after it (1 yes, 0 no)",
        int(empty_in_time),
        "",
        1,
    )
    done = _finished() - finished_before
    analyses_rate = done / (elapsed + after)
    after_rate = (done - done_during) / after if after > 0 else float("nan")
    if drained is None:
        left = _unfinished()
        print(
            f"  not drained within {args.drain_timeout:g} s after the load: {done} done, "
            f"{left} left, about {left / after_rate if after_rate else float('inf'):.0f} s more"
        )
    else:
        print(
            f"  drained {drained:.1f} s after the load ended, {elapsed + after:.1f} s after "
            f"it began"
        )
    print(
        f"  {analyses_rate:.2f} analyses/s from the start of the load ({done_during / elapsed:.2f}"
        f" during it, {after_rate:.2f} after it) with {args.queue_workers} queue worker(s)"
    )
    figure("load: analyses done (queue worker, after the load)", after_rate, "analyses/s", done)
    statuses = status_counts()
    print("  status of every row: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    for message, count in failures().most_common(3):
        print(f"    failed x{count}: {message[:100]}")
    ended = Counter(status for _, status in watcher.ended.values())
    print(
        f"  accepted uploads analysed: {ended['done']} of {accepted} "
        f"(failed {ended['failed']}, not finished {accepted - ended.total()})"
    )
    to_analysed = _percentiles(watcher.to_analysed())
    print(
        f"  POST -> analysed  p50 {to_analysed[50]:.0f} ms  p95 {to_analysed[95]:.0f} ms  "
        f"p99 {to_analysed[99]:.0f} ms (the database watched every {WATCH_SECONDS:g} s)"
    )
    figure("load: accepted uploads analysed", ended["done"], "count", accepted)
    for p in (50, 95):
        figure(f"load: POST -> analysed p{p}", to_analysed[p], "ms", ended["done"])

    print("\nintegrity (database and media folder):")
    made = tally.accepted + warm.accepted
    problems = integrity(made, media_root, own_database=own_database)
    figure("load: accepted uploads without row or file, files without row", problems, "count", 1)
    return made


def memory_phase(running: Service, args: argparse.Namespace, alive: Callable[[], None]) -> None:
    total = args.memory_uploads
    warmup = 2 * args.memory_clients
    print(
        f"\nmemory: a fresh service (GUNICORN_MAX_REQUESTS=0: no worker recycling), "
        f"{warmup} warm-up uploads, then {total} uploads by {args.memory_clients} clients"
    )
    run_clients(running.url, args.memory_clients, 3600, warmup)
    wait_drained(args.drain_timeout, alive)
    base_done = _finished()
    tally = Tally()

    def uploads() -> int:
        with tally.lock:
            return len(tally.accepted)

    sampler = Sampler(running, uploads, lambda: _finished() - base_done)
    sampler.start()
    try:
        _, uploads_seconds = run_clients(
            running.url, args.memory_clients, args.memory_seconds, total, tally
        )
        drained = wait_drained(args.memory_drain_timeout, alive)
    finally:
        sampler.halt.set()
        sampler.join(timeout=10)
    print(
        f"  {len(tally.accepted)} uploads accepted in {uploads_seconds:.0f} s, 5xx "
        f"{tally.server_errors}, client-side errors {sum(tally.errors.values())}; analyses "
        + ("not drained" if drained is None else f"drained {drained:.0f} s later")
    )
    web_slope, queue_slope = _memory_table(sampler.samples)
    replaced = len(sampler.web_pids) - args.web_workers
    if replaced > 0:
        print(f"  {replaced} web worker(s) were replaced during the run (new PIDs)")
    analyses = sampler.samples[-1].analyses if sampler.samples else 0
    figure("memory: web worker RSS slope, 2nd half (steepest)", web_slope, "MB/100 uploads", total)
    figure("memory: queue worker RSS slope, 2nd half", queue_slope, "MB/100 analyses", analyses)
    last = sampler.samples[-1].rss if sampler.samples else {}
    web = [v for k, v in last.items() if k.startswith("web")]
    if web:
        figure("memory: web worker RSS after the uploads (largest)", max(web), "MB", total)
    if "queue worker" in last:
        figure("memory: queue worker RSS after the analyses", last["queue worker"], "MB", analyses)


# --- main ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent browsers")
    parser.add_argument("--seconds", type=float, default=60, help="length of the load")
    parser.add_argument("--max-uploads", type=int, default=20_000, help="bound on the load")
    parser.add_argument("--drain-timeout", type=float, default=1800, help="seconds at most")
    parser.add_argument("--memory-uploads", type=int, default=1000, help="0 skips memory")
    parser.add_argument("--memory-clients", type=int, default=4)
    parser.add_argument("--memory-seconds", type=float, default=1800, help="bound on them")
    parser.add_argument(
        "--memory-drain-timeout", type=float, default=1800, help="seconds at most after them"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="per gunicorn process")
    parser.add_argument("--queue-workers", type=int, default=2, help="analysis workers")
    parser.add_argument(
        "--max-pending-per-owner", type=int, help="SPEECHEMOTION_MAX_PENDING_PER_OWNER"
    )
    parser.add_argument("--max-queue-wait", type=float, help="SPEECHEMOTION_MAX_QUEUE_WAIT")
    parser.add_argument("--url", help="load this running server (loopback) instead")
    parser.add_argument("--media-root", type=Path, help="with --url: the server's MEDIA_ROOT")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print("\n".join(describe_machine()))
    if args.url:
        return _against_url(args)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
            logs = Path(scratch)
            with bench_database("load") as database_url:
                env = _limits(service_env(database_url, Path(scratch, "load")), args)
                media = Path(env["MEDIA_ROOT"])
                prepare(env)
                setup_django(env)
                with service(
                    logs,
                    env=env,
                    web_workers=args.web_workers,
                    threads=args.threads,
                    queue_workers=args.queue_workers,
                ) as running:
                    print(
                        f"service: gunicorn {args.web_workers} workers x {args.threads} threads "
                        f"and {args.queue_workers} queue worker(s) at {running.url}"
                    )
                    load_phase(
                        running.url,
                        args,
                        media,
                        own_database=True,
                        alive=lambda: check_alive(running, logs),
                        running=running,
                    )
                _close_connections()
            if args.memory_uploads <= 0:
                return 0
            with bench_database("load") as database_url:
                env = _limits(service_env(database_url, Path(scratch, "memory")), args)
                prepare(env)
                _close_connections()
                with service(
                    logs,
                    env=env,
                    web_workers=args.web_workers,
                    threads=args.threads,
                    queue_workers=1,
                    max_requests=0,
                ) as running:
                    memory_phase(running, args, alive=lambda: check_alive(running, logs))
                _close_connections()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"load_test: {err}", file=sys.stderr)
        return 1
    print(f"\nload average {load_average()}")
    return 0


def _limits(env: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    """The service's back-pressure limits from the options (unset: its defaults)."""
    if args.max_pending_per_owner is not None:
        env["SPEECHEMOTION_MAX_PENDING_PER_OWNER"] = str(args.max_pending_per_owner)
    if args.max_queue_wait is not None:
        env["SPEECHEMOTION_MAX_QUEUE_WAIT"] = str(args.max_queue_wait)
    limits = ", ".join(f"{k}={env[k]}" for k in sorted(env) if k in _LIMIT_NAMES)
    print(f"back-pressure: {limits or 'the service defaults'}")
    return env


_LIMIT_NAMES = ("SPEECHEMOTION_MAX_PENDING_PER_OWNER", "SPEECHEMOTION_MAX_QUEUE_WAIT")


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def _against_url(args: argparse.Namespace) -> int:
    from django.conf import settings

    setup_django(dict(os.environ))
    media = args.media_root or Path(settings.MEDIA_ROOT)
    base = check_loopback(args.url)
    made = load_phase(base, args, media, own_database=False, alive=lambda: None)
    from analyzer import services
    from analyzer.models import Analysis

    for analysis in Analysis.objects.filter(pk__in=made):
        services.analysis_delete(analysis=analysis)
    print(f"\ndeleted the {len(made)} analyses made by this run; memory needs a service of ours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
