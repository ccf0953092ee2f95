"""Formatting helpers shared by the pages and the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from analyzer import charts
from analyzer.palette import EMOTION_COLOURS, EMOTION_COLOURS_DARK
from ml.card import ModelCard
from ml.verdict import DEFAULT_RULE, ClarityRule

if TYPE_CHECKING:
    from collections.abc import Iterable

    from analyzer.charts import Figures
    from analyzer.models import Analysis, Segment
    from ml.labels import Emotion, Verdict

register = template.Library()


@register.simple_tag
def emotion_palette_css() -> SafeString:
    """CSS rules giving each ``.emo-<name>`` element its colour in ``--emo`` (lighter ones
    on a dark screen)."""
    light = format_html_join(
        "\n",
        ".emo-{}{{--emo:{}}}",
        ((emotion.value, colour) for emotion, colour in EMOTION_COLOURS.items()),
    )
    dark = format_html_join(
        "",
        ".emo-{}{{--emo:{}}}",
        ((emotion.value, colour) for emotion, colour in EMOTION_COLOURS_DARK.items()),
    )
    return format_html("{}\n@media screen and (prefers-color-scheme: dark){{{}}}", light, dark)


@register.simple_tag
def analysis_figures(analysis: Analysis, segments: Iterable[Segment]) -> Figures:
    """The time charts of a finished analysis, laid out from its stored overview (waveform
    and spectrogram, when the worker made one) and its segments (see ``analyzer.charts``)."""
    return charts.figures(
        duration=analysis.duration,
        segments=list(segments),
        overview=charts.overview_data(analysis=analysis),
    )


@register.filter
def seconds(value: float | None) -> str:
    """``3.42`` -> ``3.4 s``; ``125`` -> ``2 min 05 s``; ``600`` -> ``10 min``."""
    if value is None:
        return "–"
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"


@register.filter
def clock(value: float | None) -> str:
    """A time in a recording: ``75.34`` -> ``01:15.3`` (minutes, seconds and tenths)."""
    if value is None:
        return "–"
    tenths = round(max(0.0, float(value)) * 10)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    """``0.8123`` -> ``81%``."""
    if value is None:
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def css_percent(value: float | None) -> str:
    """A probability as a CSS width, e.g. ``81.23%`` (always a plain dotted number)."""
    return f"{max(0.0, min(1.0, float(value or 0))) * 100:.2f}%"


@register.filter
def milliseconds(value: float | None) -> str:
    """A processing time: ``850`` -> ``850 ms``, ``1234`` -> ``1.2 s``, ``184000`` ->
    ``3 min 4 s``, ``3720000`` -> ``1 h 2 min``."""
    if value is None:
        return "–"
    value = float(value)
    if value < 999.5:
        return f"{value:.0f} ms"
    if value < 59_950:
        return f"{value / 1000:.1f} s"
    total = round(value / 1000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


@register.filter
def percent_value(value: float | None) -> str:
    """A probability as a bare percentage number for ARIA, e.g. ``81.2``."""
    return f"{float(value or 0) * 100:.1f}"


@register.filter
def verdict_by(segment: Segment, analysis: Analysis) -> Verdict:
    """A segment's verdict by the clarity rule its analysis was judged by (stored with the
    analysis; the default rule for one stored without, or with a damaged one)."""
    try:
        rule = ClarityRule.from_dict(analysis.clarity) if analysis.clarity else DEFAULT_RULE
    except (TypeError, ValueError):
        rule = DEFAULT_RULE
    return rule.judge(segment.probabilities)


@register.filter
def model_card(analysis: Analysis) -> ModelCard | None:
    """The plain-words card of the model that made ``analysis``, stored with it (None when
    that model had none, or it is damaged)."""
    try:
        return ModelCard.from_dict(analysis.model_card) if analysis.model_card else None
    except (TypeError, ValueError):
        return None


@register.filter
def largest_first(rows: Iterable[tuple[Emotion, float]]) -> list[tuple[Emotion, float]]:
    """``(emotion, value)`` rows, the largest value first (ties in label order)."""
    return sorted(rows, key=lambda row: -row[1])
