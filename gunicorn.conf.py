"""gunicorn settings from the environment: ``gunicorn -c gunicorn.conf.py speechemotion.wsgi``.

``make serve`` and the Docker image start gunicorn this way. Flags given on the command
line win over these values. Every variable is optional:

GUNICORN_BIND                  address to listen on (127.0.0.1:8000; the image: 0.0.0.0:8000)
WEB_CONCURRENCY                worker processes (2)
GUNICORN_THREADS               threads per worker (4): uploads wait on ffmpeg and disk
GUNICORN_TIMEOUT               seconds of silence before a worker is restarted (120)
GUNICORN_GRACEFUL_TIMEOUT      seconds a stopping worker has to finish its requests (30)
GUNICORN_KEEPALIVE             seconds an idle keep-alive connection stays open (5)
GUNICORN_MAX_REQUESTS          requests before a worker is replaced (1000; 0: never)
GUNICORN_MAX_REQUESTS_JITTER   random extra requests, so workers do not restart together (100)
GUNICORN_ACCESS_LOG            1/0: one line per request on stdout (1)
LOG_LEVEL                      as for Django (INFO)
FORWARDED_ALLOW_IPS            proxies trusted for X-Forwarded-Proto (read by gunicorn itself)

This file is plain Python without Django: it runs in gunicorn's master process.
"""

from __future__ import annotations

import os

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _env(name: str, default: str) -> str:
    return (os.environ.get(name) or "").strip() or default


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _env(name, str(default))
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise SystemExit(f"gunicorn.conf.py: {name}={number} is below the minimum, {minimum}.")
    return number


def _bool(name: str, default: bool) -> bool:
    value = _env(name, "1" if default else "0").lower()
    if value not in _TRUE | _FALSE:
        raise SystemExit(f"gunicorn.conf.py: {name}={value!r} is not a boolean (1/0).")
    return value in _TRUE


wsgi_app = "speechemotion.wsgi:application"
proc_name = "speechemotion"
bind = [address.strip() for address in _env("GUNICORN_BIND", "127.0.0.1:8000").split(",")]

workers = _int("WEB_CONCURRENCY", 2, minimum=1)
# More than one thread selects the gthread worker: a slow upload does not hold a whole
# process, and the timeout below watches the process, not the length of one request.
threads = _int("GUNICORN_THREADS", 4, minimum=1)
timeout = _int("GUNICORN_TIMEOUT", 120, minimum=1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 5, minimum=1)

# Replacing each worker after a while keeps memory flat whatever a decoder library leaks;
# the jitter spreads the restarts so that the workers never all restart at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# The master imports Django and the project once (about half a second of CPU) and forks
# the workers from it: a cold start spends that once, not once per worker, and a worker
# replaced after max_requests starts at once. Nothing at import opens a connection or a
# thread (the web process loads no model: the speech check loads its detector on the
# first upload), so nothing is shared across the fork by mistake.
preload_app = True

# The heartbeat file is touched constantly; on a disk-backed /tmp that can stall a worker.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicornc's control socket would be created in $HOME; it is not needed to serve.
control_socket_disable = True

accesslog = "-" if _bool("GUNICORN_ACCESS_LOG", True) else None
errorlog = "-"
loglevel = _env("LOG_LEVEL", "INFO").lower()
