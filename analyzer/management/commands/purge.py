"""``python manage.py purge [--older-than 30d] [--orphans] [--dry-run]``: retention and leftovers.

Deletes the analyses older than the retention (``RETENTION_DAYS``, or ``--older-than``)
with their recordings, then sweeps what an interrupted upload can leave: stored files no
row refers to (older than an hour) are deleted, and rows whose file is missing are marked
failed. ``--orphans`` does only the sweep. Run it daily, e.g. from cron.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from analyzer import retention

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_AGE = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` (also ``2w``, ``45s``) -> a positive timedelta."""
    match = _AGE.match(text)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age; write a whole number and a unit, e.g. 30d, 12h or 90m."
        )
    return timedelta(**{_UNITS[match[2].lower()]: int(match[1])})


def describe_age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def _count(number: int, noun: str) -> str:
    plural = "analyses" if noun == "analysis" else f"{noun}s"
    return f"{number} {noun if number == 1 else plural}"


class Command(BaseCommand):
    help = (
        "Delete analyses older than the retention period together with their recordings, "
        "delete stored files that no analysis refers to, and mark failed the analyses "
        "whose recording is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        days = settings.SPEECHEMOTION_RETENTION_DAYS
        parser.add_argument(
            "--older-than",
            type=parse_age,
            metavar="AGE",
            help="delete the analyses created longer ago than this: 30d, 12h, 90m "
            f"(default: RETENTION_DAYS, here {days} days; 0 keeps them)",
        )
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="only clean up leftovers; delete no analysis for its age",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be done, change nothing"
        )

    def handle(
        self, *args: Any, older_than: timedelta | None, orphans: bool, dry_run: bool, **options: Any
    ) -> None:
        if orphans and older_than is not None:
            raise CommandError("--orphans cleans up leftovers only; it takes no --older-than.")
        would = "Would delete" if dry_run else "Deleted"
        if not orphans:
            self._purge(older_than, would=would, dry_run=dry_run)
        sweep = retention.analysis_purge_orphans(dry_run=dry_run)
        age = describe_age(retention.ORPHAN_MIN_AGE)
        self.stdout.write(
            f"{would} {_count(len(sweep.files), 'stored file')} that no analysis refers to "
            f"(older than {age}, {filesizeformat(sweep.bytes)})."
        )
        mark = "Would mark" if dry_run else "Marked"
        self.stdout.write(
            f"{mark} {_count(len(sweep.missing), 'analysis')} failed because the recording "
            "is missing."
        )
        if options["verbosity"] > 1:
            for name in sweep.files:
                self.stdout.write(f"  file {name}")
            for pk in sweep.missing:
                self.stdout.write(f"  analysis {pk}")

    def _purge(self, older_than: timedelta | None, *, would: str, dry_run: bool) -> None:
        if older_than is None:
            days = settings.SPEECHEMOTION_RETENTION_DAYS
            if days == 0:
                self.stdout.write("Retention is off (RETENTION_DAYS=0): no analysis is deleted.")
                return
            older_than = timedelta(days=days)
        result = retention.analysis_purge(older_than=older_than, dry_run=dry_run)
        self.stdout.write(
            f"{would} {_count(result.analyses, 'analysis')} older than "
            f"{describe_age(older_than)} (created before {result.cutoff:%Y-%m-%d %H:%M %Z}) "
            f"and their recordings ({filesizeformat(result.bytes)})."
        )
