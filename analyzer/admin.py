from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from analyzer import selectors, services
from analyzer.models import Analysis, AnalysisChart, Segment
from analyzer.palette import emotion_colour
from analyzer.responses import stored_audio_response
from analyzer.templatetags.analyzer_tags import clock, milliseconds, percent


class SegmentInline(admin.TabularInline):
    """The windows the result was derived from; computed, so read-only."""

    model = Segment
    fields = ("start_display", "end_display", "emotion", "confidence_display")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Analysis | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Analysis | None = None) -> bool:
        return False

    @admin.display(description="From")
    def start_display(self, obj: Segment) -> str:
        return clock(obj.start)

    @admin.display(description="To")
    def end_display(self, obj: Segment) -> str:
        return clock(obj.end)

    @admin.display(description="Confidence")
    def confidence_display(self, obj: Segment) -> str:
        return percent(obj.confidence)


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = (
        "original_name",
        "headline_display",
        "confidence_display",
        "duration_display",
        "status",
        "owner",
        "created_at",
    )
    list_filter = ("verdict", "emotion", "status", "model_name")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    search_fields = ("original_name", "sha256")
    actions = ("analyse_again",)
    inlines = (SegmentInline,)
    fieldsets = (
        ("Recording", {"fields": ("original_name", "audio_player", "file_facts", "sha256")}),
        (
            "Result",
            {
                "fields": (
                    "status",
                    "progress_display",
                    "error_message",
                    "headline_display",
                    "verdict",
                    "emotion",
                    "confidence_display",
                    "mixed_with",
                    "probability_table",
                    "distribution_table",
                    "clarity",
                    "model_name",
                    "model_sha256",
                    "processing_time_display",
                )
            },
        ),
        ("Charts", {"fields": ("chart_gallery",)}),
        ("Queue", {"fields": ("job_id", "queued_at"), "classes": ("collapse",)}),
        ("Ownership", {"fields": ("owner", "session_key", "created_at")}),
    )
    # Everything here was computed from the upload; edits would only make it lie.
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Analyses are made by uploading on the site, which runs the checks and the model.
        return False

    def get_urls(self) -> list[URLPattern]:
        audio = path(
            "<uuid:object_id>/audio/",
            self.admin_site.admin_view(self.audio_view),
            name="analyzer_analysis_audio",
        )
        return [audio, *super().get_urls()]

    def audio_view(self, request: HttpRequest, object_id: uuid.UUID) -> HttpResponseBase:
        analysis = self.get_object(request, str(object_id))
        if analysis is None or not self.has_view_permission(request, analysis):
            raise Http404("No such analysis.")
        try:
            return stored_audio_response(request, analysis)
        except FileNotFoundError:
            raise Http404("The recording is missing.") from None

    @admin.display(description="Result", ordering="emotion")
    def headline_display(self, obj: Analysis) -> str:
        return obj.headline or "–"

    @admin.display(description="Confidence", ordering="confidence")
    def confidence_display(self, obj: Analysis) -> str:
        return percent(obj.confidence)

    @admin.display(description="Duration", ordering="duration")
    def duration_display(self, obj: Analysis) -> str:
        return f"{obj.duration:.1f} s"

    @admin.display(description="Processing time", ordering="processing_ms")
    def processing_time_display(self, obj: Analysis) -> str:
        return milliseconds(obj.processing_ms)

    @admin.display(description="Audio")
    def audio_player(self, obj: Analysis) -> SafeString:
        url = reverse("admin:analyzer_analysis_audio", args=[obj.pk])
        return format_html(
            '<audio controls preload="metadata" src="{}">'
            '<a href="{}">Download the recording</a></audio>',
            url,
            url,
        )

    @admin.display(description="File")
    def file_facts(self, obj: Analysis) -> str:
        return (
            f"{obj.format} ({obj.content_type}), {obj.size:,} bytes, {obj.duration:.2f} s, "
            f"{obj.sample_rate} Hz, {obj.channels} channel{'s' if obj.channels != 1 else ''}"
        )

    @admin.display(description="Progress")
    def progress_display(self, obj: Analysis) -> str:
        return f"{obj.segments_done} of {obj.segments_total} segments"

    @admin.display(description="Probabilities (the headline is the first)")
    def probability_table(self, obj: Analysis) -> SafeString | str:
        if not obj.probabilities:
            return "–"
        return _emotion_table("Probability", obj.ranked_probability_rows())

    @admin.display(description="Share of the speaking time")
    def distribution_table(self, obj: Analysis) -> SafeString | str:
        if not obj.distribution:
            return "–"
        return _emotion_table("Share", obj.distribution_rows())

    @admin.display(description="Charts")
    def chart_gallery(self, obj: Analysis) -> SafeString | str:
        charts = selectors.chart_map(analysis=obj)
        if not charts:
            return "–"
        labels = dict(AnalysisChart.Kind.choices)
        # The SVG is drawn by analyzer.charts from numbers, never from user input.
        return format_html_join(
            "",
            '<figure style="margin:0 0 1rem;max-width:720px"><figcaption>{}</figcaption>'
            "{}</figure>",
            ((labels[kind], mark_safe(svg)) for kind, svg in charts.items() if kind in labels),
        )

    @admin.action(description="Analyse again with the current model")
    def analyse_again(self, request: HttpRequest, queryset: QuerySet[Analysis]) -> None:
        queued = failed = 0
        for analysis in queryset:
            analysis = services.analysis_requeue(analysis=analysis)
            if analysis.status == Analysis.Status.FAILED:
                failed += 1
            else:
                queued += 1
        if queued:
            self.message_user(
                request, f"Queued {queued} recording(s) to be analysed again.", messages.SUCCESS
            )
        if failed:
            self.message_user(
                request, f"{failed} recording(s) could not be queued.", messages.WARNING
            )


def _emotion_table(heading: str, rows: list) -> SafeString:
    body = format_html_join(
        "",
        '<tr><th scope="row"><span style="display:inline-block;width:.8em;height:.8em;'
        'background:{};margin-right:.4em"></span>{}</th><td>{}</td></tr>',
        ((emotion_colour(emotion.value), emotion.label, percent(p, 1)) for emotion, p in rows),
    )
    return format_html(
        "<table><thead><tr><th>Emotion</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        heading,
        body,
    )
