"""A trained model as one ONNX graph: raw feature windows in, class probabilities and label out.

The graph holds everything the server does after per-frame features (``ModelRunner.predict``):
the train-fitted z-score scaler, missing values (NaN, ±inf) → 0, the window representation
(``stats``, ``flatten``, ``multiscale``, ``minirocket``; the networks take the window as it is)
and the estimator. Input ``window`` float32 [batch, T, F] (T frames at the model's resample
rate, F features named in the metadata, NaN allowed); outputs ``probabilities`` float32
[batch, C] (a plain tensor over every class of the dataset, no ZipMap) and ``label`` int64
[batch] (the index of the most probable class). Class names, feature names, the window, the
detector configuration and the model's sha256 are metadata_props (``taskml.*``).

Parity with the server is the contract (tests/pipeline/test_onnx_export.py), so the parts that
feed comparisons are computed bit for bit as numpy computes them:

- Sums over time (means, variances, slopes, MiniRocket's channel sums and convolutions) are
  written as sequential float32 additions in the order numpy's reductions and the pipeline's
  own loops perform them, never as ONNX reductions whose order is up to the runtime.
- Divisions that numpy performs in float64 (``nanmean`` by a count) are done in float64 here
  too, then rounded to float32; PPV's hits / positions, a quotient of two small integers, is
  divided in float32, which rounds it to the same float32 (tests/pipeline/test_onnx_export.py).
- Tree thresholds: scikit-learn and LightGBM compare a float32 feature with a float64
  threshold; the converters (skl2onnx, onnxmltools) store thresholds as float32 rounded to
  nearest, which sends a value lying between the two the wrong way. Each threshold t is
  replaced by the largest float32 ≤ t, for which ``x <= t32`` ⟺ ``x <= t`` for every float32 x.

What is left to floating point are the last steps, where no comparison depends on single bits:
matrix products (ridge, the networks), tree leaf sums and softmax (differences of about 1e-7).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .contracts import ModelBundle, read_dataset_metadata
from .errors import InputError, PipelineError
from .estimators import SEQUENCE_MODELS
from .files import atomic_path
from .online import TIE_TOLERANCE
from .windows import WindowSpec

# 2: the detector metadata names the object model by file name with its sha256 and thresholds
# (``objects``), never by a path of the exporting machine. The runtime reads 1 and 2.
EXPORT_FORMAT = 2
OPSET = 17  # ai.onnx; onnxruntime 1.32 runs it, onnx 1.17 checks it
ML_OPSET = 3  # ai.onnx.ml (tree ensembles)
LIGHTGBM_OPSET = 15  # the highest onnxmltools 1.16 writes; its nodes mean the same under 17
INPUT, PROBABILITIES, LABEL = "window", "probabilities", "label"
META = "taskml."
# DetectorConfig fields left out of the metadata: where and how the detectors ran on the exporting
# machine (device, backend, its folders), not what the features are. ``yolo_model`` is kept as a
# file name only (detector_metadata).
DETECTOR_KEYS_DROPPED = ("device", "yolo_backend", "cache_dir", "models_dir")


class NotExportable(PipelineError):
    """This model cannot be written as ONNX (the message says why); nothing was written."""


# --------------------------------------------------------------------------- graph building


class _Graph:
    """Nodes and constants of the graph being built; every tensor gets a fresh name."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self.opsets: dict[str, int] = {"": OPSET}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "const", dtype=None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.initializers.append(self._numpy_helper.from_array(array, name))
        return name

    def ints(self, values, hint: str = "ints") -> str:
        return self.const(np.asarray(values, np.int64), hint)

    def op(self, op_type: str, *inputs: str, hint: str | None = None, outputs: int = 1, domain: str = "", **attrs):
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self._helper.make_node(op_type, list(inputs), names, domain=domain, **attrs))
        return names[0] if outputs == 1 else names

    # -- small compositions ------------------------------------------------------------------
    def slice(self, x: str, start: int, stop: int, axis: int) -> str:
        return self.op("Slice", x, self.ints([start]), self.ints([stop]), self.ints([axis]), hint="slice")

    def squeeze(self, x: str, axis: int) -> str:
        return self.op("Squeeze", x, self.ints([axis]), hint="squeeze")

    def cast(self, x: str, to) -> str:
        from onnx import TensorProto

        return self.op("Cast", x, to={"float": TensorProto.FLOAT, "double": TensorProto.DOUBLE}[to], hint="cast")

    def frames(self, x: str, length: int, axis: int = 1) -> list[str]:
        """The ``length`` slices of ``x`` along ``axis``, each with that axis squeezed away."""
        if length == 1:
            return [self.squeeze(x, axis)]
        parts = self.op("Split", x, self.ints([1] * length), axis=axis, outputs=length, hint="frame")
        return [self.squeeze(p, axis) for p in parts]

    def sequential_sum(self, x: str, length: int, axis: int = 1) -> str:
        """x[0] + x[1] + … + x[L-1] along ``axis`` in that order, in x's type (numpy's order)."""
        parts = self.frames(x, length, axis)
        total = parts[0]
        for part in parts[1:]:
            total = self.op("Add", total, part, hint="sum")
        return total

    def divide_as_double(self, x: str, divisor: float) -> str:
        """float32(float64(x) / divisor): numpy's float32 ÷ integer count."""
        return self.cast(self.op("Div", self.cast(x, "double"), self.const(np.float64(divisor), "count")), "float")


# --------------------------------------------------------------------------- representations


def _stats(g: _Graph, x: str, frames: int) -> str:
    """aggregate(x, "stats"): mean, std, min, max, last − first per feature."""
    mean = g.op("Div", g.sequential_sum(x, frames), g.const(np.float32(frames), "frames"), hint="mean")
    deviation = g.op("Sub", x, g.op("Unsqueeze", mean, g.ints([1])), hint="dev")
    variance = g.op(
        "Div",
        g.sequential_sum(g.op("Mul", deviation, deviation), frames),
        g.const(np.float32(frames), "frames"),
        hint="var",
    )
    std = g.op("Sqrt", variance, hint="std")
    low = g.op("ReduceMin", x, axes=[1], keepdims=0, hint="min")
    high = g.op("ReduceMax", x, axes=[1], keepdims=0, hint="max")
    delta = g.op("Sub", g.squeeze(g.slice(x, frames - 1, frames, 1), 1), g.squeeze(g.slice(x, 0, 1, 1), 1))
    return g.op("Concat", mean, std, low, high, delta, axis=1, hint="stats")


def _multiscale(g: _Graph, x: str, frames: int) -> str:
    """MultiScale.transform on NaN-free windows, operation for operation."""
    from .representations import SPECTRAL_BINS, _segments

    parts = []
    for lo, hi, _ in _segments(frames):
        length = hi - lo
        seg = g.slice(x, lo, hi, 1)
        mean = g.divide_as_double(g.sequential_sum(seg, length), length)  # nanmean: float64 ÷ count
        deviation = g.op("Sub", seg, g.op("Unsqueeze", mean, g.ints([1])))
        variance = g.divide_as_double(g.sequential_sum(g.op("Mul", deviation, deviation), length), length)
        parts += [
            mean,
            g.op("Sqrt", variance, hint="std"),
            g.op("ReduceMin", seg, axes=[1], keepdims=0, hint="min"),
            g.op("ReduceMax", seg, axes=[1], keepdims=0, hint="max"),
        ]
        if length < 2:
            parts.append(g.op("Mul", g.squeeze(seg, 1), g.const(np.float32(0.0)), hint="no_slope"))
        else:
            u = np.arange(length, dtype=np.float32) - (length - 1) / 2
            weights = (u / float((u * u).sum())).astype(np.float32)  # as representations._slope
            weighted = g.op("Mul", seg, g.const(weights.reshape(1, length, 1), "slope_w"))
            parts.append(g.sequential_sum(weighted, length))
    parts.append(g.op("Sub", g.squeeze(g.slice(x, frames - 1, frames, 1), 1), g.squeeze(g.slice(x, 0, 1, 1), 1)))
    # rFFT magnitudes of frequencies 1..3 over the window, in float64 as numpy's FFT, / frames.
    bins = frames // 2 + 1
    t = np.arange(frames)[:, None]
    k = np.arange(1, SPECTRAL_BINS + 1)[None, :]
    angle = 2 * np.pi * ((t * k) % frames) / frames
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1)  # (T, 2K)
    # Less the first frame: frequencies 1..3 do not change, and a constant feature gives exactly
    # 0 as numpy's FFT does (a product with rounded cosines would leave ~1e-17).
    wide = g.cast(x, "double")
    wide = g.op("Sub", wide, g.slice(wide, 0, 1, 1), hint="less_first")
    across = g.op("Transpose", wide, perm=[0, 2, 1])  # (B, F, T)
    spectrum = g.op("MatMul", across, g.const(basis, "dft"))  # (B, F, 2K)
    real = g.slice(spectrum, 0, SPECTRAL_BINS, 2)
    imag = g.slice(spectrum, SPECTRAL_BINS, 2 * SPECTRAL_BINS, 2)
    power = g.op("Add", g.op("Mul", real, real), g.op("Mul", imag, imag))
    magnitude = g.cast(g.op("Div", g.op("Sqrt", power), g.const(np.float64(frames))), "float")  # (B, F, K)
    for i in range(SPECTRAL_BINS):
        column = g.squeeze(g.slice(magnitude, i, i + 1, 2), 2)
        if i + 1 >= bins:  # a window too short for this frequency: numpy's zeros
            column = g.op("Mul", column, g.const(np.float32(0.0)))
        parts.append(column)
    return g.op("Concat", *parts, axis=1, hint="multiscale")


def _minirocket(g: _Graph, x: str, rocket, *, ordered: bool = True) -> str | tuple[str, np.ndarray]:
    """MiniRocket.transform: channel sums, the nine-tap dilated convolutions, PPV against the biases.

    Combinations are laid out group by group (dilation, padding, bias count), so that each
    group is one slice. ``ordered``: the features in MiniRocket's column order (one gather);
    otherwise ``(features, columns)``, feature k being MiniRocket's column ``columns[k]``, for
    an estimator whose inputs are permuted instead (build_onnx: one node less per window).
    """
    frames = int(rocket.frames_)
    groups = rocket._groups
    layout = np.concatenate([group for group, _ in groups])  # combination at each row
    # Channel sums: each combination's features added in ascending feature order (the sparse
    # product's order), a zero channel standing in for the unused places of smaller subsets.
    subsets = [np.sort(np.flatnonzero(rocket.mask_[:, j])) for j in layout]
    width = max(len(s) for s in subsets)
    index = np.full((width, len(layout)), int(rocket.n_channels_), np.int64)
    for row, subset in enumerate(subsets):
        index[: len(subset), row] = subset
    # Features as rows (B, F + 1, T): each gather then copies whole contiguous rows.
    rows = g.op("Transpose", x, perm=[0, 2, 1], hint="by_feature")
    padded = g.op("Pad", rows, g.ints([0, 0, 0, 0, 1, 0]), g.const(np.float32(0.0)), hint="zero_channel")
    sums = g.op("Gather", padded, g.ints(index[0]), axis=1)
    for i in range(1, width):
        sums = g.op("Add", sums, g.op("Gather", padded, g.ints(index[i]), axis=1), hint="channel_sum")
    # sums: (B, rows, T); the groups are sorted by dilation first, so each dilation is one block.
    blocks = _convolution(g, sums, rocket._kernel_weights()[layout], rocket.dilations_[layout], frames)

    features, order, start = [], [], 0
    for group, columns in groups:
        # Each group lies in one dilation's block: its rows, and for an unpadded kernel the valid
        # positions only, in one slice.
        first, block = next((first, block) for first, block in reversed(blocks) if first <= start)
        rows, times = [start - first, start - first + len(group)], [0, frames]
        start += len(group)
        if not rocket.padded_[group[0]]:
            edge = 4 * int(rocket.dilations_[group[0]])
            if frames > 2 * edge:
                times = [edge, frames - edge]
        values = g.op("Slice", block, g.ints([rows[0], times[0]]), g.ints([rows[1], times[1]]), g.ints([1, 2]))
        positions = times[1] - times[0]
        biases = rocket.biases_[columns].astype(np.float32)  # (g, q)
        above = g.op(
            "Greater", g.op("Unsqueeze", values, g.ints([2])), g.const(biases[None, :, :, None], "bias"), hint="above"
        )
        hits = g.op("ReduceSum", g.cast(above, "float"), g.ints([3]), keepdims=0, hint="hits")  # exact counts
        # hits / positions in float32: both are small integers, so the quotient rounded once to
        # float32 is the float32 of numpy's float64 quotient (no double rounding can differ).
        ppv = g.op("Div", hits, g.const(np.float32(positions), "positions"), hint="ppv")
        features.append(g.op("Reshape", ppv, g.ints([-1, columns.size]), hint="ppv"))
        order.append(columns.reshape(-1))
    stacked = g.op("Concat", *features, axis=1, hint="ppv_all")
    order = np.concatenate(order)
    if not ordered:
        return stacked, order
    return g.op("Gather", stacked, g.ints(np.argsort(order, kind="stable")), axis=1, hint="minirocket")


def _convolution(g: _Graph, sums: str, weights: np.ndarray, dilations: np.ndarray, frames: int) -> list:
    """The outputs of each row's nine-tap kernel (``weights`` (rows, 9), dilation per row, rows of
    one dilation contiguous) on its zero-padded channel sum, as ``[(first row, (B, rows, T))]``,
    one block per dilation: nine slices times the weights, added in tap order as
    ``MiniRocket._convolve`` adds them (the products, by −1 or 2, are exact), so every output has
    the server's bits.

    Not an ONNX ``Conv`` although that is twice as fast here: the order in which a Conv kernel adds
    its taps is onnxruntime's choice. Its x86 NCHWc kernels add them in order (the same bits);
    its generic kernel (other CPUs, or a lower graph optimisation level) does not, and the last
    bits decide MiniRocket's comparisons with its biases (``bench/portable.py --minirocket-only``).
    """
    from .representations import MINIROCKET_KERNEL_LENGTH

    outputs = []
    for d in np.unique(dilations):
        d = int(d)
        block = np.flatnonzero(dilations == d)
        part = g.slice(sums, int(block[0]), int(block[-1]) + 1, 1)
        pad = 4 * d
        part = g.op("Pad", part, g.ints([0, 0, pad, 0, 0, pad]), g.const(np.float32(0.0)), hint="conv_pad")
        total = None
        for tap in range(MINIROCKET_KERNEL_LENGTH):
            shifted = g.slice(part, tap * d, tap * d + frames, 2)
            term = g.op("Mul", shifted, g.const(weights[block, tap].reshape(1, -1, 1), "tap_w"), hint="tap")
            total = term if total is None else g.op("Add", total, term, hint="conv")
        outputs.append((int(block[0]), total))
    return outputs


# --------------------------------------------------------------------------- estimators


def _floor32(values: np.ndarray) -> np.ndarray:
    """The largest float32 ≤ each float64 value: ``x <= floor32(t)`` ⟺ ``x <= t`` for float32 x."""
    values = np.asarray(values, np.float64)
    nearest = values.astype(np.float32)
    above = nearest.astype(np.float64) > values
    nearest[above] = np.nextafter(nearest[above], np.float32(-np.inf))
    return nearest


def _tree_node(model):
    found = [n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(found) != 1:
        raise NotExportable(f"the converter wrote {len(found)} tree ensembles; expected one")
    return found[0]


def _set_floats(node, name: str, values: np.ndarray) -> None:
    for attribute in node.attribute:
        if attribute.name == name:
            del attribute.floats[:]
            attribute.floats.extend(np.asarray(values, np.float32).tolist())
            return
    raise NotExportable(f"the converter's tree ensemble has no {name}")


def _attribute(node, name: str) -> list:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return list(helper.get_attribute_value(attribute))
    raise NotExportable(f"the converter's tree ensemble has no {name}")


def _exact_thresholds(node, thresholds_of_tree) -> None:
    """Replace the float32-rounded thresholds of a converted ensemble by their floor32 values.

    ``thresholds_of_tree(tree_id, node_id, rounded)`` gives the float64 threshold of a branch.
    """
    modes = _attribute(node, "nodes_modes")
    trees = _attribute(node, "nodes_treeids")
    ids = _attribute(node, "nodes_nodeids")
    values = np.asarray(_attribute(node, "nodes_values"), np.float32)
    fixed = values.copy()
    for i, mode in enumerate(modes):
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode == "LEAF":
            continue
        if mode != "BRANCH_LEQ":
            raise NotExportable(f"tree split {mode} is not supported")
        exact = thresholds_of_tree(int(trees[i]), int(ids[i]), values[i])
        floor = _floor32(np.array([exact]))[0]
        if values[i] not in (np.float32(exact), floor):  # skl2onnx already writes floor32 for forests
            raise NotExportable("the converter's thresholds do not line up with the model's trees")
        fixed[i] = floor
    _set_floats(node, "nodes_values", fixed)


def _permute_inputs(node, columns: np.ndarray | None) -> None:
    """Input k of the ensemble is now the model's feature ``columns[k]``: renumber the splits."""
    if columns is None:
        return
    position = np.argsort(columns, kind="stable")  # feature c now arrives at position[c]
    for attribute in node.attribute:
        if attribute.name == "nodes_featureids":
            remapped = position[np.asarray(attribute.ints, np.int64)].tolist()
            del attribute.ints[:]
            attribute.ints.extend(remapped)
            return
    raise NotExportable("the converter's tree ensemble has no nodes_featureids")


def _forest_model(forest, n_inputs: int, columns: np.ndarray | None = None):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    model = convert_sklearn(
        forest,
        initial_types=[("X", FloatTensorType([None, n_inputs]))],
        options={id(forest): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    trees = [est.tree_ for est in forest.estimators_]
    _exact_thresholds(_tree_node(model), lambda tree, node, rounded: float(trees[tree].threshold[node]))
    _permute_inputs(_tree_node(model), columns)
    return model, "probabilities"


def _lightgbm_model(lgbm, n_inputs: int, columns: np.ndarray | None = None):
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_lightgbm(
        lgbm,
        initial_types=[("X", FloatTensorType([None, n_inputs]))],
        zipmap=False,
        target_opset=LIGHTGBM_OPSET,
    )
    # Thresholds per tree from LightGBM's own dump (full float64 precision), matched to the
    # converter's float32-rounded copies within the same tree.
    dump = lgbm.booster_.dump_model()
    by_tree: list[dict[float, float]] = []
    for info in dump["tree_info"]:
        exact: dict[float, float] = {}
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            if node.get("decision_type", "<=") != "<=":
                raise NotExportable(f"LightGBM split {node.get('decision_type')!r} is not supported")
            threshold = float(node["threshold"])
            key = float(np.float32(threshold))
            if key in exact and _floor32(np.array([exact[key]]))[0] != _floor32(np.array([threshold]))[0]:
                raise NotExportable("two LightGBM thresholds of one tree are one float32 apart")
            exact[key] = threshold
            stack += [node["left_child"], node["right_child"]]
        by_tree.append(exact)

    def lookup(tree: int, node: int, rounded) -> float:
        # onnxmltools numbers trees class by class in LightGBM's order: tree ids are LightGBM's.
        try:
            return by_tree[tree][float(rounded)]
        except (IndexError, KeyError):
            raise NotExportable("the converter's thresholds do not line up with LightGBM's trees") from None

    _exact_thresholds(_tree_node(model), lookup)
    _permute_inputs(_tree_node(model), columns)
    probabilities = [o.name for o in model.graph.output if "prob" in o.name.lower()]
    if len(probabilities) != 1:
        raise NotExportable("the LightGBM converter wrote no probability output")
    return model, probabilities[0]


def _network_model(estimator, frames: int, n_features: int):
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net(x), dim=1)

    import onnx

    buffer = io.BytesIO()
    wrapped = WithSoftmax(estimator.net_).eval()
    # Gradients on: the Transformer's fused inference path (one opaque kernel) stays off, so the
    # exporter sees the layers; dropout is off in eval mode either way.
    # The TorchScript exporter warns about tracing (shape checks turned into constants: the
    # window length is fixed) and about itself being the legacy path; neither concerns the user.
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (torch.zeros(1, frames, n_features),),
            buffer,
            input_names=["x"],
            output_names=["p"],
            dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue()), "p"


def _embed(g: _Graph, model, source: str, output: str, prefix: str) -> str:
    """Copy a converter's graph into ``g``, its single input fed by ``source``; returns its output."""
    from onnx import compose

    model = compose.add_prefix(model, prefix)
    graph = model.graph
    inputs = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1:
        raise NotExportable(f"the converted estimator takes {len(inputs)} inputs; expected one")
    for opset in model.opset_import:
        domain = opset.domain or ""
        if domain not in ("", "ai.onnx.ml"):
            raise NotExportable(f"the converted estimator needs operators of {domain!r}")
        if domain == "" and opset.version > OPSET:
            raise NotExportable(f"the converted estimator needs opset {opset.version}")
        g.opsets[domain] = max(g.opsets.get(domain, 0), ML_OPSET if domain else OPSET)
    g.nodes.append(g._helper.make_node("Identity", [source], [inputs[0]]))
    g.nodes.extend(graph.node)
    g.initializers.extend(graph.initializer)
    return prefix + output


def _ridge(g: _Graph, features: str, ridge, columns: np.ndarray | None = None) -> str:
    """The pipeline's RidgeClassifier: standardise, linear decision values, softmax."""
    pick = slice(None) if columns is None else columns  # input k is the model's feature columns[k]
    mean = np.asarray(ridge.mean_, np.float32)[pick]
    scale = np.asarray(ridge.scale_, np.float32)[pick]
    xs = g.op("Div", g.op("Sub", features, g.const(mean, "ridge_mean")), g.const(scale, "ridge_scale"))
    if ridge.model_ is not None:  # scikit-learn's RidgeClassifierCV (fewer windows than features)
        coef = np.asarray(ridge.model_.coef_, np.float32).reshape(-1, len(ridge.mean_)).T  # (p, c)
        intercept = np.asarray(ridge.model_.intercept_, np.float32).reshape(-1)
    else:
        coef = np.asarray(ridge.coef_, np.float32).reshape(len(ridge.mean_), -1)
        intercept = np.asarray(ridge.intercept_, np.float32).reshape(-1)
    product = g.op("MatMul", xs, g.const(coef[pick], "coef"))
    scores = g.op("Add", product, g.const(intercept, "intercept"), hint="scores")
    if coef.shape[1] == 1:  # two classes, one decision column: [-s, s] as decision_function
        scores = g.op("Concat", g.op("Neg", scores), scores, axis=1)
    return g.op("Softmax", scores, axis=1, hint="ridge_proba")


# --------------------------------------------------------------------------- the model


def _label_rule(g: _Graph, probabilities: str, label: str) -> None:
    """``label``: the first class within TIE_TOLERANCE of the highest probability (online.top_class)."""
    from onnx import TensorProto

    highest = g.op("ReduceMax", probabilities, axes=[1], keepdims=1, hint="highest")
    near = g.op("Sub", highest, g.const(np.float32(TIE_TOLERANCE), "tie"))
    tied = g.op("Cast", g.op("GreaterOrEqual", probabilities, near), to=TensorProto.INT32, hint="tied")
    g.nodes.append(g._helper.make_node("ArgMax", [tied], [label], axis=1, keepdims=0, select_last_index=0))


def detector_metadata(config) -> dict:
    """The parts of a DetectorConfig that decide what the features are (not where they ran), and
    ``objects``: the identity of the object model (see object_model_record)."""
    from dataclasses import asdict

    values = asdict(config)
    for key in DETECTOR_KEYS_DROPPED:
        values.pop(key, None)
    if config.uses_yolo:
        values["yolo_model"] = Path(config.yolo_model).name  # a name, not a path of this machine
        values["objects"] = object_model_record(config)
    else:
        values["yolo_model"] = None
        values["objects"] = None
    return values


def object_model_record(config) -> dict:
    """Which object model made a DetectorConfig's object features, so that a runtime elsewhere runs
    the same one: its backend, file name and sha256 (None when the file is not on this machine,
    e.g. a YOLO name ultralytics resolves itself), and for a TFLite SSD its label map and the
    score thresholds the extractor applies."""
    from .files import sha256_file
    from .objects import (
        DEFAULT_OBJECT_MODEL,
        SSD_CLASS_THRESHOLDS,
        SSD_LABELS_FILE,
        SSD_LABELS_SHA256,
        SSD_MODEL_FILE,
        SSD_MODEL_SHA256,
        SSD_SCORE_THRESHOLD,
        SSD_SOURCE,
        TFLiteSSDDetector,
        is_tflite,
        labels_beside,
    )

    def digest(path: Path) -> str | None:
        return sha256_file(path) if path.is_file() else None

    spec = config.yolo_model
    if not is_tflite(spec):
        return {"backend": "yolo", "model": Path(spec).name, "sha256": digest(Path(spec))}
    record = {
        "backend": TFLiteSSDDetector.backend,
        "score_threshold": config.object_threshold or SSD_SCORE_THRESHOLD,
        "class_thresholds": dict(SSD_CLASS_THRESHOLDS),
    }
    if spec == DEFAULT_OBJECT_MODEL:  # the extractor refuses any other bytes (objects.make_object_detector)
        names = {"model": SSD_MODEL_FILE, "sha256": SSD_MODEL_SHA256}
        labels = {"labels": SSD_LABELS_FILE, "labels_sha256": SSD_LABELS_SHA256, "source": SSD_SOURCE}
        return {**names, **labels, **record}
    model = Path(spec)
    beside = labels_beside(model)
    return {
        "model": model.name,
        "sha256": digest(model),
        "labels": beside.name if beside else None,
        "labels_sha256": digest(beside) if beside else None,
        **record,
    }


def _representation_graph(g: _Graph, x: str, model_type, aggregation, representation, frames: int, n_features: int):
    """(the estimator's input, its width, a permutation of its columns or None) for the window ``x``."""
    from .representations import SPECTRAL_BINS, MiniRocket, _segments

    if model_type in SEQUENCE_MODELS:
        return x, None, None
    if representation is not None:
        if not isinstance(representation, MiniRocket):
            raise NotExportable(f"representation {getattr(representation, 'name', '?')!r} has no ONNX form")
        features, columns = _minirocket(g, x, representation, ordered=False)
        return features, len(representation.biases_), columns
    if aggregation == "stats":
        return _stats(g, x, frames), 5 * n_features, None
    if aggregation == "flatten":
        return g.op("Reshape", x, g.ints([-1, frames * n_features]), hint="flat"), frames * n_features, None
    if aggregation == "multiscale":
        width = len(_segments(frames)) * 5 * n_features + (1 + SPECTRAL_BINS) * n_features
        return _multiscale(g, x, frames), width, None
    raise NotExportable(f"aggregation {aggregation!r} has no ONNX form")


def _estimator_graph(g: _Graph, features: str, estimator, model_type, width, columns, frames: int, n_features: int):
    """The estimator's probabilities (over its ``classes_``) as nodes of ``g``."""
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    from .classifiers import RidgeClassifier, TorchSequenceClassifier

    if model_type == "ridge" and isinstance(estimator, RidgeClassifier):
        return _ridge(g, features, estimator, columns)
    if model_type == "rf" and isinstance(estimator, RandomForestClassifier):
        model, out = _forest_model(estimator, width, columns)
        return _embed(g, model, features, out, "rf_")
    if model_type == "lgbm" and isinstance(estimator, LGBMClassifier):
        model, out = _lightgbm_model(estimator, width, columns)
        return _embed(g, model, features, out, "lgbm_")
    if model_type in SEQUENCE_MODELS and isinstance(estimator, TorchSequenceClassifier):
        model, out = _network_model(estimator, frames, n_features)
        return _embed(g, model, features, out, f"{model_type}_")
    raise NotExportable(f"model type {model_type!r} ({type(estimator).__name__}) has no ONNX form")


def build_onnx(bundle: ModelBundle, *, model_sha256: str, detector: dict | None = None, name: str = "taskml"):
    """The ONNX graph of a model bundle: scaler, missing values, representation, estimator, labels.

    Parameters
    ----------
    bundle : ModelBundle
        The model (``load_artifact``); a bundle in its dict shape is read with ``from_dict``.
    model_sha256 : str
        The artifact's checksum, recorded in the metadata (every prediction names it).
    detector : dict, optional
        The detector configuration that made the model's features (:func:`detector_metadata`).
    name : str
        The graph's name.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker`` (full check).

    Raises
    ------
    NotExportable
        A representation or estimator without an ONNX form here.
    """
    import onnx
    from onnx import TensorProto, helper

    if not isinstance(bundle, ModelBundle):
        bundle = ModelBundle.from_dict(bundle)
    model_type, aggregation, estimator = bundle.model_type, bundle.aggregation, bundle.estimator
    window = bundle.window
    spec = WindowSpec(window_sec=window.window_sec, step_sec=window.step_sec, resample_fps=window.fps)
    frames = spec.frames
    feature_names = list(bundle.feature_names)
    n_features = len(feature_names)
    labels = bundle.labels
    representation = bundle.representation
    if representation is not None and getattr(representation, "frames_", frames) != frames:
        raise NotExportable(f"the model's representation was fitted on {representation.frames_}-frame windows")

    g = _Graph()
    # The scaler, then missing values (NaN, ±inf) → 0, the train mean: ModelRunner.predict.
    scaled = g.op(
        "Div",
        g.op("Sub", INPUT, g.const(np.asarray(bundle.scaler_mean, np.float32), "scaler_mean")),
        g.const(np.asarray(bundle.scaler_scale, np.float32), "scaler_scale"),
        hint="scaled",
    )
    bad = g.op("Or", g.op("IsNaN", scaled), g.op("IsInf", scaled))
    x = g.op("Where", bad, g.const(np.float32(0.0)), scaled, hint="clean")
    features, width, columns = _representation_graph(g, x, model_type, aggregation, representation, frames, n_features)
    raw = _estimator_graph(g, features, estimator, model_type, width, columns, frames, n_features)

    # Estimator columns → the dataset's classes (a class missing from the train split gets 0).
    columns = np.asarray(getattr(estimator, "classes_", np.arange(len(labels)))).astype(int)
    if np.array_equal(columns, np.arange(len(labels))):
        probabilities = g.op("Identity", raw)
    else:
        placement = np.zeros((len(columns), len(labels)), np.float32)
        placement[np.arange(len(columns)), columns] = 1.0
        probabilities = g.op("MatMul", raw, g.const(placement, "classes"))
    g.nodes.append(helper.make_node("Identity", [probabilities], [PROBABILITIES]))
    _label_rule(g, PROBABILITIES, LABEL)

    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", frames, n_features])],
        [
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["batch", len(labels)]),
            helper.make_tensor_value_info(LABEL, TensorProto.INT64, ["batch"]),
        ],
        initializer=g.initializers,
    )
    opsets = [helper.make_opsetid(domain, version) for domain, version in sorted(g.opsets.items())]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="taskml", producer_version=str(EXPORT_FORMAT))
    model.ir_version = 8  # onnx 1.17 writes 10; 8 is what every onnxruntime from 1.10 on reads
    model.doc_string = f"taskml {model_type}/{aggregation}: [batch, {frames}, {n_features}] → {len(labels)} classes"
    metadata = {
        "format": EXPORT_FORMAT,
        "model_sha256": model_sha256,
        "model_type": model_type,
        "aggregation": aggregation,
        "class_names": labels,
        "feature_names": feature_names,
        "feature_groups": bundle.feature_groups,
        "window_sec": spec.window_sec,
        "step_sec": spec.step_sec,
        "resample_fps": spec.resample_fps,
        "window_frames": frames,
        "min_purity": window.min_purity,
        "detector": detector,
    }
    helper.set_model_props(model, {META + key: json.dumps(value) for key, value in metadata.items()})
    onnx.checker.check_model(model, full_check=True)
    return model


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    """The ``taskml.*`` metadata of an ONNX file (empty when it is not one)."""
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # a damaged or foreign file: not ours, export again
        return {}
    return read_metadata({p.key: p.value for p in model.metadata_props})


def read_metadata(props: dict[str, str]) -> dict:
    """The ``taskml.*`` metadata_props of an exported model, JSON-decoded, without the prefix."""
    out = {}
    for key, value in props.items():
        if key.startswith(META):
            try:
                out[key[len(META) :]] = json.loads(value)
            except json.JSONDecodeError:
                out[key[len(META) :]] = value
    return out


def export_onnx(
    bundle: ModelBundle, output: str | os.PathLike, *, model_sha256: str, detector: dict | None = None
) -> tuple[Path, str]:
    """Write a model's ONNX file atomically (see the module doc for what the graph holds).

    Parameters
    ----------
    bundle : ModelBundle
        The model (``load_artifact``).
    output : path-like
        The ``.onnx`` file; its stem names the graph.
    model_sha256 : str
        The artifact's checksum, recorded in the metadata.
    detector : dict, optional
        The detector configuration that made the features (:func:`detector_metadata`,
        :func:`dataset_detector`); the portable runtime runs the same.

    Returns
    -------
    path : Path
    sha256 : str
        The ONNX file's checksum.

    Raises
    ------
    NotExportable
        ``output`` is a directory, or the model has no ONNX form (nothing is written).
    """
    output = Path(output)
    if output.is_dir():
        raise NotExportable(f"output {output} is a directory; give a file name such as model.onnx")
    model = build_onnx(bundle, model_sha256=model_sha256, detector=detector, name=output.stem or "taskml")
    data = model.SerializeToString()
    with atomic_path(output) as tmp:
        tmp.write_bytes(data)
    return output, hashlib.sha256(data).hexdigest()


def dataset_detector(dataset_dir: str | os.PathLike | None) -> dict | None:
    """The detector configuration of a dataset's first feature file (its metadata.json sources,
    and the file's own metadata for the YOLO weights when the file is still there); None if unknown."""
    from .detectors import DetectorConfig
    from .extraction import read_features_metadata

    if not dataset_dir:
        return None
    try:
        sources = read_dataset_metadata(dataset_dir).sources or []
    except InputError:
        return None
    if not sources or not sources[0].get("detector"):
        return None
    kind = sources[0]["detector"]
    yolo_model = None
    try:
        yolo_model = read_features_metadata(sources[0]["path"]).get("yolo_model")
    except Exception:  # noqa: S110 - the file may be gone; the kind alone is still worth recording
        pass
    try:
        return detector_metadata(DetectorConfig(kind=kind, **({"yolo_model": yolo_model} if yolo_model else {})))
    except InputError:  # features from elsewhere (a public data set, your own sensors)
        return {"kind": kind}


def recorded_sha256(model_path: str | os.PathLike) -> str | None:
    """The sha256 save_artifact recorded for a model file in its ``<stem>_meta.json``, if any."""
    from .artifacts import sidecar_paths

    meta = sidecar_paths(model_path)[1]
    try:
        value = json.loads(meta.read_text()).get("sha256")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def raw_split_windows(dataset_dir: str | os.PathLike, split: str, spec: WindowSpec, feature_names: list[str]):
    """The raw (unscaled, NaN kept) windows of a dataset split, cut from its feature files as the
    dataset builder cut them: what the exported graph and ``ModelRunner.predict`` take (parity checks)."""
    import csv

    import pandas as pd

    from .windows import nearest_rows, window_grid

    dataset_dir = Path(dataset_dir)
    sources = {s["name"]: s["path"] for s in read_dataset_metadata(dataset_dir).sources}
    with open(dataset_dir / f"windows_{split}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = np.zeros((len(rows), spec.frames, len(feature_names)), np.float32)
    for i, row in enumerate(rows):
        if row["source"] not in tables:
            frame = pd.read_parquet(sources[row["source"]], columns=["t", *feature_names])
            t = frame["t"].to_numpy(np.float64)
            finite = np.isfinite(t)
            order = np.argsort(np.where(finite, t, np.inf), kind="stable")[: int(finite.sum())]
            order = order[np.concatenate([[True], np.diff(t[order]) > 0])]  # as dataset._open_source
            values = frame[feature_names].to_numpy(np.float32)[order]
            values[~np.isfinite(values)] = np.nan
            tables[row["source"]] = (t[order], values)
        t, values = tables[row["source"]]
        out[i] = values[nearest_rows(t, window_grid(np.array([float(row["start_t"])]), spec)[0])]
    return out
