"""The mel-spectrogram a page draws: log-mel in dB, 8 bits a value, with its axes' numbers.

The page paints it on a canvas (no image library on the server): a row per mel band (lowest
first), a column per time step, each value a byte from ``db_min`` (0) to ``db_max`` (255),
base64-encoded, with the seconds it spans and where round frequencies fall on the band axis.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.audio import read
from genrekit.constants import TOP_DB
from genrekit.features import FeatureParams, mel_power, power_to_db
from genrekit.images import mel_ticks

MAX_SECONDS = 600.0
"""The spectrogram covers at most this much of a track (its start)."""
MAX_COLUMNS = 1600
"""At most this many time steps are sent: neighbouring frames' power is averaged beyond."""


def spectrogram(path: Path, params: FeatureParams | None = None) -> dict[str, Any]:
    """The log-mel (dB re the loudest bin, down to ``-TOP_DB``) of a file's first
    :data:`MAX_SECONDS`, as JSON for the page; raises the loader's errors."""
    params = params or FeatureParams()
    audio = read(path, sr=params.sr, duration=MAX_SECONDS)
    mel = mel_power(audio.y, params)
    return picture(mel, seconds=audio.y.size / params.sr, params=params)


def picture(
    S: npt.NDArray[np.floating[Any]], *, seconds: float, params: FeatureParams
) -> dict[str, Any]:
    """A mel power spectrogram ``S``, shape (n_mels, n_frames), covering ``seconds``, as the
    page draws it: dB re its loudest bin, a byte a value, at most :data:`MAX_COLUMNS` columns."""
    mel = np.asarray(S, dtype=np.float64)
    frames = mel.shape[1]
    step = -(-frames // MAX_COLUMNS)  # frames per column
    if step > 1:
        padded = np.pad(mel, ((0, 0), (0, -frames % step)), mode="edge")
        mel = padded.reshape(mel.shape[0], -1, step).mean(axis=2)
    db = power_to_db(mel, ref=float(mel.max()) or 1.0, top_db=TOP_DB)
    levels = np.clip(np.round((db + TOP_DB) * (255 / TOP_DB)), 0, 255).astype(np.uint8)
    fmax = params.fmax or params.sr / 2
    ticks, labels = mel_ticks(params.n_mels, params.fmin, fmax)
    return {
        "seconds": round(seconds, 3),
        "n_mels": params.n_mels,
        "columns": int(levels.shape[1]),
        "db_min": -TOP_DB,
        "db_max": 0.0,
        "fmin": params.fmin,
        "fmax": fmax,
        "ticks": [
            {"band": round(t, 2), "label": label} for t, label in zip(ticks, labels, strict=True)
        ],
        "data": base64.b64encode(np.ascontiguousarray(levels).tobytes()).decode("ascii"),
    }
