"""Keras members to ONNX files, so that serving needs ONNX Runtime and never TensorFlow.

The graph is written op by op with ``onnx.helper`` from the Keras weights: dropout is the
identity at inference, every batch normalisation is folded into the Dense or Conv1D
layer before it, and the standardisation the saved MLPs start with ((x - mean) / std)
becomes their first two ops. Keras 3's layout is kept (``[batch, features]`` and
``[batch, frames, channels]``); the 1-D convolutions and poolings transpose around
themselves and ONNX Runtime removes the pairs of transposes that meet.

tf2onnx was not used: it converts through TensorFlow's graph, is tested with TensorFlow
2.13-2.15 (Keras 2) while training pins 2.21 with Keras 3, and the two architectures of
:mod:`ml.architectures` need only a dozen ops.

This module imports Keras and ``onnx``; only training and ``python -m ml export`` use it.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ml.errors import ModelLoadError

OPSET = 17  # reductions still take their axes as attributes
INPUT = "features"
OUTPUT = "logits"


class ExportError(ModelLoadError):
    """A Keras model holds a layer this exporter does not know, or the export disagrees."""


def onnx_name(weights: str) -> str:
    """``enc-1337.keras`` -> ``enc-1337.onnx``: the ONNX file beside a member's weights."""
    return Path(weights).with_suffix(".onnx").name


class _Graph:
    """The ONNX nodes and constants being written, with unique value names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.constants: dict[str, np.ndarray] = {}
        self._used: set[str] = set()

    def name(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._used:
            name, i = f"{hint}_{i}", i + 1
        self._used.add(name)
        return name

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.constants[name] = np.ascontiguousarray(array, dtype=np.float32)
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _batch_norm(layer, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNormalization layer over tensors of ``rank`` dimensions at inference, as
    ``x * scale + shift`` per channel."""
    if layer.axis not in (-1, rank - 1):
        raise ExportError(f"{layer.name}: only the last axis can be normalised")
    mean = np.asarray(layer.moving_mean, dtype=np.float64)
    var = np.asarray(layer.moving_variance, dtype=np.float64)
    gamma = np.asarray(layer.gamma, dtype=np.float64) if layer.scale else np.ones_like(mean)
    beta = np.asarray(layer.beta, dtype=np.float64) if layer.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + layer.epsilon)
    return scale, beta - mean * scale


def _activation(g: _Graph, x: str, layer, name: str) -> str:
    kind = getattr(layer.activation, "__name__", str(layer.activation))
    if kind == "linear":
        return x
    if kind == "relu":
        return g.op("Relu", [x], f"{name}/relu")
    raise ExportError(f"{layer.name}: activation {kind!r} is not exported")


def _to_channels_first(g: _Graph, x: str, name: str) -> str:
    return g.op("Transpose", [x], f"{name}/ncw", perm=[0, 2, 1])


def _to_channels_last(g: _Graph, x: str, name: str) -> str:
    return g.op("Transpose", [x], f"{name}/nwc", perm=[0, 2, 1])


def _linear(g: _Graph, layer, x: str, bn, rank: int) -> str:
    """Dense or Conv1D (output of ``rank`` dimensions), with the batch normalisation ``bn``
    that follows it folded in."""
    kind = type(layer).__name__
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    bias = (
        np.asarray(layer.bias, dtype=np.float64)
        if layer.use_bias
        else np.zeros(kernel.shape[-1], dtype=np.float64)
    )
    if bn is not None:
        scale, shift = _batch_norm(bn, rank)
        kernel, bias = kernel * scale, bias * scale + shift  # scales the output channels
    name = layer.name
    if kind == "Dense":
        y = g.op("MatMul", [x, g.const(kernel, f"{name}/kernel")], f"{name}/matmul")
        y = g.op("Add", [y, g.const(bias, f"{name}/bias")], f"{name}/out")
    else:
        if layer.data_format != "channels_last" or layer.groups != 1:
            raise ExportError(f"{name}: only channels_last convolutions without groups")
        padding = {"same": "SAME_UPPER", "valid": "VALID"}.get(layer.padding)
        if padding is None:
            raise ExportError(f"{name}: padding {layer.padding!r} is not exported")
        weights = g.const(kernel.transpose(2, 1, 0), f"{name}/kernel")  # (k, in, out) -> OIW
        y = g.op(
            "Conv",
            [_to_channels_first(g, x, name), weights, g.const(bias, f"{name}/bias")],
            f"{name}/conv",
            kernel_shape=[kernel.shape[0]],
            strides=list(layer.strides),
            dilations=list(layer.dilation_rate),
            auto_pad=padding,
        )
        y = _to_channels_last(g, y, name)
    return _activation(g, y, layer, name)


def _layer(g: _Graph, layer, inputs: list[str], rank: int) -> str:
    """One layer other than Dense and Conv1D; ``rank``: of its output."""
    kind, name = type(layer).__name__, layer.name
    x = inputs[0]
    if kind in ("Dropout", "GaussianNoise", "SpatialDropout1D"):
        return x  # identity at inference
    if kind == "Activation":
        return _activation(g, x, layer, name)
    if kind == "ReLU":
        return g.op("Relu", [x], f"{name}/relu")
    if kind == "Normalization":
        if layer.invert:
            raise ExportError(f"{name}: an inverted normalisation is not exported")
        import keras

        mean = np.asarray(layer.mean, dtype=np.float64)
        std = np.maximum(
            np.sqrt(np.asarray(layer.variance, dtype=np.float64)), keras.config.epsilon()
        )
        y = g.op("Sub", [x, g.const(mean, f"{name}/mean")], f"{name}/centred")
        return g.op("Div", [y, g.const(std, f"{name}/std")], f"{name}/out")
    if kind == "BatchNormalization":  # one that follows no Dense or Conv1D
        scale, shift = _batch_norm(layer, rank)
        y = g.op("Mul", [x, g.const(scale, f"{name}/scale")], f"{name}/scaled")
        return g.op("Add", [y, g.const(shift, f"{name}/shift")], f"{name}/out")
    if kind == "Rescaling":
        y = g.op("Mul", [x, g.const(np.asarray(layer.scale), f"{name}/scale")], f"{name}/scaled")
        if np.any(np.asarray(layer.offset) != 0):
            offset = g.const(np.asarray(layer.offset), f"{name}/offset")
            y = g.op("Add", [y, offset], f"{name}/out")
        return y
    if kind == "MaxPooling1D":
        padding = {"same": "SAME_UPPER", "valid": "VALID"}[layer.padding]
        y = g.op(
            "MaxPool",
            [_to_channels_first(g, x, name)],
            f"{name}/pool",
            kernel_shape=list(layer.pool_size),
            strides=list(layer.strides),
            auto_pad=padding,
        )
        return _to_channels_last(g, y, name)
    if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        if layer.data_format != "channels_last" or layer.keepdims:
            raise ExportError(f"{name}: only channels_last pooling without keepdims")
        op = "ReduceMean" if kind == "GlobalAveragePooling1D" else "ReduceMax"
        return g.op(op, [x], f"{name}/out", axes=[1], keepdims=0)
    if kind == "Concatenate":
        return g.op("Concat", inputs, f"{name}/out", axis=layer.axis)
    raise ExportError(f"{name}: a {kind} layer is not exported")


def _walk(g: _Graph, model, inputs: list[str]) -> list[str]:
    """Write ``model``'s graph reading the ONNX values ``inputs``; its output values.

    The nodes are visited as Keras runs them (deepest first, ``Functional``'s own order),
    and a nested model is walked in place.
    """
    values = {id(t): v for t, v in zip(model.inputs, inputs, strict=True)}
    nodes = [
        node
        for depth in sorted(model._nodes_by_depth, reverse=True)
        for node in model._nodes_by_depth[depth]
        if node.operation is not None and not node.is_input
    ]
    consumers: dict[int, list] = defaultdict(list)
    for node in nodes:
        for t in node.input_tensors:
            consumers[id(t)].append(node)
    outputs = {id(t) for t in model.outputs}
    folded: set[int] = set()
    for node in nodes:
        if id(node) in folded:
            continue
        layer = node.operation
        xs = [values[id(t)] for t in node.input_tensors]
        (out,) = node.outputs
        kind = type(layer).__name__
        if hasattr(layer, "_nodes_by_depth"):  # a nested Functional model
            (values[id(out)],) = _walk(g, layer, xs)
        elif kind in ("Dense", "Conv1D"):
            # Fold the batch normalisation that alone reads this output, when the layer
            # has no activation of its own between them.
            after = consumers[id(out)]
            bn = None
            if (
                len(after) == 1
                and type(after[0].operation).__name__ == "BatchNormalization"
                and getattr(layer.activation, "__name__", "") == "linear"
                and id(out) not in outputs
            ):
                bn = after[0]
                folded.add(id(bn))
            y = _linear(g, layer, xs[0], bn.operation if bn else None, len(out.shape))
            values[id(bn.outputs[0] if bn else out)] = y
        else:
            values[id(out)] = _layer(g, layer, xs, len(out.shape))
    return [values[id(t)] for t in model.outputs]


def keras_to_onnx(model) -> Any:
    """An ``onnx.ModelProto`` computing what ``model(x, training=False)`` computes.

    model : a Keras 3 functional model with one input and one output,
        [batch, n] or [batch, frames, channels] float32 -> [batch, 8] logits.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError(f"{model.name}: one input and one output are exported")
    g = _Graph()
    source, target = g.name(INPUT), g.name(OUTPUT)
    (last,) = _walk(g, model, [source])
    g.nodes.append(helper.make_node("Identity", [last], [target], name=target))
    dims = ["batch", "frames"]
    in_shape = [d if d is not None else dims[i] for i, d in enumerate(model.inputs[0].shape)]
    graph = helper.make_graph(
        g.nodes,
        model.name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, in_shape)],
        [
            helper.make_tensor_value_info(
                OUTPUT, TensorProto.FLOAT, ["batch", model.outputs[0].shape[-1]]
            )
        ],
        initializer=[numpy_helper.from_array(a, n) for n, a in g.constants.items()],
    )
    opset = [helper.make_opsetid("", OPSET)]
    proto = helper.make_model(
        graph,
        opset_imports=opset,
        producer_name="speechemotion ml.export",
        ir_version=helper.find_min_ir_version_for(opset),
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _check_same_logits(model, proto, *, seed: int = 0) -> None:
    """Raise ``ExportError`` unless ONNX Runtime gives Keras's logits for random inputs."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    shape = [
        d if d is not None else (3 if i == 0 else 120) for i, d in enumerate(model.inputs[0].shape)
    ]
    x = rng.standard_normal(shape).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], {INPUT: x})[0]
    tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))
    worst = float(np.abs(got - expected).max())
    if not worst <= tolerance:
        raise ExportError(
            f"{model.name}: the ONNX graph's logits differ from Keras's by {worst:.2e} "
            f"(more than {tolerance:.1e})"
        )


def write_onnx(model, path: str | os.PathLike[str]) -> str:
    """Export ``model`` (see :func:`keras_to_onnx`), check it against Keras, write it to
    ``path``; its SHA-256."""
    from ml.recognizer import file_sha256

    proto = keras_to_onnx(model)
    _check_same_logits(model, proto)
    path = Path(path)
    path.write_bytes(proto.SerializeToString(deterministic=True))
    return file_sha256(path)


def export_model(path: str | os.PathLike[str]) -> list[Path]:
    """Write ``<member>.onnx`` beside each member's ``.keras`` file of the saved model at
    ``path`` and record their names and SHA-256 in its meta.json; the files written.

    The ``.keras`` files are checked against meta.json first, so that an export never
    vouches for weights that were changed.
    """
    import keras

    from ml.recognizer import file_sha256, read_meta

    path = Path(path)
    meta = read_meta(path)
    written, members = [], []
    for spec in meta["members"]:
        weights = path / spec["weights"]
        if spec.get("sha256") and spec["sha256"] != file_sha256(weights):
            raise ExportError(
                f"{weights} does not match the SHA-256 recorded in meta.json; "
                "the weights were changed or damaged."
            )
        try:
            model = keras.saving.load_model(weights, compile=False)
        except Exception as err:  # keras raises many types for a damaged file
            raise ExportError(f"{weights} could not be loaded: {err}") from err
        target = path / onnx_name(spec["weights"])
        digest = write_onnx(model, target)
        written.append(target)
        members.append(_with_onnx(spec, target.name, digest))
    meta["members"] = members
    tmp = path / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(path / "meta.json")
    return written


def _with_onnx(spec: dict[str, Any], name: str, digest: str) -> dict[str, Any]:
    """``spec`` with ``onnx`` and ``onnx_sha256`` right after the weights' own digest."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("onnx", "onnx_sha256"):
            continue
        out[key] = value
        if key == "sha256":
            out["onnx"], out["onnx_sha256"] = name, digest
    out.setdefault("onnx", name)
    out.setdefault("onnx_sha256", digest)
    return out
