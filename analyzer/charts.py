"""The charts of one analysis as numbers ready for the templates to draw as SVG.

The worker stores a small overview of the signal (``ml.overview``: waveform peaks and a
mel spectrogram; :class:`analyzer.models.AnalysisOverview`); the segments and the result
fields are stored anyway. From them :func:`figures` lays out, in one time axis shared by
every time chart:

* the waveform as one SVG path, over the segments' emotions as a shaded background;
* the spectrogram as a small PNG (a data: URI, which the CSP allows for images) put in an
  SVG ``<image>``: 64 × 400 cells are too many elements for SVG;
* the timeline: one lane per emotion, one bar per segment, opacity = confidence.

Every time chart is drawn in a viewBox ``VIEW_WIDTH`` wide with
``preserveAspectRatio="none"``, so that its x is time and the charts line up whatever the
width of the screen; the labels are HTML beside them. ``analyzer/static/analyzer/charts.js``
adds the playhead, seeking by a click and the highlighted segment.

Pure functions of plain values (no request, no matplotlib); :func:`overview_data` is the
one database read.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ml.filters import hz_to_mel
from ml.labels import EMOTIONS, Emotion
from ml.timeline import Summary, summarise

__all__ = ["Bar", "Figures", "Tick", "figures", "overview_data"]

VIEW_WIDTH = 1000  # x units of every time chart's viewBox
WAVE_HEIGHT = 100  # y units of the waveform's viewBox
MAX_TICKS = 6  # time ticks: still readable at 390 px
_STEPS = (0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)
_FREQ_TICKS = (250, 1000, 4000)

# A perceptually even dark-to-bright ramp (close to matplotlib's "magma"), for the
# spectrogram: black is silence, pale yellow the loudest cell.
_RAMP = (
    (0.0, (0, 0, 4)),
    (0.15, (28, 16, 68)),
    (0.3, (79, 18, 123)),
    (0.45, (129, 37, 129)),
    (0.6, (181, 54, 122)),
    (0.75, (229, 80, 100)),
    (0.88, (251, 135, 97)),
    (1.0, (252, 253, 191)),
)


class SegmentLike(Protocol):
    """A stored segment (``analyzer.models.Segment``): seconds, top emotion's name."""

    start: float
    end: float
    emotion: str
    confidence: float
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class Tick:
    """A label at ``position`` percent along (time) or up (frequency) a chart."""

    position: float
    label: str

    @property
    def css(self) -> str:
        return f"{self.position:.3f}%"

    @property
    def x(self) -> float:
        """The position in the viewBox units of a time chart."""
        return round(self.position * VIEW_WIDTH / 100, 2)


@dataclass(frozen=True)
class Bar:
    """A stretch of time in viewBox units: ``x``..``x + width`` of ``VIEW_WIDTH``."""

    x: float
    width: float
    emotion: str
    opacity: float = 1.0
    lane: int = 0
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class Figures:
    """Everything the time charts of one analysis need; ``duration`` in seconds."""

    duration: float
    ticks: list[Tick]
    axis_label: str
    bars: list[Bar]
    lanes: list[Emotion]
    timeline_label: str
    shading: list[Bar] = field(default_factory=list)
    waveform_path: str = ""
    waveform_label: str = ""
    spectrogram_uri: str = ""
    spectrogram_label: str = ""
    frequency_ticks: list[Tick] = field(default_factory=list)

    @property
    def has_overview(self) -> bool:
        return bool(self.waveform_path or self.spectrogram_uri)

    @property
    def view_width(self) -> int:
        return VIEW_WIDTH

    @property
    def lane_count(self) -> int:
        return len(self.lanes)


def overview_data(*, analysis: Any) -> dict[str, Any] | None:
    """The stored overview of ``analysis`` (``ml.overview.Overview.to_dict()``), or None."""
    from analyzer.models import AnalysisOverview

    row = AnalysisOverview.objects.filter(analysis=analysis).only("data").first()
    return row.data if row else None


def figures(
    *,
    duration: float,
    segments: Sequence[SegmentLike],
    overview: Mapping[str, Any] | None = None,
) -> Figures:
    """Lay out the time charts of one analysis; without ``overview`` only the timeline.

    ``duration`` is the recording's length in seconds; the overview's own (that of the
    decoded signal, which the peaks span) wins when there is one.
    """
    summary = summarise(segments)
    spans = _own_spans(summary)
    if overview and overview.get("duration"):
        duration = float(overview["duration"])
    duration = max(float(duration or 0.0), max((end for _, end, _, _ in spans), default=0.0))
    duration = max(duration, 1e-3)
    ticks, axis_label = time_ticks(duration)
    lanes = list(EMOTIONS)
    lane_of = {emotion.value: i for i, emotion in enumerate(lanes)}
    bars = [
        Bar(
            x=_x(start, duration),
            width=max(_x(end, duration) - _x(start, duration), 0.0),
            emotion=emotion,
            opacity=round(_opacity(confidence), 3),
            lane=lane_of.get(emotion, 0),
            start=start,
            end=end,
        )
        for start, end, emotion, confidence in spans
    ]
    result = Figures(
        duration=duration,
        ticks=ticks,
        axis_label=axis_label,
        bars=bars,
        lanes=lanes,
        timeline_label=_timeline_label(summary, duration),
    )
    if not overview:
        return result
    wave = overview.get("waveform") or {}
    spec = overview.get("spectrogram") or {}
    path = _waveform_path(wave.get("peaks") or [], int(wave.get("levels") or 127))
    uri, frequency_ticks = _spectrogram(spec)
    return Figures(
        **{
            **result.__dict__,
            "shading": _merged(bars),
            "waveform_path": path,
            "waveform_label": _waveform_label(duration, float(wave.get("scale") or 0.0), bars),
            "spectrogram_uri": uri,
            "spectrogram_label": (
                f"Mel spectrogram of the recording, {_describe(duration)}, 0 to "
                f"{float(spec.get('fmax') or 8000) / 1000:g} kHz; brighter means louder"
                if uri
                else ""
            ),
            "frequency_ticks": frequency_ticks,
        }
    )


# --- time -------------------------------------------------------------------------------------


def _x(seconds: float, duration: float) -> float:
    return round(min(max(seconds / duration, 0.0), 1.0) * VIEW_WIDTH, 2)


def _clock(seconds: float, *, hours: bool = False) -> str:
    """``75`` -> ``1:15``; with ``hours`` (or from an hour on) ``0:01:15``."""
    whole, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{whole}:{minutes:02d}:{secs:02d}" if whole or hours else f"{minutes}:{secs:02d}"


def _describe(duration: float) -> str:
    return f"{duration:.1f} s" if duration < 120 else _clock(duration)


def time_ticks(duration: float) -> tuple[list[Tick], str]:
    """At most ``MAX_TICKS`` round times from 0, and the axis's label."""
    step = next((s for s in _STEPS if duration / s < MAX_TICKS), None)
    if step is None:
        step = 3600 * math.ceil(duration / 3600 / (MAX_TICKS - 1))
    count = int(duration // step) + 1
    times = [i * step for i in range(count)]
    if duration < 120:
        labels = [f"{t:g}" for t in times]
        unit = "Time (s)"
    else:
        labels = [_clock(t, hours=duration >= 3600) for t in times]
        unit = "Time (h:mm:ss)" if duration >= 3600 else "Time (min:s)"
    return [Tick(100 * t / duration, label) for t, label in zip(times, labels, strict=True)], unit


# --- segments ---------------------------------------------------------------------------------


def _own_spans(summary: Summary | None) -> list[tuple[float, float, str, float]]:
    """(start, end, emotion, confidence) of each segment's own time: windows overlap by
    half, and each counts until the next one starts (``ml.timeline.summarise``, the rule of
    the share of speaking time too, and of the segment the page highlights as it plays)."""
    if summary is None:
        return []
    return [
        (span.start, span.end, span.emotion, float(span.segment.confidence))  # type: ignore[attr-defined]
        for span in summary.spans
    ]


def _opacity(confidence: float) -> float:
    """0.25 at chance (1/8) up to 1.0 when certain."""
    chance = 1 / len(EMOTIONS)
    return 0.25 + 0.75 * min(max((confidence - chance) / (1 - chance), 0.0), 1.0)


def _merged(bars: Sequence[Bar]) -> list[Bar]:
    """Neighbouring bars of one emotion as one: the waveform's background needs no more."""
    out: list[Bar] = []
    for bar in bars:
        last = out[-1] if out else None
        if last and last.emotion == bar.emotion and abs(last.x + last.width - bar.x) < 0.01:
            out[-1] = Bar(x=last.x, width=bar.x + bar.width - last.x, emotion=bar.emotion)
        else:
            out.append(Bar(x=bar.x, width=bar.width, emotion=bar.emotion))
    return out


def _timeline_label(summary: Summary | None, duration: float) -> str:
    if summary is None:
        return f"Emotion over time across {_describe(duration)}: no speech found"
    shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in summary.ranked(3))
    count = len(summary.spans)
    return (
        f"Emotion over time across {_describe(duration)}, {count} segment"
        f"{'' if count == 1 else 's'}; most of the speaking time: {shares}"
    )


# --- waveform ---------------------------------------------------------------------------------


def _waveform_path(peaks: Sequence[Sequence[int]], levels: int) -> str:
    """One closed outline: the maxima left to right, then the minima back (viewBox
    ``0 0 VIEW_WIDTH WAVE_HEIGHT``, 0 in the middle, the loudest sample at the edges)."""
    if not peaks:
        return ""
    values = np.asarray(peaks, dtype=np.float64).reshape(-1, 2)
    if len(values) == 1:
        values = np.repeat(values, 2, axis=0)
    n = len(values)
    half = WAVE_HEIGHT / 2
    # One point per column, at its centre; the ends stretched to the edges.
    xs = (np.arange(n) + 0.5) * VIEW_WIDTH / n
    xs[0], xs[-1] = 0.0, float(VIEW_WIDTH)
    top = half - np.maximum(values[:, 1], 0.25) / levels * half * 0.96
    bottom = half - np.minimum(values[:, 0], -0.25) / levels * half * 0.96
    upper = [f"{x:.1f} {y:.1f}" for x, y in zip(xs, top, strict=True)]
    lower = [f"{x:.1f} {y:.1f}" for x, y in zip(xs[::-1], bottom[::-1], strict=True)]
    return "M" + " ".join(upper) + " L" + " ".join(lower) + "Z"


def _waveform_label(duration: float, scale: float, bars: Sequence[Bar]) -> str:
    label = f"Waveform of the recording, {_describe(duration)}, peak amplitude {scale:.2f}"
    if bars:
        label += "; the background is coloured by the emotion detected at each moment"
    return label


# --- spectrogram ------------------------------------------------------------------------------


def _ramp() -> np.ndarray:
    at = np.array([p for p, _ in _RAMP])
    colours = np.array([c for _, c in _RAMP], dtype=np.float64)
    levels = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(levels, at, colours[:, i]) for i in range(3)], axis=1).astype(
        np.uint8
    )


_LUT = _ramp()


def _png(rgb: np.ndarray) -> bytes:
    """A truecolour PNG of ``rgb`` [shape=(height, width, 3), dtype=uint8]."""
    height, width, _ = rgb.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _spectrogram(spec: Mapping[str, Any]) -> tuple[str, list[Tick]]:
    """The spectrogram as a PNG data: URI (top row = highest band) and its frequency ticks
    in percent from the bottom; ``("", [])`` when there is none."""
    try:
        bands, frames = int(spec["bands"]), int(spec["frames"])
        levels = np.frombuffer(base64.b64decode(spec["data"]), dtype=np.uint8)
        levels = levels.reshape(bands, frames)
    except (KeyError, TypeError, ValueError):
        return "", []
    if not levels.size:
        return "", []
    uri = "data:image/png;base64," + base64.b64encode(_png(_LUT[levels[::-1]])).decode("ascii")
    fmax = float(spec.get("fmax") or 8000.0)
    top = hz_to_mel(fmax)  # the bands are equally spaced on this mel scale (ml.filters.mel)
    ticks = [
        Tick(float(100 * hz_to_mel(hz) / top), f"{hz // 1000}k" if hz >= 1000 else str(hz))
        for hz in _FREQ_TICKS
        if hz < fmax
    ]
    return uri, ticks
