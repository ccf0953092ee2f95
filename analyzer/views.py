"""Thin views: validate the form, call one service or selector, redirect or render."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analyzer import exports, selectors, services
from analyzer.forms import ACCEPT, HistoryFilterForm, UploadForm
from analyzer.models import Analysis
from analyzer.ownership import anonymous_owner_key, session_key
from analyzer.responses import stored_audio_response
from analyzer.uploads import upload_was_cut_off

HISTORY_PAGE_SIZE = 20


def _owned_or_404(request: HttpRequest, pk: uuid.UUID) -> Analysis:
    analysis = selectors.analysis_get(pk=pk, owner=request.user, session_key=session_key(request))
    if analysis is None:
        raise Http404("No such analysis.")
    return analysis


def _upload_context(form: UploadForm) -> dict[str, object]:
    return {
        "form": form,
        "accept": ACCEPT,
        "max_upload_bytes": settings.SPEECHEMOTION_MAX_UPLOAD_BYTES,
        "max_duration_seconds": settings.SPEECHEMOTION_MAX_DURATION_SECONDS,
    }


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "analyzer/upload.html", _upload_context(UploadForm()))

    form = UploadForm(request.POST, request.FILES, cut_off=upload_was_cut_off(request))
    status = 400
    if form.is_valid():
        owner = request.user if request.user.is_authenticated else None
        key = "" if owner else anonymous_owner_key(request)
        try:
            analysis = services.analysis_create(
                upload=form.cleaned_data["file"], owner=owner, session_key=key
            )
        except services.AnalysisInputError as err:
            form.add_error("file", err)
        except services.AnalysisStorageError as err:
            form.add_error("file", err.message)
            status = 507 if err.disk_full else 503
        else:
            # The result page shows the progress and updates itself.
            return redirect(analysis)
    return render(request, "analyzer/upload.html", _upload_context(form), status=status)


@require_GET
def result(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    context: dict[str, object] = {"analysis": analysis}
    if analysis.status == Analysis.Status.DONE:
        context |= {
            "segments": selectors.segment_list(analysis=analysis),
            "charts": selectors.chart_map(analysis=analysis),
        }
    if analysis.is_active:
        context["worker_alive"] = selectors.worker_alive()
    return render(request, "analyzer/result.html", context)


@never_cache
@require_GET
def status(request: HttpRequest, pk: uuid.UUID) -> JsonResponse:
    """What the result page polls until it is final (``updating`` false): then it reloads.

    ``active``: pending or running; ``updating``: that, or done with the charts to come.
    """
    analysis = _owned_or_404(request, pk)
    return JsonResponse(
        {
            "status": analysis.status,
            "active": analysis.is_active,
            "updating": analysis.is_updating,
            "segments_done": analysis.segments_done,
            "segments_total": analysis.segments_total,
            "text": analysis.progress_text,
            "url": analysis.get_absolute_url(),
        }
    )


@require_POST
def retry(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    if analysis.status != Analysis.Status.FAILED:
        messages.info(request, "This analysis has not failed; there is nothing to retry.")
        return redirect(analysis)
    analysis = services.analysis_requeue(analysis=analysis)
    if analysis.status == Analysis.Status.FAILED:
        messages.error(request, analysis.error_message)
    else:
        messages.success(request, f"“{analysis.original_name}” is queued again.")
    return redirect(analysis)


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    filter_form = HistoryFilterForm(request.GET or None)
    emotion = filter_form.cleaned_data["emotion"] if filter_form.is_valid() else None
    analyses = selectors.analysis_list(
        owner=request.user, session_key=session_key(request), emotion=emotion or None
    )
    page = Paginator(analyses, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "analyzer/history.html",
        {"page": page, "filter_form": filter_form, "emotion": emotion or ""},
    )


@require_GET
def history_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The history as filtered on its page, every page of it, as CSV or JSON."""
    if fmt not in exports.FORMATS:
        raise Http404("No such format.")
    filter_form = HistoryFilterForm(request.GET or None)
    emotion = filter_form.cleaned_data["emotion"] if filter_form.is_valid() else None
    analyses = selectors.analysis_list(
        owner=request.user, session_key=session_key(request), emotion=emotion or None
    )
    return exports.history_export_response(analyses=analyses, fmt=fmt)


@require_GET
def export(request: HttpRequest, pk: uuid.UUID, fmt: str) -> HttpResponse:
    """One analysis with its segments as CSV or JSON."""
    if fmt not in exports.FORMATS:
        raise Http404("No such format.")
    analysis = _owned_or_404(request, pk)
    return exports.analysis_export_response(analysis=analysis, fmt=fmt)


@require_GET
def audio(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    analysis = _owned_or_404(request, pk)
    try:
        return stored_audio_response(request, analysis)
    except FileNotFoundError:
        raise Http404("The recording is missing.") from None


@require_GET
def model_card(request: HttpRequest) -> HttpResponse:
    """The model card (docs/MODEL_CARD.md), read-only, as the text it is."""
    text = selectors.model_card_text()
    if text is None:
        raise Http404("The model card is missing.")
    return render(request, "analyzer/model_card.html", {"text": text})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, asked for by pages that do not link the icon (the admin's)."""
    return redirect(static("analyzer/favicon.svg"))


@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    if request.method != "POST":
        return render(request, "analyzer/delete.html", {"analysis": analysis})
    name = analysis.original_name
    services.analysis_delete(analysis=analysis)
    messages.success(request, f"“{name}” and its recording have been deleted.")
    return redirect(reverse("analyzer:history"))
