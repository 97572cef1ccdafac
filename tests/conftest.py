"""Shared fixtures: generated signals written to real files in many formats."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer

from genrekit.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The suite that needs no PyTorch runs from a base install (`pip install -e '.[test]'`), as CI
# does on every Python besides the full one. Modules that import PyTorch, directly or through
# genrekit.training, are skipped whole there; a test elsewhere that needs it is marked
# `@pytest.mark.needs_torch`.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = frozenset({"test_training.py"})
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
