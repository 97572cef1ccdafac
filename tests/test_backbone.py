"""The musicnn backbone: its input chain, and the shipped port against TensorFlow's outputs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genrekit import backbones
from genrekit.audio import load
from genrekit.backbones import (
    BACKBONE_N_MELS,
    BACKBONE_TAGS,
    BACKBONES,
    EMBEDDING_SIZE,
    MSD_TAGS,
    MTT_TAGS,
    PATCH_FRAMES,
    load_backbone,
    musicnn_input,
    musicnn_patches,
)
from genrekit.checkpoint import export_onnx, load_checkpoint
from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.embed import embed_dataset
from genrekit.errors import ModelError, ParameterError
from genrekit.evaluation import evaluate
from genrekit.linear import head_probabilities
from genrekit.predict import TAGGERS, classify, load_model
from genrekit.track_record import TOP_TAGS
from genrekit.training import TrainOptions, train

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


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _reference("msd-musicnn")


@pytest.mark.parametrize("name", BACKBONES)
def test_port_equals_tensorflow_on_the_same_patches(name: str) -> None:
    reference = _reference(name)
    out = load_backbone(name, precision="float32").run(reference["patches"])
    for key in ("taggram", "penultimate"):
        assert np.abs(getattr(out, key) - reference[key]).max() < 1e-4, key
    for key in ("mean_pool", "max_pool"):  # values up to ~100: float32's relative precision
        np.testing.assert_allclose(getattr(out, key), reference[key], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", BACKBONES)
def test_port_equals_tensorflow_from_the_audio(name: str) -> None:
    reference = _reference(name)
    y, _ = load(EXAMPLE, sr=16000)
    patches = musicnn_patches(musicnn_input(y))
    n = reference["patches"].shape[0]
    # genrekit's chain rounds like musicnn's: only float16 ties may differ, by one step.
    assert np.abs(patches[:n] - reference["patches"]).max() < 1e-3
    out = load_backbone(name, precision="float32").run(patches[:n])
    assert np.abs(out.taggram - reference["taggram"]).max() < 1e-4
    assert np.abs(out.penultimate - reference["penultimate"]).max() < 1e-4


def test_the_two_taggers_are_different_models() -> None:
    """The MTT graph is not the MSD one relabelled: TensorFlow's outputs differ, and so do ours."""
    msd, mtt = _reference("msd-musicnn"), _reference("mtt-musicnn")
    assert np.array_equal(msd["patches"], mtt["patches"])
    assert np.abs(msd["taggram"] - mtt["taggram"]).max() > 0.1
    a = load_backbone("msd-musicnn", precision="float32").run(mtt["patches"])
    assert np.abs(a.taggram - mtt["taggram"]).max() > 0.1


@pytest.mark.parametrize("name", BACKBONES)
def test_each_backbone_has_its_own_50_tags(name: str) -> None:
    for precision in ("float32", "int8"):
        backbone = load_backbone(name, precision=precision)
        assert backbone.tags == BACKBONE_TAGS[name] == backbone.meta["tags"]
        assert len(backbone.tags) == len(set(backbone.tags)) == 50
        assert backbone.run(_reference(name)["patches"][:1]).taggram.shape == (1, 50)
    assert BACKBONE_TAGS["mtt-musicnn"] is MTT_TAGS and BACKBONE_TAGS["msd-musicnn"] is MSD_TAGS
    assert MTT_TAGS[:4] == ["guitar", "classical", "slow", "techno"] and MTT_TAGS[-1] == "choral"
    assert {"opera", "choir", "new age", "indian", "metal"} <= set(MTT_TAGS)


def test_a_backbone_file_with_foreign_tags_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbones, "_CACHE", {})
    monkeypatch.setitem(backbones.BACKBONE_TAGS, "mtt-musicnn", MSD_TAGS)
    with pytest.raises(ModelError, match=r"mtt-musicnn.*tags are not mtt-musicnn's"):
        load_backbone("mtt-musicnn", precision="float32")


@pytest.mark.parametrize("name", BACKBONES)
def test_pytorch_port_loads_the_onnx_weights_and_agrees(name: str) -> None:
    torch = pytest.importorskip("torch")
    from genrekit.musicnn import MusiCNN, state_from_onnx

    reference = _reference(name)
    model = MusiCNN()
    model.load_state_dict(state_from_onnx(load_backbone(name, precision="float32").path))
    model.eval()
    with torch.no_grad():
        out = model.outputs(torch.from_numpy(reference["patches"]))
    assert np.abs(out["taggram"].numpy() - reference["taggram"]).max() < 1e-4
    assert np.abs(out["penultimate"].numpy() - reference["penultimate"]).max() < 1e-4


@pytest.mark.needs_torch
def test_weights_are_not_read_from_a_graph_that_folded_them(tmp_path: Path) -> None:
    """A folded export has no named convolution weights: refused, not silently left random."""
    from genrekit.musicnn import MusiCNN, export_onnx, state_from_onnx

    export_onnx(MusiCNN().eval(), tmp_path / "folded.onnx")
    with pytest.raises(ModelError, match=r"folded\.onnx: no named weights.*front\.0\.conv"):
        state_from_onnx(tmp_path / "folded.onnx")


def test_port_exports_to_onnx_in_its_cheaper_layer_order(reference, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    pytest.importorskip("torch")
    from genrekit.musicnn import MusiCNN, export_onnx, state_from_onnx

    model = MusiCNN()
    model.load_state_dict(state_from_onnx(load_backbone(precision="float32").path))
    export_onnx(model.eval(), tmp_path / "port.onnx")
    session = ort.InferenceSession(str(tmp_path / "port.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, {"patches": reference["patches"]}), strict=True))
    for name in ("taggram", "penultimate"):
        assert np.abs(got[name] - reference[name]).max() < 1e-4, name
    graph = onnx.load(str(tmp_path / "port.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "MaxPool" in ops  # the timbral branches pool over bands before ReLU and batch norm


@pytest.mark.parametrize("name", BACKBONES)
def test_int8_graph_agrees_with_float32(name: str) -> None:
    reference = _reference(name)
    fast, exact = load_backbone(name, precision="int8"), load_backbone(name, precision="float32")
    assert fast.path.name == f"{name}-int8.onnx" and fast.meta["precision"] == "int8"
    a, b = exact.run(reference["patches"]), fast.run(reference["patches"])
    ea, eb = a.patch_embeddings(), b.patch_embeddings()
    cosine = (ea * eb).sum(axis=1) / np.linalg.norm(ea, axis=1) / np.linalg.norm(eb, axis=1)
    assert cosine.min() > 0.998
    assert np.abs(a.taggram - b.taggram).max() < 0.05
    assert np.array_equal(a.taggram.argmax(axis=1), b.taggram.argmax(axis=1))
    assert fast.meta["tags"] == exact.meta["tags"] and fast.meta["input"] == exact.meta["input"]


def test_unknown_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParameterError, match="precision"):
        load_backbone(precision="float16")
    monkeypatch.setenv(backbones.PRECISION_ENV, "int4")
    with pytest.raises(ParameterError, match=r"int4.*GENREKIT_BACKBONE_PRECISION"):
        load_backbone()


def test_int8_only_where_the_cpu_does_not_saturate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backbones.PRECISION_ENV, raising=False)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(backbones, "_cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert backbones.default_precision() == "float32"
    assert load_backbone().path.name == "msd-musicnn.onnx"
    monkeypatch.setattr(backbones, "_cpu_flags", lambda: {"avx2", "avx512_vnni"})
    assert backbones.default_precision() == "int8"
    assert load_backbone().path.name == "msd-musicnn-int8.onnx"
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    monkeypatch.setattr(backbones, "_cpu_flags", set)
    assert backbones.default_precision() == "int8"
    monkeypatch.setenv(backbones.PRECISION_ENV, "float32")
    assert backbones.default_precision() == "float32"


def test_metal_example_is_tagged_metal() -> None:
    y, _ = load(EXAMPLE, sr=16000)
    tags = load_backbone().outputs_of(y).tags()
    top = [MSD_TAGS[i] for i in np.argsort(tags)[::-1][:5]]
    assert {"metal", "heavy metal", "hard rock"} & set(top), top
    mtt = load_backbone("mtt-musicnn").outputs_of(y).tags()
    top = [MTT_TAGS[i] for i in np.argsort(mtt)[::-1][:5]]
    assert {"metal", "rock"} <= set(top) and not {"classical", "quiet", "soft"} & set(top), top


def test_patches_drop_the_tail_and_loop_short_clips() -> None:
    rep = np.arange(2 * PATCH_FRAMES + 10, dtype=np.float32)[:, None] * np.ones(
        (1, BACKBONE_N_MELS)
    )
    patches = musicnn_patches(rep)
    assert patches.shape == (2, PATCH_FRAMES, BACKBONE_N_MELS)
    assert patches[1, 0, 0] == PATCH_FRAMES
    short = musicnn_patches(rep[:50])
    assert short.shape == (1, PATCH_FRAMES, BACKBONE_N_MELS)
    assert np.array_equal(short[0, 50:100], short[0, :50])
    with pytest.raises(ParameterError):
        musicnn_patches(np.zeros((10, 20)))


def test_embedding_of_a_short_clip() -> None:
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(16000)).astype(np.float32)  # 1 s of noise
    out = load_backbone().outputs_of(y)
    assert out.taggram.shape == (1, len(MSD_TAGS))
    embedding = out.embedding()
    assert embedding.shape == (EMBEDDING_SIZE,) and np.isfinite(embedding).all()


def test_unknown_backbone() -> None:
    with pytest.raises(ModelError, match="unknown backbone"):
        load_backbone("nope")


# --- the backbone workflow: embed a store, train a head, evaluate, export, classify ---------


@pytest.fixture(scope="module")
def embedded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.stores import make_store

    root = tmp_path_factory.mktemp("backbone")
    store = make_store(root, ("clicks", "noise", "tones"), 8)
    summary = embed_dataset(root / "in", store, workers=2)
    assert summary.ok and summary.done == 24
    return store


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


def test_backbone_model_trains_evaluates_exports_and_classifies(
    embedded_store: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    train(embedded_store, model_dir, TrainOptions(model="backbone-msd-musicnn"))
    report = evaluate(model_dir, embedded_store)
    assert report["accuracy"] > 0.9
    onnx_path = export_onnx(model_dir, model_dir / "model.onnx")
    model = load_model(onnx_path)
    assert model.backbone is not None
    audio = next((embedded_store.parent / "in" / "tones").glob("*.wav"))
    # Its genres are generated tones, clicks and noise: sounds the music check refuses.
    prediction = classify(audio, model=model, segments=True, check_music=False)
    assert prediction.genre == "tones"
    assert prediction.tags and len(prediction.segments) == 1
    # The head on a clip's embedding: the same answer from its arrays and from ONNX.
    checkpoint = load_checkpoint(model_dir)
    x = np.stack([FeatureStore(embedded_store).embedding(i, "msd-musicnn") for i in range(3)])
    expected = head_probabilities(checkpoint.state, x)
    assert np.abs(model.probabilities(x) - expected).max() < 1e-5


def test_backbone_model_without_embeddings_says_what_to_run(tmp_path: Path) -> None:
    from tests.stores import make_store

    store = make_store(tmp_path, ("clicks", "tones"), 8)
    with pytest.raises(ParameterError, match="genrekit embed"):
        train(store, tmp_path / "m", TrainOptions(model="backbone-msd-musicnn"))


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


def test_tags_are_labelled_by_tagger_in_csv_and_table(example_clip: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["classify", str(example_clip), "--tags", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1 and list(rows[0])[-2:] == ["tags_msd-musicnn", "tags_mtt-musicnn"]
    tags = {t: [tag.split(":")[0] for tag in rows[0][f"tags_{t}"].split(";")] for t in TAGGERS}
    assert "metal" in tags["msd-musicnn"]
    assert {"rock", "metal"} <= set(tags["mtt-musicnn"])
    assert len(tags["mtt-musicnn"]) == TOP_TAGS

    result = runner.invoke(app, ["classify", str(example_clip), "--tags"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["track", "genre", "top", "3"]
    assert lines[1].startswith(str(example_clip)) and " metal " in lines[1]
    assert lines[2].startswith("  tags msd-musicnn: metal ") and "%" in lines[2]
    assert lines[3].startswith("  tags mtt-musicnn: ") and "rock" in lines[3]
    assert len(lines) == 4
    plain = runner.invoke(app, ["classify", str(example_clip)])
    assert "tags" not in plain.stdout and len(plain.stdout.splitlines()) == 2


def test_explore_maps_the_embeddings_when_present(embedded_store: Path, tmp_path: Path) -> None:
    from genrekit.report import write_report

    report = write_report(embedded_store, tmp_path / "report")
    assert "embedding_msd-musicnn.png" in report.files
    assert report.numbers["separation"]["embedding_tsne_msd-musicnn"]["knn_accuracy"] > 0.8
    assert 'src="embedding_msd-musicnn.png"' in (tmp_path / "report" / "index.html").read_text()
