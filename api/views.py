"""The REST API under /api/v1/: thin views over ``analyzer.services`` and ``analyzer.selectors``.

An upload is checked by the upload page's own form and stored and queued by the same
service, so the API refuses what the page refuses, with the same messages.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analyzer import exports, selectors, services
from analyzer.forms import UploadForm
from analyzer.models import Analysis
from analyzer.responses import stored_audio_response
from analyzer.uploads import upload_was_cut_off
from api.serializers import (
    ANALYSIS_EXPORT_SCHEMA,
    HISTORY_EXPORT_SCHEMA,
    AnalysisDetailSerializer,
    AnalysisFilterSerializer,
    AnalysisPageSerializer,
    AnalysisSerializer,
    AnalysisUploadSerializer,
    DuplicateAnalysisSerializer,
    ErrorSerializer,
    ForceSerializer,
    WaitSerializer,
)

# How often a request with ?wait=N looks at its analysis again.
WAIT_POLL_SECONDS = 0.25


def _pause(seconds: float) -> None:
    """Sleep between looks at the row (a seam for tests, which run the worker's job here)."""
    time.sleep(seconds)


def _owned_or_404(request: Request, pk: str) -> Analysis:
    try:
        analysis_id = uuid.UUID(pk)
    except ValueError:
        raise NotFound("No such analysis.") from None
    analysis = selectors.analysis_get(pk=analysis_id, owner=request.user, session_key=None)
    if analysis is None:
        raise NotFound("No such analysis.")
    return analysis


class AnalysisPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


# A 400's body names each field's problems ({"file": ["The file is empty."]}), or says
# what is wrong with the request as a whole ({"detail": "..."}).
_FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    },
}

_ERRORS = {
    400: OpenApiResponse(_FIELD_ERRORS, description="Bad input, named in the body."),
    401: OpenApiResponse(ErrorSerializer, description="No key, or an unknown or revoked one."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
}


# The analysis's id in the path (drf-spectacular names ``pk`` "id").
_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class AnalysisListView(APIView):
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        operation_id="analyses_list",
        parameters=[AnalysisFilterSerializer],
        responses={200: AnalysisPageSerializer, **_ERRORS},
        summary="Your analyses, newest first",
    )
    def get(self, request: Request) -> Response:
        filters = AnalysisFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        analyses = selectors.analysis_list(
            owner=request.user, session_key=None, **filters.validated_data
        )
        paginator = AnalysisPagination()
        page = paginator.paginate_queryset(analyses, request, view=self)
        data = AnalysisSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="analyses_create",
        request={"multipart/form-data": AnalysisUploadSerializer},
        parameters=[WaitSerializer, ForceSerializer],
        responses={
            200: OpenApiResponse(
                DuplicateAnalysisSerializer,
                description=(
                    "You already uploaded this file (same SHA-256): your earlier analysis, "
                    "not analysed again (see force)."
                ),
            ),
            201: OpenApiResponse(AnalysisDetailSerializer, description="Finished within wait."),
            202: OpenApiResponse(AnalysisSerializer, description="Queued (or still running)."),
            **_ERRORS,
            413: OpenApiResponse(_FIELD_ERRORS, description="The file is too large."),
            429: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Too many requests, or too many of your analyses are waiting "
                    "(SPEECHEMOTION_MAX_PENDING_PER_OWNER); nothing was stored. See Retry-After."
                ),
            ),
            503: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "The queue is full (SPEECHEMOTION_MAX_QUEUE_WAIT; see Retry-After) or the "
                    "recording could not be stored; nothing was stored."
                ),
            ),
            507: OpenApiResponse(ErrorSerializer, description="No room to store the recording."),
        },
        summary="Upload a recording and queue its analysis",
    )
    def post(self, request: Request) -> Response:
        wait = WaitSerializer(data=request.query_params)
        wait.is_valid(raise_exception=True)
        force = ForceSerializer(data=request.query_params)
        force.is_valid(raise_exception=True)
        form = UploadForm(request.POST, request.FILES, cut_off=upload_was_cut_off(request._request))
        if not form.is_valid():
            return _refused(form.errors, too_large=form.cut_off)
        try:
            analysis = services.analysis_create(
                upload=form.cleaned_data["file"],
                owner=request.user,
                session_key="",
                reuse_existing=not force.validated_data["force"],
            )
        except services.AnalysisDuplicateError as duplicate:
            data = DuplicateAnalysisSerializer(
                duplicate.existing, context={"request": request}
            ).data
            return Response(data, status=http.HTTP_200_OK, headers={"Location": data["url"]})
        except services.AnalysisInputError as err:
            return _refused({"file": err.messages}, too_large=err.code == "too_large")
        except services.AnalysisStorageError as err:
            status = http.HTTP_507_INSUFFICIENT_STORAGE if err.disk_full else 503
            return Response({"detail": err.message}, status=status)
        except services.AnalysisBusyError as err:
            return Response(
                {"detail": err.message},
                status=err.status_code,
                headers={"Retry-After": str(err.retry_after)},
            )
        analysis = _wait_for(analysis, seconds=wait.validated_data["wait"])
        context = {"request": request}
        if analysis.is_active:
            data = AnalysisSerializer(analysis, context=context).data
            status = http.HTTP_202_ACCEPTED
        else:
            data = AnalysisDetailSerializer(analysis, context=context).data
            status = http.HTTP_201_CREATED
        return Response(data, status=status, headers={"Location": data["url"]})


def _refused(errors: dict[str, Any], *, too_large: bool) -> Response:
    """The upload form's own messages, by field: 413 for a file over the limit, else 400."""
    status = http.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else http.HTTP_400_BAD_REQUEST
    return Response({field: list(messages) for field, messages in errors.items()}, status=status)


def _wait_for(analysis: Analysis, *, seconds: int) -> Analysis:
    """The analysis once it is done or failed, or as it is after ``seconds``.

    Reads the row again every ``WAIT_POLL_SECONDS``; no transaction is held meanwhile.
    """
    deadline = time.monotonic() + seconds
    while analysis.is_active:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _pause(min(WAIT_POLL_SECONDS, remaining))
        analysis.refresh_from_db()
    return analysis


@extend_schema(parameters=[_ID])
class AnalysisDetailView(APIView):
    @extend_schema(
        operation_id="analyses_retrieve",
        responses={200: AnalysisDetailSerializer, 404: ErrorSerializer, **_ERRORS},
        summary="One analysis with its segments",
    )
    def get(self, request: Request, pk: str) -> Response:
        analysis = _owned_or_404(request, pk)
        return Response(AnalysisDetailSerializer(analysis, context={"request": request}).data)

    @extend_schema(
        operation_id="analyses_destroy",
        responses={204: None, 404: ErrorSerializer, **_ERRORS},
        summary="Delete an analysis and its recording",
    )
    def delete(self, request: Request, pk: str) -> Response:
        analysis = _owned_or_404(request, pk)
        services.analysis_delete(analysis=analysis)
        return Response(status=http.HTTP_204_NO_CONTENT)


class _AnyContent(BaseContentNegotiation):
    """The recording is what it is, whatever the client's Accept header says."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


@extend_schema(parameters=[_ID])
class AnalysisAudioView(APIView):
    content_negotiation_class = _AnyContent

    @extend_schema(
        operation_id="analyses_audio",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                description="The stored recording (single byte ranges are served with 206)."
            ),
            404: ErrorSerializer,
            **_ERRORS,
        },
        summary="The stored recording",
    )
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        analysis = _owned_or_404(request, pk)
        try:
            return stored_audio_response(request._request, analysis)
        except FileNotFoundError:
            raise NotFound("The recording is missing.") from None


_CSV_EXPORT = OpenApiResponse(
    OpenApiTypes.STR, description="A CSV download (Content-Disposition: attachment)."
)


class _ExportView(APIView):
    """A download, CSV or JSON by its path, whatever the Accept header says."""

    content_negotiation_class = _AnyContent
    fmt = "json"


@extend_schema(parameters=[_ID])
class _AnalysisExportView(_ExportView):
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        analysis = _owned_or_404(request, pk)
        return exports.analysis_export_response(analysis=analysis, fmt=self.fmt)


class AnalysisExportCsvView(_AnalysisExportView):
    fmt = "csv"

    @extend_schema(
        operation_id="analyses_export_csv",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One row per segment, the overall result repeated on each.",
            ),
            404: ErrorSerializer,
            **_ERRORS,
        },
        summary="One analysis and its segments as CSV",
    )
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        return super().get(request, pk)


class AnalysisExportJsonView(_AnalysisExportView):
    fmt = "json"

    @extend_schema(
        operation_id="analyses_export_json",
        responses={
            (200, "application/json"): OpenApiResponse(
                ANALYSIS_EXPORT_SCHEMA, description="The result with a segments list."
            ),
            404: ErrorSerializer,
            **_ERRORS,
        },
        summary="One analysis and its segments as a JSON download",
    )
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        return super().get(request, pk)


class _HistoryExportView(_ExportView):
    def get(self, request: Request) -> HttpResponseBase:
        filters = AnalysisFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        analyses = selectors.analysis_list(
            owner=request.user, session_key=None, **filters.validated_data
        )
        return exports.history_export_response(analyses=analyses, fmt=self.fmt)


class HistoryExportCsvView(_HistoryExportView):
    fmt = "csv"

    @extend_schema(
        operation_id="analyses_export_list_csv",
        parameters=[AnalysisFilterSerializer],
        responses={(200, "text/csv"): _CSV_EXPORT, **_ERRORS},
        summary="Your analyses as filtered, all of them, as CSV (one row each)",
    )
    def get(self, request: Request) -> HttpResponseBase:
        return super().get(request)


class HistoryExportJsonView(_HistoryExportView):
    fmt = "json"

    @extend_schema(
        operation_id="analyses_export_list_json",
        parameters=[AnalysisFilterSerializer],
        responses={
            (200, "application/json"): OpenApiResponse(
                HISTORY_EXPORT_SCHEMA, description="A list, newest first."
            ),
            **_ERRORS,
        },
        summary="Your analyses as filtered, all of them, as a JSON download",
    )
    def get(self, request: Request) -> HttpResponseBase:
        return super().get(request)
