"""Benchmark: does ``genrekit classify`` refuse what is not music, and only that?

    python bench/not_music.py ../shared/data/gtzan-dev                # GTZAN-dev and examples/
    python bench/not_music.py GTZAN --music DIR [--music DIR ...]     # and other music, deeply
    python bench/not_music.py GTZAN --model gtzan-cnn                 # another model
    python bench/not_music.py GTZAN --segments      # + timelines' segments of GTZAN and examples

- detection: the share of generated out-of-domain signals that get no genre, per kind (white,
  pink and brown noise; pure tones; steady tone mixtures; clicks and impulse trains; speech
  synthesized by espeak-ng in several voices and languages, when it is installed; audio too
  quiet to judge; silence), at several levels and lengths, each with the reasons given;
- false flags: the music files (GTZAN-dev, examples/, any ``--music`` folder) that get no genre,
  each named with its reason;
- cost: the time of the check per track (``music_check.check`` on the windows the model heard,
  best of 5) beside the time of the whole ``classify`` call, single-threaded.

Everything runs through ``genrekit.predict.classify`` (default model, or ``--model``), as a user
gets it.
Generated audio is made in memory (speech in a temporary folder) and never kept.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from genrekit.classify_batch import find_audio
from genrekit.errors import GenrekitError
from genrekit.listen import Track, listen
from genrekit.music_check import check
from genrekit.predict import (
    BACKBONE_PATCHES,
    MAX_WINDOWS,
    PATCH_SECONDS,
    Model,
    classify,
    load_model,
)

SR = 22050
LEVELS_DB = (-6, -20, -35)  # RMS, dBFS: loud, ordinary, quiet but above "too quiet"
LENGTHS_S = (1.0, 3.0, 10.0, 30.0)
SENTENCES = {
    "en": [
        "The quick brown fox jumps over the lazy dog, while the radio says rain is coming.",
        "Please bring your passport and two forms of identification on Monday morning.",
        "In nineteen ninety eight the committee published its report on public transport.",
    ],
    "de": ["Der Zug nach Berlin fährt heute wegen Bauarbeiten eine Stunde später ab."],
    "fr": ["Le musée ouvre ses portes à dix heures, sauf le mardi et les jours fériés."],
    "es": ["Mañana vamos a visitar a mis abuelos, que viven cerca de la costa."],
    "it": ["La biblioteca comunale resterà chiusa per lavori fino alla fine del mese."],
    "nl": ["De vergadering is verplaatst naar donderdagmiddag om drie uur."],
    "pt": ["O relatório anual será apresentado aos acionistas na próxima semana."],
}
VOICES = {  # espeak-ng voice per language; English in several variants
    "en": ["en", "en-us+f3", "en+m3", "en-gb+f2"],
    "de": ["de", "de+f2"],
    "fr": ["fr", "fr+m2"],
    "es": ["es"],
    "it": ["it+f3"],
    "nl": ["nl"],
    "pt": ["pt"],
}


def at_level(y: object, db: float) -> np.ndarray:
    x = np.asarray(y, dtype=np.float64)
    rms = float(np.sqrt(np.mean(x**2)))
    out: np.ndarray = (x / max(rms, 1e-12) * 10 ** (db / 20)).astype(np.float32)
    return out


def coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f**slope: 0 white, 1 pink, 2 brown."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    return np.fft.irfft(spectrum / f ** (slope / 2), n)


def peak_limited(y: np.ndarray, db: float) -> np.ndarray:
    """At RMS ``db``, turned down if that would clip (beeps with silence between)."""
    out = at_level(y, db)
    top = float(np.abs(out).max())
    return out if top <= 0.99 else (out * 0.99 / top).astype(np.float32)


def pcm16(y: np.ndarray) -> np.ndarray:
    """As a 16-bit WAV file holds it: test tones are made as files, and rounding to 16 bits
    raises the floor under a quiet tone (-35 dBFS: to about -90 dB under its peak)."""
    out: np.ndarray = (np.round(y * 32767) / 32767).astype(np.float32)
    return out


def sine(freq: np.ndarray | float, n: int) -> np.ndarray:
    """A sine whose frequency (Hz, per sample or fixed) may change: the phase is its integral."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    return np.sin(2 * np.pi * np.cumsum(f) / SR)


def gated(y: object, on: float, period: float) -> np.ndarray:
    """``y`` sounding ``on`` seconds of every ``period``, with 5 ms ramps against clicks."""
    tone = np.asarray(y, dtype=np.float64)
    t = np.arange(tone.size) / SR
    gate = (t % period < on).astype(np.float64)
    ramp = np.hanning(2 * int(0.005 * SR))
    return tone * np.convolve(gate, ramp / ramp.sum(), mode="same")


def sweeps(n: int) -> dict[str, np.ndarray]:
    """Pitch sweeps: linear and logarithmic, up and down, and trains of short chirps."""
    t = np.arange(n) / SR
    up = t / t[-1]
    chirp = (t % 0.25) / 0.25  # 0 to 1 in every 0.25 s
    return {
        "linear sweep 20 Hz-7 kHz": sine(20 + 6980 * up, n),
        "log sweep 20 Hz-7 kHz": sine(20 * 350**up, n),
        "log sweep down 5 kHz-100 Hz": sine(5000 * 0.02**up, n),
        "chirps 500-2500 Hz, 0.25 s on, 0.25 s off": gated(sine(500 + 4000 * chirp, n), 0.25, 0.5),
        "chirps 300 Hz-3 kHz back to back, 4/s": sine(300 * 10**chirp, n),
    }


def beeps(n: int) -> dict[str, np.ndarray]:
    """Tones with silence between: beeps, DTMF digits, a busy signal, a hi-lo siren's gaps."""
    t = np.arange(n) / SR
    digits = [(697, 1209), (770, 1336), (852, 1477), (941, 1336), (770, 1477), (697, 1336)]
    step = (t // 0.25).astype(int) % len(digits)  # a digit every 0.25 s: 0.15 s on
    dtmf = sum(np.sin(2 * np.pi * np.take([d[k] for d in digits], step) * t) for k in (0, 1))
    slow = (t // 0.6).astype(int) % len(digits)  # and slowly: 0.3 s on, 0.3 s off
    dtmf_slow = sum(np.sin(2 * np.pi * np.take([d[k] for d in digits], slow) * t) for k in (0, 1))
    return {
        "1 kHz, 0.1 s once a second": gated(sine(1000.0, n), 0.1, 1.0),
        "1 kHz, 0.3 s once a second, hard edges": sine(1000.0, n) * (t % 1.0 < 0.3),
        "440 Hz, 0.2 s twice a second": gated(sine(440.0, n), 0.2, 0.5),
        "2 kHz, 50 ms 4 times a second": gated(sine(2000.0, n), 0.05, 0.25),
        "DTMF digits, 0.15 s on, 0.1 s off": gated(dtmf, 0.15, 0.25),
        "DTMF digits, 0.3 s on, 0.3 s off": gated(dtmf_slow, 0.3, 0.6),
        "busy signal 480+620 Hz, 0.5 s on/off": gated(sine(480.0, n) + sine(620.0, n), 0.5, 1.0),
    }


def modulated(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One tone whose pitch or level moves: vibrato, tremolo, slow random drift, sirens."""
    t = np.arange(n) / SR
    drift = np.cumsum(rng.standard_normal(n // 2205 + 2))  # a random walk, a step per 0.1 s
    drift = np.interp(t, np.arange(drift.size) * 0.1, 30 * (drift - drift.mean()))  # cents
    hilo = np.where(t % 1.0 < 0.5, 450.0, 600.0)
    return {
        "440 Hz, vibrato 6 Hz +-2 %": sine(440 * (1 + 0.02 * np.sin(2 * np.pi * 6 * t)), n),
        "220 Hz, vibrato 5 Hz +-1 %": sine(220 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)), n),
        "440 Hz, vibrato 5 Hz +-3 %": sine(440 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t)), n),
        "330 Hz, vibrato 4 Hz +-6 %": sine(330 * (1 + 0.06 * np.sin(2 * np.pi * 4 * t)), n),
        "440 Hz, tremolo 5 Hz, depth 0.8": sine(440.0, n) * (0.6 + 0.4 * np.sin(10 * np.pi * t)),
        "1 kHz, tremolo 8 Hz, full": sine(1000.0, n) * np.sin(8 * np.pi * t) ** 2,
        "440 Hz, slow random pitch drift": sine(440 * 2 ** (drift / 1200), n),
        "300 Hz, slow random pitch drift x3": sine(300 * 2 ** (3 * drift / 1200), n),
        "two-tone siren 450/600 Hz": sine(hilo, n),
        "wailing siren 600-1200 Hz, 4 s": sine(900 - 300 * np.cos(np.pi * t / 2), n),
        "yelping siren 600-1200 Hz, 0.3 s": sine(900 - 300 * np.cos(2 * np.pi * t / 0.3), n),
    }


def held(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Held test tones: square and sawtooth at one pitch, dial tones, mains hum."""
    t = np.arange(n) / SR
    hum50 = sum(np.sin(2 * np.pi * 50 * k * t) / k**1.5 for k in range(1, 12))
    hum60 = sum(np.sin(2 * np.pi * 60 * k * t) * (0.5 if k % 2 else 1.0) for k in range(1, 8))
    return {
        "square 220 Hz": np.sign(np.sin(2 * np.pi * 220 * t)),
        "sawtooth 440 Hz": 2 * (440 * t % 1.0) - 1,
        "dial tone 350+440 Hz": sine(350.0, n) + sine(440.0, n),
        "dial tone 425 Hz": sine(425.0, n),
        "hum 50 Hz and harmonics": hum50,
        "hum 60 Hz, even harmonics louder, hiss": hum60 + 0.02 * rng.standard_normal(n),
    }


def metronome(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Click tracks: short pitched blips (accented every 4th), and woodblock-like noise bursts."""
    out = {}
    for bpm, kind in ((120, "blips"), (90, "woodblock"), (180, "blips")):
        y = np.zeros(n)
        for i, start in enumerate(range(0, n, int(60 / bpm * SR))):
            m = min(int(0.04 * SR), n - start)
            decay = np.exp(-np.arange(m) / (0.006 * SR))
            if kind == "blips":
                hit = np.sin(2 * np.pi * (1500 if i % 4 == 0 else 1000) * np.arange(m) / SR)
            else:
                hit = np.diff(rng.standard_normal(m + 1))  # bright noise
            y[start : start + m] = hit * decay
        out[f"{kind} {bpm} bpm"] = y
    return out


def generated(rng: np.random.Generator) -> Iterator[tuple[str, str, np.ndarray]]:
    """(kind, description, samples at SR) of every generated out-of-domain signal."""
    for seconds in LENGTHS_S:
        n = int(seconds * SR)
        t = np.arange(n) / SR
        for db in LEVELS_DB:
            where = f"{seconds:g} s, {db} dBFS"
            for name, slope in (("white", 0), ("pink", 1), ("brown", 2)):
                yield f"{name} noise", where, at_level(coloured_noise(n, slope, rng), db)
            for f0 in (55.0, 220.0, 440.0, 1000.0, 5000.0):
                yield "pure tone", f"{f0:g} Hz, {where}", at_level(np.sin(2 * np.pi * f0 * t), db)
            mixtures = {
                "C major chord": sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
                "sawtooth 110 Hz": sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 60)),
                "square 440 Hz": np.sign(np.sin(2 * np.pi * 440 * t)),
                "mains hum and hiss": np.sin(2 * np.pi * 50 * t)
                + 0.3 * np.sin(2 * np.pi * 150 * t)
                + 0.05 * rng.standard_normal(n),
            }
            for name, y in mixtures.items():
                yield "steady tone mixture", f"{name}, {where}", at_level(y, db)
            peak = 10 ** ((db + 12) / 20)  # a click's peak, above the music's RMS
            for rate in (1, 2, 4, 8):
                y = np.zeros(n)
                y[(np.arange(0, seconds, 1 / rate) * SR).astype(int)] = peak
                yield "clicks", f"{rate}/s, {where}", y.astype(np.float32)
            y = np.zeros(n)
            hits = rng.integers(0, n, max(1, int(3 * seconds)))
            y[hits] = rng.uniform(-peak, peak, hits.size)
            yield "clicks", f"random 3/s, {where}", y.astype(np.float32)
            for f0 in (40, 100):  # a buzz: an impulse train fast enough to be a pitch
                y = np.zeros(n)
                y[:: SR // f0] = 1.0
                yield "impulse train", f"{f0} Hz, {where}", at_level(y, db)
            test_signals = {
                "pitch sweep": sweeps(n),
                "beeps with silence between": beeps(n),
                "modulated tone": modulated(n, rng),
                "held test tone": held(n, rng),
                "metronome": metronome(n, rng),
            }
            for kind, signals in test_signals.items():
                for name, y in signals.items():
                    yield kind, f"{name}, {where}", pcm16(peak_limited(y, db))
        for quiet_db in (-52.0, -58.0):
            yield (
                "too quiet",
                f"pink noise, {seconds:g} s, {quiet_db:g} dBFS",
                at_level(coloured_noise(n, 1, rng), quiet_db),
            )
        yield "silence", f"zeros, {seconds:g} s", np.zeros(n, np.float32)


def speech(folder: Path) -> Iterator[tuple[str, str, np.ndarray, int]]:
    """Sentences and a ~25 s passage per voice, from espeak-ng (nothing when not installed)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("espeak-ng is not installed: no speech (apt-get install espeak-ng)")
        return
    for language, voices in VOICES.items():
        for v, voice in enumerate(voices):
            texts = SENTENCES[language]
            passage = " ".join(SENTENCES[language] * (6 // len(texts)))
            for i, text in enumerate([*texts, passage]):
                wav = folder / f"{voice}-{i}.wav"
                speed = str(140 + 25 * ((v + i) % 3))
                subprocess.run([espeak, "-v", voice, "-s", speed, "-w", str(wav), text], check=True)
                y, sr = sf.read(wav, dtype="float32")
                kind = "speech, passage" if i == len(texts) else "speech, sentence"
                yield kind, f"{voice} {y.size / sr:.0f} s", y, sr


def judge(audio: object, sr: int | None, model: object) -> tuple[str | None, float, str]:
    """The reason for no genre (None: a genre), the seconds the classify call took, and the
    answer as a user reads it (the genre and its probability, or the reason)."""
    start = time.perf_counter()
    try:
        found = classify(audio, sr=sr, model=model)  # type: ignore[arg-type]
    except GenrekitError as exc:
        return f"error: {exc}", time.perf_counter() - start, "error"
    seconds = time.perf_counter() - start
    answer = found.reason or f"{found.genre} {100 * found.probabilities[str(found.genre)]:.0f} %"
    return found.reason, seconds, answer


def check_seconds(path: Path, model: Model) -> float:
    """The music check alone on the windows ``model`` hears of ``path``."""
    if model.backbone is not None:
        sr, count, width = 16000, BACKBONE_PATCHES, PATCH_SECONDS
    else:
        sr, count, width = model.params.sr, MAX_WINDOWS, model.window_seconds or 30.0
    heard = [w.y for w in listen(Track(path, sr=sr, source_sr=None), count, width)]
    best = float("inf")
    for _ in range(5):  # best of 5: the check alone, not what else the machine is doing
        start = time.perf_counter()
        check(heard, sr)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gtzan", type=Path, help="GTZAN-dev folder (<genre>/<clip>)")
    parser.add_argument("--examples", type=Path, default=Path(__file__).parent.parent / "examples")
    parser.add_argument("--music", type=Path, action="append", default=[], help="more music")
    parser.add_argument("--model", default=None, help="a shipped model's name (default: default)")
    parser.add_argument(
        "--segments", action="store_true", help="also the timelines of GTZAN-dev and examples/"
    )
    args = parser.parse_args()
    model = load_model(args.model, threads=1)
    print(f"model: {model.name}")
    rng = np.random.default_rng(0)

    flagged: dict[str, Counter[str]] = defaultdict(Counter)
    counts: Counter[str] = Counter()
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="genrekit-speech-") as tmp:
        signals = [(k, d, y, SR) for k, d, y in generated(rng)] + list(speech(Path(tmp)))
        for kind, description, y, sr in signals:
            reason, _, answer = judge(y, sr, model)
            counts[kind] += 1
            if reason is None:
                missed.append(f"{kind}: {description}: {answer}")
            else:
                flagged[kind]["too quiet" if reason.startswith("too quiet") else reason] += 1

    print("\n## Out-of-domain signals (generated): no genre given\n")
    print("| kind | signals | no genre | rate | reasons |")
    print("| --- | ---: | ---: | ---: | --- |")
    for kind, n in counts.items():
        hit = sum(flagged[kind].values())
        reasons = ", ".join(f"{r} ({c})" for r, c in flagged[kind].most_common())
        print(f"| {kind} | {n} | {hit} | {100 * hit / n:.0f} % | {reasons} |")
    for line in missed:
        print(f"  given a genre: {line}")

    print("\n## Music: false flags (no genre given)\n")
    print("| set | tracks | no genre | rate | unreadable | classify per track | check per track |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    sets = [("gtzan-dev", args.gtzan), ("examples", args.examples)]
    sets += [(str(folder), folder) for folder in args.music]
    wrong = []
    for name, folder in sets:
        files = find_audio([folder])
        flags = errors = 0
        spent = checked = 0.0
        for path in files:
            reason, seconds, _ = judge(path, None, model)
            spent += seconds
            if reason is not None and reason.startswith("error: "):
                errors += 1
            elif reason is not None:
                flags += 1
                wrong.append(f"{path}: {reason}")
            elif name in ("gtzan-dev", "examples"):
                checked += check_seconds(path, model)
        n = max(1, len(files) - errors)
        cost = f"{1000 * checked / (n - flags):.1f} ms" if checked else "-"
        print(
            f"| {name} | {n} | {flags} | {100 * flags / n:.1f} % | {errors} "
            f"| {1000 * spent / max(1, len(files)):.0f} ms | {cost} |"
        )
    for line in wrong:
        print(f"  no genre: {line}")
    if args.segments:
        segment_flags(sets[:2], model)


def segment_flags(sets: list[tuple[str, Path]], model: Model) -> None:
    """Segments of a timeline (one ~3 s window each) of music that get a reason, per set."""
    print("\n## Music: segments of a timeline with no genre\n")
    print("| set | segments | no genre | rate | reasons |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, folder in sets:
        reasons: Counter[str] = Counter()
        total = 0
        for path in find_audio([folder]):
            for segment in classify(path, model=model, segments=True).segments:
                total += 1
                if segment.reason or segment.silent:
                    reasons[(segment.reason or "silence").split(":")[0]] += 1
        n = sum(reasons.values())
        said = ", ".join(f"{r} ({c})" for r, c in reasons.most_common())
        print(f"| {name} | {total} | {n} | {100 * n / max(1, total):.1f} % | {said} |")


if __name__ == "__main__":
    main()
