"""Out-of-fold logits of single members, and the UA of ensembles built from them.

Cross-validating an ensemble repeats every member's folds; saving each member's
out-of-fold logits once lets any combination or weighting be scored in a second.
The model card's experiment rows on mixup, label smoothing, pitch channels and member
weights come from here:

    python scripts/member_oof.py fit cnn --arch cnn --seed 1337
    python scripts/member_oof.py fit func-mix --arch func --seed 1338 --mixup 0.2
    python scripts/member_oof.py fit func-ls --arch func --seed 1338 --label-smoothing 0.1
    python scripts/member_oof.py fit cnn-pitch --arch cnn --seed 1337 --pitch-channels
    python scripts/member_oof.py fit func-vq --arch func --seed 1338 --voice-quality
    python scripts/member_oof.py score cnn func-mix func-ls --cnn-weights 0.25 0.33 0.5

Logits go to build/oof/<name>.npz. Data: RAVDESS + SAVEE, 5 actor-disjoint folds, only
RAVDESS scored, as ``make model``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as python -m ml: repeatable sums

OUT = ROOT / "build" / "oof"
DATA = ROOT.parent / "shared" / "data"


def fit(args: argparse.Namespace) -> None:
    from ml.architectures import Architecture
    from ml.data import corpus
    from ml.features import FeatureConfig, FeatureSet
    from ml.training import VARIANTS, Recipe, compute_features, cross_validate

    items = corpus(args.data / "ravdess") + corpus(args.data / "savee")
    fs = Architecture(args.arch).feature_set
    config = FeatureConfig(
        feature_set=fs,
        pitch_channels=args.pitch_channels and fs is FeatureSet.LOGMEL,
        voice_quality=args.voice_quality and fs is FeatureSet.FUNCTIONALS,
    )
    recipe = Recipe(
        architecture=args.arch,
        epochs=40 if args.arch == "cnn" else 120,
        seed=args.seed,
        features=config,
        mixup=args.mixup,
        label_smoothing=args.label_smoothing,
        variants=VARIANTS,
    )
    feats = compute_features(
        items, config, recipe.variants, seed=1337, cache_dir=ROOT / "build" / "cache"
    )
    result = cross_validate(items, feats, recipe, n_folds=5, score_on=["ravdess"])
    OUT.mkdir(parents=True, exist_ok=True)
    folds = np.full(len(result.labels), -1)
    for k, test in enumerate(result.folds):
        folds[test] = k
    np.savez(OUT / f"{args.name}.npz", logits=result.logits, labels=result.labels, folds=folds)
    s = result.summary()
    print(f"{args.name}: UA {s['ua_mean']:.3f} ± {s['ua_std']:.3f} {s['fold_ua']}")


def score(args: argparse.Namespace) -> None:
    from ml.metrics import unweighted_average_recall

    runs = {n: np.load(OUT / f"{n}.npz") for n in args.names}
    first = runs[args.names[0]]
    labels, folds = first["labels"], first["folds"]

    def ua(logits: np.ndarray) -> tuple[float, float, list[float]]:
        per = [
            unweighted_average_recall(labels[folds == k], logits[folds == k].argmax(1))
            for k in range(folds.max() + 1)
        ]
        return float(np.mean(per)), float(np.std(per)), [round(v, 3) for v in per]

    def show(label: str, logits: np.ndarray) -> None:
        mean, std, per = ua(logits)
        print(f"{label:40s} {mean:.4f} ± {std:.4f} {per}")

    for r in range(1, len(args.names) + 1):
        for combo in itertools.combinations(args.names, r):
            show("+".join(combo), np.mean([runs[n]["logits"] for n in combo], axis=0))
    cnns = [n for n in args.names if n.startswith("cnn")]
    for cnn, other in itertools.product(cnns, [n for n in args.names if n not in cnns]):
        for w in args.cnn_weights:
            logits = w * runs[cnn]["logits"] + (1 - w) * runs[other]["logits"]
            show(f"{w:.2f} x {cnn} + {1 - w:.2f} x {other}", logits)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(required=True)
    f = sub.add_parser("fit", help="cross-validate one member, save its out-of-fold logits")
    f.add_argument("name")
    f.add_argument("--arch", default="func")
    f.add_argument("--seed", type=int, default=1338)
    f.add_argument("--mixup", type=float, default=0.0)
    f.add_argument("--label-smoothing", type=float, default=0.0)
    f.add_argument("--pitch-channels", action="store_true")
    f.add_argument("--voice-quality", action="store_true")
    f.add_argument("--data", type=Path, default=DATA)
    f.set_defaults(run=fit)
    s = sub.add_parser("score", help="UA of every combination of saved members")
    s.add_argument("names", nargs="+")
    s.add_argument("--cnn-weights", type=float, nargs="*", default=[0.25, 0.33, 0.4, 0.5])
    s.set_defaults(run=score)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
