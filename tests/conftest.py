"""Shared fixtures: generated signals written to real files in many formats, a store of
generated genres with a tiny network trained on it, and the command line run in-process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer

from genrekit.checkpoint import export_onnx
from genrekit.cli import main
from genrekit.embed import embed_dataset
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.predict import Model, load_model
from genrekit.training import TrainOptions, train
from tests.stores import SR, genre_audio, make_store, noise_clip, tone_clip

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEADLINE = 60.0  # seconds any wait in a test may take at most (test_lock, test_failures_store)

# The suite that needs no PyTorch runs from a base install (`pip install -e '.[test]'`), as CI
# does on every Python besides the full one. Modules that import PyTorch, directly or through
# genrekit.training, are skipped whole there; a test elsewhere that needs it is marked
# `@pytest.mark.needs_torch`.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = frozenset(
    {
        "test_cli_models.py",
        "test_clip_reader.py",
        "test_evaluation.py",
        "test_failures_training.py",
        "test_models.py",
        "test_networks.py",
        "test_training.py",
    }
)
_NO_TORCH = "needs PyTorch, which this install lacks: pip install -e '.[dev]'"


class _NeedsTorchModule(pytest.Module):
    def collect(self) -> list[pytest.Item | pytest.Collector]:
        pytest.skip(f"{self.path.name}: {_NO_TORCH}", allow_module_level=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_torch: the test imports PyTorch")
    config.addinivalue_line(
        "markers", "cluster: runs a Dask cluster (genrekit[cluster]); part of the normal suite"
    )


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    if not HAVE_TORCH and module_path.name in NEEDS_TORCH:
        return _NeedsTorchModule.from_parent(parent, path=module_path)
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not HAVE_TORCH:
        for item in items:
            if item.get_closest_marker("needs_torch"):
                item.add_marker(pytest.mark.skip(reason=_NO_TORCH))


def music_like(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A chord, a chirp and a little noise: broadband, with structure, never silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    chirp = 0.1 * np.sin(2 * np.pi * (100 * t + 400 * t**2))
    out = []
    for c in range(channels):
        noise = 0.02 * rng.standard_normal(t.size)
        out.append((chord + chirp) * (1 + 0.2 * c) + noise)
    return np.stack(out, axis=1).astype(np.float32)


def write_m4a(path: Path, y: np.ndarray, sr: int) -> Path:
    """AAC in an MP4 container, the format of iTunes previews, through FFmpeg."""
    layout = "stereo" if y.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=sr, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y.T), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short file per format and layout the loader must handle."""
    root = tmp_path_factory.mktemp("audio")
    stereo = music_like(4.0, 44100, channels=2)
    files = {
        "wav16": ("a.wav", stereo, 44100, "WAV", "PCM_16"),
        "wav8": ("u8.wav", stereo, 44100, "WAV", "PCM_U8"),
        "wav24": ("b24.wav", stereo, 48000, "WAV", "PCM_24"),
        "float": ("f.wav", stereo, 22050, "WAV", "FLOAT"),
        "flac": ("c.flac", stereo, 44100, "FLAC", "PCM_16"),
        "ogg": ("d.ogg", stereo, 44100, "OGG", "VORBIS"),
        "mp3": ("e.mp3", stereo, 44100, "MP3", "MPEG_LAYER_III"),
        "six": ("six channels.wav", music_like(3.0, 48000, channels=6), 48000, "WAV", "PCM_16"),
        "hires": ("hires96k.flac", music_like(3.0, 96000, channels=2), 96000, "FLAC", "PCM_24"),
        "mono": ("m.wav", music_like(3.0, 16000), 16000, "WAV", "PCM_16"),
        "unicode": ("ünï cödé ♫ 音楽.flac", stereo, 44100, "FLAC", "PCM_16"),
    }
    out = {}
    for key, (name, y, sr, fmt, subtype) in files.items():
        path = root / name
        sf.write(path, y, sr, format=fmt, subtype=subtype)
        out[key] = path
    out["m4a"] = write_m4a(root / "g.m4a", stereo, 44100)
    return out


@pytest.fixture(scope="session")
def long_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two minutes of stereo mp3, for partial reads."""
    path = tmp_path_factory.mktemp("long") / "long.mp3"
    sf.write(path, music_like(120.0, 44100, channels=2, seed=3), 44100, format="MP3")
    return path


@pytest.fixture(scope="session")
def example_clip() -> Path:
    return EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """A real HTTP server on loopback, for the fake web services of tests/services.py."""
    httpd = HTTPServer(threaded=True)
    httpd.start()
    yield httpd
    httpd.clear()
    httpd.stop()


# --- the command line, run in-process through main(): its message and exit code ---


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one line of a fatal error; fails the test unless stderr is exactly that line."""
        lines = self.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    def run(*args: object) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["genrekit", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def genrekit(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it: exit codes and one-line errors included."""
    return subprocess.run(
        [sys.executable, "-m", "genrekit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


# --- a store of generated genres and a tiny network trained on it, made once a session ---
# (test_training, test_networks, test_splits, test_checkpoint, ... all read them; none writes)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("train"), ("clicks", "noise", "tones"), 12)


@pytest.fixture(scope="session")
def tiny_dir(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    train(store_dir, out, TrainOptions(model="tiny", epochs=12))
    return out


# --- a store of generated genres with musicnn embeddings, made once a session -------------
# (test_embed adds mtt-musicnn embeddings to it; test_linear and test_report read it)


@pytest.fixture(scope="session")
def embedded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.stores import make_store

    root = tmp_path_factory.mktemp("backbone")
    store = make_store(root, ("clicks", "noise", "tones"), 8)
    summary = embed_dataset(root / "in", store, workers=2)
    assert summary.ok and summary.done == 24
    return store


# --- two "genres" (a drone and noise bursts) of 1 s clips for explore, made once a session --
# (test_explore and test_report read it)


@pytest.fixture(scope="session")
def two_genre_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explore")
    rng = np.random.default_rng(1)
    for genre, make in (("drone", tone_clip), ("noise", noise_clip)):
        for i in range(8):
            path = root / "in" / genre / f"{genre}{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seconds = 1.0 if i < 6 else 0.7  # some shorter clips: padding must not matter
            sf.write(path, make(rng, seconds).astype(np.float32), SR)
    summary = extract_dataset(root / "in", root / "store", ExtractOptions(clip_seconds=1.0))
    assert summary.ok and summary.counts["done"] == 16
    return root / "store"


# --- a tiny CNN exported to ONNX, and 8 s songs of its genres, made once a session ------------
# (test_predict, test_cli_classify, test_cli_models read them)


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A tiny CNN is trained here: the tests that use it need PyTorch, the others run without.
    # Its genres are clicks, noise and tones, the very sounds that are not music: it is asked
    # with check_music=False (--no-music-check); tests/test_music_check.py tests the check.
    torch = pytest.importorskip("torch", reason="training the tiny test CNN needs PyTorch")
    root = tmp_path_factory.mktemp("classify")
    store = make_store(root, ("clicks", "noise", "tones"), 10, seed=3)
    # Float sums depend on the thread count, and this tiny model's answers on a few borderline
    # inputs with them: train it on 2 threads whatever OMP_NUM_THREADS says, the same model.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(store, root / "model", TrainOptions(model="tiny", epochs=12))
    finally:
        torch.set_num_threads(threads)
    export_onnx(root / "model", root / "model" / "model.onnx")
    return root / "model"


@pytest.fixture(scope="session")
def songs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(42)
    for genre in ("clicks", "noise", "tones"):
        y = np.concatenate([genre_audio(genre, rng) for _ in range(4)])  # 8 s
        rate = SR
        if genre == "tones":  # one file at 44.1 kHz, as most music is
            y, rate = np.interp(np.arange(0, y.size, 0.5), np.arange(y.size), y), 2 * SR
        stereo = np.stack([y, 0.8 * y], axis=1)
        sf.write(root / f"{genre}.wav", stereo.astype(np.float32), rate)
    return root


@pytest.fixture(scope="session")
def model() -> Model:
    return load_model()  # the default: musicnn's embeddings and a head, onnxruntime only
