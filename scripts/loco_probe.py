"""Quick probes of feature sets across corpora: logistic regression, leave one corpus out.

    python scripts/loco_probe.py --features enc [enc1 enc3 func ...] [--balance corpus] [--C 0.001]
        [--speaker-norm [--speaker-clips K]] [--corpus-norm] [--neutral-bias 1.0] [--folds]
        [--encoder-layers 2]

Each corpus is scored by a logistic regression trained on the other corpora (clean takes,
features standardised on the training corpora), over the emotions it has: UA and neutral
recall, then the mean. ``--folds`` adds the 5 actor-disjoint RAVDESS folds (trained on
every other speaker of every corpus). Features come from the training cache (build/cache;
computed there when missing, as ``python -m ml train`` does). This is how the model card's
"levers" rows were measured; a lever that wins here is then tried in the real recipe.
``--speaker-norm`` standardises each speaker's features over that speaker's takes: it
needs several takes of one voice, which a single upload does not have; with
``--speaker-clips K`` the statistics come from only K of them (a few minutes of speech).
``--corpus-norm`` standardises each corpus over its own takes (one source of many voices).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from ml.data import corpus, speaker_folds  # noqa: E402
from ml.features import FeatureConfig, FeatureSet  # noqa: E402
from ml.metrics import unweighted_average_recall  # noqa: E402
from ml.training import VARIANTS, compute_features  # noqa: E402

CONFIGS = {
    "enc": FeatureConfig(feature_set=FeatureSet.ENCODER),
    "func": FeatureConfig(feature_set=FeatureSet.FUNCTIONALS, voice_quality=True),
    # one block of the encoder each, to probe blocks side by side: --features enc1 enc3
    **{
        f"enc{n}": FeatureConfig(feature_set=FeatureSet.ENCODER, encoder_layers=n)
        for n in (1, 2, 3, 4)
    },
}
CORPORA = ("ravdess", "savee", "emovo", "casia")


def _speaker_norm(x: np.ndarray, speakers: np.ndarray, clips: int = 0, seed: int = 1337):
    """Each speaker's takes standardised by that speaker's mean and s.d.: over all of its
    takes, or (``clips`` > 0) over only that many of them drawn at random, as a recording
    of a few minutes would give."""
    rng = np.random.default_rng(seed)
    x = x.copy()
    for s in np.unique(speakers):
        m = np.flatnonzero(speakers == s)
        ref = x[rng.choice(m, size=min(clips, len(m)), replace=False)] if clips else x[m]
        x[m] = (x[m] - ref.mean(axis=0)) / (ref.std(axis=0) + 1e-6)
    return x


def _fit_predict(x, y, corpora, train, test, args) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    weight = np.ones(len(train))
    if args.balance == "corpus":  # every (corpus, emotion) pair weighs the same
        keys = np.char.add(corpora[train].astype(str), y[train].astype(str))
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        weight = len(train) / len(counts) / counts[inverse]
    clf = LogisticRegression(C=args.C, max_iter=2000)
    clf.fit((x[train] - mean) / std, y[train], sample_weight=weight)
    scores = np.full((len(test), 8), -np.inf)
    scores[:, clf.classes_] = clf.decision_function((x[test] - mean) / std)
    scores[:, 0] += args.neutral_bias
    return scores.argmax(axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--features", nargs="+", choices=sorted(CONFIGS), default=["enc"])
    p.add_argument("--balance", choices=("none", "corpus"), default="corpus")
    p.add_argument("--C", type=float, default=0.001, help="inverse L2 strength")
    p.add_argument("--speaker-norm", action="store_true")
    p.add_argument(
        "--speaker-clips",
        type=int,
        default=0,
        help="with --speaker-norm: each speaker's statistics from only this many takes",
    )
    p.add_argument(
        "--corpus-norm",
        action="store_true",
        help="standardise each corpus over its own takes (one source of many voices)",
    )
    p.add_argument("--neutral-bias", type=float, default=0.0, help="added to neutral's score")
    p.add_argument("--folds", action="store_true", help="also the RAVDESS actor folds")
    p.add_argument("--cache", type=Path, default=Path("build/cache"))
    p.add_argument(
        "--encoder-layers",
        type=int,
        choices=(1, 2, 3, 4),
        default=4,
        help="encoder blocks whose output enc reads (4: all, as the bundled model)",
    )
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    configs = dict(CONFIGS)
    configs["enc"] = dataclasses.replace(CONFIGS["enc"], encoder_layers=args.encoder_layers)

    items = [u for c in CORPORA for u in corpus(args.data / c)]
    blocks = []
    for name in args.features:
        feats = compute_features(items, configs[name], VARIANTS, seed=1337, cache_dir=args.cache)
        blocks.append(np.stack([f[0] for f in feats]))  # the clean take
    x = np.concatenate(blocks, axis=1).astype(np.float64)
    y = np.array([u.label for u in items])
    corpora = np.array([u.corpus for u in items])
    if args.speaker_norm:
        x = _speaker_norm(x, np.array([u.speaker for u in items]), args.speaker_clips)
    if args.corpus_norm:
        x = _speaker_norm(x, corpora)

    uas, neutral = [], []
    for c in CORPORA:
        test, train = np.flatnonzero(corpora == c), np.flatnonzero(corpora != c)
        pred = _fit_predict(x, y, corpora, train, test, args)
        uas.append(unweighted_average_recall(y[test], pred))
        neutral.append(float(np.mean(pred[y[test] == 0] == 0)))
        print(f"{c:<8} UA {uas[-1]:.3f}  neutral recall {neutral[-1]:.2f}")
    print(f"mean UA {np.mean(uas):.3f}; lowest neutral recall {min(neutral):.2f}")
    if args.folds:
        rav = np.flatnonzero(corpora == "ravdess")
        folds = []
        for f in speaker_folds([items[i] for i in rav], 5):
            test = rav[f]
            train = np.setdiff1d(np.arange(len(items)), test)
            folds.append(
                unweighted_average_recall(y[test], _fit_predict(x, y, corpora, train, test, args))
            )
        print(
            f"RAVDESS actor folds: UA {np.mean(folds):.3f} ({', '.join(f'{v:.3f}' for v in folds)})"
        )


if __name__ == "__main__":
    main()
