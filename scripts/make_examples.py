"""Rebuild examples/ from freely licensed Debian music packages.

    apt-get download fretsonfire-songs-muldjord fretsonfire-songs-sectoid nexuiz-music \
        wesnoth-1.16-music
    for f in *.deb; do dpkg-deb -x "$f" pkgs; done
    (cd pkgs/usr/share/games/nexuiz/data && unzip -o music.pk3)
    python scripts/make_examples.py pkgs examples

Each excerpt is 30 s of the original, faded in and out over 0.5 s, written in the format that
streaming previews use (mp3, AAC in m4a) or the original's (ogg/vorbis). Credits and licences
are in examples/CREDITS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import soundfile as sf

# (genre folder, output name, path inside the extracted packages, start second)
EXCERPTS = [
    (
        "metal",
        "Muldjord - Armygeddon.mp3",
        "usr/share/games/fretsonfire/data/songs/muldjord/armygeddon/song.ogg",
        45.0,
    ),
    (
        "rock",
        "Sectoid - Escape from chaosland.ogg",
        "usr/share/games/fretsonfire/data/songs/sectoid/Escape from chaosland/song.ogg",
        40.0,
    ),
    (
        "classical",
        "Jeremy Nicoll - Nunc Dimittis.mp3",
        "usr/share/games/wesnoth/1.16/data/core/music/nunc_dimittis.ogg",
        20.0,
    ),
    (
        "classical",  # "Romantic Classical" by its own GENRE tag, like all Wesnoth music
        "Mattias Westlund - Traveling Minstrels.ogg",
        "usr/share/games/wesnoth/1.16/data/core/music/traveling_minstrels.ogg",
        10.0,
    ),
    (
        "electronic",
        "Parapraxis - Digital Pursuit.m4a",
        "usr/share/games/nexuiz/data/sound/cdtracks/digital-pursuit.ogg",
        60.0,
    ),
]
SECONDS = 30.0
FADE = 0.5


def excerpt(source: Path, start: float) -> tuple[np.ndarray, int]:
    with sf.SoundFile(source) as handle:
        sr = handle.samplerate
        handle.seek(int(start * sr))
        y = handle.read(int(SECONDS * sr), dtype="float32", always_2d=True)
    ramp = np.linspace(0.0, 1.0, int(FADE * sr), dtype=np.float32)[:, None]
    y[: ramp.shape[0]] *= ramp
    y[-ramp.shape[0] :] *= ramp[::-1]
    return y, sr


def write_m4a(path: Path, y: np.ndarray, sr: int) -> None:
    with av.open(str(path), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=sr, layout="stereo")
        stream.bit_rate = 128_000
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(y.T), format="fltp", layout="stereo"
        )
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main(pkgs: Path, out_dir: Path) -> None:
    for genre, name, inside, start in EXCERPTS:
        y, sr = excerpt(pkgs / inside, start)
        target = out_dir / genre / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".mp3":
            sf.write(target, y, sr, format="MP3", bitrate_mode="CONSTANT", compression_level=0.5)
        elif target.suffix == ".ogg":
            sf.write(target, y, sr, format="OGG", subtype="VORBIS", compression_level=0.6)
        else:
            write_m4a(target, y, sr)
        print(f"{target}: {target.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
