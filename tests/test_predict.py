"""classify() of genrekit.predict: a model's answer for a file or an array, with tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrekit.backbones import MSD_TAGS, MTT_TAGS
from genrekit.predict import classify, load_model


def test_classify_tags_come_from_both_taggers(example_clip: Path) -> None:
    prediction = classify(example_clip, tags=True)
    assert list(prediction.tags) == ["msd-musicnn", "mtt-musicnn"]
    msd, mtt = prediction.tags["msd-musicnn"], prediction.tags["mtt-musicnn"]
    assert set(msd) == set(MSD_TAGS) and set(mtt) == set(MTT_TAGS)
    assert list(msd.values()) == sorted(msd.values(), reverse=True)  # most likely first
    assert list(mtt.values()) == sorted(mtt.values(), reverse=True)
    assert set(list(msd)[:5]) & {"metal", "heavy metal", "hard rock"}
    assert {"rock", "metal"} <= set(list(mtt)[:5])
    # A log-mel model listens to the same windows for its tags: the same numbers.
    other = classify(example_clip, model="gtzan-cnn", tags=True)
    assert list(other.tags) == ["msd-musicnn", "mtt-musicnn"]
    for tagger, found in prediction.tags.items():
        assert other.tags[tagger] == pytest.approx(found, abs=1e-6), tagger


def test_the_mtt_tagger_runs_only_when_tags_are_asked_for(
    example_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genrekit import predict

    model = load_model()  # loads its own backbone, msd-musicnn

    def refuse(name: str = "msd-musicnn", **_: object) -> None:
        raise AssertionError(f"{name} loaded without tags")

    monkeypatch.setattr(predict, "load_backbone", refuse)
    prediction = classify(example_clip, model=model)
    assert list(prediction.tags) == ["msd-musicnn"]  # computed anyway: the model's own backbone
    assert classify(example_clip, model="gtzan-cnn").tags == {}
