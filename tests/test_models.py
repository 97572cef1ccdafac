"""The PyTorch architectures (genrekit.models): their shapes and options."""

from __future__ import annotations

import pytest
import torch

from genrekit.errors import ParameterError
from genrekit.models import build


def test_seed_architectures_have_the_seeds_shapes() -> None:
    mlp = build("seed-mlp", n_mels=128, n_mfcc=20, n_frames=1292, n_classes=5)
    hidden = [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert hidden == [600, 600, 5]
    cnn = build("seed-cnn", n_mels=128, n_mfcc=20, n_frames=1292, n_classes=5)
    convs = [m.out_channels for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16, 32, 32]
    assert cnn(torch.zeros(2, 128, 1292)).shape == (2, 5)
    short = build("cnn", n_mels=128, n_classes=10)
    assert short(torch.zeros(3, 128, 130)).shape == (3, 10)


def test_cnn_pooling_options() -> None:
    x = torch.randn(2, 16, 40)
    for pooling in ("max", "avgmax"):
        model = build("cnn", n_mels=16, n_classes=3, channels=(4, 8), pooling=pooling).eval()
        assert model(x).shape == (2, 3)
    with pytest.raises(ParameterError, match="pooling"):
        build("cnn", n_mels=16, n_classes=3, pooling="mean")
