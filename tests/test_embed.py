"""genrekit embed (genrekit.embed): one embedding per clip, resumed, bad files recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from genrekit.backbones import EMBEDDING_SIZE
from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.embed import embed_dataset
from genrekit.track_record import TOP_TAGS


def test_embed_writes_one_embedding_per_clip_and_resumes(embedded_store: Path) -> None:
    store = FeatureStore(embedded_store)
    assert store.has_embeddings("msd-musicnn")
    assert store.embedding(0, "msd-musicnn").shape == (EMBEDDING_SIZE,)
    again = embed_dataset(embedded_store.parent / "in", embedded_store)
    assert again.done == 0 and again.cached == 24


def test_embed_with_the_mtt_backbone_on_the_command_line(embedded_store: Path) -> None:
    args = ["embed", str(embedded_store.parent / "in"), "-o", str(embedded_store)]
    result = CliRunner().invoke(app, [*args, "--backbone", "mtt-musicnn", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "24 clips embedded" in result.output
    store = FeatureStore(embedded_store)
    assert store.has_embeddings("mtt-musicnn") and store.has_embeddings("msd-musicnn")
    mtt, msd = store.embedding(0, "mtt-musicnn"), store.embedding(0, "msd-musicnn")
    assert mtt.shape == msd.shape == (EMBEDDING_SIZE,) and not np.allclose(mtt, msd)
    again = CliRunner().invoke(app, [*args, "--backbone", "mtt-musicnn"])
    assert again.exit_code == 0 and "24 already done" in again.output, again.output


def test_embed_records_a_bad_file_and_goes_on(tmp_path: Path) -> None:
    from tests.stores import make_store

    store = make_store(tmp_path, ("clicks", "tones"), 3)
    victim = next((tmp_path / "in" / "tones").glob("*.wav"))
    victim.write_bytes(victim.read_bytes()[:60])  # the store has it; now it cannot be decoded
    before = len(FeatureStore(store))
    summary = embed_dataset(tmp_path / "in", store)
    assert summary.done == before - 1 and summary.not_in_store == 1
    assert not FeatureStore(store).has_embeddings("msd-musicnn")


def test_embed_and_tags_on_the_command_line(embedded_store: Path, example_clip: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["embed", str(embedded_store.parent / "in"), "-o", str(embedded_store)]
    )
    assert result.exit_code == 0, result.output
    assert "already done" in result.output
    result = runner.invoke(app, ["classify", str(example_clip), "--tags", "--format", "json"])
    assert result.exit_code == 0, result.output
    tags = json.loads(result.stdout)["tags"]
    assert list(tags) == ["msd-musicnn", "mtt-musicnn"]
    assert [len(found) for found in tags.values()] == [TOP_TAGS, TOP_TAGS]
    assert {"tag", "probability"} == set(tags["mtt-musicnn"][0])
    assert "metal" in {t["tag"] for t in tags["msd-musicnn"]}
    assert {"rock", "metal"} <= {t["tag"] for t in tags["mtt-musicnn"]}
