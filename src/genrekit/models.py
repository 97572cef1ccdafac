"""The genre classifiers, as PyTorch modules built from a name and plain arguments.

Only networks need these modules to train; ``baseline`` and the backbone heads are fitted and
run with numpy (:mod:`genrekit.linear`), and their modules here load the same arrays.

Every model takes the same input, a batch of log-mel windows in dB re 1.0, shape
``(batch, n_mels, n_frames)``, exactly what the feature store holds, and returns class logits.
What a model needs beyond that (MFCCs, statistics over time, normalization) happens inside it,
in buffers saved with its weights, so an exported ONNX graph needs nothing else.

- ``baseline``: mean and std over time of every mel band and MFCC, standardized, then a linear
  layer (multinomial logistic regression). The floor every neural model must beat.
- ``seed-mlp``: the seed's MLP on the MFCC image: dense 600, ReLU, dropout 0.2, twice.
- ``seed-cnn``: the seed's CNN on the MFCC image: conv 16 -> 32 -> 32, batch norm, leaky ReLU and
  max-pooling, dense 250, dropout 0.5.
- ``cnn``: a short-chunk CNN (Won et al., 2020) on ~3 s log-mel windows: stacked 3x3 conv, batch
  norm, ReLU and 2x2 max-pooling, global max pooling, a dense layer.
- ``backbone-<name>``: a linear head (logistic regression) on a pretrained backbone's clip
  embeddings (``genrekit embed``); its input is the embedding, not the log-mel.
- ``tiny``: a two-layer CNN small enough for the tests to train in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from genrekit.errors import ParameterError
from genrekit.features import dct_matrix


class Standardize(nn.Module):
    """``(x - mean) / std`` per band, statistics from the training data (buffers, not weights)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_bands: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_bands, 1))
        self.register_buffer("std", torch.ones(n_bands, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ToMfcc(nn.Module):
    """Log-mel (dB) to MFCCs with the orthonormal DCT-II, as ``genrekit.features.mfcc``."""

    basis: torch.Tensor

    def __init__(self, n_mels: int, n_mfcc: int):
        super().__init__()
        basis = torch.from_numpy(dct_matrix(n_mfcc, n_mels).astype(np.float32))
        self.register_buffer("basis", basis)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.basis, log_mel)


class Baseline(nn.Module):
    """Clip summaries (mean and std over time of bands and MFCCs) and one linear layer."""

    def __init__(self, n_mels: int, n_mfcc: int, n_classes: int):
        super().__init__()
        self.mfcc = ToMfcc(n_mels, n_mfcc)
        self.norm = Standardize(2 * (n_mels + n_mfcc))
        self.linear = nn.Linear(2 * (n_mels + n_mfcc), n_classes)

    def summaries(self, log_mel: torch.Tensor) -> torch.Tensor:
        bands = torch.cat([log_mel, self.mfcc(log_mel)], dim=1)
        stats = torch.cat([bands.mean(dim=2), bands.std(dim=2, unbiased=False)], dim=1)
        return stats.unsqueeze(-1)  # (batch, features, 1), so Standardize broadcasts alike

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(self.norm(self.summaries(log_mel)).squeeze(-1))
        return out


class EmbeddingHead(nn.Module):
    """Standardized backbone embedding and one linear layer (multinomial logistic regression)."""

    def __init__(self, n_inputs: int, n_classes: int):
        super().__init__()
        self.norm = Standardize(n_inputs)
        self.linear = nn.Linear(n_inputs, n_classes)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = self.norm(embedding.unsqueeze(-1)).squeeze(-1)
        out: torch.Tensor = self.linear(x)
        return out


class SeedMLP(nn.Module):
    def __init__(self, n_mels: int, n_mfcc: int, n_frames: int, n_classes: int, hidden: int = 600):
        super().__init__()
        self.mfcc = ToMfcc(n_mels, n_mfcc)
        self.norm = Standardize(n_mfcc)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_mfcc * n_frames, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.norm(self.mfcc(log_mel)))
        return out


def _conv_block(c_in: int, c_out: int, activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        activation,
        nn.MaxPool2d(2),
    )


class SeedCNN(nn.Module):
    def __init__(self, n_mels: int, n_mfcc: int, n_frames: int, n_classes: int):
        super().__init__()
        self.mfcc = ToMfcc(n_mels, n_mfcc)
        self.norm = Standardize(n_mfcc)
        self.features = nn.Sequential(
            _conv_block(1, 16, nn.LeakyReLU(0.1)),
            _conv_block(16, 32, nn.LeakyReLU(0.1)),
            _conv_block(32, 32, nn.LeakyReLU(0.1)),
        )
        flat = 32 * (n_mfcc // 8) * (n_frames // 8)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 250),
            nn.LeakyReLU(0.1),
            nn.Dropout(0.5),
            nn.Linear(250, n_classes),
        )

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.mfcc(log_mel)).unsqueeze(1)
        out: torch.Tensor = self.head(self.features(x))
        return out


class ShortChunkCNN(nn.Module):
    def __init__(
        self,
        n_mels: int,
        n_classes: int,
        channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128, 128),
        dropout: float = 0.5,
        pooling: str = "max",
    ):
        super().__init__()
        if pooling not in ("max", "avgmax"):
            raise ParameterError(f"pooling must be 'max' or 'avgmax', not {pooling!r}")
        self.pooling = pooling
        self.norm = Standardize(n_mels)
        blocks = []
        c_in = 1
        for c_out in channels:
            blocks.append(_conv_block(c_in, c_out, nn.ReLU()))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        pooled = c_in * (2 if pooling == "avgmax" else 1)
        self.head = nn.Sequential(
            nn.Linear(pooled, c_in),
            nn.BatchNorm1d(c_in),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(c_in, n_classes),
        )

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = self.features(self.norm(log_mel).unsqueeze(1))
        # Global pooling over what is left of time and bands: the maximum (Won et al.), or the
        # mean beside it ("avgmax"), which also hears what lasts rather than only what peaks.
        peak = torch.amax(x, dim=(2, 3))
        x = torch.cat([x.mean(dim=(2, 3)), peak], dim=1) if self.pooling == "avgmax" else peak
        out: torch.Tensor = self.head(x)
        return out


ARCHITECTURES: dict[str, Any] = {
    "baseline": Baseline,
    "seed-mlp": SeedMLP,
    "seed-cnn": SeedCNN,
    "cnn": ShortChunkCNN,
    "tiny": ShortChunkCNN,
    "backbone-msd-musicnn": EmbeddingHead,
}


class Ensemble(nn.Module):
    """Networks of one architecture trained apart (other seeds); their log-probabilities averaged.

    Small data sets make single networks vary with their seed by several points of accuracy;
    the average of a few varies less and is usually better than its average member."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logs = torch.stack([torch.log_softmax(m(x), dim=1) for m in self.members])
        return logs.mean(dim=0)


def build(name: str, *, members: int = 1, **kwargs: Any) -> nn.Module:
    """The model ``name`` with ``kwargs`` (``members`` > 1: an :class:`Ensemble` of that many);
    the name and arguments are what a checkpoint stores."""
    try:
        cls = ARCHITECTURES[name]
    except KeyError:
        offered = [a for a in ARCHITECTURES if a != "tiny"]  # tiny is for the tests
        raise ParameterError(
            f"unknown model {name!r}; choose one of: {', '.join(offered)}"
        ) from None
    try:
        networks: list[nn.Module] = [cls(**kwargs) for _ in range(max(1, members))]
    except TypeError as exc:
        raise ParameterError(f"model {name!r} cannot be built with {kwargs}: {exc}") from None
    return Ensemble(networks) if members > 1 else networks[0]
