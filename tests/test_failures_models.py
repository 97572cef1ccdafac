"""Damaged and foreign models: each is one ModelError line naming the file, before any audio.

The damaged models are the shipped ``gtzan-cnn.onnx`` with its metadata rewritten (``onnx``),
cut short, or a light baseline's ``model.npz`` fitted on a generated store with a field or an
array taken out; no PyTorch, except where a network's ``model.pt`` is the point.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import soundfile as sf
from onnx import TensorProto, helper, numpy_helper

from genrekit.checkpoint import export_onnx, load_checkpoint
from genrekit.classify_batch import AudioFile, classify_each
from genrekit.errors import ModelError
from genrekit.features import FeatureParams
from genrekit.predict import classify, load_model
from genrekit.training import TrainOptions, train
from tests.conftest import Cli, music_like
from tests.stores import make_store

Edit = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def shipped() -> onnx.ModelProto:
    with resources.as_file(resources.files("genrekit.pretrained") / "gtzan-cnn.onnx") as path:
        return onnx.load(str(path))


def with_metadata(shipped: onnx.ModelProto, path: Path, text: str | None) -> Path:
    """The shipped graph saved at ``path`` with its genrekit metadata replaced (None: none)."""
    model = onnx.ModelProto()
    model.CopyFrom(shipped)
    kept = [p for p in model.metadata_props if p.key != "genrekit"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    if text is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "genrekit", text
    onnx.save(model, str(path))
    return path


def damaged(shipped: onnx.ModelProto, path: Path, edit: Edit) -> Path:
    """The shipped graph with its metadata changed by ``edit`` (in place, or what it returns)."""
    meta = json.loads(next(p.value for p in shipped.metadata_props if p.key == "genrekit"))
    changed = edit(meta)
    return with_metadata(shipped, path, json.dumps(meta if changed is None else changed))


def params(**changes: Any) -> Edit:
    return lambda meta: meta["feature_params"].update(changes)


def setting(**changes: Any) -> Edit:
    return lambda meta: meta.update(changes)


def without(*names: str) -> Edit:
    return lambda meta: [meta.pop(name) for name in names] and None


GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae"]

# (what is wrong, the edit, what the one line must say)
DAMAGED_METADATA = [
    ("2 classes on 10 outputs", setting(classes=["a", "b"]), "names 2 classes (a, b)"),
    ("no feature_params", without("feature_params"), "no feature_params"),
    ("no classes nor window", without("classes", "window_frames"), "no classes, window_frames"),
    (
        "a field missing inside",
        lambda m: m["feature_params"].pop("hop_length") and None,
        "hop_length",
    ),
    ("absurd n_fft", params(n_fft=2**34), "n_fft=17179869184 is out of range"),
    ("zero hop", params(hop_length=0), "hop_length=0 is out of range"),
    ("sr as text", params(sr="22050"), "sr='22050' must be an integer, not str"),
    ("fmax past Nyquist", params(fmax=20000.0, sr=16000), "fmax=20000.0 is above sr/2"),
    ("not the graph's bands", params(n_mels=64), "n_mels=64"),
    ("classes a string", setting(classes="rock"), "classes must be a non-empty list"),
    ("a class not a name", setting(classes=[*GENRES, 7]), "class 7 is not a one-line name"),
    ("a class twice", setting(classes=[*GENRES, "Blues"]), "'blues' and 'Blues' are one name"),
    ("a class with a newline", setting(classes=[*GENRES, "r\nb"]), "is not a one-line name"),
    ("a day-long clip", setting(clip_seconds=86400), "clip_seconds=86400 is out of range"),
    ("window as text", setting(window_frames="130"), "window_frames='130' is not a number"),
    ("a window of hours", setting(window_frames=10**7), "window_frames=10000000 is out of"),
    ("unknown short fill", setting(short_fill="zeros"), "short_fill='zeros' is not one of"),
    ("a backbone not shipped", setting(backbone="vggish"), "backbone 'vggish'"),
    ("a newer format", setting(version=9), "made by a newer genrekit"),
    ("a list, not an object", lambda m: [m], "not a JSON object"),
]


@pytest.mark.parametrize(
    ("edit", "says"),
    [case[1:] for case in DAMAGED_METADATA],
    ids=[case[0] for case in DAMAGED_METADATA],
)
def test_damaged_metadata_is_one_model_error(
    shipped: onnx.ModelProto, tmp_path: Path, edit: Edit, says: str
) -> None:
    path = damaged(shipped, tmp_path / "damaged.onnx", edit)
    with pytest.raises(ModelError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and says in message
    assert "\n" not in message and message.count(str(path)) == 1


def test_metadata_that_is_not_json(shipped: onnx.ModelProto, tmp_path: Path) -> None:
    path = with_metadata(shipped, tmp_path / "model.onnx", '{"classes": ["rock", ')
    with pytest.raises(ModelError, match=r"model\.onnx: its genrekit metadata is not valid JSON"):
        load_model(path)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.999])
def test_a_truncated_file_is_one_line_naming_it_once(tmp_path: Path, keep: float) -> None:
    with resources.as_file(resources.files("genrekit.pretrained") / "gtzan-cnn.onnx") as source:
        data = source.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelError, match="not a readable ONNX model") as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and message.count(str(path)) == 1
    assert "\n" not in message


def foreign_graph(
    path: Path,
    meta: dict[str, Any],
    *,
    input_shape: list[Any],
    n_out: int,
    frames_used: int | None = None,
    softmax: bool = True,
) -> Path:
    """A small graph made without genrekit: log-mel (batch, 128, frames) to ``n_out`` scores.

    With ``frames_used``, it reads exactly that many frames (a fixed reshape), so a shorter
    input fails inside onnxruntime."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("ReduceMean", ["logmel"], ["pooled"], axes=[2], keepdims=0)]
    features = 128
    if frames_used:
        features = 128 * frames_used
        nodes = [
            helper.make_node("Slice", ["logmel", "start", "end", "axis"], ["head"]),
            helper.make_node("Reshape", ["head", "flat"], ["pooled"]),
        ]
    weight = rng.standard_normal((features, n_out)).astype(np.float32) / features
    nodes.append(helper.make_node("MatMul", ["pooled", "weight"], ["scores"]))
    nodes.append(
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1)
        if softmax
        else helper.make_node("Identity", ["scores"], ["probabilities"])
    )
    constants = {
        "weight": weight,
        "start": np.array([0], np.int64),
        "end": np.array([frames_used or 1], np.int64),
        "axis": np.array([2], np.int64),
        "flat": np.array([-1, features], np.int64),
    }
    graph = helper.make_graph(
        nodes,
        "foreign",
        [helper.make_tensor_value_info("logmel", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_out])],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"genrekit": json.dumps(meta)})
    onnx.save(model, str(path))
    return path


def whole_clip_meta(classes: list[str], clip_seconds: float = 2.0) -> dict[str, Any]:
    return {
        "format": "genrekit-onnx",
        "version": 1,
        "architecture": "foreign",
        "classes": classes,
        "feature_params": FeatureParams().to_dict(),
        "clip_seconds": clip_seconds,
        "window_frames": None,
        "input_frames": None,
        "short_fill": "silence",
        "backbone": None,
    }


FOREIGN_GRAPHS = [
    # (what is wrong, graph arguments, metadata changes, what the one line must say)
    (
        "fixed frames, any length described",
        {"input_shape": ["batch", 128, 87]},
        {},
        "input 'logmel' has shape (batch, 128, 87), but its description gives any number",
    ),
    (
        "fixed frames, another window",
        {"input_shape": ["batch", 128, 87]},
        {"window_frames": 130},
        "gives window_frames=130",
    ),
    (
        "a log-mel graph said to read embeddings",
        {"input_shape": ["batch", 128, "frames"]},
        {"backbone": "msd-musicnn"},
        "has shape (batch, 128, frames), but the model's description gives 2 dimensions",
    ),
    (
        "scores, not probabilities",
        {"input_shape": ["batch", 128, "frames"], "softmax": False},
        {},
        "is not one probability per class",
    ),
    (
        "fails on a clip's input",
        {"input_shape": ["batch", 128, "frames"], "frames_used": 500},
        {},
        "fails on an input of shape (1, 128, 87)",
    ),
]


@pytest.mark.parametrize(
    ("graph", "changes", "says"),
    [case[1:] for case in FOREIGN_GRAPHS],
    ids=[case[0] for case in FOREIGN_GRAPHS],
)
def test_graph_that_does_not_fit_its_metadata(
    tmp_path: Path, graph: dict[str, Any], changes: dict[str, Any], says: str
) -> None:
    meta = whole_clip_meta(["a", "b"]) | changes
    path = foreign_graph(tmp_path / "foreign.onnx", meta, n_out=2, **graph)
    with pytest.raises(ModelError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message


def test_graph_without_probabilities_output(shipped: onnx.ModelProto, tmp_path: Path) -> None:
    model = onnx.ModelProto()
    model.CopyFrom(shipped)
    model.graph.output[0].name = "logits"
    model.graph.node[-1].output[0] = "logits"
    onnx.save(model, str(tmp_path / "renamed.onnx"))
    with pytest.raises(ModelError, match=r"has no output 'probabilities' \(it has logits\)"):
        load_model(tmp_path / "renamed.onnx")


def write_song(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, music_like(seconds, 22050, seed=seed), 22050)
    return path


def test_an_input_the_graph_rejects_fails_that_track_only(tmp_path: Path) -> None:
    # A whole-clip graph of someone else's that needs 60 frames (~1.4 s): the 1 s song fails
    # inside onnxruntime, the 3 s song is classified, and the batch goes on.
    meta = whole_clip_meta(["a", "b"])
    path = foreign_graph(
        tmp_path / "picky.onnx",
        meta,
        input_shape=["batch", 128, "frames"],
        n_out=2,
        frames_used=60,
    )
    model = load_model(path)
    short = write_song(tmp_path / "songs" / "short.wav", 1.0)
    long = write_song(tmp_path / "songs" / "long.wav", 3.0, seed=1)
    with pytest.raises(ModelError, match=r"model picky failed on an input of shape \(1, 128, 44\)"):
        classify(short, model=model)
    files = [AudioFile(short, "short.wav"), AudioFile(long, "long.wav")]
    outcomes = list(classify_each(files, model, workers=2))
    assert outcomes[0].prediction is None and outcomes[1].prediction is not None
    reason = outcomes[0].error or ""
    assert reason.startswith("model picky failed on an input of shape (1, 128, 44): ")
    assert "\n" not in reason and "unexpected" not in reason


# --- the command line -------------------------------------------------------------------------


def run_cli(cli: Cli, *args: object) -> tuple[int, str, str]:
    run = cli(*args)
    return run.code, run.out, run.err


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (setting(classes=["a", "b"]), "names 2 classes (a, b)"),
        (without("feature_params"), "no feature_params"),
        (params(n_fft=2**34), "n_fft=17179869184 is out of range"),
    ],
    ids=["2 classes", "no feature_params", "absurd n_fft"],
)
def test_classify_with_a_damaged_model_reads_no_audio(
    shipped: onnx.ModelProto,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    edit: Edit,
    says: str,
) -> None:
    path = damaged(shipped, tmp_path / "my model.onnx", edit)
    song = write_song(tmp_path / "song.wav", 2.0)

    def no_audio(*args: object, **kwargs: object) -> None:
        raise AssertionError("audio was read before the model was checked")

    monkeypatch.setattr("genrekit.predict.Track", no_audio)
    code, out, err = run_cli(cli, "classify", "--model", path, song)
    assert code == 2 and out == ""
    assert err.splitlines() == [err.rstrip("\n")] and err.startswith(f"error: {path}: ")
    assert says in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_model_path_that_is_a_pipe_says_what_it_is(tmp_path: Path) -> None:
    pipe = tmp_path / "model.onnx"
    os.mkfifo(pipe)
    with pytest.raises(ModelError, match=r"model.onnx: not a regular file: a named pipe"):
        load_model(pipe)  # neither waits on the pipe nor calls it "no such model"


def test_models_command_lists_a_damaged_model_as_unusable(
    shipped: onnx.ModelProto,
    tmp_path: Path,
    cli: Cli,
) -> None:
    (tmp_path / "models").mkdir()
    damaged(shipped, tmp_path / "models" / "old.onnx", without("window_frames"))
    code, out, err = run_cli(cli, "models", tmp_path / "models")
    reason = "damaged model description: no window_frames"
    line = f"{tmp_path / 'models' / 'old.onnx'}: unusable ({reason})"
    assert code == 0 and line in out.splitlines(), err  # the path once


# --- checkpoints (model.npz, model.pt) --------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A light baseline (no PyTorch) fitted on a generated store of three genres."""
    root = tmp_path_factory.mktemp("baseline")
    store = make_store(root, ("clicks", "noise", "tones"), 4, seed=5)
    train(store, root / "model", TrainOptions(model="baseline"))
    return root / "model"


def rewrite_npz(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of ``model.npz`` in folder ``target``; ``edit`` changes its arrays in place (the
    description is the JSON under the key ``checkpoint``)."""
    with np.load(source / "model.npz", allow_pickle=False) as data:
        arrays: dict[str, Any] = {name: np.array(data[name]) for name in data.files}
    description = json.loads(str(arrays["checkpoint"]))
    arrays["checkpoint"] = description  # edited as a dict, written back as JSON
    edit(arrays)
    arrays["checkpoint"] = np.array(json.dumps(arrays["checkpoint"]))
    target.mkdir(parents=True, exist_ok=True)
    np.savez(target / "model.npz", **arrays)
    return target


def in_description(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda arrays: arrays["checkpoint"].update(changes)


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda arrays: arrays["checkpoint"].pop(key) and None


DAMAGED_CHECKPOINTS = [
    ("no clip_seconds", drop("clip_seconds"), "no clip_seconds"),
    ("no window_frames", drop("window_frames"), "no window_frames"),
    (
        "2 classes for 3 outputs",
        in_description(classes=["a", "b"]),
        "n_classes=3, but it describes 2",
    ),
    ("absurd n_fft", lambda a: a["checkpoint"]["feature_params"].update(n_fft=2**40), "n_fft="),
    ("arguments a list", in_description(arguments=[3]), "arguments [3] are not named"),
    (
        "n_classes as text",
        lambda a: a["checkpoint"]["arguments"].update(n_classes="3"),
        "n_classes=",
    ),
    ("unknown architecture", in_description(architecture="transformer"), "'transformer'"),
    ("classes repeated", in_description(classes=["a", "A", "b"]), "'a' and 'A' are one name"),
    (
        "bands of another store",
        lambda a: a["checkpoint"]["arguments"].update(n_mels=64),
        "n_mels=64",
    ),
]


@pytest.mark.parametrize(
    ("edit", "says"),
    [case[1:] for case in DAMAGED_CHECKPOINTS],
    ids=[case[0] for case in DAMAGED_CHECKPOINTS],
)
def test_damaged_npz_checkpoint_is_one_model_error(
    baseline: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], says: str
) -> None:
    folder = rewrite_npz(baseline, tmp_path / "damaged", edit)
    with pytest.raises(ModelError) as caught:
        load_checkpoint(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'model.npz'}: ") and says in message, message
    assert "\n" not in message


def test_export_of_a_damaged_checkpoint_is_one_line(
    baseline: Path,
    tmp_path: Path,
    cli: Cli,
) -> None:
    folder = rewrite_npz(baseline, tmp_path / "damaged", drop("input_frames"))
    code, _, err = run_cli(cli, "export", folder, "-o", tmp_path / "m.onnx")
    assert code == 2 and err.startswith(f"error: {folder / 'model.npz'}: ")
    assert "no input_frames" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()
    # The checks do not refuse genrekit's own model.
    assert load_checkpoint(baseline).info.classes == ("clicks", "noise", "tones")
    model = load_model(export_onnx(baseline, tmp_path / "baseline.onnx"))
    assert model.classes == ["clicks", "noise", "tones"] and model.window is None


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("drop", "missing"),
        ("reshape", "of shape (3,), not (4,)"),
        ("extra", "extra.weight unexpected"),
        ("arguments", "do not build a tiny"),
    ],
)
def test_damaged_network_checkpoint_is_one_model_error(
    tmp_path: Path, damage: str, says: str
) -> None:
    import torch

    from genrekit.models import build

    arguments: dict[str, Any] = {"n_mels": 128, "n_classes": 4, "channels": [8, 16], "dropout": 0.0}
    state = build("tiny", **arguments).state_dict()
    name = next(iter(state))
    bias = next(k for k in state if k.endswith("bias") and state[k].shape == (4,))
    if damage == "drop":
        del state[name]
        says = f"{name} missing"
    elif damage == "reshape":
        state[bias] = torch.zeros(3)
    elif damage == "extra":
        state["extra.weight"] = torch.zeros(2)
    else:
        arguments["kernel"] = 3
    checkpoint = {
        "format": "genrekit-model",
        "version": 1,
        "architecture": "tiny",
        "arguments": arguments,
        "classes": ["a", "b", "c", "d"],
        "feature_params": FeatureParams().to_dict(),
        "clip_seconds": 30.0,
        "window_frames": 129,
        "input_frames": 129,
        "short_fill": "loop",
        "backbone": None,
        "state_dict": state,
    }
    (tmp_path / "net").mkdir()
    torch.save(checkpoint, tmp_path / "net" / "model.pt")
    with pytest.raises(ModelError) as caught:
        load_checkpoint(tmp_path / "net")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'net' / 'model.pt'}: ") and says in message, message
    assert "\n" not in message
    shutil.rmtree(tmp_path / "net")


@pytest.mark.parametrize(
    ("reads", "says"),
    [
        (["msd-musicnn:tags"], "first, not its backbone's embedding"),
        (["msd-musicnn:embedding", "msd-musicnn:lyrics"], "not one of <backbone>:embedding|tags"),
        (["msd-musicnn:embedding", "mtt-musicnn:tags"], "all from its backbone msd-musicnn"),
        ("msd-musicnn:embedding", "is not a list of inputs"),
    ],
)
def test_a_model_reading_parts_it_cannot_have_is_one_model_error(reads: Any, says: str) -> None:
    from genrekit.model_info import ModelInfo

    meta = json.loads(
        resources.files("genrekit.pretrained").joinpath("gtzan-musicnn.json").read_text()
    )
    meta |= {"reads": reads, "input_frames": None, "window_frames": None}
    with pytest.raises(ModelError, match=says):
        ModelInfo.from_dict(meta, "m.onnx")
