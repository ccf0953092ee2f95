"""``python manage.py analyze PATH... [--user USERNAME] [--wait]``: add recordings to the history.

Each file goes through the same service as an upload (``services.analysis_create``): it
is checked, stored and queued for the worker. Directories are searched recursively for
the extensions the upload form offers (``ml.formats``); a file named on the command line is tried
whatever its name (the content decides).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from analyzer import selectors, services
from analyzer.models import Analysis
from ml.formats import SUFFIXES as SUPPORTED_EXTENSIONS

POLL_SECONDS = 0.5
_WAIT_FIELDS = (
    "original_name",
    "status",
    "error_message",
    "emotion",
    "confidence",
    "verdict",
    "mixed_with",
    "segments_done",
    "segments_total",
)


def collect(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to add, in order and without repeats, and the paths that do not exist."""
    files: dict[Path, None] = {}
    missing: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = (
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
            files.update(dict.fromkeys(found))
        elif path.is_file():
            files[path] = None
        else:
            missing.append((path, "No such file or directory."))
    return list(files), missing


class Command(BaseCommand):
    help = (
        "Add recordings (files, or directories searched recursively) to the history and "
        "queue them for the analysis worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="The owner: the analyses appear in their history. Without it they belong "
            "to no one and only staff see them (in the admin).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until the worker has analysed them, with its progress.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="With --wait: stop waiting after this long (the analyses go on).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # tqdm redraws its line with \r; Django's OutputWrapper would add a newline each time.
        self.progress_stream = getattr(self.stderr, "_out", sys.stderr)
        owner = self._owner(options["user"])
        files, rejected = collect(options["paths"])
        attempted = len(files) + len(rejected)
        if not attempted:
            raise CommandError(f"No recordings found (looked for {_extensions()}).")
        queued: list[Analysis] = []
        for path in tqdm(files, desc="Queueing", unit="file", file=self.progress_stream):
            try:
                with path.open("rb") as handle:
                    # An operator's batch waits its turn instead of being refused.
                    analysis = services.analysis_create(
                        upload=File(handle, name=path.name),
                        owner=owner,
                        session_key="",
                        limit=False,
                    )
            except services.AnalysisInputError as err:
                rejected.append((path, str(err)))
            except OSError as err:
                rejected.append((path, err.strerror or str(err)))
            else:
                queued.append(analysis)

        self._summary(queued, rejected, owner)
        if options["wait"] and queued:
            self._wait(queued, timeout=options["timeout"])
        if rejected:
            # After the summary, so that a script sees the failure in the exit status.
            raise CommandError(f"{len(rejected)} of {attempted} recording(s) were rejected.")

    def _owner(self, username: str | None) -> Any:
        if not username:
            self.stdout.write(
                self.style.WARNING(
                    "No --user given: the analyses belong to no one and only staff see them, "
                    "in the admin."
                )
            )
            return None
        model = get_user_model()
        try:
            return model.objects.get(**{model.USERNAME_FIELD: username})
        except model.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None

    def _summary(
        self, queued: list[Analysis], rejected: list[tuple[Path, str]], owner: Any
    ) -> None:
        whose = f" for {owner.get_username()}" if owner is not None else ""
        self.stdout.write(
            self.style.SUCCESS(f"Queued {len(queued)} recording(s){whose}.")
            if queued
            else "Queued 0 recordings."
        )
        if rejected:
            self.stdout.write(self.style.ERROR(f"Rejected {len(rejected)}:"))
            for path, reason in rejected:
                self.stdout.write(f"  {path}: {reason}")

    def _wait(self, queued: list[Analysis], *, timeout: float | None) -> None:
        waiting = {analysis.pk: analysis.original_name for analysis in queued}
        all_ids = list(waiting)
        finished: dict[str, Analysis] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        warned = False
        with tqdm(
            total=len(waiting), desc="Analysing", unit="file", file=self.progress_stream
        ) as bar:
            while waiting:
                rows = list(Analysis.objects.filter(pk__in=all_ids).only(*_WAIT_FIELDS))
                done_segments = sum(a.segments_done for a in rows)
                total_segments = sum(a.segments_total for a in rows)
                for analysis in rows:
                    if analysis.pk in waiting and not analysis.is_active:
                        finished[str(analysis.pk)] = analysis
                        del waiting[analysis.pk]
                        bar.update(1)
                # Deleted meanwhile (from the site or the admin): nothing to wait for.
                present = {a.pk for a in rows}
                waiting = {pk: name for pk, name in waiting.items() if pk in present}
                bar.set_postfix_str(f"segments {done_segments}/{total_segments}", refresh=True)
                if not waiting:
                    break
                if not warned and not selectors.worker_alive():
                    warned = True
                    bar.write(
                        "No worker is running; start one with "
                        "`python manage.py procrastinate worker` (or `make run`).",
                        file=self.progress_stream,
                    )
                if deadline is not None and time.monotonic() > deadline:
                    break
                time.sleep(POLL_SECONDS)

        outcomes = Counter(a.status for a in finished.values())
        for analysis in finished.values():
            if analysis.status == Analysis.Status.DONE:
                confidence = f"{analysis.confidence_percent:.0f}%"
                if not analysis.is_clear:  # the figure belongs to the top emotion, not named
                    confidence = f"highest {analysis.emotion} {confidence}"
                self.stdout.write(
                    f"  {analysis.original_name}: {analysis.headline} "
                    f"({confidence}, {analysis.segments_total} segments)"
                )
            else:
                self.stdout.write(f"  {analysis.original_name}: failed: {analysis.error_message}")
        self.stdout.write(
            f"Analysed {outcomes[Analysis.Status.DONE]}, failed {outcomes[Analysis.Status.FAILED]}"
            + (f", still waiting for {len(waiting)}" if waiting else "")
            + "."
        )


def _extensions() -> str:
    return ", ".join(sorted(SUPPORTED_EXTENSIONS))
