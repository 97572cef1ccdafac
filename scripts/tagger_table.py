"""What the taggers hear in each clip of labelled folders, as `genrekit classify` listens.

    python scripts/tagger_table.py ../shared/data/gtzan-dev -o gtzan.npz
    python scripts/tagger_table.py /path/to/music-sets/dev -o dev.npz

Each folder holds ``<genre>/<files>``. For every clip, the windows ``genrekit classify`` reads
(``predict.BACKBONE_PATCHES`` patches spread over its sound) go through both shipped taggers
(``msd-musicnn``, ``mtt-musicnn``); the table keeps, per clip, each tagger's clip embedding (the
mean over the patches of its two poolings, 1,506 numbers) and tag means (50), with the clip's
genre, path and artist (the part of the file name before " - ", if any). Training and
measuring the vocabulary model read this table, so they see what classification sees.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genrekit.backbones import BACKBONE_SAMPLE_RATE, load_backbone
from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import GenrekitError
from genrekit.listen import Track, listen
from genrekit.predict import BACKBONE_PATCHES, PATCH_SECONDS, _backbone_run

TAGGERS = ("msd-musicnn", "mtt-musicnn")


def clips(root: Path) -> list[tuple[Path, str]]:
    return [
        (path, genre.name)
        for genre in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in sorted(genre.rglob("*"))
        if path.suffix.lower() in AUDIO_EXTENSIONS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()

    backbones = [load_backbone(name, threads=1) for name in TAGGERS]
    rows: dict[str, list[object]] = {k: [] for k in ("path", "genre", "artist")}
    arrays: dict[str, list[np.ndarray]] = {f"{t}:{k}": [] for t in TAGGERS for k in ("emb", "tags")}
    found = [c for folder in args.folders for c in clips(folder)]
    for n, (path, genre) in enumerate(found, 1):
        try:
            heard = listen(
                Track(path, sr=BACKBONE_SAMPLE_RATE, source_sr=None),
                BACKBONE_PATCHES,
                PATCH_SECONDS,
            )
            outputs = [_backbone_run(b, heard) for b in backbones]
        except GenrekitError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        rows["path"].append(str(path))
        rows["genre"].append(genre)
        rows["artist"].append(path.stem.split(" - ")[0] if " - " in path.stem else "")
        for name, out in zip(TAGGERS, outputs, strict=True):
            arrays[f"{name}:emb"].append(out.embedding())
            arrays[f"{name}:tags"].append(out.tags())
        if n % 25 == 0:
            print(f"{n}/{len(found)}", file=sys.stderr)
    table: dict[str, Any] = {k: np.array(v) for k, v in rows.items()}
    table |= {k: np.stack(v) for k, v in arrays.items()}
    np.savez_compressed(args.out, **table)
    print(f"wrote {args.out}: {len(rows['path'])} clips")


if __name__ == "__main__":
    main()
