"""musicnn (Pons & Serra, 2019) in PyTorch: the MSD-trained music tagger used as a backbone.

The architecture of the ``musicnn`` package's ``MSD_musicnn`` model, written here for PyTorch
with the same layer order and shapes, so the weights of its TensorFlow checkpoint load one to one
(``scripts/convert_musicnn.py`` reads them and checks parity against TensorFlow).

Input: a batch of musicnn patches, ``(batch, 187, 96)`` = (frames, mel bands), as
:func:`genrekit.backbones.musicnn_patches` makes them. The layout follows TensorFlow's NHWC
with H = time and W = mel band; here it is NCHW with the same H and W.

- front end: batch norm of the input, then two "timbral" convolutions (7 frames x 38 or 67
  bands, 204 filters each) and three "temporal" ones (128, 64, 32 frames x 1 band, 51 filters
  each), every one ReLU + batch norm + max over bands: 561 features per frame;
- mid end: three 7-frame convolutions of 64 filters over all features, the last two residual;
  the front end and the three outputs are stacked: 753 features per frame;
- back end: max and mean over time (753 each), batch norm, dense 200 + ReLU + batch norm (the
  "penultimate" embedding), dense 50 (the tag logits; sigmoid gives the taggram).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from genrekit.backbones import BACKBONE_N_MELS
from genrekit.errors import ModelError

# tf.compat.v1.layers.batch_normalization's default epsilon
BN_EPS = 1e-3


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def _same_time_padding(kernel: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding for an even kernel puts the extra frame after."""
    total = kernel - 1
    return total // 2, total - total // 2


class _FrontBranch(nn.Module):
    """Conv over (time, bands), ReLU, batch norm, max over the remaining bands.

    Computed in an order that gives the same numbers for less work (inference only: the batch
    norm uses its stored statistics): ReLU and a batch norm with scale ``a`` are monotone in
    each channel, rising where ``a > 0`` and falling where ``a < 0``, so the max over bands can
    come first, of the conv's output negated where ``a < 0``. ReLU and batch norm then touch
    (filters, time) numbers instead of (filters, time, bands): 59 times fewer for the widest
    branch. A temporal branch (a kernel one band wide) runs as a 1-D convolution over each band,
    the bands folded into the batch: onnxruntime runs that shape faster, above all in int8. The
    graph stays this shape when exported, which the int8 graph builds on.
    """

    def __init__(self, filters: int, kernel: tuple[int, int], time_padding: tuple[int, int]):
        super().__init__()
        self.time_padding = time_padding
        self.conv = nn.Conv2d(1, filters, kernel_size=kernel)
        self.bn = _bn(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, *self.time_padding))  # (left, right) of bands, then of time
        bn = self.bn
        sign = torch.where(bn.weight < 0, -1.0, 1.0)  # running_var > 0: the scale's sign
        assert self.conv.bias is not None  # musicnn's convolutions all have one
        weight, bias = self.conv.weight * sign.view(-1, 1, 1, 1), self.conv.bias * sign
        if self.conv.kernel_size[1] == 1:
            batch, _, frames, bands = x.shape
            per_band = x.permute(0, 3, 1, 2).reshape(batch * bands, 1, frames)
            z = F.conv1d(per_band, weight.squeeze(3), bias)  # (batch * bands, filters, time)
            peak = torch.amax(z.reshape(batch, bands, *z.shape[1:]), dim=1)
        else:
            z = F.conv2d(x, weight, bias)
            # A max pool over every band rather than amax: the same maxima, and onnxruntime's
            # MaxPool is faster than its ReduceMax on this shape, in int8 above all.
            peak = F.max_pool2d(z, kernel_size=(1, int(z.shape[3]))).squeeze(3)
        peak = peak * sign.view(1, -1, 1)
        return F.batch_norm(
            F.relu(peak), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
        )


class _MidLayer(nn.Module):
    """Conv of 7 frames over every feature (as a 1-D conv), ReLU, batch norm."""

    def __init__(self, in_features: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(in_features, filters, kernel_size=7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(F.relu(self.conv(x)))
        return out


class MusiCNN(nn.Module):
    """musicnn's MSD/MTT architecture; ``forward`` gives logits, the rest come from ``outputs``."""

    def __init__(self, n_tags: int = 50, mid_filters: int = 64, dense_units: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = _bn(1)
        self.front = nn.ModuleList(
            [
                _FrontBranch(timbral, (7, int(0.4 * BACKBONE_N_MELS)), (3, 3)),
                _FrontBranch(timbral, (7, int(0.7 * BACKBONE_N_MELS)), (3, 3)),
                *(_FrontBranch(temporal, (k, 1), _same_time_padding(k)) for k in (128, 64, 32)),
            ]
        )
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList(
            [_MidLayer(front, mid_filters), *(_MidLayer(mid_filters, mid_filters) for _ in "12")]
        )
        pooled = 2 * (front + 3 * mid_filters)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, dense_units)
        self.dense_bn = nn.BatchNorm1d(dense_units, eps=BN_EPS)
        self.tags = nn.Linear(dense_units, n_tags)

    def outputs(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every output the original model names: logits, taggram, pools and penultimate."""
        x = self.input_bn(patches.unsqueeze(1))  # (batch, 1, time, bands)
        front = torch.cat([branch(x) for branch in self.front], dim=1)  # (batch, 561, time)
        layers = [front]
        h = self.mid[0](front)
        layers.append(h)
        for layer in self.mid[1:]:
            h = layer(h) + h  # residual
            layers.append(h)
        features = torch.cat(layers, dim=1)  # (batch, 753, time)
        max_pool = torch.amax(features, dim=2)
        mean_pool = torch.mean(features, dim=2)
        # TensorFlow flattened (features, [max, mean]) row by row: max and mean interleave.
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        logits = self.tags(penultimate)
        return {
            "logits": logits,
            "taggram": torch.sigmoid(logits),
            "penultimate": penultimate,
            "mean_pool": mean_pool,
            "max_pool": max_pool,
        }

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.outputs(patches)["logits"]


def _bn_names(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}.weight": "gamma",
        f"{prefix}.bias": "beta",
        f"{prefix}.running_mean": "moving_mean",
        f"{prefix}.running_var": "moving_variance",
    }


def checkpoint_names(model: MusiCNN) -> dict[str, str]:
    """PyTorch parameter name -> TensorFlow variable name in musicnn's checkpoint.

    ``tf.compat.v1.layers`` names layers by creation order (``conv2d``, ``conv2d_1``, ...), and
    musicnn creates them as: input batch norm; per front branch a conv then a batch norm; per
    mid layer a conv then a batch norm; the pooled batch norm, the dense layer, its batch norm,
    the output layer.
    """

    def suffix(name: str, i: int) -> str:
        return name if i == 0 else f"{name}_{i}"

    names: dict[str, str] = {}
    bn_i = conv_i = dense_i = 0

    def add_bn(prefix: str) -> None:
        nonlocal bn_i
        for ours, theirs in _bn_names(prefix).items():
            names[ours] = f"{suffix('batch_normalization', bn_i)}/{theirs}"
        bn_i += 1

    def add_layer(prefix: str, kind: str) -> None:
        nonlocal conv_i, dense_i
        i = conv_i if kind == "conv2d" else dense_i
        names[f"{prefix}.weight"] = f"{suffix(kind, i)}/kernel"
        names[f"{prefix}.bias"] = f"{suffix(kind, i)}/bias"
        if kind == "conv2d":
            conv_i += 1
        else:
            dense_i += 1

    add_bn("input_bn")
    for j in range(len(model.front)):
        add_layer(f"front.{j}.conv", "conv2d")
        add_bn(f"front.{j}.bn")
    for j in range(len(model.mid)):
        add_layer(f"mid.{j}.conv", "conv2d")
        add_bn(f"mid.{j}.bn")
    add_bn("pool_bn")
    add_layer("dense", "dense")
    add_bn("dense_bn")
    add_layer("tags", "dense")
    return names


def from_tensorflow(
    model: MusiCNN, variables: dict[str, npt.NDArray[np.float32]]
) -> dict[str, torch.Tensor]:
    """A state dict for ``model`` from musicnn's TensorFlow variables (name -> array).

    Kernels change layout: TensorFlow's conv kernels are (time, bands, in, out) and dense ones
    (in, out); PyTorch wants (out, in, time, bands), (out, in, time) for the 1-D mid convs, and
    (out, in).
    """
    state: dict[str, torch.Tensor] = {}
    own = model.state_dict()
    for ours, theirs in checkpoint_names(model).items():
        if theirs not in variables:
            raise KeyError(f"checkpoint has no variable {theirs!r} (for {ours})")
        value = np.asarray(variables[theirs], dtype=np.float32)
        if ours.endswith(".weight") and value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)  # (out, in, time, bands)
            if ours.startswith("mid."):  # the mid convs span every feature: a 1-D conv
                value = value[:, 0].transpose(0, 2, 1)  # (out, in=features, time)
        elif ours.endswith(".weight") and value.ndim == 2:
            value = value.T
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        if tensor.shape != own[ours].shape:
            raise ValueError(f"{theirs}: shape {tuple(tensor.shape)} != {tuple(own[ours].shape)}")
        state[ours] = tensor
    for name, tensor in own.items():  # batch norm's step counters have no TensorFlow twin
        state.setdefault(name, tensor)
    return state


def state_from_onnx(path: str | Path) -> dict[str, torch.Tensor]:
    """The port's weights read back from its ONNX export (for fine-tuning or checking it).

    The shipped float32 graphs keep every parameter as a named initializer (``model.<name>``;
    :func:`export_onnx` with ``named_weights``); batch norm's step counters are not in them and
    start at zero. Raises :class:`~genrekit.errors.ModelError` naming the parameters a graph
    lacks (one exported with its constants folded, or not a musicnn port).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    state = {
        init.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(init).copy())
        for init in graph.initializer
        if init.name.startswith("model.")
    }
    missing = [
        name
        for name in MusiCNN().state_dict()
        if name not in state and not name.endswith("num_batches_tracked")
    ]
    if missing:
        raise ModelError(
            f"{path}: no named weights for {len(missing)} parameters of the port "
            f"({', '.join(missing[:3])}, ...); read a graph exported with named_weights=True"
        )
    for name, tensor in MusiCNN().state_dict().items():
        state.setdefault(name, tensor)
    return state


def export_onnx(model: MusiCNN, path: str | Path, *, named_weights: bool = False) -> None:
    """Write ``model`` (in eval mode) as the ONNX graph a :class:`~genrekit.backbones.Backbone`
    runs: ``patches`` (batch, 187, 96) in; taggram, penultimate, mean_pool, max_pool out.

    ``named_weights`` keeps every parameter as a named initializer, so that
    :func:`state_from_onnx` reads the graph back (the shipped float32 graphs); onnxruntime folds
    the front end's sign products when it opens the graph, so it runs as fast. Without it they
    are folded here, as the int8 quantizer needs (a convolution's weights must be constants)."""
    from genrekit.backbones import OUTPUTS, PATCH_FRAMES

    class Export(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model.outputs(patches)
            return tuple(out[name] for name in OUTPUTS)

    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated and notes that shapes become constants: the
        # band count is fixed by the architecture, only the batch is dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Export().eval(),
            (torch.zeros(2, PATCH_FRAMES, BACKBONE_N_MELS),),
            str(path),
            input_names=["patches"],
            output_names=list(OUTPUTS),
            dynamic_axes={"patches": {0: "batch"}} | {k: {0: "batch"} for k in OUTPUTS},
            opset_version=17,
            dynamo=False,
            do_constant_folding=not named_weights,
        )
