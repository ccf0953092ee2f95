"""The owner's share links on the result page, and the shared page itself.

The shared page shows one finished analysis to anyone holding the link, and nothing else
of its owner: no history, no forms, no other analyses. Search engines are asked not to
index it, and the token in its address is not sent on as a Referer.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from analyzer import selectors as analyzer_selectors
from analyzer.models import Analysis
from analyzer.ownership import session_key
from analyzer.responses import stored_audio_response
from sharing import selectors, services
from sharing.forms import ShareLinkForm
from sharing.models import ShareLink

# The link just created, shown once on the result page (only its hash is kept).
_NEW_LINK_SESSION_FIELD = "sharing_new_link"


def _private(response: HttpResponseBase) -> HttpResponseBase:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _owned_or_404(request: HttpRequest, pk: uuid.UUID) -> Analysis:
    analysis = analyzer_selectors.analysis_get(
        pk=pk, owner=request.user, session_key=session_key(request)
    )
    if analysis is None:
        raise Http404("No such analysis.")
    return analysis


def _back_to_result(analysis: Analysis) -> HttpResponse:
    return redirect(analysis.get_absolute_url() + "#share")


def panel_context(request: HttpRequest, analysis: Analysis) -> dict[str, Any]:
    """What the result page's "Share" panel shows its owner (a finished analysis only)."""
    if analysis.status != Analysis.Status.DONE:
        return {}
    new_link = request.session.get(_NEW_LINK_SESSION_FIELD)
    new_url = None
    if new_link and new_link.get("analysis") == str(analysis.pk):
        del request.session[_NEW_LINK_SESSION_FIELD]
        new_url = new_link["url"]
    return {
        "share_links": list(selectors.sharelink_list_active(analysis=analysis)),
        "share_form": ShareLinkForm(),
        "new_share_url": new_url,
    }


@require_POST
def create(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    if analysis.status != Analysis.Status.DONE:
        messages.error(request, "Only a finished analysis can be shared.")
        return redirect(analysis)
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["days"]))
        return _back_to_result(analysis)
    new = services.sharelink_create(analysis=analysis, days=form.cleaned_data["days"])
    url = request.build_absolute_uri(reverse("sharing:shared", args=[new.token]))
    request.session[_NEW_LINK_SESSION_FIELD] = {"analysis": str(analysis.pk), "url": url}
    expires = formats.date_format(timezone.localtime(new.link.expires_at), "j M Y, H:i")
    messages.success(request, f"Share link created; it works until {expires}.")
    return _back_to_result(analysis)


@require_POST
def revoke(request: HttpRequest, pk: uuid.UUID, link_id: int) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    link = selectors.sharelink_get(pk=link_id, analysis=analysis)
    if link is None:
        raise Http404("No such share link.")
    services.sharelink_revoke(link=link)
    messages.success(request, "The share link is revoked: it no longer opens this result.")
    return _back_to_result(analysis)


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "sharing/gone.html", status=404)


@never_cache
@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponseBase:
    link: ShareLink | None = selectors.sharelink_get_active(token=token)
    if link is None:
        return _private(_gone(request))
    analysis = link.analysis
    context = {
        "analysis": analysis,
        "link": link,
        "segments": analyzer_selectors.segment_list(analysis=analysis),
        "charts": analyzer_selectors.chart_map(analysis=analysis),
        "audio_url": reverse("sharing:audio", args=[token]),
    }
    return _private(render(request, "sharing/shared.html", context))


@require_GET
def shared_audio(request: HttpRequest, token: str) -> HttpResponseBase:
    link = selectors.sharelink_get_active(token=token)
    if link is None:
        return _private(_gone(request))
    try:
        response = stored_audio_response(request, link.analysis)
    except FileNotFoundError:
        raise Http404("The recording is missing.") from None
    # Not kept by the browser: a revoked link must stop playing too.
    response["Cache-Control"] = "no-store"
    return _private(response)
