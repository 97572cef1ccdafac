"""PNG colours equal matplotlib's; figures are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from genrekit.errors import ParameterError
from genrekit.images import save_figure, save_png


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("cmap", ["magma", "viridis", "gray", "inferno"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_colours_equal_matplotlib_imsave(tmp_path: Path, cmap: str, dtype: type) -> None:
    S: np.ndarray = np.random.default_rng(5).normal(-40, 15, size=(64, 90)).astype(dtype)
    ours = save_png(S, tmp_path / "ours.png", cmap=cmap)
    plt.imsave(tmp_path / "ref.png", S, cmap=cmap, origin="lower")
    np.testing.assert_array_equal(rgb(ours), rgb(tmp_path / "ref.png"))


def test_one_pixel_per_bin_low_frequencies_at_the_bottom(tmp_path: Path) -> None:
    S = np.zeros((16, 40))
    S[0, :] = 10.0  # lowest band loudest
    image = rgb(save_png(S, tmp_path / "x.png"))
    assert image.shape == (16, 40, 3)
    assert image[-1].sum() > image[0].sum()
    assert Image.open(tmp_path / "x.png").mode == "P"


def test_fixed_range(tmp_path: Path) -> None:
    S = np.linspace(-80, 0, 200).reshape(10, 20)
    ours = save_png(S, tmp_path / "a.png", vmin=-60, vmax=-20)
    plt.imsave(tmp_path / "b.png", S, cmap="magma", origin="lower", vmin=-60, vmax=-20)
    np.testing.assert_array_equal(rgb(ours), rgb(tmp_path / "b.png"))


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="2-D"):
        save_png(np.zeros(5), tmp_path / "a.png")
    with pytest.raises(ParameterError, match="colormap"):
        save_png(np.zeros((2, 2)), tmp_path / "a.png", cmap="no-such-map")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["mel", "mfcc"])
def test_figure(tmp_path: Path, kind: str) -> None:
    S = np.random.default_rng(0).normal(size=(128 if kind == "mel" else 20, 300))
    out = save_figure(S, tmp_path / "fig.png", kind=kind, title="t")
    image = Image.open(out)
    assert image.size == (1000, 400)
    assert len(np.unique(np.asarray(image.convert("L")))) > 50
