"""What the benches share: the machine, the clips, the service under test, its HTTP client.

* **Clips**: real RAVDESS takes from ``../shared/data`` (or ``$SPEECHEMOTION_DATA_DIR``),
  cut or zero-padded to 4.0 s; nothing is copied into the repository.
* **The service**: a dedicated database (``speechemotion_bench_<name>`` on the server of
  ``DATABASE_URL``, created fresh and dropped at the end) and a temporary ``MEDIA_ROOT``,
  so that a bench never touches the development data; gunicorn (or runserver) and
  Procrastinate workers started on a free loopback port.
* **HTTP**: what a browser does with the upload form (CSRF cookie and token, the ``file``
  field), with ``requests`` when it is installed and the standard library otherwise.
* **Figures**: :func:`figure` prints nothing; it appends one JSON line to the file named
  by ``$BENCH_FIGURES`` (set by ``run_all.py``), which prints them as one table.

Only 127.0.0.1 is ever contacted. Nothing here imports TensorFlow or Django.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
CLIP_SECONDS = 4.0
# (emotion code, intensity, statement, repetition, actor): both genders, four emotions.
TAKES = ((3, 1, 1, 1, 1), (5, 2, 2, 1, 2), (4, 1, 1, 2, 7), (6, 2, 1, 1, 12))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/speechemotion"
LOOPBACK = "127.0.0.1"

_RESULT_PATH = re.compile(r"/analyses/([0-9a-f-]{36})/$")
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


# --- clips --------------------------------------------------------------------------------


def data_dir() -> Path:
    return Path(os.environ.get("SPEECHEMOTION_DATA_DIR") or REPO.parent / "shared" / "data")


def ravdess_dir() -> Path:
    return data_dir() / "ravdess"


def take_name(take: tuple[int, int, int, int, int]) -> str:
    emotion, intensity, statement, repetition, actor = take
    return f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"


def clip_signal(take: tuple[int, int, int, int, int]) -> tuple[np.ndarray, int]:
    """One take of ``TAKES`` cut or zero-padded to 4.0 s: (float32 signal, its sample rate)."""
    path = ravdess_dir() / f"Actor_{take[4]:02d}" / f"{take_name(take)}.flac"
    signal_, rate = sf.read(path, dtype="float32")
    n = round(CLIP_SECONDS * rate)
    return np.pad(signal_[:n], (0, max(0, n - len(signal_)))), rate


def write_clips(folder: Path, sample_rate: int | None = None) -> list[Path]:
    """The takes of ``TAKES`` as 16-bit WAV files in ``folder``, at ``sample_rate`` if given."""
    from ml.labels import EMOTIONS

    paths = []
    for take in TAKES:
        signal_, rate = clip_signal(take)
        if sample_rate and sample_rate != rate:
            import soxr

            signal_, rate = soxr.resample(signal_, rate, sample_rate), sample_rate
        path = folder / f"{take_name(take)}-{EMOTIONS[take[0] - 1].value}.wav"
        sf.write(path, signal_, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def wav_clips() -> list[tuple[str, bytes]]:
    """The takes of ``TAKES`` as (file name, 16-bit WAV bytes at the take's own rate)."""
    out = []
    for take in TAKES:
        signal_, rate = clip_signal(take)
        buffer = io.BytesIO()
        sf.write(buffer, signal_, rate, format="WAV", subtype="PCM_16")
        out.append((f"{take_name(take)}.wav", buffer.getvalue()))
    return out


# --- the machine and the figures ------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _version(*packages: str) -> str:
    """The version of the first of ``packages`` that is installed (tensorflow-cpu, say)."""
    for package in packages:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def describe_machine() -> list[str]:
    """Lines that say where the figures come from (TensorFlow's version without importing it)."""
    return [
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores; RAM {_ram_gb():.1f} GB",
        f"{platform.platform()}; Python {platform.python_version()}; "
        f"TensorFlow {_version('tensorflow', 'tensorflow-cpu')}; Django {_version('django')}; "
        f"gunicorn {_version('gunicorn')}",
        f"load average (1, 5, 15 min): {load_average()}",
    ]


def figure(name: str, value: float, unit: str, runs: int, *, note: str = "") -> None:
    """Record one figure for ``run_all.py``'s table (a median over ``runs`` where that applies)."""
    target = os.environ.get("BENCH_FIGURES")
    if not target:
        return
    row = {
        "bench": Path(sys.argv[0]).stem,
        "name": name,
        "value": float(value),
        "unit": unit,
        "runs": int(runs),
        "note": note,
        "load": load_average(),
    }
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms_summary(seconds: Sequence[float]) -> str:
    """median, p90 and min of ``seconds``, in milliseconds."""
    if not seconds:
        return "no runs"
    ms = np.asarray(seconds) * 1000
    return (
        f"median {np.median(ms):7.0f} ms  p90 {np.percentile(ms, 90):7.0f} ms  "
        f"min {ms.min():7.0f} ms  (n={len(ms)})"
    )


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Ask ``process`` to stop; kill it after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _status_kb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` now, in MiB (NaN once it is gone)."""
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of ``pid`` so far (the kernel's VmHWM), in MiB."""
    return _status_kb(pid, "VmHWM") / 1024


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str


def run_measured(command: Sequence[str], *, env: dict[str, str], timeout: float) -> Measured:
    """Run ``command`` to its end; wall time from the spawn and the child's own peak RSS.

    ``os.wait4`` gives the resource usage of that one child, where ``RUSAGE_CHILDREN``
    would give the largest of all children so far.
    """
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    # ru_maxrss is in KiB on Linux.
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, text)


# --- a database of its own ------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urllib.parse.urlsplit(url)._replace(path="/" + name).geturl()


def _admin_connection(url: str) -> Any:
    import dj_database_url
    import psycopg2

    db = dj_database_url.parse(url)
    connection = psycopg2.connect(
        dbname="postgres",
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )
    connection.autocommit = True
    return connection


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A fresh, empty database ``speechemotion_bench_<name>``, dropped at the end; its URL.

    It lives on the server of ``DATABASE_URL`` (default 127.0.0.1:5432). A left-over one
    from an interrupted run is dropped first.
    """
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    dbname = f"speechemotion_bench_{name}"
    if not re.fullmatch(r"[a-z0-9_]+", dbname):
        raise ValueError(f"bad bench database name {dbname!r}")
    connection = _admin_connection(base)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {dbname}")
        yield _with_database(base, dbname)
    finally:
        with connection.cursor() as cursor:
            # FORCE: a process that did not stop in time must not keep the database.
            cursor.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        connection.close()


# --- the service under test ------------------------------------------------------------------


def service_env(database_url: str, scratch: Path) -> dict[str, str]:
    """The environment of a production service (DEBUG off) on loopback, with its own data.

    The uploads go to ``scratch/media`` and ``collectstatic`` to ``scratch/static``.
    """
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(scratch / "media"),
        "STATIC_ROOT": str(scratch / "static"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": LOOPBACK,
        # Plain HTTP on loopback: no TLS redirect, no secure-only cookies, no HSTS.
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "DJANGO_SETTINGS_MODULE": "speechemotion.settings",
    }


# What the queue worker's launchers add to its environment (the Makefile's run and serve,
# docker-compose.yml's worker): one BLAS thread, as its own threads keep the cores busy.
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def prepare(env: dict[str, str]) -> None:
    """What a deployment does before it serves: migrate, and collectstatic (DEBUG is off)."""
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *command, "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
        )


@dataclass
class Service:
    """The running web server and queue workers; ``url`` has no trailing slash."""

    url: str
    server: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def web_pids(self) -> list[int]:
        """gunicorn's worker processes (runserver: its one process)."""
        import psutil

        web = self.processes["web"]
        if self.server != "gunicorn":
            return [web.pid]
        return sorted(child.pid for child in psutil.Process(web.pid).children())

    @property
    def queue_pids(self) -> list[int]:
        return [p.pid for name, p in self.processes.items() if name.startswith("worker")]


def _web(
    server: str, port: int, web_workers: int, threads: int, max_requests: int | None
) -> tuple[list[str], dict[str, str]]:
    """The web server's command and the environment it adds."""
    if server == "runserver":
        return [sys.executable, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"], {}
    if not (REPO / "gunicorn.conf.py").exists():
        command = [sys.executable, "-m", "gunicorn", "speechemotion.wsgi"]
        command += ["--bind", f"{LOOPBACK}:{port}", "--workers", str(web_workers)]
        command += ["--threads", str(threads), "--max-requests", str(max_requests or 0)]
        return command, {}
    # As deployed: gunicorn.conf.py reads everything from the environment.
    env = {
        "GUNICORN_BIND": f"{LOOPBACK}:{port}",
        "WEB_CONCURRENCY": str(web_workers),
        "GUNICORN_THREADS": str(threads),
    }
    if max_requests is not None:
        env["GUNICORN_MAX_REQUESTS"] = str(max_requests)
    return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], env


@contextmanager
def service(
    log_dir: Path,
    *,
    env: dict[str, str],
    server: str = "gunicorn",
    web_workers: int = 2,
    threads: int = 4,
    queue_workers: int = 1,
    max_requests: int | None = None,
    wait: bool = True,
) -> Iterator[Service]:
    """Run a web server and ``queue_workers`` Procrastinate workers until the block ends.

    gunicorn is started with ``gunicorn.conf.py`` (its settings come from the environment),
    ``web_workers`` processes of ``threads`` threads; ``max_requests`` overrides its worker
    recycling (0: never). With ``wait`` the block starts once ``/`` answers 200.
    Everything is stopped at the end (SIGTERM: gunicorn and the workers finish what they
    are doing first).
    """
    port = free_port()
    web_command, web_env = _web(server, port, web_workers, threads, max_requests)
    commands = {"web": (web_command, {**env, **web_env})}
    for i in range(queue_workers):
        worker = [sys.executable, "manage.py", "procrastinate", "worker"]
        commands[f"worker{i + 1}"] = (worker, {**env, **WORKER_ENV})
    running = Service(url=f"http://{LOOPBACK}:{port}", server=server)
    try:
        for name, (command, command_env) in commands.items():
            with (log_dir / f"{name}.log").open("ab") as log:
                running.processes[name] = subprocess.Popen(
                    command, cwd=REPO, env=command_env, stdout=log, stderr=subprocess.STDOUT
                )
        if wait:
            wait_until_up(running, log_dir)
        yield running
    finally:
        for name, process in running.processes.items():
            is_runserver = name == "web" and server == "runserver"
            stop(process, sig=signal.SIGINT if is_runserver else signal.SIGTERM)


def check_alive(running: Service, log_dir: Path) -> None:
    for name, process in running.processes.items():
        if process.poll() is not None:
            log = (log_dir / f"{name}.log").read_text(errors="replace")
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log[-2000:]}")


def wait_until_up(running: Service, log_dir: Path, timeout: float = 180) -> float:
    """Poll ``/`` until it answers 200; returns when, in seconds from now."""
    started = time.perf_counter()
    client = make_client()
    while time.perf_counter() - started < timeout:
        check_alive(running, log_dir)
        try:
            if client.get(running.url + "/", timeout=5).status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the service did not answer at {running.url} within {timeout:.0f} s")


# --- HTTP: requests (pinned in requirements.txt) --------------------------------


@dataclass
class Response:
    status: int
    url: str
    text: str
    location: str = ""


class _RequestsClient:
    name = "requests"

    def __init__(self) -> None:
        import requests

        self.session = requests.Session()

    def get(self, url: str, *, timeout: float = 120) -> Response:
        r = self.session.get(url, timeout=timeout)
        return Response(r.status_code, r.url, r.text)

    def post(
        self,
        url: str,
        fields: dict[str, str],
        files: dict | None = None,
        *,
        follow: bool = True,
        timeout: float = 300,
    ) -> Response:
        r = self.session.post(
            url,
            data=fields,
            files=files,
            headers={"Referer": url},
            allow_redirects=follow,
            timeout=timeout,
        )
        return Response(r.status_code, r.url, r.text, r.headers.get("Location", ""))


Client = _RequestsClient


def make_client() -> Client:
    """A client with its own cookies (one browser, one anonymous session)."""
    return _RequestsClient()


def check_loopback(url: str) -> str:
    """``url`` without its trailing slash; refuses anything but 127.0.0.1 / localhost."""
    host = urllib.parse.urlsplit(url).hostname
    if host not in (LOOPBACK, "localhost", "::1"):
        raise SystemExit(f"benches only talk to loopback, not {host!r}")
    return url.rstrip("/")


def csrf_token(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    if not match:
        raise RuntimeError("no csrfmiddlewaretoken in the form")
    return match.group(1)


def analysis_id(url_or_path: str) -> str | None:
    """The UUID of a result page URL (``/analyses/<uuid>/``), or None."""
    match = _RESULT_PATH.search(urllib.parse.urlsplit(url_or_path).path)
    return match.group(1) if match else None


def post_file(
    client: Client,
    base: str,
    token: str,
    name: str,
    data: bytes,
    *,
    follow: bool,
    timeout: float = 300,
) -> Response:
    """POST ``data`` as the upload form's ``file`` field."""
    return client.post(
        base + "/",
        {"csrfmiddlewaretoken": token},
        {"file": (name, data, "audio/wav")},
        follow=follow,
        timeout=timeout,
    )


def wait_analysed(client: Client, base: str, pk: str, *, timeout: float, poll: float) -> bool:
    """Poll the status URL until the analysis is no longer pending or running."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status = client.get(f"{base}/analyses/{pk}/status/")
        if status.status == 200 and not json.loads(status.text)["active"]:
            return True
        time.sleep(poll)
    return False


def delete_analysis(client: Client, base: str, pk: str) -> bool:
    """Delete through the app's own view: GET the confirmation page, then POST it."""
    url = f"{base}/analyses/{pk}/delete/"
    confirm = client.get(url)
    if confirm.status != 200:
        return False
    done = client.post(url, {"csrfmiddlewaretoken": csrf_token(confirm.text)})
    return done.status == 200 and urllib.parse.urlsplit(done.url).path.endswith("/analyses/")
