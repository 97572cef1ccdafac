"""How a network reads its clips (genrekit.clip_reader): looped short clips, time stretch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from genrekit.clip_reader import ClipReader
from genrekit.dataset import FeatureStore


def test_short_clips_are_looped_from_a_random_point(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    noise = store.genres.index("noise")  # every frame differs, so a start can be found
    short = next(i for i, label in enumerate(store.labels) if label == noise)
    valid = store.tracks[short].n_valid
    window = valid + 7  # longer than the clip: it must be looped
    reader = ClipReader(store, window)
    clip = np.asarray(store.array("logmel", short))[:, :valid]
    starts = set()
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = reader.random_windows(np.array([short]), rng)[0]
        assert out.shape == (clip.shape[0], window)
        start = next(s for s in range(valid) if np.array_equal(out[:, 0], clip[:, s]))
        np.testing.assert_array_equal(
            out, np.roll(np.tile(clip, (1, 3)), -start, axis=1)[:, :window]
        )
        starts.add(start)
    assert len(starts) > 1


class RampStore:
    """Stands in for a FeatureStore: one 300-frame clip whose every band holds its frame number."""

    def __init__(self) -> None:
        self.tracks = [SimpleNamespace(n_valid=300)]

    def __len__(self) -> int:
        return 1

    def array(self, kind: str, i: int) -> np.ndarray:
        return np.tile(np.arange(300, dtype=np.float32), (4, 1))


def test_time_stretch_reads_more_or_fewer_frames_into_the_window() -> None:
    reader = ClipReader(RampStore(), 65)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    plain = reader.random_windows(np.zeros(5, dtype=np.int64), rng)
    assert np.all(np.diff(plain, axis=2) == 1.0)  # no stretch: one frame a frame
    stretched = reader.random_windows(np.zeros(200, dtype=np.int64), rng, stretch=0.25)
    assert stretched.shape == (200, 4, 65)
    rates = np.diff(stretched[:, 0, 1:-1], axis=1).mean(axis=1)  # the edges are clamped
    assert rates.min() >= 1 / 1.25 - 0.02 and rates.max() <= 1.25 + 0.02
    assert rates.min() < 0.85 and rates.max() > 1.15  # both faster and slower
