"""Keep each stored upload tied to its row, and hand anonymous analyses to a user signing in.

``post_delete`` fires for ``instance.delete()``, ``QuerySet.delete()`` (the admin's bulk
delete) and cascades from a deleted user alike. The file goes only once the deletion is
committed, so a rolled-back delete still has its audio.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest

from analyzer.models import Analysis
from analyzer.ownership import pop_anonymous_key


@receiver(post_delete, sender=Analysis, dispatch_uid="analyzer.analysis_delete_file")
def _delete_file_with_row(sender: type[Analysis], instance: Analysis, **kwargs: Any) -> None:
    if instance.file:
        transaction.on_commit(partial(instance.file.delete, save=False))


@receiver(user_logged_in, dispatch_uid="analyzer.claim_anonymous_analyses")
def _claim_anonymous_analyses(
    sender: type, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    from analyzer import services  # Late: services imports ml, not needed to connect signals.

    if request is None or not hasattr(request, "session"):
        return
    session_key = pop_anonymous_key(request)
    if session_key:
        services.analysis_claim(user=user, session_key=session_key)
