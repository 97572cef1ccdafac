"""Spectrogram pictures: one-pixel-per-bin PNGs for data sets, and labelled figures for people.

``save_png`` writes an 8-bit palette PNG with Pillow whose colours are exactly matplotlib's
colormap of the same name (the same normalisation and lookup table ``plt.imsave`` uses) at a
fraction of the cost. ``save_figure`` draws the seed's human-readable figure with axes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit import extras, plotting
from genrekit.constants import HOP_LENGTH, SAMPLE_RATE
from genrekit.errors import ParameterError
from genrekit.features import (
    FeatureParams,
    hz_to_mel,
    log_mel_and_mfcc,
    mel_frequencies,
    power_to_db,
)
from genrekit.storage import atomic_path


@functools.lru_cache(maxsize=8)
def palette(cmap: str) -> bytes:
    """A 256-entry RGB palette of a matplotlib colormap, as ``cmap(i, bytes=True)``."""
    from matplotlib import colormaps

    try:
        colormap = colormaps[cmap].resampled(256)
    except KeyError:
        raise ParameterError(f"cmap={cmap!r} is not a matplotlib colormap name") from None
    rgba = colormap(np.arange(256), bytes=True)
    return bytes(rgba[:, :3].astype(np.uint8).tobytes())


def to_indices(
    S: npt.ArrayLike, *, vmin: float | None = None, vmax: float | None = None
) -> npt.NDArray[np.uint8]:
    """Map values to 0..255 the way matplotlib's ``Normalize`` + ``Colormap`` do.

    Returns an image with low frequencies at the bottom (row 0 is the highest band).
    """
    values = np.asarray(S)
    if values.ndim != 2 or values.size == 0:
        raise ParameterError(f"expected a non-empty 2-D array (bins, frames); got {values.shape}")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ParameterError("the array holds no finite value to draw")
    lo = finite.min() if vmin is None else values.dtype.type(vmin)
    hi = finite.max() if vmax is None else values.dtype.type(vmax)
    if hi > lo:
        scaled = (values - lo) / (hi - lo) * values.dtype.type(256)
    else:  # a constant image: matplotlib draws the bottom colour
        scaled = np.zeros_like(values)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    indices = np.clip(scaled, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(indices[::-1])


def save_png(
    S_db: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    cmap: str = "magma",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Path:
    """Write a (bins, frames) array as a PNG, one pixel per bin, low bins at the bottom.

    Colours equal ``matplotlib.pyplot.imsave(path, S_db, cmap=cmap, origin="lower")``. The file
    is written atomically. Returns the path written.
    """
    extras.require("drawing spectrogram pictures", "PIL", "matplotlib")
    from PIL import Image

    image = Image.fromarray(to_indices(S_db, vmin=vmin, vmax=vmax), mode="P")
    image.putpalette(palette(cmap))
    target = Path(path)
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG", compress_level=1)
    return target


def save_figure(
    S: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    kind: str = "mel",
    sr: int = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
    fmin: float = 0.0,
    fmax: float | None = None,
    title: str | None = None,
    cmap: str = "magma",
) -> Path:
    """A labelled figure: time in seconds, a mel-scaled Hz axis (or MFCC index), a colour bar.

    Parameters
    ----------
    S : (n_mels, n_frames) log-mel in dB for ``kind="mel"``, or (n_mfcc, n_frames) for "mfcc".
    """
    plt = plotting.pyplot()
    values = np.asarray(S)
    if kind not in ("mel", "mfcc"):
        raise ParameterError(f"kind={kind!r} must be 'mel' or 'mfcc'")
    n_rows, n_frames = values.shape
    seconds = n_frames * hop_length / sr
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100, layout="constrained")
    image = ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        interpolation="nearest",
        extent=(0.0, seconds, -0.5, n_rows - 0.5),
    )
    ax.set_xlabel("Time (s)")
    if kind == "mel":
        ticks, labels = mel_ticks(n_rows, fmin, sr / 2.0 if fmax is None else fmax)
        ax.set_yticks(ticks, labels)
        ax.set_ylabel("Frequency (Hz, mel scale)")
        fig.colorbar(image, ax=ax, format="%+2.0f dB")
    else:
        ax.set_ylabel("MFCC coefficient")
        fig.colorbar(image, ax=ax)
    if title:
        ax.set_title(plotting.literal(title))
    return plotting.save(fig, path)


def draw_figure(
    audio_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    kind: str = "mel",
    offset: float = 0.0,
    duration: float = 30.0,
) -> Path:
    """Draw :func:`save_figure`'s mel-spectrogram (``kind="mel"``, dB re its maximum) or MFCC
    figure of ``duration`` seconds of ``audio_file`` from ``offset``, titled with its name."""
    from genrekit.audio import load

    audio_file, out = Path(audio_file), Path(out)
    if kind not in ("mel", "mfcc"):
        raise ParameterError("choose 'mel' or 'mfcc'", option="kind", value=kind)
    if not 0 < duration < float("inf"):
        raise ParameterError(
            "give the seconds to draw, more than 0", option="duration", value=duration
        )
    if not 0 <= offset < float("inf"):
        raise ParameterError("give the start in seconds, 0 or more", option="offset", value=offset)
    _check_figure_target(out)
    params = FeatureParams()
    y, sr = load(audio_file, sr=params.sr, offset=offset, duration=duration)
    mel, _, mfcc = log_mel_and_mfcc(y, params)
    values = power_to_db(mel, ref=np.max) if kind == "mel" else mfcc
    try:
        return save_figure(
            values, out, kind=kind, sr=sr, hop_length=params.hop_length, title=audio_file.name
        )
    except OSError as exc:
        raise ParameterError(
            f"{out}: cannot write the figure ({exc.strerror or exc}); choose a folder you can "
            "write to"
        ) from exc


def _check_figure_target(out: Path) -> None:
    extras.require("drawing figures", "matplotlib")
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = out.suffix.lower().lstrip(".")
    if out.is_dir():
        raise ParameterError(
            f"{out}: is a folder; give the figure a file name, e.g. {out / 'mel.png'}"
        )
    if suffix and suffix not in formats:
        raise ParameterError(
            f"{out}: cannot draw a .{suffix} file; end the name in one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )


def mel_ticks(n_mels: int, fmin: float, fmax: float) -> tuple[list[float], list[str]]:
    """Positions (in band units) and labels of round Hz values on a mel-scaled axis."""
    centres = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]
    centre_mels = hz_to_mel(centres)
    positions: list[float] = []
    labels: list[str] = []
    for hz in (0, 512, 1024, 2048, 4096, 8192, 16384):
        if centres[0] <= hz <= centres[-1] or (hz == 0 and fmin == 0):
            where: Any = np.interp(hz_to_mel(hz), centre_mels, np.arange(n_mels))
            positions.append(float(where))
            labels.append(f"{hz // 1000}k" if hz >= 1000 else str(hz))
    return positions, labels
