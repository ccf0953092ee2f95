"""Reads of analyses, always scoped to the caller.

A signed-in user sees their own analyses; an anonymous visitor sees the ones made in
their browser session (and not since claimed by a user). Staff see everything only
through the admin, never through these selectors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from analyzer.models import Analysis, AnalysisChart, Segment

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def _owned(
    *, owner: AbstractBaseUser | AnonymousUser | None, session_key: str | None
) -> QuerySet[Analysis]:
    analyses = Analysis.objects.select_related("owner")
    if owner is not None and owner.is_authenticated:
        return analyses.filter(owner=owner)
    if not session_key:
        return analyses.none()
    return analyses.filter(owner__isnull=True, session_key=session_key)


# The orders the history offers, by the name in its ``sort`` parameter ("-" for descending).
# Analyses without a result (under way or failed) come last either way; ties newest first.
_NO_EMOTION_LAST = Case(
    When(emotion="", then=Value(1)), default=Value(0), output_field=IntegerField()
)
HISTORY_ORDERS: dict[str, tuple[Any, ...]] = {
    "-date": (F("created_at").desc(),),
    "date": (F("created_at").asc(),),
    "emotion": (_NO_EMOTION_LAST, F("emotion").asc()),
    "-emotion": (_NO_EMOTION_LAST, F("emotion").desc()),
    "duration": (F("duration").asc(),),
    "-duration": (F("duration").desc(),),
    "confidence": (F("confidence").asc(nulls_last=True),),
    "-confidence": (F("confidence").desc(nulls_last=True),),
}
DEFAULT_HISTORY_ORDER = "-date"


def analysis_list(
    *,
    owner: AbstractBaseUser | AnonymousUser | None,
    session_key: str | None,
    emotion: str | None = None,
    status: str | None = None,
    created_before: datetime | None = None,
    created_after: datetime | None = None,
    search: str | None = None,
    order: str | None = None,
) -> QuerySet[Analysis]:
    """The caller's analyses, newest first, optionally only those whose result names
    ``emotion`` (clear, or one of a mixed pair; "No clear emotion" names none), with this
    ``status``, created before / after a moment, or whose file name contains ``search``
    (any case). ``order`` is one of :data:`HISTORY_ORDERS` (unknown: newest first)."""
    analyses = _owned(owner=owner, session_key=session_key)
    if search:
        analyses = analyses.filter(original_name__icontains=search)
    if emotion:
        analyses = analyses.filter(
            (Q(emotion=emotion) & ~Q(verdict="unclear")) | Q(verdict="mixed", mixed_with=emotion)
        )
    if status:
        analyses = analyses.filter(status=status)
    if created_before is not None:
        analyses = analyses.filter(created_at__lt=created_before)
    if created_after is not None:
        analyses = analyses.filter(created_at__gt=created_after)
    ordering = HISTORY_ORDERS.get(order or DEFAULT_HISTORY_ORDER, HISTORY_ORDERS["-date"])
    return analyses.order_by(*ordering, "-created_at", "-pk")


def analysis_list_selected(
    *,
    pks: Iterable[uuid.UUID],
    owner: AbstractBaseUser | AnonymousUser | None,
    session_key: str | None,
) -> QuerySet[Analysis]:
    """The caller's analyses among ``pks``; ids of others' analyses are left out."""
    return _owned(owner=owner, session_key=session_key).filter(pk__in=list(pks))


def analysis_find_duplicate(
    *,
    sha256: str,
    owner: AbstractBaseUser | AnonymousUser | None,
    session_key: str | None,
) -> Analysis | None:
    """The caller's newest analysis of the same file (same SHA-256) that has a result or
    is getting one; a failed one does not count (analysing it again is the point)."""
    return (
        _owned(owner=owner, session_key=session_key)
        .filter(sha256=sha256)
        .exclude(status=Analysis.Status.FAILED)
        .order_by("-created_at")
        .first()
    )


def analysis_get(
    *,
    pk: uuid.UUID | str,
    owner: AbstractBaseUser | AnonymousUser | None,
    session_key: str | None,
) -> Analysis | None:
    """The caller's analysis with this id, or None if it is missing or someone else's."""
    return _owned(owner=owner, session_key=session_key).filter(pk=pk).first()


def segment_list(*, analysis: Analysis) -> QuerySet[Segment]:
    """The analysis's segments in time order."""
    return analysis.segments.order_by("start")


def chart_map(*, analysis: Analysis) -> dict[str, str]:
    """The analysis's charts as ``{kind: svg}`` (empty when none were drawn)."""
    return dict(AnalysisChart.objects.filter(analysis=analysis).values_list("kind", "svg"))


MODEL_CARD_PATH = Path(settings.BASE_DIR) / "docs" / "MODEL_CARD.md"


def model_card_text() -> str | None:
    """The model card's markdown, or None when it is not there."""
    try:
        return MODEL_CARD_PATH.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def worker_alive() -> bool:
    """Whether some worker has sent a heartbeat recently (so queued analyses will run)."""
    from procrastinate.contrib.django.models import ProcrastinateWorker

    recent = timezone.now() - timedelta(seconds=settings.SPEECHEMOTION_STALLED_WORKER_SECONDS)
    return ProcrastinateWorker.objects.filter(last_heartbeat__gte=recent).exists()
