"""The one explicit loader and the prediction layers.

``load_audio -> extract_features -> predict_signal -> predict_file``

A saved model is a directory::

    meta.json      format, version, name, label order, temperature, members, training
                   data description, validation metrics
    <member>.keras the Keras weights of each member (one, or several for an ensemble):
                   training's record, and the model's identity (:attr:`sha256`)
    <member>.onnx  the same network exported by ``ml.export``: what the loader runs

:meth:`EmotionRecognizer.from_path` checks all of it before anything is used. The members
run in ONNX Runtime: neither importing this module nor loading a model imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml.audio import SAMPLE_RATE, ensure_speech, load_audio
from ml.errors import AudioTooShortError, ModelLoadError, NoSpeechError
from ml.labels import EMOTION_NAMES, Emotion
from ml.metrics import softmax
from ml.verdict import DEFAULT_RULE, ClarityRule, Verdict

if TYPE_CHECKING:
    from ml.features import FeatureConfig

# ml.features (and SciPy's signal and stats modules behind it, a second of imports) is
# imported when a model is loaded, not with this module: the web process reads
# predictions and verdicts from here (ml.timeline) but never runs a model.

FORMAT = "speechemotion-model"
VERSION = 1
BUNDLED_MODEL = Path(__file__).resolve().parent / "models" / "bundled"


@dataclass(frozen=True)
class Prediction:
    """The top emotion, its probability, and the probabilities of all eight (sum 1).

    ``clarity`` judges whether the top emotion is clear enough to be named (:attr:`verdict`);
    a model's own rule comes from its meta.json (``ml.verdict.rule_from_meta``) and is set
    with :meth:`with_clarity`.
    """

    emotion: Emotion
    confidence: float
    probabilities: dict[str, float]
    clarity: ClarityRule = field(default=DEFAULT_RULE, compare=False, repr=False)

    @classmethod
    def from_probs(cls, probs: np.ndarray, *, clarity: ClarityRule = DEFAULT_RULE) -> Prediction:
        probs = np.asarray(probs, dtype=np.float64)
        probs = probs / probs.sum()
        top = int(np.argmax(probs))
        return cls(
            emotion=Emotion(EMOTION_NAMES[top]),
            confidence=float(probs[top]),
            probabilities={n: float(p) for n, p in zip(EMOTION_NAMES, probs, strict=True)},
            clarity=clarity,
        )

    def with_clarity(self, clarity: ClarityRule) -> Prediction:
        return replace(self, clarity=clarity)

    @property
    def verdict(self) -> Verdict:
        """Clear (the top emotion), mixed (the top two) or unclear, by ``clarity``."""
        return self.clarity.judge(self.probabilities)

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "emotion": self.emotion.value,
            "confidence": round(self.confidence, 6),
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "clear": verdict.clear,
            "verdict": verdict.text,
        }


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ONNX Runtime threads per session. A member is about a million multiply-adds, and
# ml.timeline runs two windows side by side on this two-core machine: more threads per
# call would only contend.
ONNX_THREADS = 1


@dataclass
class _Member:
    features: FeatureConfig
    weight: float
    call: Any  # [1, ...] float32 -> [1, 8] logits


def _checked(path: Path, expected: str | None) -> str:
    """The SHA-256 of ``path``, which must be ``expected`` when meta.json records one."""
    digest = file_sha256(path)
    if expected and expected != digest:
        raise ModelLoadError(
            f"{path} does not match the SHA-256 recorded in meta.json; "
            "the weights were changed or damaged."
        )
    return digest


def _onnx_member(path: Path, expected: str | None) -> Any:
    """An ONNX Runtime session for one member's file, as a function of the features."""
    _checked(path, expected)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ONNX_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: they raise here anyway
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own types for a damaged file
        raise ModelLoadError(f"{path} could not be loaded: {err}") from err
    (inp,), outputs = session.get_inputs(), session.get_outputs()
    if len(outputs) != 1 or outputs[0].shape[-1] != len(EMOTION_NAMES):
        raise ModelLoadError(
            f"{path} has outputs {[o.shape for o in outputs]}; expected one of "
            f"{len(EMOTION_NAMES)} logits."
        )
    name = inp.name
    return lambda x: session.run(None, {name: x})[0]


class EmotionRecognizer:
    """A loaded model. Thread-safe for prediction."""

    def __init__(self, *, path: Path, meta: dict[str, Any], members: list[_Member], sha256: str):
        self.path = path
        self.meta = meta
        self.members = members
        self.sha256 = sha256
        self.name: str = meta["name"]
        self.temperature: float = float(meta.get("temperature", 1.0))
        # A prior added to the averaged logits, fitted on held-out corpora (ml.evaluation).
        bias = meta.get("logit_bias") or {}
        self.logit_bias = np.array([float(bias.get(n, 0.0)) for n in EMOTION_NAMES])
        from ml.features import extract_features

        self._extract_features = extract_features

    # -- loading -------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> EmotionRecognizer:
        """Load and check a saved model directory; ``ModelLoadError`` says what is wrong."""
        from ml.features import FeatureConfig, FeatureSet

        path = Path(path)
        meta = read_meta(path)
        members, digests = [], []
        for spec in meta["members"]:
            # The .keras file is not run, but it is the model's identity and provenance.
            digests.append(_checked(path / spec["weights"], spec.get("sha256")))
            if not spec.get("onnx"):
                raise ModelLoadError(
                    f"{path} has no ONNX file for {spec['weights']}; models are run with "
                    f"ONNX Runtime: export them with `python -m ml export {path}`."
                )
            call = _onnx_member(path / spec["onnx"], spec.get("onnx_sha256"))
            config = FeatureConfig.from_dict(spec["features"])
            members.append(_Member(config, float(spec.get("weight", 1.0)), call))
        sha = (
            digests[0]
            if len(digests) == 1
            else hashlib.sha256("".join(digests).encode()).hexdigest()
        )
        if any(m.features.feature_set is FeatureSet.ENCODER for m in members):
            from ml.encoder import get_encoder

            get_encoder()  # checks the pretrained encoder's SHA-256 now, not at first use
        rec = cls(path=path, meta=meta, members=members, sha256=sha)
        rec._warm_up()
        return rec

    def _warm_up(self) -> None:
        # Run every session, the encoder and the speech check once now, so that the first
        # request is not the slow one (first-run allocations: 0.6 s for the encoder).
        noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE * 2).astype(np.float32)
        self.predict_signal(noise, check_speech=False)
        with contextlib.suppress(NoSpeechError):
            ensure_speech(noise)

    # -- prediction ------------------------------------------------------------------

    def logits(self, signal: np.ndarray) -> np.ndarray:
        """signal : [shape=(n,)] mono float32 at sr=16000 -> averaged logits [shape=(8,)]."""
        total = np.zeros(len(EMOTION_NAMES))
        weight = 0.0
        computed: dict[FeatureConfig, np.ndarray] = {}  # members often share features
        for m in self.members:
            if m.features not in computed:
                feats = self._extract_features(signal, m.features)[None].astype(np.float32)
                computed[m.features] = feats
            total += m.weight * np.asarray(m.call(computed[m.features]))[0]
            weight += m.weight
        return total / weight + self.logit_bias

    def predict_signal(self, signal: np.ndarray, *, check_speech: bool = True) -> Prediction:
        """signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.

        Raises ``AudioTooShortError`` (under 0.5 s) and ``NoSpeechError``.
        """
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim != 1:
            raise ValueError(f"expected a mono signal of shape (n,), got {signal.shape}")
        if len(signal) < SAMPLE_RATE // 2:
            raise AudioTooShortError("At least 0.5 s of audio is needed.")
        if check_speech:
            ensure_speech(signal)
        return Prediction.from_probs(softmax(self.logits(signal), self.temperature))

    def predict_file(
        self, path: str | os.PathLike[str], *, max_duration: float | None = None
    ) -> Prediction:
        return self.predict_signal(load_audio(path, max_duration=max_duration).signal)


def read_meta(path: Path) -> dict[str, Any]:
    """Read and check ``meta.json`` of a model directory (no TensorFlow needed)."""
    if not path.is_dir():
        raise ModelLoadError(f"No model directory at {path}.")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError as err:
        raise ModelLoadError(f"{path} has no meta.json; it is not a saved model.") from err
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{path / 'meta.json'} is not valid JSON: {err}") from err
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ModelLoadError(
            f"{path} holds format {meta.get('format')!r} version {meta.get('version')!r}; "
            f"this code reads {FORMAT!r} version {VERSION}."
        )
    if tuple(meta.get("labels", ())) != EMOTION_NAMES:
        raise ModelLoadError(
            f"{path} was trained on labels {meta.get('labels')}; expected {list(EMOTION_NAMES)}."
        )
    bias = meta.get("logit_bias", {})
    if (
        not isinstance(bias, dict)
        or set(bias) - set(EMOTION_NAMES)
        or not all(isinstance(v, int | float) and np.isfinite(v) for v in bias.values())
    ):
        raise ModelLoadError(f"{path}/meta.json: logit_bias must map emotions to numbers.")
    if not meta.get("members"):
        raise ModelLoadError(f"{path}/meta.json lists no model members.")
    for spec in meta["members"]:
        if not (path / spec.get("weights", "")).is_file():
            raise ModelLoadError(f"{path} lacks the weights file {spec.get('weights')!r}.")
        if spec.get("onnx") and not (path / spec["onnx"]).is_file():
            raise ModelLoadError(f"{path} lacks the ONNX file {spec['onnx']!r}.")
        try:
            from ml.features import FeatureConfig

            FeatureConfig.from_dict(spec.get("features", {}))
        except (TypeError, ValueError) as err:
            raise ModelLoadError(f"{path}: bad feature configuration: {err}") from err
    return meta


def default_model_path() -> Path:
    """The bundled model (the service passes ``settings.SPEECHEMOTION_MODEL`` in instead,
    the CLI its ``--model``)."""
    return BUNDLED_MODEL


_lock = threading.Lock()
_cache: dict[Path, EmotionRecognizer] = {}
# ``path`` as given -> its resolved key: resolving walks the path with a system call per
# part (milliseconds on some file systems), and the worker asks for its model every job.
_keys: dict[str | os.PathLike[str] | None, Path] = {}


def _key(path: str | os.PathLike[str] | None) -> Path:
    key = _keys.get(path)
    if key is None:
        key = _keys[path] = Path(path).resolve() if path else default_model_path().resolve()
    return key


def get_recognizer(path: str | os.PathLike[str] | None = None) -> EmotionRecognizer:
    """The recognizer for ``path`` (default: the bundled model), loaded once per process."""
    key = _key(path)
    rec = _cache.get(key)
    if rec is None:
        with _lock:
            rec = _cache.get(key)
            if rec is None:
                rec = _cache[key] = EmotionRecognizer.from_path(key)
    return rec
