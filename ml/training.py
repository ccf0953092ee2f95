"""Training and speaker-disjoint cross-validation.

``python -m ml train`` runs :func:`train_and_save`: 5-fold actor-disjoint
cross-validation (the honest figures, and the out-of-fold logits that fit the
temperature), then one final model on every training speaker with the same recipe.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.audio import load_audio
from ml.data import Utterance, speaker_folds
from ml.features import FEATURE_CODE_VERSION, FeatureConfig, FeatureSet, extract_features
from ml.labels import EMOTION_NAMES, EMOTIONS
from ml.metrics import (
    accuracy,
    confusion,
    expected_calibration_error,
    fit_temperature,
    per_class_recall,
    softmax,
    unweighted_average_recall,
)

# Waveform variants computed once per file; each epoch draws one per utterance.
VARIANTS = ("clean", "slow", "fast", "noisy", "quiet_noisy")
# With simulated microphones and rooms as well (see _random_channel).
CHANNEL_VARIANTS = VARIANTS + ("channel", "channel")
CROP_FRAMES = 300  # 3 s of log-mel per training example


@dataclass
class Recipe:
    """Everything that decides a training run, saved with the model."""

    architecture: str = "cnn"
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    mixup: float = 0.0  # Beta(a, a) mixing; 0 disables (it cost UA in the folds)
    spec_augment: bool = False  # cost 0.18 UA on fold 1 (see docs/MODEL_CARD.md)
    label_smoothing: float = 0.0  # 0.1 cost 0.006 UA on the functionals MLP
    variants: tuple[str, ...] = VARIANTS
    # "class": every emotion drawn equally often; "corpus": every (corpus, emotion) pair
    # drawn equally often, so that no studio's way of speaking dominates an emotion.
    balance: str = "class"
    seed: int = 1337
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "features"}
        d["variants"] = list(self.variants)
        d["features"] = self.features.to_dict()
        return d


# --- feature computation -------------------------------------------------------------


def _variant(signal: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    import soxr

    if name == "clean":
        return signal
    if name in ("slow", "fast"):
        # Speed perturbation: resample and play at 16 kHz (tempo and pitch move together).
        factor = 0.9 if name == "slow" else 1.1
        return soxr.resample(signal, 16000, int(16000 / factor)).astype(np.float32)
    if name in ("noisy", "quiet_noisy"):
        gain = 10 ** (rng.uniform(-20, -6) / 20) if name == "quiet_noisy" else 1.0
        snr_db = rng.uniform(10, 30)
        noise = rng.standard_normal(len(signal)).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish: integrate white noise a little
            noise = np.cumsum(noise) * 0.02 + noise
            noise -= noise.mean()
        p_sig = np.mean(signal**2) + 1e-12
        noise *= np.sqrt(p_sig / (np.mean(noise**2) + 1e-12) / 10 ** (snr_db / 10))
        return ((signal + noise) * gain).astype(np.float32)
    if name == "channel":
        return _random_channel(signal, rng)
    raise ValueError(f"unknown variant {name!r}")


def _random_channel(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another microphone and room: a random spectral tilt and band limits.

    A first-order filter y[n] = x[n] - a x[n-1] tilts the spectrum up (a > 0) or down
    (a < 0); Butterworth high- and low-pass filters narrow the band as cheap microphones
    and telephone lines do.
    """
    import scipy.signal

    a = rng.uniform(-0.9, 0.9)
    out = scipy.signal.lfilter([1.0, -a], [1.0], signal)
    if rng.random() < 0.5:
        sos = scipy.signal.butter(2, rng.uniform(80, 300), "highpass", fs=16000, output="sos")
        out = scipy.signal.sosfilt(sos, out)
    if rng.random() < 0.5:
        sos = scipy.signal.butter(4, rng.uniform(3000, 7000), "lowpass", fs=16000, output="sos")
        out = scipy.signal.sosfilt(sos, out)
    return out.astype(np.float32)


def _file_features(path: Path, config: FeatureConfig, variants: Sequence[str], seed: int):
    signal = load_audio(path).signal
    digest = int(hashlib.sha256(f"{path.name}:{seed}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(digest)
    return [extract_features(_variant(signal, v, rng), config) for v in variants]


def _encoder_version() -> str:
    """What else decides encoder features: the pretrained weights and their precision."""
    from ml import encoder

    return f"{encoder.WEIGHTS_SHA256[:12]}-{encoder.COMPUTE_TYPE}-band"


def compute_features(
    items: Sequence[Utterance],
    config: FeatureConfig,
    variants: Sequence[str],
    *,
    seed: int,
    cache_dir: Path | None = None,
) -> list[list[np.ndarray]]:
    """Features of every variant of every utterance: ``out[i][v]``.

    Cached under ``cache_dir`` keyed by the configuration and the file list.
    """
    parts = [
        FEATURE_CODE_VERSION,
        config.to_dict(),
        list(variants),
        seed,
        [str(u.path) for u in items],
    ]
    if config.feature_set is FeatureSet.ENCODER:
        parts.insert(2, _encoder_version())
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    cache = cache_dir / f"features-{key}.npz" if cache_dir else None
    if cache and cache.exists():
        with np.load(cache, allow_pickle=True) as z:
            return list(z["features"])
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    out = Parallel(n_jobs=2, batch_size=16)(
        delayed(_file_features)(u.path, config, variants, seed) for u in items
    )
    _log(
        f"features: {len(items)} files x {len(variants)} variants in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arr = np.empty(len(out), dtype=object)
        arr[:] = out
        np.savez(cache, features=arr)
    return out


# --- batches -------------------------------------------------------------------------


def _crop(x: np.ndarray, frames: int, rng: np.random.Generator | None) -> np.ndarray:
    if len(x) >= frames:
        start = 0 if rng is None else int(rng.integers(0, len(x) - frames + 1))
        if rng is None:
            start = (len(x) - frames) // 2
        return x[start : start + frames]
    pad = np.full((frames - len(x), x.shape[1]), x.min(), dtype=np.float32)
    return np.concatenate([x, pad])


def _spec_augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    t, f = x.shape
    for _ in range(2):
        w = int(rng.integers(0, 9))
        f0 = int(rng.integers(0, f - w + 1))
        x[:, f0 : f0 + w] = 0.0
        w = int(rng.integers(0, 31))
        t0 = int(rng.integers(0, max(1, t - w + 1)))
        x[t0 : t0 + w, :] = 0.0
    return x


def _sampling_weights(labels: np.ndarray, groups=None) -> np.ndarray:
    """Probability of drawing each utterance so that every emotion (or every (group,
    emotion) pair) is drawn equally often [shape=(n,)]."""
    keys = labels if groups is None else [f"{g}:{y}" for g, y in zip(groups, labels, strict=True)]
    _, inverse, counts = np.unique(np.asarray(keys), return_inverse=True, return_counts=True)
    weight = 1.0 / counts[inverse]
    return weight / weight.sum()


def _mix(x: np.ndarray, y: np.ndarray, alpha: float, batch: int, rng: np.random.Generator):
    """Mixup within each consecutive block of ``batch`` rows (Beta(alpha, alpha))."""
    lam = rng.beta(alpha, alpha, size=(len(x), 1)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)
    perm = np.arange(len(x))
    for start in range(0, len(x), batch):
        perm[start : start + batch] = start + rng.permutation(min(batch, len(x) - start))
    lam_x = lam.reshape((len(x),) + (1,) * (x.ndim - 1))
    return lam_x * x + (1 - lam_x) * x[perm], lam * y + (1 - lam) * y[perm]


def _fit_vectors(model, sub, labels, recipe: Recipe, rng, groups, steps: int) -> None:
    """Train a dense model on standardised vectors, drawing samples with numpy.

    Each epoch draws ``steps * batch_size`` (utterance, variant) pairs with the balanced
    weights and adds the same Gaussian jitter as the generator did; drawing ten epochs
    at once and fitting on arrays is about ten times faster than a Python generator
    feeding ``tf.data`` one batch at a time (the small MLP's steps are a few ms).
    """
    stack = np.stack([np.stack(per) for per in sub]).astype(np.float32)  # [n, variants, d]
    n, n_var, dim = stack.shape
    p = _sampling_weights(labels, groups)
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)
    chunk = 10
    for start in range(0, recipe.epochs, chunk):
        epochs = min(chunk, recipe.epochs - start)
        size = epochs * steps * recipe.batch_size
        idx = rng.choice(n, size=size, p=p)
        x = stack[idx, rng.integers(0, n_var, size=size)]
        x += rng.normal(0, 0.05, (size, dim)).astype(np.float32)
        y = onehot[labels[idx]]
        if recipe.mixup > 0:
            x, y = _mix(x, y, recipe.mixup, recipe.batch_size, rng)
        # One pass over the draws of ``epochs`` epochs (the learning-rate schedule counts
        # steps, not Keras epochs).
        model.fit(x, y, batch_size=recipe.batch_size, epochs=1, shuffle=False, verbose=0)


class _Batches:
    """Endless augmented batches of log-mel crops for keras ``fit`` (numpy on the CPU)."""

    def __init__(self, feats, labels, recipe: Recipe, rng: np.random.Generator, groups=None):
        self.feats, self.labels, self.recipe, self.rng = feats, labels, recipe, rng
        # Neutral has half the takes of the other emotions; balance by oversampling (per
        # corpus too when the recipe says so).
        self.p = _sampling_weights(labels, groups)

    def __iter__(self):
        r, n = self.recipe, len(self.labels)
        while True:
            idx = self.rng.choice(n, size=r.batch_size, p=self.p)
            xs = []
            for i in idx:
                v = int(self.rng.integers(0, len(self.feats[i])))
                x = _crop(self.feats[i][v], CROP_FRAMES, self.rng)
                if r.spec_augment:
                    x = _spec_augment(x, self.rng)
                xs.append(x)
            x = np.stack(xs).astype(np.float32)
            y = np.eye(len(EMOTIONS), dtype=np.float32)[self.labels[idx]]
            if r.mixup > 0:
                x, y = _mix(x, y, r.mixup, r.batch_size, self.rng)
            yield x, y


def _standardiser(feats, idx) -> tuple[np.ndarray, np.ndarray]:
    stack = np.stack([feats[i][0] for i in idx])
    return stack.mean(axis=0), stack.std(axis=0) + 1e-6


def fit(feats, labels: np.ndarray, train_idx: np.ndarray, recipe: Recipe, corpora=None):
    """Train one model on ``train_idx``; returns (keras model, normaliser or None).

    ``corpora`` [shape=(n,)] names each utterance's corpus, for ``recipe.balance == "corpus"``.
    """
    import keras

    from ml.architectures import Architecture, build_cnn, build_mlp

    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    arch = Architecture(recipe.architecture)
    sub = [feats[i] for i in train_idx]
    norm = None
    if arch.feature_set is not FeatureSet.LOGMEL:  # dense layers over one vector
        mean, std = _standardiser(feats, train_idx)
        norm = (mean, std)
        sub = [[(x - mean) / std for x in per] for per in sub]
        model = build_mlp(len(mean))
    else:
        model = build_cnn(recipe.features.frame_dim)
    steps = max(1, len(train_idx) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, decay_steps=steps * recipe.epochs, alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=recipe.label_smoothing
        ),
    )
    groups = None
    if recipe.balance == "corpus" and corpora is not None:
        groups = np.asarray(corpora)[train_idx]
    if norm is not None:
        _fit_vectors(model, sub, labels[train_idx], recipe, rng, groups, steps)
        return model, norm
    batches = iter(_Batches(sub, labels[train_idx], recipe, rng, groups))
    import tensorflow as tf

    spec_x = (None, None, recipe.features.frame_dim)
    ds = tf.data.Dataset.from_generator(
        lambda: batches,
        output_signature=(
            tf.TensorSpec(spec_x, tf.float32),
            tf.TensorSpec((None, len(EMOTIONS)), tf.float32),
        ),
    ).prefetch(2)
    model.fit(ds, epochs=recipe.epochs, steps_per_epoch=steps, verbose=0)
    return model, norm


def predict_logits(model, norm, feats: Sequence[np.ndarray]) -> np.ndarray:
    """Logits [shape=(len(feats), 8)] for clean features, one utterance at a time."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    out = []
    if norm is not None:
        x = (np.stack(feats) - norm[0]) / norm[1]
        return np.asarray(model(x.astype(np.float32), training=False))
    for x in feats:
        out.append(np.asarray(fn(tf.constant(x[None].astype(np.float32))))[0])
    return np.stack(out)


# --- cross-validation ----------------------------------------------------------------


@dataclass
class CVResult:
    logits: np.ndarray  # out-of-fold, [n, 8]
    labels: np.ndarray
    folds: list[np.ndarray]
    seconds: float

    def subset(self, keep: np.ndarray) -> CVResult:
        """The same result over the utterances ``keep`` only (folds renumbered)."""
        remap = {old: new for new, old in enumerate(keep)}
        folds = [np.array([remap[i] for i in f if i in remap], dtype=int) for f in self.folds]
        return CVResult(self.logits[keep], self.labels[keep], folds, self.seconds)

    def fold_scores(self) -> list[dict[str, float]]:
        scores = []
        for test in self.folds:
            if len(test) == 0:  # a corpus with fewer speakers than folds
                continue
            pred = self.logits[test].argmax(axis=1)
            scores.append(
                {
                    "ua": unweighted_average_recall(self.labels[test], pred),
                    "accuracy": accuracy(self.labels[test], pred),
                }
            )
        return scores

    def summary(self) -> dict:
        scores = self.fold_scores()
        ua = np.array([s["ua"] for s in scores])
        acc = np.array([s["accuracy"] for s in scores])
        pred = self.logits.argmax(axis=1)
        cm = confusion(self.labels, pred)
        temperature = fit_temperature(self.logits, self.labels)
        return {
            "protocol": f"{len(self.folds)}-fold speaker-disjoint cross-validation",
            "ua_mean": round(float(ua.mean()), 4),
            "ua_std": round(float(ua.std()), 4),
            "accuracy_mean": round(float(acc.mean()), 4),
            "accuracy_std": round(float(acc.std()), 4),
            "fold_ua": [round(float(v), 4) for v in ua],
            "per_class_recall": {
                n: round(float(r), 4)
                for n, r in zip(EMOTION_NAMES, per_class_recall(cm), strict=True)
            },
            "confusion": cm.tolist(),
            "temperature": temperature,
            "ece_raw": round(expected_calibration_error(softmax(self.logits), self.labels), 4),
            "ece_calibrated": round(
                expected_calibration_error(softmax(self.logits, temperature), self.labels), 4
            ),
            "train_seconds": round(self.seconds, 1),
        }


def cross_validate(
    items: Sequence[Utterance],
    feats,
    recipe: Recipe,
    *,
    n_folds: int = 5,
    score_on: Sequence[str] | None = None,
) -> CVResult:
    """Out-of-fold logits; each fold's speakers are never seen in its training.

    ``score_on`` limits the scored utterances to some corpora (others only train).
    """
    labels = np.array([u.label for u in items])
    folds = speaker_folds(items, n_folds)
    logits = np.zeros((len(items), len(EMOTIONS)), dtype=np.float32)
    scored = np.array([score_on is None or u.corpus in score_on for u in items])
    t0 = time.perf_counter()
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(items)), test)
        model, norm = fit(feats, labels, train, recipe, corpora=[u.corpus for u in items])
        logits[test] = predict_logits(model, norm, [feats[i][0] for i in test])
        ua = unweighted_average_recall(
            labels[test][scored[test]], logits[test][scored[test]].argmax(1)
        )
        _log(f"fold {k + 1}/{n_folds}: UA {ua:.3f} ({time.perf_counter() - t0:.0f} s)")
    full = CVResult(logits, labels, folds, time.perf_counter() - t0)
    return full.subset(np.flatnonzero(scored))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


__all__ = ["Recipe", "CVResult", "compute_features", "cross_validate", "fit", "FeatureSet"]
