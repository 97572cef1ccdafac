"""The numbers that define genrekit's signal chain, defined once.

They follow librosa's defaults, which are also what the "30 seconds disco" seed used, so features
made with genrekit line up with features made with ``librosa.feature.*`` and the same arguments.
"""

from __future__ import annotations

SAMPLE_RATE = 22050
"""Analysis sample rate in Hz; every clip is resampled to it."""

N_FFT = 2048
"""FFT size in samples (~93 ms at 22,050 Hz)."""

HOP_LENGTH = 512
"""Hop between frames in samples (~23 ms at 22,050 Hz)."""

N_MELS = 128
"""Number of mel bands."""

N_MFCC = 20
"""Number of MFCC coefficients kept."""

TOP_DB = 80.0
"""Dynamic range kept below the loudest bin by ``power_to_db``."""

AMIN = 1e-10
"""Floor of the power spectrogram before taking logs."""

CLIP_SECONDS = 30.0
"""How much of each track ``genrekit extract`` analyses: a streaming preview's length."""

MIN_SECONDS = 0.5
"""Shortest audio ``genrekit.audio.load`` accepts.

Half a second is ~21 frames at the defaults: enough for a spectrogram that means something, while
still accepting the ~2 s fragments common in public data sets. Shorter input is an
``AudioTooShortError``.
"""

SILENCE_DB = -60.0
"""A clip whose RMS level never exceeds this (dB re full scale) is reported as silent."""

AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".mp3",
        ".m4a",
        ".mp4",
        ".aac",
        ".opus",
        ".aif",
        ".aiff",
        ".au",
        ".wma",
        ".webm",
        ".mka",
    }
)
"""File name endings ``genrekit extract`` treats as audio."""
