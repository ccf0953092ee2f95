"""Emotion over time for long recordings.

A recording is split into speech regions (:func:`ml.speech.speech_regions`, Silero VAD),
each region into windows of about 3 s that overlap by half, and every window is classified.
The overall result is derived from the windows: the mean of their probabilities weighted by
speaking time (:func:`overall`, the headline), and apart from it each emotion's share of
the speaking time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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


def speaking_time(segments: Sequence[Segment]) -> list[float]:
    """Seconds of speech each segment stands for, overlaps counted once.

    A segment owns the time up to the start of the next one (all of it when it is the
    last, or when the next one starts after it ends).
    """
    out = []
    for i, seg in enumerate(segments):
        nxt = segments[i + 1].start if i + 1 < len(segments) else seg.end
        end = min(seg.end, nxt) if nxt > seg.start else seg.end
        out.append(max(0.0, end - seg.start))
    return out


def distribution(segments: Sequence[Segment]) -> dict[str, float]:
    """Each emotion's share of the speaking time (overlaps counted once), summing to 1."""
    share = dict.fromkeys(EMOTION_NAMES, 0.0)
    for seg, own in zip(segments, speaking_time(segments), strict=True):
        share[seg.prediction.emotion.value] += own
    total = sum(share.values())
    return {k: (v / total if total else 0.0) for k, v in share.items()}


def overall(
    segments: Sequence[Segment], *, clarity: ClarityRule = DEFAULT_RULE
) -> Prediction | None:
    """The result of the whole recording: the mean of the segments' probabilities, each
    weighted by its speaking time, with its top emotion and that emotion's mean probability.

    This is the one definition of the headline: the emotion named and its confidence are the
    top bar of the probabilities shown beside it. Each emotion's share of the speaking time
    (:func:`distribution`) is a different figure and may put another emotion first.
    """
    if not segments:
        return None
    weights = speaking_time(segments)
    total = sum(weights)
    # Shares first, so that a single segment's probabilities come out exactly as they were.
    shares = [w / total for w in weights] if total else [1 / len(segments)] * len(segments)
    mean = {
        name: sum(
            share * seg.prediction.probabilities[name]
            for share, seg in zip(shares, segments, strict=True)
        )
        for name in EMOTION_NAMES
    }
    top = max(EMOTION_NAMES, key=mean.__getitem__)  # the first in label order on a tie
    return Prediction(Emotion(top), mean[top], mean, clarity=clarity)
