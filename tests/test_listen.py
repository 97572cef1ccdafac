"""Where a model listens in a track (genrekit.listen): windows spread over its sound, silence
skipped, the whole track tiled by segments."""

from __future__ import annotations

import numpy as np
import pytest

from genrekit.errors import SilentAudioError
from genrekit.listen import Track, listen

SR = 16000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_windows_are_spread_from_the_first_second_to_the_last() -> None:
    track = Track(tone(30.0), sr=SR, source_sr=SR)
    windows = track.windows(3, 3.0)
    assert [w.start for w in windows] == [0.0, 13.5, 27.0]  # the last ends at the end
    assert all(w.y.shape == (3 * SR,) and w.loud for w in windows)


def test_a_short_track_gives_consecutive_windows_and_one_at_its_end() -> None:
    track = Track(tone(4.0), sr=SR, source_sr=SR)
    assert [w.start for w in track.windows(3, 3.0)] == [0.0, 1.0]


def test_the_timeline_tiles_the_whole_track_judged_at_each_middle() -> None:
    timeline = Track(tone(30.0), sr=SR, source_sr=SR).timeline(4, 3.0)
    assert [(a, b) for a, b, _ in timeline] == [(0.0, 7.5), (7.5, 15.0), (15.0, 22.5), (22.5, 30.0)]
    assert [w.start for _, _, w in timeline] == [2.25, 9.75, 17.25, 24.75]


def test_silence_before_the_music_never_judges_the_track() -> None:
    y = tone(30.0)
    y[: 12 * SR] = 0.0  # 12 s of silence, then 18 s of sound
    windows = listen(Track(y, sr=SR, source_sr=SR), 3, 3.0)
    assert [w.start for w in windows] == [12.0, 18.0, 27.0]
    assert all(w.loud for w in windows)


def test_a_silent_track_is_an_answer_not_a_guess() -> None:
    with pytest.raises(SilentAudioError, match="silent"):
        listen(Track(np.zeros(5 * SR, np.float32), sr=SR, source_sr=SR), 3, 3.0)


def test_samples_are_resampled_to_the_models_rate() -> None:
    track = Track(tone(10.0), sr=22050, source_sr=SR)
    assert track.length == pytest.approx(10.0)
    assert track.head(1.0).shape == (22050,)
