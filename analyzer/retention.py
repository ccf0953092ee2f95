"""Retention and leftovers: old analyses purged, stored files without rows deleted.

Run by ``python manage.py purge`` (see ``analyzer.management.commands.purge``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from analyzer.models import Analysis
from analyzer.uploads import MISSING_FILE_ERROR, TEMPORARY_PREFIX

if TYPE_CHECKING:
    from django.core.files.storage import Storage

logger = logging.getLogger(__name__)

UPLOADS_DIRECTORY = "uploads"
# A stored file without a row may be an upload whose row is still being written; one this
# old is left over from a process killed in between, or from a failed cleanup.
ORPHAN_MIN_AGE = timedelta(hours=1)
_PURGE_BATCH = 200


@dataclass(frozen=True)
class PurgeResult:
    """What :func:`analysis_purge` deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    analyses: int
    bytes: int


def analysis_purge(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = _PURGE_BATCH
) -> PurgeResult:
    """Delete the analyses created more than ``older_than`` ago, with their recordings.

    Rows go in short transactions of ``batch_size``; each row's file is deleted once its
    deletion is committed (``analyzer.signals``), so a failure never leaves a row without
    its file. Whatever state an analysis is in, it goes: a queued job then finds nothing.
    """
    cutoff = timezone.now() - older_than
    old = Analysis.objects.filter(created_at__lt=cutoff)
    if dry_run:
        totals = old.aggregate(analyses=Count("pk"), bytes=Sum("size"))
        return PurgeResult(cutoff, totals["analyses"], totals["bytes"] or 0)
    analyses = size = 0
    while True:
        with transaction.atomic():
            # skip_locked: a row the worker is saving right now goes in the next run.
            batch = list(
                old.select_for_update(skip_locked=True)
                .order_by("created_at")
                .values_list("pk", "size")[:batch_size]
            )
            if not batch:
                break
            _, deleted = Analysis.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        analyses += deleted.get(Analysis._meta.label, 0)
        size += sum(bytes_ for _, bytes_ in batch)
    if analyses:
        logger.info("Purged %d analyses created before %s", analyses, cutoff.isoformat())
    return PurgeResult(cutoff, analyses, size)


@dataclass(frozen=True)
class OrphanSweep:
    """What :func:`analysis_purge_orphans` found: stored files without rows (their names),
    the ``bytes`` they take, the temporary copies of killed processes (their paths), and
    the analyses whose recording is missing (their ids)."""

    files: list[str]
    bytes: int
    temporary: list[str]
    missing: list[str]


def _stored_names(storage: Storage, directory: str) -> Iterator[str]:
    """Every file below ``directory`` of ``storage``, as names relative to its root."""
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{directory}/{name}"
    for name in directories:
        yield from _stored_names(storage, f"{directory}/{name}")


def _stale_temporary_copies(cutoff: datetime, *, dry_run: bool) -> list[str]:
    """This machine's temporary copies (``temporary_copy``) older than ``cutoff``.

    A copy lives while one file is decoded, which ffmpeg's timeout bounds to minutes; an
    older one belonged to a process that was killed.
    """
    stale = []
    for path in Path(tempfile.gettempdir()).glob(f"{TEMPORARY_PREFIX}*"):
        with suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
                if not dry_run:
                    path.unlink()
                stale.append(str(path))
    return sorted(stale)


def analysis_purge_orphans(
    *, older_than: timedelta = ORPHAN_MIN_AGE, dry_run: bool = False
) -> OrphanSweep:
    """Delete stored uploads that no row refers to; mark failed the rows whose file is gone.

    A process killed between storing an upload and committing its row leaves such a file
    (and its temporary copy, deleted too); only files older than ``older_than`` count, so
    an upload being stored right now is safe. A row whose recording vanished keeps its
    result but turns ``failed`` with :data:`MISSING_FILE_ERROR`, so its page says so
    instead of offering a broken player.
    """
    storage = Analysis._meta.get_field("file").storage
    cutoff = timezone.now() - older_than
    present = sorted(_stored_names(storage, UPLOADS_DIRECTORY))
    orphans: list[str] = []
    size = 0
    for start in range(0, len(present), 1000):
        chunk = present[start : start + 1000]
        referenced = set(Analysis.objects.filter(file__in=chunk).values_list("file", flat=True))
        for name in chunk:
            if name in referenced:
                continue
            try:
                if storage.get_modified_time(name) >= cutoff:
                    continue
                size += storage.size(name)
            except FileNotFoundError:
                continue  # Deleted meanwhile.
            orphans.append(name)
    if not dry_run:
        for name in orphans:
            logger.warning("Deleting %s: no analysis refers to it", name)
            storage.delete(name)
    temporary = _stale_temporary_copies(cutoff, dry_run=dry_run)

    known = set(present)
    missing = [
        str(pk)
        for pk, name in Analysis.objects.exclude(
            status=Analysis.Status.FAILED, error_message=MISSING_FILE_ERROR
        )
        .values_list("pk", "file")
        .iterator()
        # Checked again: a file stored after the listing above is not missing.
        if name not in known and not (name and storage.exists(name))
    ]
    if missing and not dry_run:
        logger.warning("Stored files of analyses %s are missing", ", ".join(missing))
        Analysis.objects.filter(pk__in=missing).update(
            status=Analysis.Status.FAILED,
            error_message=MISSING_FILE_ERROR,
            segments_done=0,
            segments_total=0,
            charts_pending=False,
        )
    return OrphanSweep(files=orphans, bytes=size, temporary=temporary, missing=missing)
