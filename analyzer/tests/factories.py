"""Real audio built in memory, uploads, stored analyses, and the temporary MEDIA_ROOT mixin."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import tempfile
import threading
import unittest
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import soundfile as sf
import soxr
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from analyzer.models import Analysis
from ml.labels import EMOTION_NAMES, EMOTIONS, Emotion
from ml.recognizer import BUNDLED_MODEL

SAMPLE_RATE = 16000

_model_missing = not (BUNDLED_MODEL / "meta.json").is_file() and not settings.SPEECHEMOTION_MODEL
requires_model = unittest.skipIf(
    _model_missing,
    f"the bundled model is not there yet ({BUNDLED_MODEL}/meta.json is missing)",
)


# --- audio ------------------------------------------------------------------------------------


def ravdess_path(emotion: Emotion = Emotion.HAPPY, *, actor: int = 1, statement: int = 1) -> Path:
    """A RAVDESS take: 16 kHz mono FLAC, ~3.5 s of one actor saying one sentence."""
    code = EMOTIONS.index(emotion) + 1
    name = f"03-01-{code:02d}-01-{statement:02d}-01-{actor:02d}.flac"
    path = Path(settings.SPEECHEMOTION_DATA_DIR) / "ravdess" / f"Actor_{actor:02d}" / name
    if not path.is_file():
        raise AssertionError(
            f"RAVDESS recording {path} is missing; set SPEECHEMOTION_DATA_DIR to the folder "
            "holding ravdess/"
        )
    return path


def wav_bytes(signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """signal : [shape=(n,) or (n, channels)] float in [-1, 1] -> 16-bit PCM WAV bytes."""
    buffer = io.BytesIO()
    sf.write(buffer, signal, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def speech_signal(emotion: Emotion = Emotion.HAPPY, *, actor: int = 1) -> np.ndarray:
    signal, sample_rate = sf.read(ravdess_path(emotion, actor=actor), dtype="float32")
    assert sample_rate == SAMPLE_RATE
    return signal


def speech_wav(
    emotion: Emotion = Emotion.HAPPY,
    *,
    actor: int = 1,
    sample_rate: int = SAMPLE_RATE,
    channels: int = 1,
) -> bytes:
    """Real speech as WAV, optionally resampled and duplicated to several channels."""
    signal = speech_signal(emotion, actor=actor)
    if sample_rate != SAMPLE_RATE:
        signal = soxr.resample(signal, SAMPLE_RATE, sample_rate)
    if channels > 1:
        signal = np.repeat(signal[:, None], channels, axis=1)
    return wav_bytes(signal, sample_rate)


def tone_wav(seconds: float = 2.0, frequency: float = 440.0) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return wav_bytes((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32))


def noise_wav(seconds: float = 2.0, *, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes(rng.normal(0, 0.1, int(seconds * SAMPLE_RATE)).clip(-1, 1))


def silence_wav(seconds: float = 2.0) -> bytes:
    return wav_bytes(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32))


# Eight takes of actor 1 with different emotions, for recordings whose emotion changes.
LONG_RECORDING_EMOTIONS = (
    Emotion.NEUTRAL,
    Emotion.SAD,
    Emotion.ANGRY,
    Emotion.HAPPY,
    Emotion.CALM,
    Emotion.FEARFUL,
    Emotion.DISGUST,
    Emotion.SURPRISED,
)


def long_speech_signal(
    emotions: tuple[Emotion, ...] = LONG_RECORDING_EMOTIONS, *, gap: float = 1.5
) -> np.ndarray:
    """RAVDESS takes joined by ``gap`` s of silence: eight of them make about 40 s."""
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    for emotion in emotions:
        parts += [speech_signal(emotion), silence]
    return np.concatenate(parts[:-1])


def long_speech_wav(emotions: tuple[Emotion, ...] = LONG_RECORDING_EMOTIONS) -> bytes:
    return wav_bytes(long_speech_signal(emotions))


def ffmpeg_encode(wav: bytes, suffix: str, *args: str, video: bool = False) -> bytes:
    """Encode WAV bytes with the ffmpeg that imageio-ffmpeg ships, e.g. to ``.m4a`` or ``.mp4``.

    With ``video`` a small blue picture track is added, as in a phone video.
    """
    import subprocess

    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="se-ffmpeg-") as folder:
        source, target = Path(folder) / "in.wav", Path(folder) / f"out{suffix}"
        source.write_bytes(wav)
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
        if video:
            seconds = sf.info(str(source)).duration
            command += ["-f", "lavfi", "-i", f"color=c=blue:s=64x64:r=10:d={seconds:.2f}"]
        command += ["-i", str(source), *(["-shortest", "-c:v", "mpeg4"] if video else [])]
        subprocess.run([*command, *args, str(target)], check=True, timeout=120)
        return target.read_bytes()


def upload(
    data: bytes, name: str = "speech.wav", content_type: str = "audio/wav"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- rows -------------------------------------------------------------------------------------


def probabilities_for(emotion: Emotion, confidence: float = 0.6) -> dict[str, float]:
    rest = (1 - confidence) / (len(EMOTION_NAMES) - 1)
    return {name: confidence if name == emotion.value else rest for name in EMOTION_NAMES}


def make_analysis(
    *,
    owner: Any = None,
    session_key: str = "",
    emotion: Emotion | None = Emotion.HAPPY,
    data: bytes | None = None,
    original_name: str = "take.wav",
    **fields: Any,
) -> Analysis:
    """A stored analysis without running the model (the file is real WAV bytes)."""
    data = data if data is not None else tone_wav(1.0)
    values: dict[str, Any] = {
        "original_name": original_name,
        "format": "wav",
        "content_type": "audio/wav",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "duration": 1.0,
        "sample_rate": SAMPLE_RATE,
        "channels": 1,
        "owner": owner,
        "session_key": session_key,
    }
    if emotion is not None:
        values |= {
            "status": Analysis.Status.DONE,
            "emotion": emotion.value,
            "confidence": 0.6,
            "probabilities": probabilities_for(emotion),
            "verdict": "clear",
            "model_name": "test-model",
            "model_sha256": "ab" * 32,
            "processing_ms": 12.0,
        }
    values |= fields
    analysis = Analysis(**values)
    analysis.file.save("upload.wav", ContentFile(data), save=False)
    analysis.save(force_insert=True)
    return analysis


def make_user(username: str = "ada", *, staff: bool = False, password: str = "pw-for-tests-1"):
    model = get_user_model()
    if staff:
        return model.objects.create_superuser(username, f"{username}@example.com", password)
    return model.objects.create_user(username, f"{username}@example.com", password)


# The "card" of a fake model's meta.json (see ml.card).
FAKE_CARD = {
    "trained_on": "Ten acted takes in Esperanto by two speakers of a test corpus.",
    "unseen": [
        {"set": "A corpus from another studio", "classes": 7, "ua": 0.53, "neutral_recall": 0.0}
    ],
    "summary": "It is a stand-in for tests and knows nothing.",
}


def fake_recognizer(
    *,
    emotion: Emotion = Emotion.SAD,
    error: Exception | None = None,
    name: str = "fake-model",
    meta: dict[str, Any] | None = None,
) -> mock.Mock:
    """A stand-in for ``ml.recognizer.EmotionRecognizer`` (no TensorFlow).

    Every window gets the same prediction: ``emotion`` at 70%. ``meta`` is its meta.json
    (by default a name and :data:`FAKE_CARD`, no clarity rule).
    """
    from ml.recognizer import Prediction

    recognizer = mock.Mock(name="recognizer")
    recognizer.name = name
    recognizer.sha256 = "cd" * 32
    recognizer.meta = meta if meta is not None else {"name": name, "card": FAKE_CARD}
    if error is not None:
        recognizer.predict_signal.side_effect = error
    else:
        probs = probabilities_for(emotion, 0.7)
        recognizer.predict_signal.return_value = Prediction(emotion, 0.7, probs)
    return recognizer


# --- the queue --------------------------------------------------------------------------------


def queued_jobs() -> list[Any]:
    """The analysis jobs waiting in the queue (``ProcrastinateJob`` rows), oldest first."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from analyzer.tasks import ANALYZE_TASK

    return list(
        ProcrastinateJob.objects.filter(task_name=ANALYZE_TASK, status="todo").order_by("id")
    )


def run_queued_analyses() -> list[Analysis]:
    """Do the queued analyses' work here, in this thread and transaction (for ``TestCase``).

    Runs what the ``analyze`` task runs, without a worker: a ``TestCase`` transaction is
    invisible to the worker's own connections. The job rows stay as they are.
    """
    from analyzer import processing

    done = []
    for job in queued_jobs():
        analysis = processing.analysis_process(analysis_id=job.args["analysis_id"])
        if analysis is not None:
            done.append(analysis)
    return done


def clear_queue() -> None:
    """Empty Procrastinate's tables; ``TransactionTestCase`` only flushes Django's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers RESTART IDENTITY CASCADE"
        )


def run_worker(*, queues: tuple[str, ...] = ("analyses",)) -> None:
    """Run a worker in this process until the queue is empty (``TransactionTestCase`` only).

    The jobs run in the worker's threads with their own database connections, so they
    see only committed rows. Patches of module attributes (``processing.get_recognizer``)
    apply to them as well.
    """
    from procrastinate.contrib.django import app

    from analyzer.tasks import job_connections

    try:
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(
                wait=False, install_signal_handlers=False, listen_notify=False, queues=list(queues)
            )
    finally:
        # The jobs' threads kept their connections (as in the worker): none outlives the run.
        job_connections.close_expired(math.inf)


@contextmanager
def background_worker(*, queues: tuple[str, ...] = ("analyses",)) -> Iterator[None]:
    """A worker in a thread of this process while the block runs (``TransactionTestCase``,
    ``LiveServerTestCase``): queued analyses run as they come, as with a real worker.

    It has an app of its own (same tasks, its own connection pool), so that uploads in the
    block still queue their job through Django's connection, in the row's transaction.
    """
    from procrastinate.contrib.django import DjangoApp, app

    worker_app = DjangoApp(
        connector=app.connector.get_worker_connector(),
        worker_defaults=settings.PROCRASTINATE_WORKER_DEFAULTS,
    )
    # Same tasks, but no periodic ones: their deferring goes through the main app's
    # (Django) connector, whose connection in asgiref's thread would outlive the test.
    worker_app.tasks = app.tasks
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def work() -> None:
        async with worker_app.open_async():
            ready.set()
            await worker_app.run_worker_async(
                queues=list(queues),
                install_signal_handlers=False,
                listen_notify=False,
                fetch_job_polling_interval=0.1,
            )

    task = loop.create_task(work())

    def run() -> None:
        with suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.run_until_complete(loop.shutdown_default_executor())

    thread = threading.Thread(target=run, name="background-worker", daemon=True)
    thread.start()
    ready.wait(timeout=30)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=60)
        loop.close()
        from analyzer.tasks import job_connections

        job_connections.close_expired(math.inf)


# --- mixins -----------------------------------------------------------------------------------


class TempMediaMixin:
    """Each test gets its own empty MEDIA_ROOT and temp dir, removed afterwards."""

    media_root: Path
    temp_root: Path

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        enter = self.enterContext  # type: ignore[attr-defined]
        self.media_root = Path(enter(tempfile.TemporaryDirectory(prefix="se-media-")))
        enter(override_settings(MEDIA_ROOT=self.media_root))
        # Where the service's temporary copies go, so tests can check none is left behind.
        self.temp_root = Path(enter(tempfile.TemporaryDirectory(prefix="se-tmp-")))
        enter(mock.patch.object(tempfile, "tempdir", str(self.temp_root)))

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.media_root.rglob("*") if p.is_file())

    def temporary_files(self) -> list[Path]:
        """The service's temporary copies left behind (TensorFlow keeps its own files here)."""
        return sorted(p for p in self.temp_root.rglob("speechemotion-*") if p.is_file())


class QueueMixin:
    """For ``TransactionTestCase``: an empty queue before and after each test."""

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        clear_queue()
        self.addCleanup(clear_queue)  # type: ignore[attr-defined]
