"""The charts of one analysis, rendered as standalone SVG strings ready to inline in a page.

Pure functions: arrays and numbers in, SVG text out; no database, no request. They use
matplotlib's object-oriented ``Figure`` API (never pyplot, whose global figure registry is
neither thread-safe nor leak-free in a server). The SVG keeps its text as text, carries a
``<title>``, ``role="img"`` and an ``aria-label`` that says what the chart shows, and
scales to its container (``width="100%"`` with the ``viewBox`` kept).

Every emotion has the colour of :mod:`analyzer.palette`, in every chart.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

import matplotlib as mpl
import numpy as np
import scipy.fft
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator
from PIL import Image

from analyzer.palette import EMOTION_COLOURS
from ml.labels import EMOTION_NAMES, EMOTIONS, Emotion

__all__ = [
    "AnySegment",
    "SegmentLike",
    "distribution_svg",
    "probabilities_svg",
    "render_all",
    "spectrogram_svg",
    "timeline_svg",
    "waveform_svg",
]

# Inches; at 72 units per inch the viewBox is 461 units wide, so 10.5-unit tick labels read
# as ~15 px at 660 px (desktop) and ~8 px at 360 px (phone).
WIDTH = 6.4
WAVE_COLUMNS = 1000  # min/max envelope columns: more than the pixels of a wide screen
SPEC_MAX_COLUMNS = 2000
SPEC_FRAMES_PER_COLUMN = 4  # long files: power averaged over a few frames per column
SPEC_MAX_HZ = 8000.0  # speech lives below 8 kHz; the model hears 16 kHz audio
SPEC_MELS = 64
SPEC_RANGE_DB = 80.0
IMAGE_DPI = 150  # resolution of the raster parts (spectrogram, waveform shading)
JPEG_QUALITY = 85
TIMELINE_MAX_VECTOR_BARS = 500  # ~12 min of speech; beyond, the bars become one image

_INK = "#1f2937"
_MUTED = "#4b5563"
_GRID = "#e5e7eb"
_STYLE = {
    "svg.fonttype": "none",  # text stays text: selectable, searchable, small
    "svg.image_inline": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 11,
    "axes.labelcolor": _INK,
    "axes.edgecolor": _MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "text.color": _INK,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
}
# rcParams are process-wide: building and saving a chart happen under one lock, so two
# threads never see each other's settings (rendering is CPU-bound; the GIL serialises it
# anyway).
_LOCK = threading.RLock()


# --- segments ---------------------------------------------------------------------------------


class SegmentLike(Protocol):
    """A classified stretch of the recording; ``start``/``end`` in seconds."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def emotion(self) -> str | Emotion: ...

    @property
    def confidence(self) -> float: ...


class _PredictedSegment(Protocol):
    """``ml.timeline.Segment``: the emotion and confidence sit in ``.prediction``."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def prediction(self) -> Any: ...


# What the timeline accepts: a SegmentLike, an ml Segment, or the dict of Segment.to_dict().
AnySegment = SegmentLike | _PredictedSegment | Mapping[str, Any]


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    emotion: Emotion
    confidence: float


def _span(seg: AnySegment) -> _Span:
    """Read a SegmentLike, an ``ml.timeline.Segment`` (``.prediction``), or its ``to_dict()``."""
    if isinstance(seg, Mapping):
        start, end, emotion, conf = (seg["start"], seg["end"], seg["emotion"], seg["confidence"])
    else:
        source = getattr(seg, "prediction", seg)
        start, end, emotion, conf = seg.start, seg.end, source.emotion, source.confidence
    return _Span(float(start), float(end), Emotion(emotion), float(conf))


def _own_spans(segments: Sequence[AnySegment]) -> list[_Span]:
    """Each segment cut where the next one begins, so that spans tile time without overlap.

    Windows overlap by half; drawing them whole would stack their opacities. This is the
    rule ``ml.timeline.distribution`` uses to share out the speaking time.
    """
    spans = sorted((_span(s) for s in segments), key=lambda s: s.start)
    out = []
    for i, s in enumerate(spans):
        nxt = spans[i + 1].start if i + 1 < len(spans) else s.end
        end = min(s.end, nxt) if nxt > s.start else s.end
        out.append(_Span(s.start, max(end, s.start), s.emotion, s.confidence))
    return out


def _shares(spans: Sequence[_Span]) -> dict[str, float]:
    share = dict.fromkeys(EMOTION_NAMES, 0.0)
    for s in spans:
        share[s.emotion.value] += s.end - s.start
    total = sum(share.values())
    return {k: (v / total if total else 0.0) for k, v in share.items()}


# --- rendering ----------------------------------------------------------------------------------


def _chart(func: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        with _LOCK, mpl.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def _figure(height: float) -> Figure:
    return Figure(figsize=(WIDTH, height), layout="constrained")


_ROOT = re.compile(r"<svg\b[^>]*>")
_DIMENSION = re.compile(r'\s(?:width|height)="[^"]*"')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def _chart_id(kind: str) -> str:
    # Unique per rendering: a page may show the charts of several analyses.
    return f"chart-{kind}-{uuid.uuid4().hex[:8]}"


_PNG = re.compile(r"data:image/png;base64,\s*([A-Za-z0-9+/=\s]+)")


def _png_to_jpeg(match: re.Match[str]) -> str:
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _to_svg(
    fig: Figure,
    *,
    kind: str,
    label: str,
    chart_id: str | None = None,
    jpeg: bool = False,
) -> str:
    """Save ``fig`` as inline-ready SVG: no prolog, responsive, with a title and ARIA label.

    ``jpeg`` re-encodes the embedded rasters as JPEG: a spectrogram is noise to PNG's
    compression and several times smaller as JPEG, at no visible loss.
    """
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", dpi=IMAGE_DPI, metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    if jpeg:
        svg = _PNG.sub(_png_to_jpeg, svg)
    svg = svg[svg.index("<svg") :]
    svg = _METADATA.sub("", svg, count=1)
    chart_id = chart_id or _chart_id(kind)
    root = _ROOT.search(svg)
    assert root is not None, "matplotlib wrote no <svg> element"
    attrs = _DIMENSION.sub("", root.group(0)[len("<svg") : -1])
    head = (
        f'<svg id="{chart_id}" class="chart chart-{kind}" width="100%" role="img" '
        f"aria-label={quoteattr(label)}{attrs}>\n <title>{escape(label)}</title>\n"
    )
    svg = head + svg[root.end() :].lstrip("\n")
    # matplotlib's default style says `*{...}`; inline in a page that would reach every
    # element of the page, so keep it to this chart.
    return svg.replace("*{stroke-linejoin", f"#{chart_id} *{{stroke-linejoin", 1)


def _note(ax: Any, text: str) -> None:
    """A short key in small grey type, right-aligned on the title line."""
    ax.text(
        1.0, 1.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=9.5, color=_MUTED
    )


def _percent(share: float) -> str:
    return f"{100 * share:.0f} %" if share >= 0.1 or share == 0 else f"{100 * share:.1f} %"


def _clock(seconds: float, _pos: Any = None) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_CLOCK_STEPS = (10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600)


def _time_axis(ax: Any, duration: float) -> None:
    """Seconds for short recordings, m:ss (h:mm:ss) ticks on whole minutes for long ones."""
    ax.set_xlim(0, max(duration, 1e-3))
    if duration < 120:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel("Time (s)")
        return
    step = next((s for s in _CLOCK_STEPS if duration / s <= 8), 3600 * math.ceil(duration / 28800))
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_xlabel("Time (h:mm:ss)" if duration >= 3600 else "Time (min:s)")


def _describe_time(duration: float) -> str:
    return f"{duration:.1f} s" if duration < 120 else _clock(duration)


# --- waveform ---------------------------------------------------------------------------------


def _envelope(signal: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(column index of first sample, min, max) of ``columns`` equal slices of ``signal``."""
    n = len(signal)
    starts = np.unique(np.linspace(0, n, min(columns, n) + 1).astype(np.int64)[:-1])
    return starts, np.minimum.reduceat(signal, starts), np.maximum.reduceat(signal, starts)


def _mono(signal: np.ndarray) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x.reshape(-1)


@_chart
def waveform_svg(
    signal: np.ndarray, sample_rate: int = 16000, *, segments: Sequence[AnySegment] | None = None
) -> str:
    """Amplitude over time; with ``segments``, each span shaded in its emotion's colour.

    signal : np.ndarray [shape=(n,)] mono float at ``sample_rate`` (a 60-min file is fine:
    it is reduced to a min/max envelope of ``WAVE_COLUMNS`` columns first).
    """
    x = _mono(signal)
    duration = len(x) / sample_rate
    fig = _figure(2.4)
    ax = fig.add_subplot()
    ax.set_title("Waveform")
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    top = max(1.08 * peak, 0.01)
    if len(x):
        starts, lo, hi = _envelope(x, WAVE_COLUMNS)
        ends = np.r_[starts[1:], len(x)]
        t = (starts + ends) / 2 / sample_rate
        ax.fill_between(t, lo, hi, color=_INK, linewidth=0.4, edgecolor=_INK, zorder=2)
    ax.axhline(0, color=_MUTED, linewidth=0.5, zorder=1)
    spans = _own_spans(segments) if segments else []
    if spans:
        _shade(ax, spans, duration, top)
        _note(ax, "background colour = emotion")
    ax.set_ylim(-top, top)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
    ax.set_ylabel("Amplitude\n(full scale = 1)")
    _time_axis(ax, duration)
    label = f"Waveform of the recording, {_describe_time(duration)}, peak amplitude {peak:.2f}"
    if spans:
        label += "; the background is coloured by the emotion detected at each moment"
    return _to_svg(fig, kind="waveform", label=label)


def _shade(ax: Any, spans: Sequence[_Span], duration: float, top: float) -> None:
    """One row of colour per time column behind the waveform (a tiny raster, however many
    segments a long recording has)."""
    starts = np.array([s.start for s in spans])
    ends = np.array([s.end for s in spans])
    colours = np.array([to_rgba(EMOTION_COLOURS[s.emotion], 0.3) for s in spans])
    centres = (np.arange(WAVE_COLUMNS) + 0.5) * duration / WAVE_COLUMNS
    owner = np.maximum(np.searchsorted(starts, centres, side="right") - 1, 0)
    inside = (centres >= starts[owner]) & (centres < ends[owner])
    strip = np.where(inside[:, None], colours[owner], 0.0)[None]
    ax.imshow(
        strip,
        extent=(0, duration, -top, top),
        aspect="auto",
        interpolation="nearest",
        zorder=0,
    )


# --- spectrogram ------------------------------------------------------------------------------


def _hz_to_mel(hz: Any) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    """Triangular filters on the HTK mel scale [shape=(n_mels, n_fft // 2 + 1)]."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    hz = _mel_to_hz(np.linspace(0.0, _hz_to_mel(fmax), n_mels + 2))
    rising = (freqs[None, :] - hz[:-2, None]) / (hz[1:-1] - hz[:-2])[:, None]
    falling = (hz[2:, None] - freqs[None, :]) / (hz[2:] - hz[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _mel_spectrogram(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Mel power in dB re the loudest cell [shape=(SPEC_MELS, columns)], and fmax in Hz.

    At most ``SPEC_MAX_COLUMNS`` columns of 10 ms or more; a long file gets wider columns,
    each the mean power of a few frames spread across it, so the cost does not grow with
    the length of the file.
    """
    hop = max(1, sample_rate // 100)
    n_fft = 1 << math.ceil(math.log2(0.064 * sample_rate))  # 1024 at 16 kHz
    fmax = min(SPEC_MAX_HZ, sample_rate / 2)
    columns = max(1, min(SPEC_MAX_COLUMNS, math.ceil(len(x) / hop)))
    span = len(x) / columns
    per_column = max(1, min(SPEC_FRAMES_PER_COLUMN, round(span / hop)))
    centres = (np.arange(columns)[:, None] + (np.arange(per_column) + 0.5) / per_column) * span
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    # Frames at the very ends are shifted inwards by up to half a window rather than
    # padded: a copy of an hour of audio costs more than the whole transform.
    starts = np.clip(centres.reshape(-1).astype(np.int64) - n_fft // 2, 0, len(x) - n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[starts]
    spectrum = scipy.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1, workers=1)
    power = spectrum.real**2 + spectrum.imag**2
    power = power.reshape(columns, per_column, -1).mean(axis=1)
    mel = _mel_filters(sample_rate, n_fft, SPEC_MELS, fmax) @ power.T
    db = 10 * np.log10(np.maximum(mel, 1e-12))
    return np.maximum(db - db.max(), -SPEC_RANGE_DB), fmax


@_chart
def spectrogram_svg(signal: np.ndarray, sample_rate: int = 16000) -> str:
    """Mel spectrogram in dB, 0 to 8 kHz (or Nyquist), with a colour bar.

    signal : np.ndarray [shape=(n,)] mono float at ``sample_rate``.
    """
    x = _mono(signal)
    duration = len(x) / sample_rate
    db, fmax = _mel_spectrogram(x, sample_rate) if len(x) else (np.full((1, 1), -80.0), 8000.0)
    fig = _figure(2.8)
    ax = fig.add_subplot()
    ax.set_title("Spectrogram (mel scale)")
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        extent=(0, max(duration, 1e-3), 0, db.shape[0]),
        cmap="magma",
        vmin=-SPEC_RANGE_DB,
        vmax=0,
        interpolation="antialiased",
    )
    ticks = [f for f in (250, 500, 1000, 2000, 4000, 8000) if f <= fmax]
    ax.yaxis.set_major_locator(
        FixedLocator(list(_hz_to_mel(ticks) / _hz_to_mel(fmax) * db.shape[0]))
    )
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_ylabel("Frequency (Hz)")
    _time_axis(ax, duration)
    bar = fig.colorbar(image, ax=ax, pad=0.015, aspect=12)
    bar.set_label("Level (dB, 0 = loudest)")
    bar.ax.tick_params(labelsize=9)
    label = (
        f"Mel spectrogram of the recording, {_describe_time(duration)}, 0 to "
        f"{fmax / 1000:g} kHz; brighter means louder"
    )
    return _to_svg(fig, kind="spectrogram", label=label, jpeg=True)


# --- bars -------------------------------------------------------------------------------------


def _emotion_bars(ax: Any, values: Mapping[str, float], *, xlabel: str) -> Emotion | None:
    """One bar per emotion, top to bottom in the fixed order; the largest one in bold."""
    shares = [max(0.0, float(values.get(e.value, 0.0))) for e in EMOTIONS]
    best = EMOTIONS[int(np.argmax(shares))] if max(shares) > 0 else None
    y = np.arange(len(EMOTIONS))
    ax.set_yticks(y, [e.label for e in EMOTIONS])
    bars = ax.barh(
        y,
        [100 * s for s in shares],
        height=0.72,
        color=[EMOTION_COLOURS[e] for e in EMOTIONS],
        zorder=2,
    )
    if best is not None:
        bars[EMOTIONS.index(best)].set(edgecolor=_INK, linewidth=1.2)
        ax.get_yticklabels()[EMOTIONS.index(best)].set_fontweight("bold")
    for i, (emotion, share) in enumerate(zip(EMOTIONS, shares, strict=True)):
        weight = "bold" if emotion is best else "normal"
        value = 100 * share
        inside = value > 84  # no room on the right: white text inside the bar
        ax.text(
            value - 1.2 if inside else value + 1.2,
            i,
            _percent(share),
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else _INK,
            fontsize=10.5,
            fontweight=weight,
            zorder=3,
        )
    ax.tick_params(axis="y", length=0, labelsize=11)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_locator(MultipleLocator(20))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    ax.grid(axis="x", color=_GRID, linewidth=0.8, zorder=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)
    return best


def _ranked(values: Mapping[str, float]) -> str:
    ranked = sorted(EMOTIONS, key=lambda e: -float(values.get(e.value, 0.0)))
    return ", ".join(f"{e.label} {_percent(float(values.get(e.value, 0.0)))}" for e in ranked)


@_chart
def probabilities_svg(probabilities: Mapping[str, float]) -> str:
    """Horizontal bars of all eight emotions' probabilities (0..1), the top one in bold."""
    fig = _figure(3.1)
    ax = fig.add_subplot()
    ax.set_title("How likely is each emotion?")
    best = _emotion_bars(ax, probabilities, xlabel="Probability (%)")
    label = "Emotion probabilities" + (f", most likely {best.label}" if best else "")
    label += f": {_ranked(probabilities)}"
    return _to_svg(fig, kind="probabilities", label=label)


@_chart
def distribution_svg(distribution: Mapping[str, float]) -> str:
    """Horizontal bars of each emotion's share of the speaking time (0..1, summing to 1)."""
    fig = _figure(3.1)
    ax = fig.add_subplot()
    ax.set_title("Share of speaking time per emotion")
    best = _emotion_bars(ax, distribution, xlabel="Share of speaking time (%)")
    label = "Share of speaking time per emotion" + (f", mostly {best.label}" if best else "")
    label += f": {_ranked(distribution)}"
    return _to_svg(fig, kind="distribution", label=label)


# --- timeline ---------------------------------------------------------------------------------


def _opacity(confidence: float) -> float:
    """0.2 at chance (1/8) up to 1.0 when certain."""
    chance = 1 / len(EMOTIONS)
    return 0.2 + 0.8 * float(np.clip((confidence - chance) / (1 - chance), 0.0, 1.0))


@_chart
def timeline_svg(segments: Sequence[AnySegment], duration: float) -> str:
    """Emotion over time: one lane per emotion, one bar per segment, opacity = confidence.

    ``segments`` are :class:`SegmentLike` objects, ``ml.timeline.Segment`` objects or
    their ``to_dict()`` form. Overlapping windows are cut where the next one starts, so
    the bars tile time the way the share of speaking time counts it.
    """
    spans = _own_spans(segments)
    duration = max(float(duration), max((s.end for s in spans), default=0.0))
    fig = _figure(3.3)
    ax = fig.add_subplot()
    ax.set_title("Emotion over time")
    _note(ax, "bar opacity = confidence")
    lanes = {e: i for i, e in enumerate(EMOTIONS)}
    rects = [Rectangle((s.start, lanes[s.emotion] - 0.38), s.end - s.start, 0.76) for s in spans]
    colours = [to_rgba(EMOTION_COLOURS[s.emotion], _opacity(s.confidence)) for s in spans]
    bars = PatchCollection(rects, facecolors=colours, linewidths=0, zorder=2)
    chart_id = _chart_id("timeline")
    bars.set_gid(f"{chart_id}-segments")
    # Hundreds of sub-pixel bars weigh ~190 bytes each as vectors; as one image, a few KB.
    bars.set_rasterized(len(spans) > TIMELINE_MAX_VECTOR_BARS)
    ax.add_collection(bars)
    ax.set_yticks(range(len(EMOTIONS)), [e.label for e in EMOTIONS])
    for tick, emotion in zip(ax.get_yticklabels(), EMOTIONS, strict=True):
        tick.set_color(EMOTION_COLOURS[emotion])
        tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0, labelsize=11)
    for i in range(len(EMOTIONS) + 1):
        ax.axhline(i - 0.5, color=_GRID, linewidth=0.8, zorder=1)
    ax.set_ylim(len(EMOTIONS) - 0.5, -0.5)
    ax.spines["left"].set_visible(False)
    _time_axis(ax, duration)
    shares = _shares(spans)
    if spans:
        ranked = [
            e for e in sorted(EMOTIONS, key=lambda e: -shares[e.value]) if shares[e.value] > 0
        ][:3]
        summary = ", ".join(f"{e.label} {_percent(shares[e.value])}" for e in ranked)
        label = (
            f"Emotion over time across {_describe_time(duration)}, {len(spans)} segments; "
            f"most of the speaking time: {summary}"
        )
    else:
        label = f"Emotion over time across {_describe_time(duration)}: no speech found"
    return _to_svg(fig, kind="timeline", label=label, chart_id=chart_id)


# --- all of them ------------------------------------------------------------------------------


def render_all(
    signal: np.ndarray,
    sample_rate: int = 16000,
    *,
    probabilities: Mapping[str, float],
    segments: Sequence[AnySegment] | None = None,
    duration: float | None = None,
) -> dict[str, str]:
    """Every chart of one analysis, keyed by name; "timeline" and "distribution" only when
    there are segments.

    signal : np.ndarray [shape=(n,)] mono float at ``sample_rate``.
    """
    if duration is None:
        duration = len(signal) / sample_rate
    charts = {
        "waveform": waveform_svg(signal, sample_rate, segments=segments or None),
        "spectrogram": spectrogram_svg(signal, sample_rate),
        "probabilities": probabilities_svg(probabilities),
    }
    if segments:
        charts["timeline"] = timeline_svg(segments, duration)
        charts["distribution"] = distribution_svg(_shares(_own_spans(segments)))
    return charts
