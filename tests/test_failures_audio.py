"""Bad audio: every way a file can be wrong gets a clear GenrekitError naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from genrekit import audio as audio_module
from genrekit.audio import load, read
from genrekit.errors import (
    AudioLoadError,
    AudioTooShortError,
    GenrekitError,
    ParameterError,
    PartialDecodeWarning,
)
from tests.conftest import EXAMPLES, music_like


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match=r"nope\.mp3: no such file"):
        load(tmp_path / "nope.mp3")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="is a directory"):
        load(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioLoadError, match=r"empty\.wav: file is empty"):
        load(empty)


@pytest.mark.parametrize("name", ["notes.mp3", "notes.wav", "notes.m4a", "notes.flac"])
def test_text_with_audio_extension_names_each_decoder(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("these are not the droids you are looking for\n" * 40)
    with pytest.raises(AudioLoadError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "libsndfile:" in message and "ffmpeg:" in message


@pytest.mark.parametrize("name", ["empty.mp3", "empty.m4a", "empty.wav"])
def test_an_empty_file_is_one_error_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    from genrekit.predict import classify

    (tmp_path / name).write_bytes(b"")
    with pytest.raises(AudioLoadError, match=r"file is empty \(0 bytes\)"):
        classify(tmp_path / name)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no traceback from a decoder's callback


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.ogg"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(AudioLoadError, match="cannot be decoded as audio"):
        load(path)


@pytest.fixture(scope="module")
def mp3_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("mp3") / "whole.mp3"
    sf.write(path, music_like(8.0, 44100, channels=2), 44100, format="MP3")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["zeros.mp3", "zeros.m4a"])
def test_a_huge_file_of_junk_is_searched_for_audio_only_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(audio_module, "SEARCH_BYTES", 2**20)
    path = tmp_path / name
    with path.open("wb") as out:
        out.truncate(16 * 2**20)  # sparse: 16 MiB of zeros that take no disk
    with pytest.raises(AudioLoadError, match="cannot be decoded") as caught:
        load(path)
    if name.endswith(".mp3"):  # FFmpeg's mp3 reader would read (and hold) all of it
        assert "no audio found in the first 1 MiB of the file" in str(caught.value)


def test_the_search_bound_does_not_limit_real_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    m4a = next(EXAMPLES.rglob("*.m4a"))
    whole = load(m4a, sr=22050)[0]
    monkeypatch.setattr(audio_module, "SEARCH_BYTES", 2**16)  # an eighth of the file: found early
    assert np.array_equal(load(m4a, sr=22050)[0], whole)


def test_truncated_mp3_decodes_what_it_can_and_says_so(tmp_path: Path, mp3_bytes: bytes) -> None:
    path = tmp_path / "cut.mp3"
    path.write_bytes(mp3_bytes[: len(mp3_bytes) // 2])
    with pytest.warns(PartialDecodeWarning, match=r"cut\.mp3: file is damaged"):
        y, sr = load(path)
    assert 3.0 < y.size / sr < 5.0
    damage = read(path).damage or ""
    found = re.fullmatch(r"(\d+\.\d\d) s of the declared audio could not be decoded", damage)
    assert found and 3.0 < float(found[1]) < 5.0, damage  # half of 8 s


def test_corrupted_middle_of_mp3(tmp_path: Path, mp3_bytes: bytes) -> None:
    damaged = bytearray(mp3_bytes)
    middle = len(damaged) // 2
    damaged[middle : middle + 4000] = os.urandom(4000)
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(bytes(damaged))
    with pytest.warns(PartialDecodeWarning):
        y, sr = load(path)
    assert y.size / sr > 2.0


def test_truncated_too_early_is_too_short(tmp_path: Path, mp3_bytes: bytes) -> None:
    path = tmp_path / "stub.mp3"
    path.write_bytes(mp3_bytes[:1500])
    with pytest.raises(AudioLoadError, match=r"stub\.mp3"):
        load(path)


def test_too_short_audio(tmp_path: Path) -> None:
    path = tmp_path / "blip.wav"
    sf.write(path, music_like(0.2, 22050), 22050)
    with pytest.raises(AudioTooShortError, match=r"blip\.wav: only 0\.200 s of audio"):
        load(path)
    y, _ = load(path, min_duration=0.1)
    assert y.size == int(0.2 * 22050)


def test_short_duration_request_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, music_like(2.0, 22050), 22050)
    y, _ = load(path, duration=0.1)
    assert y.size == 2205


def test_nan_samples(tmp_path: Path) -> None:
    y = music_like(1.0, 22050)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN or infinite"):
        load(path)


def test_silence_loads_fine(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050, dtype=np.float32), 22050)
    y, _ = load(path)
    assert y.size == 22050 and not y.any()


@pytest.mark.parametrize(
    "kwargs", [{"offset": -1.0}, {"duration": 0.0}, {"duration": float("nan")}, {"sr": 0}]
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        load(tmp_path / "x.wav", **kwargs)  # type: ignore[arg-type]


def test_one_family() -> None:
    for cls in (AudioLoadError, AudioTooShortError, ParameterError):
        assert issubclass(cls, GenrekitError)


# --- a decoder that misbehaves is one file's failure, never a batch's ------------------------


def _pyav_19_open(real_open: Any) -> Any:
    """``av.open`` as PyAV 19 has it: no ``metadata_errors`` argument."""

    def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
        if "metadata_errors" in kwargs:
            raise TypeError("open() got an unexpected keyword argument 'metadata_errors'")
        return real_open(file, *args, **kwargs)

    return open_


def test_pyav_without_metadata_errors_still_decodes(
    monkeypatch: pytest.MonkeyPatch, audio_files: dict[str, Path]
) -> None:
    import av

    from genrekit import audio

    monkeypatch.setattr(audio, "_av_takes_metadata_errors", True)
    monkeypatch.setattr(av, "open", _pyav_19_open(av.open))
    y, sr = load(audio_files["m4a"])
    assert sr == 22050 and 3.9 < y.size / sr < 4.2
    assert audio.duration(audio_files["m4a"]) == pytest.approx(4.0, abs=0.1)
    # a file libsndfile cannot read goes to FFmpeg too
    assert load(audio_files["m4a"], offset=1.0, duration=1.0)[0].size == sr


@pytest.mark.parametrize(
    ("fmt", "codec", "name"), [("ipod", "aac", "tag.m4a"), ("mp3", "mp3", "tag.mp3")]
)
def test_a_tag_that_is_not_utf8_does_not_stop_decoding(
    tmp_path: Path, fmt: str, codec: str, name: str
) -> None:
    import av

    y = music_like(2.0, 44100, channels=2)
    path = tmp_path / name
    with av.open(str(path), "w", format=fmt) as out:
        out.metadata["title"] = "PLACEHOLDER"
        stream: Any = out.add_stream(codec, rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(y.T), format="fltp", layout="stereo"
        )
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data = path.read_bytes()
    assert data.count(b"PLACEHOLDER") == 1
    path.write_bytes(data.replace(b"PLACEHOLDER", "Mot\xf6rhead \xe9t\xe9".encode("latin-1")))
    y, sr = load(path)
    assert 1.9 < y.size / sr < 2.1


class _BoomError(Exception):
    pass


def _raise(*args: object, **kwargs: object) -> None:
    raise _BoomError("decoder exploded")


@pytest.mark.parametrize("kind", ["mp3", "m4a"])
def test_unexpected_decoder_exceptions_become_one_audio_load_error(
    monkeypatch: pytest.MonkeyPatch, audio_files: dict[str, Path], kind: str
) -> None:
    import av

    monkeypatch.setattr(sf, "SoundFile", _raise)
    monkeypatch.setattr(av, "open", _raise)
    with pytest.raises(AudioLoadError) as info:
        read(audio_files[kind])
    message = str(info.value)
    assert message.startswith(str(audio_files[kind]))
    assert "libsndfile: unexpected _BoomError: decoder exploded" in message
    assert "ffmpeg: unexpected _BoomError: decoder exploded" in message


def test_one_decoder_failing_oddly_leaves_the_other(
    monkeypatch: pytest.MonkeyPatch, audio_files: dict[str, Path]
) -> None:
    monkeypatch.setattr(sf, "SoundFile", _raise)
    y, sr = load(audio_files["flac"])  # FFmpeg reads flac too
    assert 3.9 < y.size / sr < 4.1


def test_read_raises_only_genrekit_errors(
    monkeypatch: pytest.MonkeyPatch, audio_files: dict[str, Path]
) -> None:
    from genrekit import audio

    monkeypatch.setattr(audio, "resample", _raise)
    with pytest.raises(
        AudioLoadError, match=r"a\.wav: cannot be read \(_BoomError: decoder exploded\)"
    ):
        read(audio_files["wav16"])


def test_an_unexpected_error_in_extract_fails_that_file_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from genrekit import extract, inputs

    for name in ("good", "bad"):
        path = tmp_path / "in" / "rock" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, music_like(2.0, 22050, seed=len(name)), 22050)
    real = extract._extract_one

    def extract_one(root: Path, src: inputs.SourceFile, *args: object) -> object:
        if src.path.stem == "bad":
            raise _BoomError("bug in the feature code")
        return real(root, src, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(extract, "_extract_one", extract_one)
    summary = extract.extract_dataset(
        tmp_path / "in", tmp_path / "out", extract.ExtractOptions(clip_seconds=2.0, workers=2)
    )
    assert summary.counts["done"] == 1
    assert [f.rel for f in summary.failures] == ["rock/bad.wav"]
    assert "bad.wav: _BoomError: bug in the feature code" in (summary.failures[0].reason or "")


def test_an_unexpected_error_in_embed_fails_that_file_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from genrekit import embed, extract

    for name in ("good", "bad"):
        path = tmp_path / "in" / "rock" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, music_like(4.0, 22050, seed=len(name)), 22050)
    options = extract.ExtractOptions(clip_seconds=4.0, workers=2)
    assert extract.extract_dataset(tmp_path / "in", tmp_path / "out", options).ok
    real = embed.clip_embedding

    def clip_embedding(path: Path, *args: Any) -> Any:
        if path.stem == "bad":
            raise _BoomError("bug in the embedding code")
        return real(path, *args)

    monkeypatch.setattr(embed, "clip_embedding", clip_embedding)
    summary = embed.embed_dataset(tmp_path / "in", tmp_path / "out", workers=2)
    assert summary.done == 1
    assert [rel for rel, _ in summary.failures] == ["rock/bad.wav"]
    assert "bad.wav: _BoomError: bug in the embedding code" in summary.failures[0][1]


# --- libmpg123's chatter stays off the terminal -----------------------------------------------


@pytest.fixture(scope="module")
def cut_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import EXAMPLES

    whole = (EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3").read_bytes()
    path = tmp_path_factory.mktemp("cut") / "cut in half.mp3"
    path.write_bytes(whole[: len(whole) // 2])
    damaged = bytearray(whole)
    middle = len(damaged) // 2
    damaged[middle : middle + 4000] = np.random.default_rng(5).bytes(4000)
    (path.parent / "damaged.mp3").write_bytes(bytes(damaged))
    return path


def test_damaged_mp3s_decode_without_decoder_noise(
    capfd: pytest.CaptureFixture[str], cut_example: Path
) -> None:
    for path in (cut_example, cut_example.parent / "damaged.mp3"):
        audio = read(path)
        assert audio.damage is not None and audio.y.size / audio.sr > 10.0
    err = capfd.readouterr().err
    assert "libmpg123" not in err and "Note:" not in err and "Warning:" not in err, err


def test_ffmpeg_log_lines_do_not_reach_stderr() -> None:
    # PyAV 12 passes FFmpeg's warnings to logging as "libav.<codec>"; with no handler of the
    # application's, Python would print them. Checked in a fresh interpreter: pytest handles logs.
    code = (
        "import logging, genrekit.audio; "
        "logging.getLogger('libav.mp3float').error('Header missing'); "
        "logging.getLogger('genrekit.other').error('an application log line')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "an application log line\n"


def test_the_stderr_filter_passes_everything_else(capfd: pytest.CaptureFixture[str]) -> None:
    import threading

    from genrekit.native_stderr import filtered

    before = os.fstat(2)
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        barrier.wait(timeout=10)  # all four enter and leave the filter at once
        for j in range(20):
            with filtered():
                os.write(2, f"kept {i}.{j}\n".encode())
                os.write(2, b"[src/libmpg123/parse.c:wetwork():1349] error: Giving up resync\n")
                os.write(2, b"Note: Trying to resync...\n")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with filtered():
        os.write(2, b"progress 50%\r")  # a partial line, as a progress bar writes
        os.write(2, b"bar 10%\x1b[0m[src/libmpg123/layer3.c:III_dequantize():1] error: x\n")
        os.write(2, b"bar 20%\rNote: Skipped 1024 bytes in input.\n")
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    err = capfd.readouterr().err
    bars = "progress 50%\rbar 10%\x1b[0mbar 20%\r"
    assert bars in err
    assert sorted(err.replace(bars, "").splitlines()) == sorted(
        f"kept {i}.{j}" for i in range(4) for j in range(20)
    )


def test_python_stderr_keeps_its_order_with_stdout_while_filtered() -> None:
    # classify draws "classify 0/5" on stderr, clears it and prints a row on stdout while worker
    # threads decode. Through the filter's pipe the clearing came after the row: text glued.
    code = (
        "import os, sys\n"
        "from genrekit.native_stderr import filtered\n"
        "with filtered():\n"
        "    for i in range(200):\n"
        "        sys.stderr.write(f'e{i} '); sys.stderr.flush()\n"
        "        os.write(1, f'o{i} '.encode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True
    )
    assert done.stdout.decode().split() == [f"{s}{i}" for i in range(200) for s in "eo"]


def test_a_file_name_that_is_not_utf8_is_read_by_libsndfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsndfile, not only FFmpeg, reads it: soundfile cannot encode the name's surrogates."""
    name = tmp_path / os.fsdecode(b"bad\xffname.wav")
    sf.write(os.fsencode(name), music_like(2.0, 22050), 22050)
    tried = []
    real = audio_module._decode_soundfile

    def spy(file: Path, offset: float, duration: float | None) -> Any:
        decoded = real(file, offset, duration)
        tried.append(file)
        return decoded

    monkeypatch.setattr(audio_module, "_decode_soundfile", spy)
    y, sr = load(name, sr=None)
    assert sr == 22050 and y.size == 2 * 22050
    assert tried == [name]
