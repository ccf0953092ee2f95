"""Thin views: validate the form, call one service or selector, redirect or render."""

from __future__ import annotations

import math
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analyzer import exports, selectors, services
from analyzer.forms import (
    ACCEPT,
    DEFAULT_SORT,
    SORT_CHOICES,
    HistoryFilterForm,
    HistorySelectionForm,
    UploadForm,
)
from analyzer.models import Analysis
from analyzer.ownership import anonymous_owner_key, session_key
from analyzer.responses import stored_audio_response
from analyzer.uploads import upload_was_cut_off
from sharing import views as sharing_views

HISTORY_PAGE_SIZE = 20
# The analysis whose result page should say "you already analysed this file" (once).
_DUPLICATE_SESSION_FIELD = "analyzer_duplicate_of"


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
    retry_after = None
    if form.is_valid():
        owner = request.user if request.user.is_authenticated else None
        key = "" if owner else anonymous_owner_key(request)
        try:
            analysis = services.analysis_create(
                upload=form.cleaned_data["file"], owner=owner, session_key=key, reuse_existing=True
            )
        except services.AnalysisDuplicateError as duplicate:
            # The result page says so and offers to analyse the recording again.
            request.session[_DUPLICATE_SESSION_FIELD] = str(duplicate.existing.pk)
            return redirect(duplicate.existing)
        except services.AnalysisInputError as err:
            form.add_error("file", err)
        except services.AnalysisStorageError as err:
            form.add_error("file", err.message)
            status = 507 if err.disk_full else 503
        except services.AnalysisBusyError as err:
            form.add_error("file", err.message)
            status, retry_after = err.status_code, err.retry_after
        else:
            # The result page shows the progress and updates itself.
            return redirect(analysis)
    response = render(request, "analyzer/upload.html", _upload_context(form), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@require_GET
def result(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    analysis = _owned_or_404(request, pk)
    context: dict[str, object] = {
        "analysis": analysis,
        "already_analysed": request.session.pop(_DUPLICATE_SESSION_FIELD, None) == str(pk),
    }
    if analysis.status == Analysis.Status.DONE:
        context |= {
            "segments": selectors.segment_list(analysis=analysis),
            "charts": selectors.chart_map(analysis=analysis),
        }
        context |= sharing_views.panel_context(request, analysis)
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


@require_POST
def analyse_again(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A new analysis of a stored recording (the same file uploaded again, or any result)."""
    analysis = _owned_or_404(request, pk)
    try:
        again = services.analysis_copy(analysis=analysis)
    except services.AnalysisInputError as err:
        messages.error(request, str(err))
        return redirect(analysis)
    except (services.AnalysisStorageError, services.AnalysisBusyError) as err:
        messages.error(request, err.message)
        return redirect(analysis)
    messages.success(request, f"“{again.original_name}” is being analysed again.")
    return redirect(again)


def _history_analyses(request: HttpRequest, filter_form: HistoryFilterForm) -> QuerySet[Analysis]:
    return selectors.analysis_list(
        owner=request.user, session_key=session_key(request), **filter_form.filters()
    )


def _order_text(sort: str | None) -> str:
    """How the history is sorted, as its caption says it ("newest first")."""
    label = dict(SORT_CHOICES).get(sort or DEFAULT_SORT, "")
    return label[:1].lower() + label[1:]


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    filter_form = HistoryFilterForm(request.GET or None)
    analyses = _history_analyses(request, filter_form)
    page = Paginator(analyses, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    state = filter_form.state()
    return render(
        request,
        "analyzer/history.html",
        {
            "page": page,
            "filter_form": filter_form,
            "emotion": state.get("emotion", ""),
            "search": state.get("q", ""),
            "order_text": _order_text(state.get("sort")),
            "state": state,
            "query": filter_form.query(),
            "page_query": filter_form.query(page=page.number),
            "filtered": bool(state.get("emotion") or state.get("q")),
        },
    )


def _back_to_history(request: HttpRequest) -> HttpResponse:
    """The history as it was (filter, search, order, page) before a delete from it; the
    last page instead of one that no longer exists."""
    filter_form = HistoryFilterForm(request.POST)
    try:
        page = max(int(request.POST.get("page", 1)), 1)
    except ValueError:
        page = 1
    count = _history_analyses(request, filter_form).count()
    page = min(page, max(math.ceil(count / HISTORY_PAGE_SIZE), 1))
    query = filter_form.query(page=page)
    return redirect(reverse("analyzer:history") + (f"?{query}" if query else ""))


@require_POST
def history_delete(request: HttpRequest) -> HttpResponse:
    """Delete the analyses ticked in the history, together; others' ids are ignored."""
    form = HistorySelectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("ids", ["Nothing was deleted."])))
        return _back_to_history(request)
    analyses = selectors.analysis_list_selected(
        pks=form.cleaned_data["ids"], owner=request.user, session_key=session_key(request)
    )
    names = services.analysis_delete_many(analyses=analyses)
    if len(names) == 1:
        messages.success(request, f"“{names[0]}” and its recording have been deleted.")
    elif names:
        messages.success(request, f"{len(names)} analyses and their recordings have been deleted.")
    else:
        messages.error(request, "None of the chosen analyses exist any more.")
    return _back_to_history(request)


@require_GET
def history_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The history as filtered, searched and sorted on its page, every page of it."""
    if fmt not in exports.FORMATS:
        raise Http404("No such format.")
    analyses = _history_analyses(request, HistoryFilterForm(request.GET or None))
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
        # From the history, the state to go back to: kept in hidden fields.
        filter_form = HistoryFilterForm(request.GET or None)
        page = request.GET.get("page", "")
        context = {"analysis": analysis, "state": filter_form.state(), "page": page}
        context["from_history"] = bool(context["state"] or page)
        return render(request, "analyzer/delete.html", context)
    name = analysis.original_name
    services.analysis_delete(analysis=analysis)
    messages.success(request, f"“{name}” and its recording have been deleted.")
    return _back_to_history(request)
