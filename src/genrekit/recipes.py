"""How each model genrekit can train is trained: its recipe, and which models users may pick.

A recipe is data (epochs, learning rate, augmentation, backbone, ...); :mod:`genrekit.training`
and :mod:`genrekit.networks` follow it. Closed-form models (no epochs) are fitted by
:mod:`genrekit.linear` without PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

WINDOW_SECONDS = 3.0
"""Window of the short-chunk CNN: ~3 s, 129 frames at 22,050 Hz and hop 512."""


InputKind = Literal["clip", "windows", "summaries", "embedding"]
"""How a model reads a clip: its whole log-mel (a fixed length), every window of it (fixed
length, answers averaged), summaries of its real frames (any length), or a backbone's clip
embedding."""


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; defaults per model in ``RECIPES``."""

    epochs: int
    lr: float
    weight_decay: float
    batch_size: int = 32
    reads: InputKind = "clip"  # windows: trained on random windows, answers averaged over all
    crops_per_clip: int = 1  # windows drawn from each clip per epoch
    band_shift: int = 0  # augmentation: shift examples by up to this many mel bands
    time_stretch: float = 0.0  # augmentation: tempo changes of up to 1 + this, faster or slower
    members: int = 1  # networks trained with seeds seed, seed + 1, ...; their answers averaged
    arguments: dict[str, Any] = field(default_factory=dict)
    backbone: str | None = None  # reads this backbone's clip embeddings instead of the log-mel
    # Knowledge distillation, training only: each window also learns the softened genre
    # probabilities that a head on this backbone's clip embeddings gives its clip.
    teacher: str | None = None
    teacher_weight: float = 0.0  # of the distillation loss beside the genre loss

    @property
    def window(self) -> bool:
        """Whether the model reads fixed-length windows of a clip."""
        return self.reads == "windows"

    def packages(self) -> tuple[str, ...]:
        """The optional packages (import names) training this model needs: scikit-learn for
        splits and linear fits, PyTorch for networks."""
        return ("sklearn", "torch") if self.epochs else ("sklearn",)


RECIPES: dict[str, Recipe] = {
    "baseline": Recipe(epochs=0, lr=0.0, weight_decay=0.0, reads="summaries"),  # closed form
    "backbone-msd-musicnn": Recipe(
        epochs=0, lr=0.0, weight_decay=0.0, reads="embedding", backbone="msd-musicnn"
    ),
    "seed-mlp": Recipe(epochs=80, lr=3e-4, weight_decay=1e-2),  # the seed's L2 0.01
    "seed-cnn": Recipe(epochs=60, lr=1e-3, weight_decay=1e-2),
    "cnn": Recipe(
        epochs=40,
        lr=2e-3,
        weight_decay=1e-2,
        reads="windows",
        crops_per_clip=3,
        band_shift=4,
        time_stretch=0.2,
        teacher="msd-musicnn",
        teacher_weight=3.0,
        arguments={"channels": (16, 32, 32, 64, 64, 128, 128), "pooling": "avgmax"},
    ),
    "tiny": Recipe(
        epochs=15,
        lr=1e-2,
        weight_decay=1e-3,
        reads="windows",
        crops_per_clip=2,
        arguments={"channels": (8, 16), "dropout": 0.0},
    ),
}


TEST_ONLY = frozenset({"tiny"})
"""Recipes for the tests (built in seconds): usable by name, never offered to users."""


def public_models() -> list[str]:
    """The models users can train (``--model``)."""
    return [name for name in RECIPES if name not in TEST_ONLY]


def closed_form(architecture: str) -> bool:
    """Whether a model is fitted in closed form with numpy and scikit-learn (no PyTorch)."""
    recipe = RECIPES.get(architecture)
    return recipe is not None and recipe.epochs == 0


def input_kind(architecture: str) -> InputKind:
    """How a model of ``architecture`` reads a clip (its recipe says)."""
    return RECIPES[architecture].reads
