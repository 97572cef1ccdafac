"""What is not music gets no genre, with a reason; music keeps its genre. No PyTorch needed.

Generated signals for the rules (genrekit.music_check), the default model end to end on the
bundled examples, every output format of an answer with no genre, and --min-confidence.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from genrekit.audio import load
from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import ParameterError
from genrekit.music_check import Sound, check, measure, not_music
from genrekit.predict import Model, classify, load_model
from tests.conftest import EXAMPLES, Cli

SR = 16000
RNG_SEED = 18


def at_level(y: object, db: float) -> np.ndarray:
    x = np.asarray(y, dtype=np.float64)
    out: np.ndarray = (x / np.sqrt(np.mean(x**2)) * 10 ** (db / 20)).astype(np.float32)
    return out


def noise(seconds: float, slope: float, db: float = -20.0, seed: int = RNG_SEED) -> np.ndarray:
    """Noise whose power falls as 1/f**slope: 0 white, 1 pink, 2 brown."""
    n = int(seconds * SR)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    return at_level(np.fft.irfft(spectrum / f ** (slope / 2), n), db)


def tones(seconds: float, *freqs: float, db: float = -20.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return at_level(sum(np.sin(2 * np.pi * f * t) for f in freqs), db)


def clicks(seconds: float, per_second: float) -> np.ndarray:
    y = np.zeros(int(seconds * SR), np.float32)
    y[(np.arange(0, seconds, 1 / per_second) * SR).astype(int)] = 0.8
    return y


def babble(seconds: float) -> np.ndarray:
    """Speech-like: ~4 syllables a second, each a voiced glide with a noisy onset, and a short
    silent gap between words, as speech has and music has not."""
    rng = np.random.default_rng(RNG_SEED)
    out: list[np.ndarray] = []
    while sum(part.size for part in out) < seconds * SR:
        n = int(rng.uniform(0.12, 0.3) * SR)
        t = np.arange(n) / SR
        f0 = rng.uniform(100, 220) * (1 + 0.3 * t / t[-1] * rng.choice([-1, 1]))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voiced = sum(np.sin(k * phase) / k for k in range(1, 25)) * np.hanning(n)
        voiced[: n // 5] += 0.3 * rng.standard_normal(n // 5)
        out += [voiced, np.zeros(int(rng.uniform(0.05, 0.15) * SR))]
    return at_level(np.concatenate(out)[: int(seconds * SR)], -18)


def windows(y: np.ndarray, seconds: float = 3.0) -> list[np.ndarray]:
    """Consecutive windows as the model hears them (the last may be short)."""
    size = int(seconds * SR)
    return [y[i : i + size] for i in range(0, y.size, size)]


def sine(freq: object, seconds: float = 9.0) -> np.ndarray:
    """A sine whose frequency (Hz: fixed, or one per sample) may change along the way."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (int(seconds * SR),))
    return np.sin(2 * np.pi * np.cumsum(f) / SR)


def gated(y: object, on: float, period: float) -> np.ndarray:
    """``y`` sounding ``on`` seconds of every ``period`` (silence between, hard edges)."""
    x = np.asarray(y, dtype=np.float64)
    return x * (np.arange(x.size) / SR % period < on)


T = np.arange(9 * SR) / SR  # 9 s: three of the model's ~3 s windows
DRIFT = np.interp(
    T, np.arange(91) * 0.1, np.cumsum(np.random.default_rng(RNG_SEED).normal(0, 5, 91))
)
DTMF = [(697, 1209), (770, 1336), (852, 1477), (941, 1336)]
DIGIT = (T // 0.25).astype(int) % len(DTMF)
TEST_SIGNALS = {  # what a newcomer tried, and the test signals of the same families
    "linear sweep": (sine(20 + 7000 * T / 9), "a pitch sweep"),
    "log sweep": (sine(20 * 350 ** (T / 9)), "a pitch sweep"),
    "chirps back to back": (sine(300 * 10 ** (T % 0.25 / 0.25)), "a pitch sweep"),
    "wailing siren": (sine(900 - 300 * np.cos(np.pi * T / 2)), "a pitch sweep"),
    "1 kHz beeps once a second": (gated(sine(1000.0), 0.1, 1.0), "beeps or tones with silence"),
    "DTMF digits": (
        gated(
            sum(np.sin(2 * np.pi * np.take([d[k] for d in DTMF], DIGIT) * T) for k in (0, 1)),
            0.15,
            0.25,
        ),
        "beeps or tones with silence",
    ),
    "busy signal": (gated(sine(480.0) + sine(620.0), 0.5, 1.0), "beeps or tones with silence"),
    "vibrato": (sine(440 * (1 + 0.03 * np.sin(2 * np.pi * 5 * T))), "one pure tone, modulated"),
    "tremolo": (sine(440.0) * (0.6 + 0.4 * np.sin(10 * np.pi * T)), "one pure tone, modulated"),
    "slow random drift": (sine(440 * 2 ** (DRIFT / 1200)), "one pure tone, modulated"),
    "yelping siren": (sine(900 - 300 * np.cos(2 * np.pi * T / 0.3)), "one pure tone, modulated"),
    "two-tone siren": (sine(np.where(T % 1.0 < 0.5, 450.0, 600.0)), "one pure tone, modulated"),
    "square 220 Hz": (np.sign(np.sin(2 * np.pi * 220 * T)), "a steady tone"),
    "sawtooth 440 Hz": (2 * (440 * T % 1.0) - 1, "a steady tone"),
    "dial tone": (sine(350.0) + sine(440.0), "a steady tone"),
    "hum 50 Hz": (sum(np.sin(2 * np.pi * 50 * k * T) / k for k in range(1, 10)), "a steady tone"),
}


@pytest.mark.parametrize("name", TEST_SIGNALS)
def test_test_signals_are_not_music_and_say_what_they_are(name: str) -> None:
    y, reason = TEST_SIGNALS[name]
    for db in (-6.0, -30.0):
        found = check(windows(at_level(y, db)), SR)
        assert found is not None and found.startswith(f"not music: {reason}"), (db, found)


def test_a_metronome_is_clicks() -> None:
    y = np.zeros(9 * SR)
    blip = np.sin(2 * np.pi * 1000 * T[: SR // 25]) * np.exp(-T[: SR // 25] / 0.006)
    for start in range(0, y.size - blip.size, SR // 2):  # 120 bpm
        y[start : start + blip.size] = blip
    assert check(windows(at_level(y, -20.0)), SR) == "not music: clicks"


def note(f0: float, seconds: float, rng: np.random.Generator, vibrato: float = 0.0) -> np.ndarray:
    """A played note: harmonics falling off, an attack and decay, maybe some vibrato."""
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / SR
    tone = sum(np.sin(k * phase) * 0.6**k for k in range(1, 8))
    return tone * np.minimum(1, t / 0.03) * np.exp(-t / (2 * seconds))


def melody(rng: np.random.Generator, vibrato: float = 0.0) -> np.ndarray:
    steps = [0, 2, 4, 5, 7, 9, 7, 5, 4, 2, 0, 4, 7, 12, 7, 4, 0, 2]
    return np.concatenate([note(262 * 2 ** (s / 12), 0.5, rng, vibrato) for s in steps])[: 9 * SR]


def drums(rng: np.random.Generator) -> np.ndarray:
    """A kick on every beat, a snare on two and four, hi-hats on the eighths (120 bpm)."""
    y = np.zeros(9 * SR)
    t = np.arange(SR // 4) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.1)
    snare = rng.standard_normal(t.size) * np.exp(-t / 0.05)
    hat = np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 0.01) * 0.3
    for i, start in enumerate(range(0, y.size - t.size, SR // 4)):
        y[start : start + t.size] += hat + (kick if i % 4 == 0 else snare if i % 4 == 2 else 0)
    return y


def test_music_like_signals_are_not_flagged() -> None:
    rng = np.random.default_rng(RNG_SEED)
    band = melody(rng) + 0.5 * drums(rng)
    assert check(windows(at_level(band, -14.0)), SR) is None
    # A solo line with vibrato and breath, as a flute plays: music, though one voice.
    flute = melody(rng, vibrato=0.01) + 0.003 * rng.standard_normal(9 * SR)
    assert check(windows(at_level(flute, -20.0)), SR) is None
    # A bare sine lead playing a tune (minimal electronic music): pure, but it holds notes.
    steps = [0, 2, 4, 5, 7, 9, 7, 5, 4, 2, 0, 4, 7, 12, 7, 4, 0, 2]
    tune = np.concatenate([np.full(SR // 2, 262 * 2 ** (s / 12)) for s in steps])
    assert check(windows(at_level(sine(tune), -20.0)), SR) is None
    assert measure(windows(at_level(sine(tune), -20.0)), SR).notes == 7
    staccato = sine(tune) * (np.arange(tune.size) / SR % 0.5 < 0.3)  # silence between notes
    assert check(windows(at_level(staccato, -20.0)), SR) is None


@pytest.mark.parametrize("slope", [0.0, 1.0, 2.0], ids=["white", "pink", "brown"])
@pytest.mark.parametrize("seconds", [1.0, 9.0])
def test_noise_of_any_colour_is_noise_like(slope: float, seconds: float) -> None:
    assert check(windows(noise(seconds, slope)), SR) == "not music: noise-like"


@pytest.mark.parametrize("freqs", [(55.0,), (220.0,), (1000.0,), (261.6, 329.6, 392.0)])
def test_tones_and_chords_held_still_are_a_steady_tone(freqs: tuple[float, ...]) -> None:
    assert check(windows(tones(9.0, *freqs)), SR) == "not music: a steady tone"


@pytest.mark.parametrize("per_second", [1, 4, 8])
def test_clicks_are_clicks_at_any_rate_and_level(per_second: int) -> None:
    y = clicks(9.0, per_second)
    assert check(windows(y), SR) == "not music: clicks"
    assert check(windows(y * 1e-3), SR) == "not music: clicks"  # not "too quiet"


def test_quiet_audio_is_too_quiet_with_its_level() -> None:
    sound = measure(windows(noise(9.0, 1.0, db=-56.0)), SR)  # its loud level is a little higher
    assert -56.0 < sound.level_db < -50.0
    assert not_music(sound) == f"too quiet: {sound.level_db:.0f} dBFS"
    assert check(windows(noise(9.0, 1.0, db=-45.0)), SR) == "not music: noise-like"


def test_babble_is_speech_like() -> None:
    assert check(windows(babble(9.0)), SR) == "not music: speech-like"


def test_each_rule_reads_its_own_number() -> None:
    music = Sound(level_db=-12.0, density=0.6, modulation=5.0, tonal=0.0, pauses=0.0, settled=0.3)
    assert not_music(music) is None
    assert not_music(Sound(-55.0, 0.6, 5.0, 0.0, 0.0, 0.3)) == "too quiet: -55 dBFS"
    assert not_music(Sound(-12.0, 0.05, 5.0, 0.0, 0.0, 0.3)) == "not music: clicks"
    # Steady band levels: a tone, noise, or (neither) dense music that stays music.
    assert not_music(Sound(-12.0, 0.6, 0.5, 0.9, 0.0, 0.9)) == "not music: a steady tone"
    assert not_music(Sound(-12.0, 0.6, 0.5, 0.0, 0.0, 0.56)) == "not music: noise-like"
    assert not_music(Sound(-12.0, 0.6, 1.3, 0.0, 0.0, 0.5)) is None
    # Pauses everywhere and a spectrum that never settles; either alone is music.
    assert not_music(Sound(-12.0, 0.4, 9.0, 0.0, 2.0, 0.05)) == "not music: speech-like"
    assert not_music(Sound(-12.0, 0.4, 9.0, 0.0, 2.0, 0.3)) is None
    assert not_music(Sound(-12.0, 0.4, 9.0, 0.0, 0.0, 0.05)) is None
    # A sweep glides, in a few lines; beeps are lines between pauses; a pure tone is one line
    # over no floor. Each sign alone is music.
    line: dict[str, Any] = {"lines": 0.9, "one_line": 0.5, "floor_db": -50.0}
    assert not_music(replace(music, **line)) is None
    assert not_music(replace(music, **line, glide=0.5)) == "not music: a pitch sweep"
    assert not_music(replace(music, **(line | {"lines": 0.5}), glide=0.5)) is None
    beeps = "not music: beeps or tones with silence between"
    tones = line | {"lines": 0.995, "floor_db": -70.0}
    assert not_music(replace(music, **tones, pauses=1.0)) == beeps
    assert not_music(replace(music, **tones)) is None
    assert not_music(replace(music, **(tones | {"floor_db": -50.0}), pauses=1.0)) is None
    assert not_music(replace(music, **line, pauses=1.0)) is None
    tune = tones | {"one_line": 0.8, "notes": 3}  # one line stepping between 3 notes
    assert not_music(replace(music, **tune, pauses=1.0)) is None
    pure = line | {"one_line": 0.95, "floor_db": -90.0}
    assert not_music(replace(music, **pure)) == "not music: one pure tone, modulated"
    assert not_music(replace(music, **(pure | {"floor_db": -60.0}))) is None
    assert not_music(replace(music, **(pure | {"one_line": 0.7}))) is None
    assert not_music(replace(music, **pure, notes=3)) is None  # a melody, though pure


def test_a_cnn_s_16_windows_are_checked_as_3_spread_from_first_to_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import genrekit.music_check as music_check

    seen: list[list[np.ndarray]] = []
    real = music_check.measure

    def measure(windows: list[np.ndarray], sr: int) -> music_check.Sound:
        seen.append(list(windows))
        return real(windows, sr)

    monkeypatch.setattr(music_check, "measure", measure)
    many = [noise(1.0, 1.0, seed=i) for i in range(16)]
    assert check(many, SR) == "not music: noise-like"
    assert [next(i for i, m in enumerate(many) if m is w) for w in seen[0]] == [0, 8, 15]


def test_half_a_second_is_measured_and_never_called_steady() -> None:
    sound = measure([tones(0.5, 440.0)], SR)
    assert math.isinf(sound.modulation) and not_music(sound) is None


EXAMPLE_SONGS = sorted(p for p in EXAMPLES.glob("*/*.*") if p.suffix in AUDIO_EXTENSIONS)


@pytest.mark.parametrize("path", EXAMPLE_SONGS, ids=lambda p: p.parent.name)
def test_the_bundled_examples_are_music(model: Model, path: Path) -> None:
    found = classify(path, model=model)
    assert found.genre is not None and found.reason is None
    y, sr = load(path, sr=SR, duration=10.0)
    assert check(windows(y), sr) is None


def test_not_music_gets_no_genre_but_its_probabilities(model: Model) -> None:
    for y, reason in (
        (noise(10.0, 0.0), "not music: noise-like"),
        (tones(10.0, 220.0), "not music: a steady tone"),
        (clicks(10.0, 4), "not music: clicks"),
    ):
        found = classify(y, sr=SR, model=model)
        assert found.genre is None and found.reason == reason
        assert sum(found.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        # Turned off, the model names a genre as it did before (white noise: "metal 63 %").
        assert classify(y, sr=SR, model=model, check_music=False).genre is not None
    silent = classify(np.zeros(3 * SR, np.float32), sr=SR, model=model)
    assert silent.genre is None and silent.reason == "silent: never louder than -60 dBFS"
    assert silent.probabilities == {}


def test_min_confidence_abstains_under_the_top_probability(
    model: Model, example_clip: Path
) -> None:
    plain = classify(example_clip, model=model)
    top = plain.probabilities["metal"]
    assert plain.genre == "metal" and 0.5 < top < 0.99
    assert classify(example_clip, model=model, min_confidence=0.0).genre == "metal"
    assert classify(example_clip, model=model, min_confidence=top - 0.01).genre == "metal"
    unsure = classify(example_clip, model=model, min_confidence=0.99)
    assert unsure.genre is None and unsure.probabilities == plain.probabilities
    assert unsure.reason == f"unsure: top genre metal {math.floor(100 * top)} % < 99 %"
    # After --genres: the top probability is renormalized over the subset, then compared.
    pair = classify(example_clip, model=model, genres=["metal", "jazz"], min_confidence=0.99)
    assert pair.genre == "metal" and pair.probabilities["metal"] >= 0.99


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_min_confidence_outside_0_to_1_is_refused(model: Model, bad: float) -> None:
    with pytest.raises(ParameterError, match=r"min_confidence=.* from 0 to 1"):
        classify(np.zeros(SR, np.float32), sr=SR, model=model, min_confidence=bad)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, example_clip: Path) -> Path:
    """A folder with an example song, noise, and a song that turns into noise."""
    folder = tmp_path_factory.mktemp("mixed")
    song, _ = load(example_clip, sr=SR, duration=12.0)
    sf.write(folder / "song.wav", song, SR)
    sf.write(folder / "noise [hiss].wav", noise(10.0, 1.0), SR)
    sf.write(folder / "then noise.wav", np.concatenate([song, noise(12.0, 0.0, db=-12.0)]), SR)
    return folder


def test_json_says_null_and_why_in_the_track_and_its_segments(cli: Cli, mixed: Path) -> None:
    run = cli("classify", mixed, "--format", "json", "--segments")
    assert run.code == 0, run.err  # an answer with no genre is an answer, not a failure
    rows = {r["file"]: r for r in map(json.loads, run.out.splitlines())}
    assert rows["noise [hiss].wav"]["genre"] is None
    assert rows["noise [hiss].wav"]["reason"] == "not music: noise-like"
    assert len(rows["noise [hiss].wav"]["probabilities"]) == len(load_model().classes)
    assert rows["noise [hiss].wav"]["status"] == "unknown"
    assert rows["song.wav"]["genre"] == "metal" and rows["song.wav"]["reason"] is None
    segments = rows["then noise.wav"]["segments"]
    assert segments[0]["genre"] == "metal" and segments[0]["reason"] is None
    assert segments[-1] == {**segments[-1], "genre": None, "reason": "not music: noise-like"}
    assert "3 tracks in" in run.err and "1 with no genre" in run.err


def test_csv_and_table_mark_unknown_with_the_reason(cli: Cli, mixed: Path) -> None:
    run = cli("classify", mixed, "--format", "csv")
    assert run.code == 0, run.err
    rows = list(csv.reader(io.StringIO(run.out)))
    assert rows[0][:4] == ["file", "status", "genre", "reason"]
    by_file = {r[0]: r for r in rows[1:]}
    assert by_file["noise [hiss].wav"][1:4] == ["unknown", "", "not music: noise-like"]
    assert by_file["song.wav"][1:4] == ["classified", "metal", ""]
    assert all(len(r) == len(rows[0]) for r in rows)
    run = cli("classify", mixed / "noise [hiss].wav", mixed / "then noise.wav", "--segments")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    name = str(mixed / "noise [hiss].wav")
    noise_row = next(line for line in lines if line.startswith(name))
    # The marker in the genre column, then the reason and the top genres in brackets.
    assert noise_row[len(name) :].split()[:4] == ["unknown", "not", "music:", "noise-like"]
    assert noise_row.split("noise-like ")[1].startswith("(")
    timeline = lines[lines.index(noise_row) + 1]
    assert timeline.strip().endswith("0:00 not music")
    assert any("0:00 metal" in line and "not music" in line for line in lines)


def test_silence_is_an_answer_and_the_check_can_be_turned_off(
    cli: Cli, mixed: Path, tmp_path: Path
) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32), SR)
    run = cli("classify", tmp_path / "silence.wav", "--format", "csv")
    assert run.code == 0, run.err
    row = run.out.splitlines()[1].split(",")
    assert row[1:4] == ["unknown", "", "silent: never louder than -60 dBFS"]
    assert set(row[6:]) == {""}  # no probabilities for silence
    run = cli("classify", tmp_path / "silence.wav", "--segments")
    assert run.code == 0 and run.out.splitlines()[2] == "  timeline: none"  # under its track
    # Off: noise gets a genre, and silence is the error it always was (exit 2: nothing done).
    run = cli("classify", mixed / "noise [hiss].wav", "--no-music-check", "--format", "json")
    assert run.code == 0 and json.loads(run.out)["genre"] is not None
    run = cli("classify", tmp_path / "silence.wav", "--no-music-check")
    assert run.code == 2 and "silence.wav: silent" in run.err


def test_min_confidence_on_the_command_line(cli: Cli, mixed: Path) -> None:
    song = mixed / "song.wav"
    run = cli("classify", song, "--format", "json")
    top = json.loads(run.out)["probabilities"]["metal"]
    run = cli("classify", song, "--format", "json", "--min-confidence", "0.999")
    assert run.code == 0, run.err
    answer = json.loads(run.out)
    assert answer["genre"] is None
    assert answer["reason"] == f"unsure: top genre metal {100 * top:.0f} % < 99.9 %"
    run = cli("classify", song, "--format", "json", "--min-confidence", "0.3")
    assert run.code == 0 and json.loads(run.out)["genre"] == "metal"


@pytest.mark.parametrize(
    ("value", "said"),
    [("1.5", "1.5: give a probability from 0 to 1"), ("50", "(0.5 for 50 %)"), ("-1", "-1.0")],
)
def test_bad_min_confidence_is_a_usage_error(cli: Cli, mixed: Path, value: str, said: str) -> None:
    run = cli("classify", mixed, "--min-confidence", value)
    assert run.code == 2 and not run.out
    assert "--min-confidence" in run.err and said in run.err
    assert "Traceback" not in run.err


def test_a_word_for_min_confidence_is_a_usage_error(cli: Cli, mixed: Path) -> None:
    run = cli("classify", mixed, "--min-confidence", "high")
    assert run.code == 2 and "--min-confidence" in run.err and "valid number" in run.err
