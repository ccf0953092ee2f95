"""Emotion over time for long recordings.

A recording is split into speech regions (:func:`ml.speech.speech_regions`, Silero VAD),
each region into windows of about 3 s that overlap by half, and every window is classified.
The overall result is derived from the windows: the mean of their probabilities weighted by
speaking time (:func:`overall`, the headline), and apart from it each emotion's share of
the speaking time; :func:`summarise` gives both, with the spans they count, in one go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ml.audio import SAMPLE_RATE
from ml.labels import EMOTION_NAMES, Emotion
from ml.recognizer import EmotionRecognizer, Prediction
from ml.speech import speech_regions
from ml.verdict import DEFAULT_RULE, ClarityRule

WINDOW = 3.0  # seconds
HOP = 1.5


@dataclass(frozen=True)
class Segment:
    """One classified window; ``start``/``end`` in seconds from the start of the file."""

    start: float
    end: float
    prediction: Prediction

    def to_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            **self.prediction.to_dict(),
        }


def windows(regions: list[tuple[float, float]]) -> Iterator[tuple[float, float]]:
    """Windows of ``WINDOW`` s every ``HOP`` s inside each region; short regions whole."""
    for start, end in regions:
        if end - start <= WINDOW:
            yield start, end
            continue
        t = start
        while t + WINDOW <= end:
            yield t, t + WINDOW
            t += HOP
        if end - (t - HOP + WINDOW) > 0.25 * HOP:  # a tail the last window missed
            yield end - WINDOW, end


def timeline(
    rec: EmotionRecognizer,
    signal: np.ndarray,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
) -> list[Segment]:
    """Classify every window of every speech region, in time order.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    ``progress(done, total)`` is called after each window, in order.
    ``workers`` threads classify windows side by side: the encoder, ONNX Runtime and the
    FFTs release the GIL, so two threads keep both cores of the machine busy.
    """
    spans = list(windows(speech_regions(signal)))

    def classify(span: tuple[float, float]) -> Segment:
        a, b = span
        chunk = signal[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        return Segment(a, b, rec.predict_signal(chunk, check_speech=False))

    out: list[Segment] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="timeline") as pool:
        for seg in pool.map(classify, spans):
            out.append(seg)
            if progress:
                progress(len(out), len(spans))
    return out


class Timed(Protocol):
    """A classified span: ``start``/``end`` in seconds, and either a ``prediction`` (an
    :class:`ml.timeline.Segment`) or an ``emotion`` name with ``probabilities`` (a stored
    segment, e.g. a row of the web service's database)."""

    start: float
    end: float


@dataclass(frozen=True)
class OwnSpan:
    """The part of a segment's window that no later window covers: ``start``..``end`` in
    seconds, its top ``emotion`` (a name), and the ``segment`` it comes from."""

    start: float
    end: float
    emotion: str
    segment: Timed

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Summary:
    """What a recording comes to, from its classified windows (see :func:`summarise`).

    ``result``: the headline (:func:`overall`). ``distribution``: each of the eight
    emotions' share of the speaking time, summing to 1 (all 0 without speaking time).
    ``spans``: each segment's own time, in time order; they tile the speech without overlap.
    """

    result: Prediction
    distribution: dict[str, float]
    spans: tuple[OwnSpan, ...]

    @property
    def speaking_seconds(self) -> float:
        return sum(span.seconds for span in self.spans)

    def ranked(self, limit: int | None = None) -> list[tuple[str, float]]:
        """The emotions that hold any speaking time with their share, largest first (label
        order on a tie), at most ``limit`` of them."""
        shares = [(name, share) for name, share in self.distribution.items() if share > 0]
        shares.sort(key=lambda item: -item[1])
        return shares if limit is None else shares[:limit]


def summarise(segments: Sequence[Timed], *, clarity: ClarityRule = DEFAULT_RULE) -> Summary | None:
    """The one summary of a recording, for the CLI, the worker and the charts alike; None
    without segments.

    The speaking-time rule is here only: windows overlap by half, so each segment owns
    the time up to the start of the next one (all of its window when it is the last, or
    when the next one starts after it ends), and that is what it weighs in the headline and
    in the shares.
    """
    if not segments:
        return None
    spans = tuple(own_spans(segments))
    ordered = [span.segment for span in spans]
    return Summary(
        result=_overall(ordered, [span.seconds for span in spans], clarity=clarity),
        distribution=_distribution(spans),
        spans=spans,
    )


def _reading(segment: Timed) -> tuple[str, Mapping[str, float]]:
    """(top emotion's name, probabilities) of an ml segment or a stored one."""
    prediction = getattr(segment, "prediction", None)
    if prediction is not None:
        return prediction.emotion.value, prediction.probabilities
    emotion = segment.emotion  # type: ignore[attr-defined]
    return str(getattr(emotion, "value", emotion)), segment.probabilities  # type: ignore[attr-defined]


def own_spans(segments: Sequence[Timed]) -> list[OwnSpan]:
    """Each segment cut where the next one begins, in time order (see :func:`summarise`)."""
    ordered = sorted(segments, key=lambda seg: float(seg.start))
    out = []
    for i, seg in enumerate(ordered):
        start, end = float(seg.start), float(seg.end)
        nxt = float(ordered[i + 1].start) if i + 1 < len(ordered) else end
        if nxt > start:
            end = min(end, nxt)
        out.append(OwnSpan(start, max(start, end), _reading(seg)[0], seg))
    return out


def speaking_time(segments: Sequence[Timed]) -> list[float]:
    """Seconds of speech each segment stands for, overlaps counted once (in time order)."""
    return [span.seconds for span in own_spans(segments)]


def _distribution(spans: Sequence[OwnSpan]) -> dict[str, float]:
    share = dict.fromkeys(EMOTION_NAMES, 0.0)
    for span in spans:
        share[span.emotion] += span.seconds
    total = sum(share.values())
    return {k: (v / total if total else 0.0) for k, v in share.items()}


def distribution(segments: Sequence[Timed]) -> dict[str, float]:
    """Each emotion's share of the speaking time (overlaps counted once), summing to 1."""
    return _distribution(own_spans(segments))


def overall(segments: Sequence[Timed], *, clarity: ClarityRule = DEFAULT_RULE) -> Prediction | None:
    """The result of the whole recording: the mean of the segments' probabilities, each
    weighted by its speaking time, with its top emotion and that emotion's mean probability.

    This is the one definition of the headline: the emotion named and its confidence are the
    top bar of the probabilities shown beside it. Each emotion's share of the speaking time
    (:func:`distribution`) is a different figure and may put another emotion first.
    """
    if not segments:
        return None
    spans = own_spans(segments)
    return _overall(
        [span.segment for span in spans], [span.seconds for span in spans], clarity=clarity
    )


def _overall(
    segments: Sequence[Timed], weights: Sequence[float], *, clarity: ClarityRule
) -> Prediction:
    total = sum(weights)
    # Shares first, so that a single segment's probabilities come out exactly as they were.
    shares = [w / total for w in weights] if total else [1 / len(segments)] * len(segments)
    readings = [_reading(seg)[1] for seg in segments]
    # An emotion a stored row does not list (rows written by hand, older rows) counts as 0.
    mean = {
        name: sum(
            share * float(probs.get(name, 0.0))
            for share, probs in zip(shares, readings, strict=True)
        )
        for name in EMOTION_NAMES
    }
    top = max(EMOTION_NAMES, key=mean.__getitem__)  # the first in label order on a tie
    return Prediction(Emotion(top), mean[top], mean, clarity=clarity)
