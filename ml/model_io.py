"""Saving a trained model directory that :class:`ml.recognizer.EmotionRecognizer` loads."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ml.export import onnx_name, write_onnx
from ml.labels import EMOTION_NAMES
from ml.recognizer import FORMAT, VERSION, file_sha256


def inference_copy(model):
    """The same network and weights, uncompiled: no optimizer state (two thirds of the
    file with Adam) is saved with it."""
    copy = type(model).from_config(model.get_config())  # clone_model would compile it
    copy.set_weights(model.get_weights())
    return copy


def _with_normaliser(model, norm):
    """Bake the MLP's feature standardisation into the saved model."""
    if norm is None:
        return model
    import keras

    mean, std = norm
    inputs = keras.Input(shape=(len(mean),), name="stats")
    scaled = keras.layers.Normalization(mean=mean, variance=std**2, name="standardise")(inputs)
    return keras.Model(inputs, model(scaled), name=model.name)


def save_model(
    out: str | Path,
    *,
    name: str,
    members: list[tuple[Any, Any, Any]],
    metrics: dict | None,
    weights: list[float] | None = None,
    training: dict,
    temperature: float | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``meta.json`` and, per member, ``<architecture>-<seed>.keras`` and the same
    network exported to ``<architecture>-<seed>.onnx`` (what serving runs), atomically.

    ``temperature`` defaults to the one fitted in ``metrics``; ``extra`` adds top-level keys
    (the clarity rule, the plain-words card, the encoder's package).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    specs = []
    weights = weights or [1.0] * len(members)
    for (model, norm, recipe), weight in zip(members, weights, strict=True):
        weights = f"{recipe.architecture}-{recipe.seed}.keras"
        saved = _with_normaliser(inference_copy(model), norm)
        saved.save(tmp / weights)
        exported = onnx_name(weights)
        specs.append(
            {
                "architecture": recipe.architecture,
                "weights": weights,
                "sha256": file_sha256(tmp / weights),
                "onnx": exported,
                "onnx_sha256": write_onnx(saved, tmp / exported),
                "weight": weight,
                "features": recipe.features.to_dict(),
                "recipe": recipe.to_dict(),
            }
        )
    arch = "+".join(s["architecture"] for s in specs)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": f"{name}-{arch}",
        "labels": list(EMOTION_NAMES),
        "temperature": temperature or (metrics or {}).get("temperature", 1.0),
        "members": specs,
        "training": training,
        "metrics": metrics,
        **(extra or {}),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
