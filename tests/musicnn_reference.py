"""TensorFlow's own outputs of the musicnn backbones, for the tests of their port
(tests/test_backbones.py, tests/test_musicnn.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "metal" / "Muldjord - Armygeddon.mp3"
DATA = Path(__file__).parent / "data"
REFERENCES = {
    "msd-musicnn": DATA / "musicnn_reference.npz",
    "mtt-musicnn": DATA / "musicnn_mtt_reference.npz",
}
"""TensorFlow's own outputs of each musicnn model on 4 patches of EXAMPLE (convert_musicnn.py)."""


def _reference(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCES[name]) as data:
        return {key: data[key] for key in data.files}
