"""Feature stores of generated 'genres' (tones, noise, clicks; a drone and noise bursts for
explore), made in seconds, no PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from genrekit.extract import ExtractOptions, extract_dataset

SR = 22050
SECONDS = 2.0


def genre_audio(genre: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    if genre == "tones":
        f = rng.uniform(200, 600)
        return 0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 2 * f * t)
    if genre == "noise":
        return 0.2 * rng.standard_normal(t.size)
    y = np.zeros(t.size)  # clicks
    y[:: int(SR / rng.uniform(4, 8))] = 0.9
    return y + 0.002 * rng.standard_normal(t.size)


def make_store(
    root: Path,
    genres: tuple[str, ...],
    per_genre: int,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
) -> Path:
    """A store of generated genres: ``per_genre`` clips each, or ``sizes[genre]``."""
    rng = np.random.default_rng(seed)
    for genre in genres:
        for i in range((sizes or {}).get(genre, per_genre)):
            path = root / "in" / genre / f"{genre}{i:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, genre_audio(genre, rng).astype(np.float32), SR)
    summary = extract_dataset(root / "in", root / "store", ExtractOptions(clip_seconds=SECONDS))
    assert summary.ok
    return root / "store"


def tone_clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A low, steady chord: one 'genre'."""
    t = np.arange(int(seconds * SR)) / SR
    freqs = rng.uniform(100, 300, size=3)
    chord: np.ndarray = np.sum([0.2 * np.sin(2 * np.pi * f * t) for f in freqs], axis=0)
    return chord + 0.001 * rng.standard_normal(t.size)


def noise_clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Bright noise bursts: another 'genre'."""
    y = rng.standard_normal(int(seconds * SR)) * 0.2
    y[:: 2 * SR // 10] *= 3
    return np.diff(y, prepend=0.0)
