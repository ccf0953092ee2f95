"""Find or start a PostgreSQL database and print its DATABASE_URL.

Only the URL goes to stdout, so the script can be used as
``export DATABASE_URL=$(python scripts/ensure_db.py)``. Everything else goes to stderr.

The first of these that works wins:

1. ``DATABASE_URL`` is already set: print it unchanged.
2. A PostgreSQL server accepts user ``postgres`` without a password at
   127.0.0.1:5432 (``--probe-port`` or env ``PGPROBE_PORT``): create the database there.
3. Start (or reuse) a private cluster in ``<repo>/.pgdata/`` on 127.0.0.1:5433 with
   the system's PostgreSQL binaries, and create the database there.

``--stop`` stops the private cluster. The script uses only the standard library
and psycopg2, which it imports lazily so that paths 1 and ``--stop`` work without it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DBNAME = "speechemotion"
DEFAULT_PORT = 5433
# Without an explicit --port, a taken default port moves the cluster up to this many ports on
# (e.g. two clones of the repository on one machine).
_PORT_SEARCH = 20
DEFAULT_PROBE_PORT = 5432
HOST = "127.0.0.1"
SUPERUSER = "postgres"
OS_USER = "postgres"
START_TIMEOUT_SECONDS = 90
# A unix socket path may not exceed 107 bytes (sun_path), including ".s.PGSQL.<port>".
_MAX_SOCKET_DIR_LEN = 90


class EnsureDBError(Exception):
    """A problem the user has to fix; reported on stderr without a traceback."""


def _log(message: str) -> None:
    print(f"ensure_db: {message}", file=sys.stderr, flush=True)


def database_url(*, port: int, dbname: str, host: str = HOST, user: str = SUPERUSER) -> str:
    return f"postgres://{quote(user, safe='')}@{host}:{port}/{quote(dbname, safe='')}"


# --- talking to a server -------------------------------------------------------------


def _connect(*, host: str, port: int, dbname: str = "postgres", timeout: int = 3):
    import psycopg2

    return psycopg2.connect(
        host=host,
        port=port,
        user=SUPERUSER,
        dbname=dbname,
        connect_timeout=timeout,
        # The printed URL carries no password, so a stray PGPASSWORD or ~/.pgpass must not
        # make the probe succeed where Django would later fail.
        password="",
        passfile="/nonexistent/ensure_db-no-pgpass",
        sslmode="disable",
        application_name="ensure_db",
    )


def server_answers(*, host: str, port: int) -> bool:
    """True when a server at host:port lets user postgres in without a password."""
    try:
        import psycopg2
    except ImportError:
        _log("psycopg2 is not installed; cannot probe for a running server")
        return False
    try:
        conn = _connect(host=host, port=port)
    except psycopg2.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        _log(f"no usable server at {host}:{port} ({first_line})")
        return False
    conn.close()
    return True


def create_database(*, host: str, port: int, dbname: str) -> None:
    """Create ``dbname`` unless it exists. Safe to run concurrently."""
    import psycopg2
    from psycopg2 import errors, sql

    conn = None
    try:
        conn = _connect(host=host, port=port, timeout=10)
        # CREATE DATABASE cannot run inside a transaction block.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            if cur.fetchone():
                return
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            except (errors.DuplicateDatabase, errors.UniqueViolation):
                # Another process created it between our check and our CREATE.
                return
            _log(f"created database {dbname!r} at {host}:{port}")
    except psycopg2.Error as exc:
        raise EnsureDBError(f"could not create database {dbname!r}: {exc}") from exc
    finally:
        if conn is not None:
            conn.close()


# --- the private cluster -------------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_bindir(*, explicit: str | None = None, major: str | None = None) -> Path:
    """Return a directory holding both ``initdb`` and ``pg_ctl``.

    ``major`` (from an existing cluster's PG_VERSION) is preferred, because a data
    directory can only be started by binaries of the major version that created it.
    """
    if explicit:
        candidates = [explicit]
    else:
        candidates = []
        if major:
            candidates.append(f"/usr/lib/postgresql/{major}/bin")
        on_path = shutil.which("initdb")
        if on_path:
            # Debian puts symlinks on PATH; the real directory also has postgres itself.
            candidates.append(str(Path(on_path).resolve().parent))
            candidates.append(str(Path(on_path).parent))
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        candidates += ["/usr/local/pgsql/bin", "/usr/pgsql/bin"]
    for candidate in candidates:
        bindir = Path(candidate)
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise EnsureDBError(
        "no PostgreSQL server binaries found (looked for initdb, pg_ctl and postgres on PATH "
        "and in /usr/lib/postgresql/*/bin). Install them, e.g. `apt-get install postgresql`, "
        "or set DATABASE_URL."
    )


def _binaries_version(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return match.group(1) if match else "?"


@dataclass(frozen=True)
class Cluster:
    """A private cluster: ``base`` holds ``data/`` (PGDATA), ``run/`` (socket) and ``log/``."""

    base: Path

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        preferred = self.base / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR_LEN:
            return preferred
        digest = hashlib.sha1(str(self.base).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"speechemotion-pgsock-{digest}"

    def major_version(self) -> str | None:
        try:
            return (self.datadir / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def running_port(self) -> int | None:
        """Port from postmaster.pid (4th line), or None if there is no pid file."""
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None


def _runs_as_root() -> bool:
    return os.geteuid() == 0


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError as exc:
        raise EnsureDBError(
            f"running as root, but there is no {OS_USER!r} OS user to run PostgreSQL as "
            "(PostgreSQL refuses to run as root). Create one, e.g. "
            f"`useradd --system --home-dir /var/lib/postgresql {OS_USER}`, or run as non-root."
        ) from exc


def _run(
    cmd: list[str], *, cwd: Path, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, as the postgres OS user when we are root."""
    kwargs: dict = {}
    env = dict(os.environ)
    # Keep the caller's libpq settings away from the tools; we pass everything explicitly.
    for name in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGOPTIONS"):
        env.pop(name, None)
    env["LC_ALL"] = "C"
    if _runs_as_root():
        account = _postgres_account()
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        env.update(HOME=account.pw_dir, USER=OS_USER, LOGNAME=OS_USER)
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        **kwargs,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EnsureDBError(f"{shlex.join(cmd)} failed ({result.returncode}):\n{output}")
    return result


def _make_dir(path: Path, *, mode: int = 0o700) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if _runs_as_root():
        account = _postgres_account()
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)


def _check_accessible(path: Path) -> None:
    """Fail early when the postgres OS user cannot reach a directory we made for it."""
    if not _runs_as_root():
        return
    result = _run(["test", "-w", str(path), "-a", "-x", str(path)], cwd=Path("/"), check=False)
    if result.returncode != 0:
        raise EnsureDBError(
            f"the {OS_USER!r} OS user cannot write to {path}; a parent directory is probably "
            "not searchable by others (chmod o+x it) or set DATABASE_URL."
        )


@contextlib.contextmanager
def _locked(cluster: Cluster) -> Iterator[None]:
    """Serialise concurrent runs (e.g. `make run` and `make test` started together)."""
    cluster.base.mkdir(parents=True, exist_ok=True)
    with open(cluster.base / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_running(cluster: Cluster, bindir: Path) -> bool:
    # pg_ctl status: 0 running, 3 not running, 4 no (accessible) data directory.
    result = _run(
        [str(bindir / "pg_ctl"), "status", "-D", str(cluster.datadir)],
        cwd=cluster.base,
        check=False,
    )
    return result.returncode == 0


def _log_size(cluster: Cluster) -> int:
    try:
        return cluster.logfile.stat().st_size
    except OSError:
        return 0


def _log_tail(cluster: Cluster, *, since: int = 0, lines: int = 30) -> str:
    """The last lines the server wrote to its log after byte offset ``since``."""
    try:
        with open(cluster.logfile, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace")
    except OSError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) or "(nothing logged)"


def _initdb(cluster: Cluster, bindir: Path) -> None:
    if cluster.major_version():
        return
    if cluster.datadir.exists():
        if any(cluster.datadir.iterdir()):
            # An initdb that was killed half-way leaves files but no PG_VERSION;
            # there is no data in it worth keeping.
            _log(f"removing incomplete cluster in {cluster.datadir}")
        shutil.rmtree(cluster.datadir)
    _log(f"initialising a private cluster in {cluster.datadir} ({bindir})")
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(cluster.datadir),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        cwd=cluster.base,
    )


def _start(cluster: Cluster, bindir: Path, *, port: int) -> None:
    socket_dir = cluster.socket_dir
    _make_dir(socket_dir)
    _make_dir(cluster.logfile.parent)
    # pg_ctl hands -o to a shell, so each value is quoted.
    options = " ".join(
        [
            "-c listen_addresses=" + shlex.quote(HOST),
            f"-p {port}",
            "-c unix_socket_directories=" + shlex.quote(str(socket_dir)),
        ]
    )
    _log(f"starting the private cluster on {HOST}:{port} (log: {cluster.logfile})")
    log_start = _log_size(cluster)
    try:
        result = _run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(cluster.datadir),
                "-l",
                str(cluster.logfile),
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "-o",
                options,
            ],
            cwd=cluster.base,
            check=False,
            timeout=START_TIMEOUT_SECONDS + 30,
        )
    except subprocess.TimeoutExpired as exc:
        raise EnsureDBError(
            f"pg_ctl start timed out; log tail:\n{_log_tail(cluster, since=log_start)}"
        ) from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EnsureDBError(
            f"pg_ctl start failed ({result.returncode}): {output}\n"
            f"log tail ({cluster.logfile}):\n{_log_tail(cluster, since=log_start)}"
        )


def _wait_for_connections(*, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not server_answers(host=HOST, port=port):
        if time.monotonic() > deadline:
            raise EnsureDBError(f"the private cluster does not accept connections on {port}")
        time.sleep(0.5)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # PostgreSQL sets SO_REUSEADDR too, so sockets in TIME_WAIT do not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _choose_port(port: int, *, explicit: bool) -> int:
    if _port_is_free(port):
        return port
    if explicit:
        raise EnsureDBError(f"port {port} on {HOST} is taken; choose another with --port")
    for candidate in range(port + 1, min(port + 1 + _PORT_SEARCH, 65536)):
        if _port_is_free(candidate):
            _log(f"port {port} is taken; using {candidate}")
            return candidate
    raise EnsureDBError(f"ports {port}-{port + _PORT_SEARCH} on {HOST} are all taken; use --port")


def ensure_private_cluster(
    cluster: Cluster,
    *,
    port: int,
    explicit_port: bool = True,
    bindir_override: str | None = None,
) -> int:
    """Initialise and start the cluster if needed; return the port it listens on."""
    with _locked(cluster):
        _make_dir(cluster.base)
        _check_accessible(cluster.base)
        bindir = find_bindir(explicit=bindir_override, major=cluster.major_version())
        existing = cluster.major_version()
        if existing and existing != _binaries_version(bindir):
            raise EnsureDBError(
                f"{cluster.datadir} was created by PostgreSQL {existing} but only binaries of "
                f"version {_binaries_version(bindir)} were found in {bindir}. Install PostgreSQL "
                f"{existing}, or delete {cluster.base} to start afresh (its data is lost)."
            )
        _initdb(cluster, bindir)
        if _is_running(cluster, bindir):
            running = cluster.running_port() or port
            if running != port:
                _log(f"private cluster already running on port {running}; reusing it")
            return running
        port = _choose_port(port, explicit=explicit_port)
        _start(cluster, bindir, port=port)
        _wait_for_connections(port=port)
        return port


def stop_private_cluster(cluster: Cluster, *, bindir_override: str | None = None) -> None:
    if not cluster.major_version():
        _log(f"no private cluster in {cluster.datadir}; nothing to stop")
        return
    with _locked(cluster):
        bindir = find_bindir(explicit=bindir_override, major=cluster.major_version())
        if not _is_running(cluster, bindir):
            _log("private cluster is not running")
            return
        _run(
            [str(bindir / "pg_ctl"), "stop", "-D", str(cluster.datadir), "-m", "fast", "-w"],
            cwd=cluster.base,
        )
        _log("private cluster stopped")


# --- command line ----------------------------------------------------------------------


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from exc
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _default_probe_port() -> int:
    value = os.environ.get("PGPROBE_PORT", "").strip()
    if not value:
        return DEFAULT_PROBE_PORT
    try:
        return _port(value)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"ensure_db: PGPROBE_PORT: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Print a DATABASE_URL, starting a private PostgreSQL cluster if needed.",
    )
    parser.add_argument(
        "--dbname", default=DEFAULT_DBNAME, help="database to create (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"port for the private cluster (default: {DEFAULT_PORT}, or the next free one)",
    )
    parser.add_argument(
        "--probe-port",
        type=_port,
        default=_default_probe_port(),
        help="port where an existing server is looked for "
        "(default: env PGPROBE_PORT or %(default)s)",
    )
    parser.add_argument(
        "--pgdata",
        type=Path,
        default=REPO_ROOT / ".pgdata",
        help="directory of the private cluster (default: <repo>/.pgdata)",
    )
    parser.add_argument(
        "--bindir", default=None, help="directory with initdb and pg_ctl (default: search)"
    )
    parser.add_argument("--stop", action="store_true", help="stop the private cluster and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cluster = Cluster(base=args.pgdata.resolve())
    try:
        if args.stop:
            stop_private_cluster(cluster, bindir_override=args.bindir)
            return 0

        url = os.environ.get("DATABASE_URL", "")
        if url.strip():
            _log("using DATABASE_URL from the environment")
        elif server_answers(host=HOST, port=args.probe_port):
            create_database(host=HOST, port=args.probe_port, dbname=args.dbname)
            url = database_url(port=args.probe_port, dbname=args.dbname)
            _log(f"using the server at {HOST}:{args.probe_port}")
        else:
            port = ensure_private_cluster(
                cluster,
                port=args.port or DEFAULT_PORT,
                explicit_port=args.port is not None,
                bindir_override=args.bindir,
            )
            create_database(host=HOST, port=port, dbname=args.dbname)
            url = database_url(port=port, dbname=args.dbname)
            _log(f"using the private cluster in {cluster.base} on {HOST}:{port}")
    except EnsureDBError as exc:
        _log(f"error: {exc}")
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
