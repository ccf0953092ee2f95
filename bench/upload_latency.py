"""Upload latency over HTTP: from POSTing a 4-second WAV to the result page in the browser.

    python bench/upload_latency.py [--runs 30] [--warmup 2] [--url http://127.0.0.1:8000]

Without ``--url`` the script starts the service itself on a free loopback port, as
``make run`` does: ``manage.py migrate``, ``manage.py runserver --noreload`` and the
analysis worker (``manage.py procrastinate worker``), with the environment's DATABASE_URL.
With ``--url`` it uses a server that is already running (and its workers).

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
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
CLIP_SECONDS = 4.0
# (emotion code, intensity, statement, repetition, actor): both genders, four emotions.
TAKES = ((3, 1, 1, 1, 1), (5, 2, 2, 1, 2), (4, 1, 1, 2, 7), (6, 2, 1, 1, 12))
_RESULT_PATH = re.compile(r"/analyses/([0-9a-f-]{36})/$")
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')
_POLL_SECONDS = 0.05  # the status URL is polled this often (the page's own script: 0.5 s)


def data_dir() -> Path:
    return Path(os.environ.get("SPEECHEMOTION_DATA_DIR") or REPO.parent / "shared" / "data")


def clips() -> list[tuple[str, bytes]]:
    """The RAVDESS takes of ``TAKES``, cut or padded to 4.0 s, as 16 kHz 16-bit WAV bytes."""
    out = []
    for emotion, intensity, statement, repetition, actor in TAKES:
        name = f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"
        signal_, rate = sf.read(
            data_dir() / "ravdess" / f"Actor_{actor:02d}" / f"{name}.flac", dtype="float32"
        )
        n = round(CLIP_SECONDS * rate)
        signal_ = np.pad(signal_[:n], (0, max(0, n - len(signal_))))
        buffer = io.BytesIO()
        sf.write(buffer, signal_, rate, format="WAV", subtype="PCM_16")
        out.append((f"{name}.wav", buffer.getvalue()))
    return out


# --- HTTP: requests when installed, else the standard library ---------------------------


class Response:
    def __init__(self, status: int, url: str, text: str) -> None:
        self.status, self.url, self.text = status, url, text


class _RequestsClient:
    def __init__(self) -> None:
        import requests

        self.session = requests.Session()

    def get(self, url: str) -> Response:
        r = self.session.get(url, timeout=120)
        return Response(r.status_code, r.url, r.text)

    def post(self, url: str, fields: dict[str, str], files: dict | None = None) -> Response:
        r = self.session.post(url, data=fields, files=files, headers={"Referer": url}, timeout=300)
        return Response(r.status_code, r.url, r.text)


class _UrllibClient:
    def __init__(self) -> None:
        import http.cookiejar
        import urllib.request

        self._request = urllib.request.Request
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def _open(self, request: Any) -> Response:
        import urllib.error

        try:
            with self.opener.open(request, timeout=300) as r:
                return Response(r.status, r.url, r.read().decode())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.url, err.read().decode())

    def get(self, url: str) -> Response:
        return self._open(self._request(url))

    def post(self, url: str, fields: dict[str, str], files: dict | None = None) -> Response:
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        for name, value in fields.items():
            body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n')
            body.write(f"{value}\r\n".encode())
        for name, (filename, data, content_type) in (files or {}).items():
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            )
            body.write(data + b"\r\n")
        body.write(f"--{boundary}--\r\n".encode())
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Referer": url}
        return self._open(self._request(url, data=body.getvalue(), headers=headers))


def make_client() -> _RequestsClient | _UrllibClient:
    try:
        return _RequestsClient()
    except ImportError:
        return _UrllibClient()


# --- the service ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT if name == "runserver" else signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def service(log_dir: Path) -> Iterator[str]:
    """Migrate, then run runserver and one worker until the block ends; yields the URL."""
    python = sys.executable
    manage = str(REPO / "manage.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [python, manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    commands = {
        "runserver": [python, manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [python, manage, "procrastinate", "worker"],
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            log = (log_dir / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        _wait_until_up(url, processes, log_dir)
        yield url
    finally:
        for name, process in processes.items():
            _stop(process, name)


def _wait_until_up(url: str, processes: dict[str, subprocess.Popen], log_dir: Path) -> None:
    deadline = time.monotonic() + 180
    client = make_client()
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                log = (log_dir / f"{name}.log").read_text(errors="replace")
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log[-2000:]}")
        try:
            if client.get(url + "/").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer at {url} within 180 s")


# --- one upload -------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    if not match:
        raise RuntimeError("no csrfmiddlewaretoken in the upload form")
    return match.group(1)


def upload(client: Any, base: str, name: str, data: bytes) -> tuple[float, float | None, str]:
    """POST one file; returns (seconds to the result page, seconds to analysed, analysis id)."""
    form = client.get(base + "/")
    token = csrf_token(form.text)
    started = time.perf_counter()
    page = client.post(
        base + "/", {"csrfmiddlewaretoken": token}, {"file": (name, data, "audio/wav")}
    )
    to_page = time.perf_counter() - started
    match = _RESULT_PATH.search(urllib.parse.urlsplit(page.url).path)
    if page.status != 200 or not match:
        errors = re.findall(r"<li>(.*?)</li>", page.text)[:3]
        raise RuntimeError(f"upload refused (HTTP {page.status} at {page.url}): {errors}")
    pk = match.group(1)
    deadline = started + 120
    while time.perf_counter() < deadline:
        status = client.get(f"{base}/analyses/{pk}/status/")
        if status.status == 200 and not json.loads(status.text)["active"]:
            client.get(f"{base}/analyses/{pk}/")  # the finished page, as the browser loads it
            return to_page, time.perf_counter() - started, pk
        time.sleep(_POLL_SECONDS)
    return to_page, None, pk


def delete(client: Any, base: str, pk: str) -> bool:
    url = f"{base}/analyses/{pk}/delete/"
    confirm = client.get(url)
    if confirm.status != 200:
        return False
    done = client.post(url, {"csrfmiddlewaretoken": csrf_token(confirm.text)})
    return done.status == 200 and urllib.parse.urlsplit(done.url).path.endswith("/analyses/")


def summary(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return (
        f"median {np.median(ms):7.0f} ms  p90 {np.percentile(ms, 90):7.0f} ms  "
        f"min {ms.min():7.0f} ms  (n={len(ms)})"
    )


def bench(base: str, runs: int, warmup: int) -> None:
    client = make_client()
    files = clips()
    print(f"service at {base}; client: {type(client).__name__.strip('_')}")
    print(
        f"{len(files)} RAVDESS takes cut or padded to {CLIP_SECONDS} s, "
        f"WAV 16 kHz mono 16-bit ({len(files[0][1]) // 1024} KiB)"
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
        deleted = sum(delete(client, base, pk) for pk in created)
    print(f"\n{runs} uploads after {warmup} warm-up uploads, one at a time:")
    print(f"  {'POST -> result page HTML':<32} {summary(to_page)}")
    if to_done:
        print(f"  {'POST -> analysed, page read':<32} {summary(to_done)}")
    if timeouts:
        print(f"  {timeouts} analyses were not finished after 120 s: is a worker running?")
    print(f"\ndeleted {deleted} of the {len(created)} analyses made by this run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed uploads")
    parser.add_argument("--warmup", type=int, default=2, help="untimed uploads first")
    parser.add_argument("--url", help="use this running server instead of starting one")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        if args.url:
            bench(args.url.rstrip("/"), args.runs, args.warmup)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-upload-") as logs:
                started = time.perf_counter()
                with service(Path(logs)) as base:
                    print(
                        f"started runserver and a worker in {time.perf_counter() - started:.1f} s"
                    )
                    bench(base, args.runs, args.warmup)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"upload_latency: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
