"""The base install: baseline and backbone heads train, evaluate, export and classify without
PyTorch; the networks say in one line that they need it. Each command runs in a fresh Python
whose import system refuses ``torch``, as on a machine without it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrekit.checkpoint import export_onnx, load_checkpoint, load_model_state
from genrekit.dataset import FeatureStore
from genrekit.errors import MissingExtraError
from genrekit.training import TrainOptions, probabilities, train
from tests.hidden import env_without, run
from tests.stores import make_store


@pytest.fixture(scope="module")
def no_torch_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return env_without(tmp_path_factory.mktemp("no-torch"), ("torch",))


def test_the_shim_really_hides_torch(no_torch_env: dict[str, str]) -> None:
    code = (
        "import genrekit.training, genrekit.evaluation, genrekit.linear, genrekit.networks, sys\n"
        "assert 'torch' not in sys.modules\n"
        "import torch"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=no_torch_env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("ModuleNotFoundError: No module named 'torch'")


@pytest.fixture(scope="module")
def light_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("light"), ("clicks", "noise", "tones"), 8)


def test_light_models_work_without_torch(
    no_torch_env: dict[str, str], light_store: Path, tmp_path: Path
) -> None:
    audio = light_store.parent / "in"
    song = audio / "tones" / "tones03.wav"
    for model, extra in (("baseline", []), ("backbone-msd-musicnn", ["--audio", str(audio)])):
        out = tmp_path / model
        args = ["train", str(light_store), "-o", str(out), "--model", model, *extra]
        result = run(no_torch_env, *args)
        assert result.returncode == 0, result.stderr
        assert "fitted in closed form" in result.stdout and "test accuracy: " in result.stdout
        if extra:  # the head's input was computed first, with its progress and count
            assert "24 clips embedded" in result.stderr
        assert (out / "model.npz").is_file() and not (out / "model.pt").exists()
        result = run(no_torch_env, "evaluate", str(out), str(light_store))
        assert result.returncode == 0, result.stderr
        assert "accuracy" in result.stdout
        wav = out / "song.wav"
        wav.write_bytes(b"RIFF")
        for target in (out, wav):  # a folder, or a file that is not ONNX: refused, untouched
            result = run(no_torch_env, "export", str(out), "-o", str(target))
            assert result.returncode == 2 and result.stderr.startswith(f"error: {target}: ")
        assert wav.read_bytes() == b"RIFF"
        result = run(no_torch_env, "export", str(out), "-o", str(out / "model.onnx"))
        assert result.returncode == 0, result.stderr
        # Tones are not music: the check is off for a model of tones, clicks and noise.
        args = ["--model", str(out), "--format", "json", "--no-music-check"]
        result = run(no_torch_env, "classify", str(song), *args)
        assert result.returncode == 0, result.stderr
        assert '"genre": "tones"' in result.stdout


def test_networks_say_they_need_torch_in_one_line(
    no_torch_env: dict[str, str], light_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    for model in ("cnn", "seed-mlp", "seed-cnn"):
        result = run(no_torch_env, "train", str(light_store), "-o", str(out), "--model", model)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: --model {model} needs PyTorch: pip install")
    assert not out.exists()  # refused before any work
    with pytest.raises(MissingExtraError, match=r"needs PyTorch: pip install 'genrekit\[train\]'"):
        run_without_torch(lambda: TrainOptions(model="cnn"), light_store, tmp_path)


def run_without_torch(options, store: Path, out: Path) -> None:
    """``train`` in this process with ``torch`` unimportable."""
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    builtins.__import__ = no_torch
    try:
        train(store, out / "m", options())
    finally:
        builtins.__import__ = real_import


def test_networks_saved_by_pytorch_say_they_need_it(
    no_torch_env: dict[str, str], light_store: Path, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    network = tmp_path / "tiny"  # a network's checkpoint, made where PyTorch is installed
    train(light_store, network, TrainOptions(model="tiny", epochs=1))
    for command in (
        ["evaluate", str(network), str(light_store)],
        ["export", str(network), "-o", str(tmp_path / "x.onnx")],
    ):
        result = run(no_torch_env, *command)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert "model.pt" in line and "needs PyTorch: pip install" in line


def test_light_models_answer_as_their_pytorch_modules(light_store: Path, tmp_path: Path) -> None:
    """The numpy path, the ONNX graph and the PyTorch modules the checkpoints also load into
    (the code that ran these models before) give the same probabilities."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from genrekit.clip_reader import ClipReader
    from genrekit.dataset import embedding_kind, feature_path
    from genrekit.networks import network_probabilities
    from genrekit.storage import save_npy_atomic

    copy = tmp_path / "store"
    shutil.copytree(light_store, copy)
    store = FeatureStore(copy)
    rng = np.random.default_rng(1)
    for i, track in enumerate(store.tracks):  # fake embeddings: the genre, beside noise
        vector = rng.standard_normal(16).astype(np.float32)
        vector[store.labels[i]] += 1.5
        save_npy_atomic(feature_path(copy, embedding_kind("msd-musicnn"), track.sha256), vector)
    everything = np.arange(len(store))
    for model in ("baseline", "backbone-msd-musicnn"):
        checkpoint = train(copy, tmp_path / model, TrainOptions(model=model))
        loaded = load_checkpoint(tmp_path / model)
        ours = probabilities(loaded, store, everything)
        np.testing.assert_array_equal(ours, probabilities(checkpoint, store, everything))
        if model != "baseline":
            assert ours.max(axis=1).min() < 0.9  # not all certain: a real comparison
        reader = ClipReader.for_checkpoint(store, loaded)
        theirs = network_probabilities(
            load_model_state(loaded), reader, everything, torch.device("cpu")
        )
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
        onnx_path = export_onnx(tmp_path / model, tmp_path / f"{model}.onnx")
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        if model == "baseline":  # any length: one clip at a time, its real frames only
            got = np.concatenate(
                [
                    session.run(["probabilities"], {"logmel": reader.valid(int(i))[None]})[0]
                    for i in everything
                ]
            )
        else:
            got = session.run(["probabilities"], {"embedding": reader.embeddings(everything)})[0]
        np.testing.assert_allclose(got, ours, atol=1e-5)


def test_a_closed_form_model_saved_by_pytorch_still_loads(
    light_store: Path, tmp_path: Path
) -> None:
    """Baselines trained before model.npz were saved with torch.save: the same arrays."""
    torch = pytest.importorskip("torch")

    train(light_store, tmp_path / "new", TrainOptions(model="baseline"))
    (tmp_path / "new" / "train_log.csv").write_text("a stale log of an earlier network\n")
    checkpoint = load_checkpoint(tmp_path / "new")
    old = checkpoint.to_dict()
    old["state_dict"] = {k: torch.from_numpy(v) for k, v in checkpoint.state.items()}
    (tmp_path / "old").mkdir()
    torch.save(old, tmp_path / "old" / "model.pt")
    store = FeatureStore(light_store)
    everything = np.arange(len(store))
    np.testing.assert_array_equal(
        probabilities(load_checkpoint(tmp_path / "old"), store, everything),
        probabilities(checkpoint, store, everything),
    )
    export_onnx(tmp_path / "old", tmp_path / "old.onnx")
    train(light_store, tmp_path / "old", TrainOptions(model="baseline"))  # retrained in place
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["model.npz"]
    train(light_store, tmp_path / "new", TrainOptions(model="baseline"))
    assert not (tmp_path / "new" / "train_log.csv").exists()
