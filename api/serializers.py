"""What the API answers and accepts. Analyses are read-only here: writes go through
``analyzer.services`` (with ``analyzer.forms.UploadForm``'s validation)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analyzer.models import Analysis, EmotionChoice, Segment
from ml.labels import EMOTION_NAMES

_EMOTION_MAP = {
    "type": "object",
    "description": "All eight emotions, each with a share between 0 and 1 (sum 1).",
    "properties": {name: {"type": "number"} for name in EMOTION_NAMES},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


# The JSON downloads (``analyzer.exports``), described by hand: they are built without DRF.
_EXPORT_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": [value for value, _ in Analysis.Status.choices]},
    "file_name": {"type": "string"},
    "duration": {"type": "number"},
    "created": {"type": "string", "format": "date-time"},
    "model": {"type": "string", "nullable": True},
    "emotion": {"type": "string", "enum": list(EMOTION_NAMES), "nullable": True},
    "confidence": {"type": "number", "nullable": True},
    "verdict": {"type": "string", "enum": ["clear", "mixed", "unclear"], "nullable": True},
    "headline": {"type": "string", "nullable": True},
    "probabilities": _nullable(_EMOTION_MAP),
    "speaking_time": _nullable(_EMOTION_MAP),
}
HISTORY_EXPORT_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": _EXPORT_SUMMARY_PROPERTIES,
        "required": list(_EXPORT_SUMMARY_PROPERTIES),
    },
}
ANALYSIS_EXPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_EXPORT_SUMMARY_PROPERTIES,
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                    "emotion": {"type": "string", "enum": list(EMOTION_NAMES)},
                    "confidence": {"type": "number"},
                    "probabilities": _EMOTION_MAP,
                },
                "required": ["start", "end", "emotion", "confidence", "probabilities"],
            },
        },
    },
    "required": [*_EXPORT_SUMMARY_PROPERTIES, "segments"],
}


class SegmentSerializer(serializers.ModelSerializer):
    probabilities = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ("start", "end", "emotion", "confidence", "probabilities")

    @extend_schema_field(_EMOTION_MAP)
    def get_probabilities(self, segment: Segment) -> dict[str, float]:
        values = segment.probabilities or {}
        return {name: float(values.get(name, 0.0)) for name in EMOTION_NAMES}


class AnalysisSerializer(serializers.ModelSerializer):
    """One analysis as the list shows it; the result fields are null until it is done."""

    url = serializers.SerializerMethodField()
    audio_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    file_name = serializers.CharField(source="original_name")
    created = serializers.DateTimeField(source="created_at")
    error = serializers.CharField(source="error_message")
    model = serializers.SerializerMethodField()
    emotion = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    headline = serializers.SerializerMethodField()
    probabilities = serializers.SerializerMethodField()
    speaking_time = serializers.SerializerMethodField()

    class Meta:
        model = Analysis
        fields = (
            "id",
            "url",
            "page_url",
            "audio_url",
            "status",
            "error",
            "file_name",
            "duration",
            "created",
            "model",
            "emotion",
            "confidence",
            "verdict",
            "headline",
            "probabilities",
            "speaking_time",
        )
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, analysis: Analysis) -> str:
        return self._absolute(reverse("api:analysis-detail", args=[analysis.pk]))

    def get_page_url(self, analysis: Analysis) -> str:
        return self._absolute(analysis.get_absolute_url())

    def get_audio_url(self, analysis: Analysis) -> str:
        return self._absolute(reverse("api:analysis-audio", args=[analysis.pk]))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_model(self, analysis: Analysis) -> str | None:
        return analysis.model_name or None

    @extend_schema_field(serializers.ChoiceField(choices=EmotionChoice.choices, allow_null=True))
    def get_emotion(self, analysis: Analysis) -> str | None:
        """The top of the probabilities (the headline names it only when ``verdict`` is clear)."""
        return analysis.emotion or None

    @extend_schema_field(
        serializers.ChoiceField(choices=["clear", "mixed", "unclear"], allow_null=True)
    )
    def get_verdict(self, analysis: Analysis) -> str | None:
        """The model's clarity verdict as stored: clear, mixed or unclear."""
        if not analysis.emotion:
            return None
        return analysis.verdict or "clear"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_headline(self, analysis: Analysis) -> str | None:
        """The verdict in words: "Happy", "Mixed: happy, surprised" or "No clear emotion"."""
        return analysis.headline or None

    @extend_schema_field({**_EMOTION_MAP, "nullable": True})
    def get_probabilities(self, analysis: Analysis) -> dict[str, float] | None:
        if not analysis.emotion:
            return None
        return {emotion.value: value for emotion, value in analysis.probability_rows()}

    @extend_schema_field(
        {
            **_EMOTION_MAP,
            "nullable": True,
            "description": "Share of the speaking time each emotion led (sum 1).",
        }
    )
    def get_speaking_time(self, analysis: Analysis) -> dict[str, float] | None:
        if not analysis.emotion:
            return None
        return {emotion.value: value for emotion, value in analysis.distribution_rows()}


class AnalysisDetailSerializer(AnalysisSerializer):
    segments = serializers.SerializerMethodField()

    class Meta(AnalysisSerializer.Meta):
        fields = (*AnalysisSerializer.Meta.fields, "segments")
        read_only_fields = fields

    @extend_schema_field(SegmentSerializer(many=True))
    def get_segments(self, analysis: Analysis) -> list[dict[str, Any]]:
        from analyzer import selectors

        return SegmentSerializer(selectors.segment_list(analysis=analysis), many=True).data


class DuplicateAnalysisSerializer(AnalysisDetailSerializer):
    """The analysis a second upload of the same file matched (``POST`` without ``force``)."""

    duplicate_of = serializers.UUIDField(
        source="pk",
        read_only=True,
        help_text=(
            "The id of your earlier analysis of the same file (same SHA-256), which this "
            "body is; send ?force=1 to analyse the file again."
        ),
    )

    class Meta(AnalysisDetailSerializer.Meta):
        fields = (*AnalysisDetailSerializer.Meta.fields, "duplicate_of")
        read_only_fields = fields


class AnalysisPageSerializer(serializers.Serializer):
    """Only for the schema: one page of the list (``api.views.AnalysisPagination``)."""

    count = serializers.IntegerField(help_text="Analyses in all the pages.")
    next = serializers.URLField(allow_null=True, help_text="The next page, if any.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = AnalysisSerializer(many=True)


class AnalysisUploadSerializer(serializers.Serializer):
    """Only for the schema: the upload itself is checked by ``analyzer.forms.UploadForm``."""

    file = serializers.FileField(help_text="The recording (audio or video).")


class AnalysisFilterSerializer(serializers.Serializer):
    emotion = serializers.ChoiceField(choices=EmotionChoice.choices, required=False)
    status = serializers.ChoiceField(choices=Analysis.Status.choices, required=False)
    created_before = serializers.DateTimeField(required=False)
    created_after = serializers.DateTimeField(required=False)


class WaitSerializer(serializers.Serializer):
    wait = serializers.IntegerField(
        min_value=0,
        max_value=30,
        required=False,
        default=0,
        help_text="Wait up to this many seconds for the result (201 if it is done by then).",
    )


class ForceSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "Analyse the file even if you already uploaded it (same SHA-256); without it, "
            "such an upload answers 200 with the earlier analysis."
        ),
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
