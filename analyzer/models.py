from __future__ import annotations

import re
import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from ml.labels import EMOTIONS, Emotion, Verdict, VerdictKind

EmotionChoice = models.TextChoices(
    "EmotionChoice", [(emotion.name, (emotion.value, emotion.label)) for emotion in EMOTIONS]
)
VerdictChoice = models.TextChoices(
    "VerdictChoice",
    [
        ("CLEAR", (VerdictKind.CLEAR.value, "Clear")),
        ("MIXED", (VerdictKind.MIXED.value, "Mixed")),
        ("UNCLEAR", (VerdictKind.UNCLEAR.value, "No clear emotion")),
    ],
)

_SAFE_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")


def analysis_upload_to(instance: Analysis, filename: str) -> str:
    """Store uploads under a random name, e.g. ``uploads/2026/11/<uuid4hex>.wav``.

    The user's file name never reaches the disk: the service passes a name whose
    extension comes from the sniffed format, and only a plain extension is kept.
    """
    extension = PurePath(filename).suffix.lstrip(".").lower()
    if not _SAFE_EXTENSION.match(extension):
        extension = "bin"
    now = timezone.now()
    return f"uploads/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{extension}"


class Analysis(models.Model):
    """One uploaded recording and what the model made of it.

    The row and its stored file live and die together (see ``analyzer.signals``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    original_name = models.CharField(max_length=255)
    file = models.FileField(upload_to=analysis_upload_to, max_length=255)
    format = models.CharField(max_length=16, help_text="Container format sniffed from the file.")
    content_type = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64, db_index=True)
    duration = models.FloatField(help_text="Seconds.")
    sample_rate = models.PositiveIntegerField(help_text="Hz, as recorded.")
    channels = models.PositiveSmallIntegerField()

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_message = models.TextField(blank=True)
    # The overall result, derived from the segments (see services.analysis_run): the
    # headline is the top of ``probabilities``, the bars the result page shows.
    emotion = models.CharField(
        max_length=16,
        choices=EmotionChoice.choices,
        blank=True,
        help_text="The top of the probabilities: the emotion with the highest mean probability.",
    )
    confidence = models.FloatField(
        null=True,
        blank=True,
        help_text="That emotion's probability, exactly as its bar shows it.",
    )
    probabilities = models.JSONField(
        default=dict,
        blank=True,
        help_text="Mean of the segments' probabilities, weighted by their speaking time.",
    )
    distribution = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Share of the speaking time per emotion (sum 1): how long each emotion led a "
            "segment. A separate figure; it may put another emotion first."
        ),
    )
    verdict = models.CharField(
        max_length=8,
        choices=VerdictChoice.choices,
        blank=True,
        help_text=(
            "Whether the top emotion is clear enough to be named, two emotions share the "
            "lead (mixed), or no emotion leads, by the clarity rule of the model."
        ),
    )
    mixed_with = models.CharField(
        max_length=16,
        choices=EmotionChoice.choices,
        blank=True,
        help_text="The second emotion of a mixed verdict.",
    )
    clarity = models.JSONField(
        default=dict,
        blank=True,
        help_text="The clarity rule that judged the verdict (empty: the default rule).",
    )
    model_card = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the model was trained on and how it does on unheard voices.",
    )
    model_name = models.CharField(max_length=100, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    processing_ms = models.FloatField(null=True, blank=True)

    # The job in the queue (procrastinate_jobs.id) and the analysis's progress in it.
    job_id = models.BigIntegerField(null=True, blank=True, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    segments_done = models.PositiveIntegerField(default=0)
    segments_total = models.PositiveIntegerField(default=0)
    # The result is saved first and shown at once; the charts follow a moment later.
    charts_pending = models.BooleanField(default=False, editable=False)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="analyses",
    )
    session_key = models.CharField(max_length=40, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        if self.status == self.Status.DONE and self.emotion:
            return f"{self.original_name} – {self.headline}"
        return f"{self.original_name} – {self.get_status_display()}"

    def get_absolute_url(self) -> str:
        return reverse("analyzer:result", args=[self.pk])

    @property
    def emotion_enum(self) -> Emotion | None:
        return Emotion(self.emotion) if self.emotion else None

    @property
    def outcome(self) -> Verdict | None:
        """The verdict of a finished analysis: what its headline may say."""
        if not self.emotion:
            return None
        kind = VerdictKind(self.verdict or VerdictKind.CLEAR)
        if kind is VerdictKind.MIXED and self.mixed_with:
            return Verdict(kind, (Emotion(self.emotion), Emotion(self.mixed_with)))
        if kind is VerdictKind.CLEAR:
            return Verdict(kind, (Emotion(self.emotion),))
        return Verdict(VerdictKind.UNCLEAR, ())

    @property
    def headline(self) -> str:
        """The result in words: the emotion, "Mixed: a, b" or "No clear emotion" (or "")."""
        outcome = self.outcome
        return outcome.text if outcome else ""

    @property
    def mixed_with_confidence(self) -> float | None:
        """The probability of the second emotion of a mixed verdict."""
        if not self.mixed_with:
            return None
        return float((self.probabilities or {}).get(self.mixed_with, 0.0))

    @property
    def is_clear(self) -> bool:
        outcome = self.outcome
        return bool(outcome and outcome.clear)

    @property
    def is_active(self) -> bool:
        """Queued or being analysed: the result page keeps updating itself."""
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_updating(self) -> bool:
        """The page is not final yet: the analysis is under way or its charts are coming."""
        return self.is_active or (self.status == self.Status.DONE and self.charts_pending)

    @property
    def progress_text(self) -> str:
        if self.status == self.Status.PENDING:
            return "Analysing… waiting in the queue"
        if self.status == self.Status.RUNNING:
            if self.segments_total:
                return f"Analysing… {self.segments_done} of {self.segments_total} segments"
            return "Analysing…"
        if self.status == self.Status.DONE and self.charts_pending:
            return "Drawing the charts…"
        return self.get_status_display()

    @property
    def confidence_percent(self) -> float | None:
        return None if self.confidence is None else self.confidence * 100

    @property
    def short_model_sha256(self) -> str:
        return self.model_sha256[:12]

    def probability_rows(self) -> list[tuple[Emotion, float]]:
        """All eight emotions in label order with their probability (0 when unknown)."""
        return _emotion_rows(self.probabilities)

    def ranked_probability_rows(self) -> list[tuple[Emotion, float]]:
        """All eight emotions, most probable first (the headline's emotion leads)."""
        return _ranked(_emotion_rows(self.probabilities), first=self.emotion)

    def distribution_rows(self) -> list[tuple[Emotion, float]]:
        """All eight emotions in label order with their share of the speaking time."""
        return _emotion_rows(self.distribution)


def _emotion_rows(values: dict[str, float] | None) -> list[tuple[Emotion, float]]:
    values = values or {}
    return [(emotion, float(values.get(emotion.value, 0.0))) for emotion in EMOTIONS]


def _ranked(rows: list[tuple[Emotion, float]], *, first: str) -> list[tuple[Emotion, float]]:
    # Highest first; on a tie the headline's emotion, then the label order.
    return sorted(rows, key=lambda row: (-row[1], row[0].value != first))


class Segment(models.Model):
    """One classified window of speech; the overall result of an analysis is derived from these.

    Windows are about 3 s long and overlap by half, so ``start``..``end`` of neighbours overlap.
    """

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="segments")
    start = models.FloatField(help_text="Seconds from the start of the recording.")
    end = models.FloatField(help_text="Seconds from the start of the recording.")
    emotion = models.CharField(max_length=16, choices=EmotionChoice.choices)
    confidence = models.FloatField()
    probabilities = models.JSONField(default=dict)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["analysis", "start"], name="segment_analysis_start")]

    def __str__(self) -> str:
        return f"{self.start:.1f}–{self.end:.1f} s {self.emotion}"

    @property
    def emotion_enum(self) -> Emotion:
        return Emotion(self.emotion)


class AnalysisChart(models.Model):
    """A chart of an analysis as SVG, drawn by the worker of an earlier version.

    Kept for the analyses made before :class:`AnalysisOverview`: their result page shows
    these images where it has no overview to draw from. Nothing writes new ones.
    """

    class Kind(models.TextChoices):
        WAVEFORM = "waveform", "Waveform"
        SPECTROGRAM = "spectrogram", "Mel spectrogram"
        PROBABILITIES = "probabilities", "Probabilities"
        TIMELINE = "timeline", "Timeline"
        DISTRIBUTION = "distribution", "Distribution"

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="charts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    svg = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["analysis", "kind"], name="one_chart_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.analysis_id}"


class AnalysisOverview(models.Model):
    """What the result page draws the waveform and spectrogram from, stored by the worker.

    ``data`` is ``ml.overview.Overview.to_dict()``: the duration, ~1000 waveform min/max
    pairs and a 64-band mel spectrogram of at most 400 frames (under 50 KB). The
    timeline and the bars are drawn from the segments and the result fields. Analyses made
    before it have none (and may have the SVG of an :class:`AnalysisChart` instead).
    """

    analysis = models.OneToOneField(
        Analysis, on_delete=models.CASCADE, primary_key=True, related_name="overview"
    )
    data = models.JSONField()

    def __str__(self) -> str:
        return f"Overview of {self.analysis_id}"
