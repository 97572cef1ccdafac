"""Pretrained music embeddings: musicnn's input chain and its ported models, without PyTorch.

musicnn (Pons & Serra, 2019) ships two taggers of the same architecture: ``MSD_musicnn``, trained
on the Million Song Dataset's 50 most common tags (rock, pop, jazz, electronic, Hip-Hop, heavy
metal, ...), and ``MTT_musicnn``, trained on MagnaTagATune's 50 (classical, techno, opera,
choral, sitar, ...). genrekit ships both converted to ONNX (``scripts/convert_musicnn.py``):
``msd-musicnn`` and ``mtt-musicnn``, so a clip's embedding needs only numpy and onnxruntime.
Their input chain is musicnn's own, computed with genrekit's features: 16 kHz mono, a 96-band
mel power spectrogram (n_fft 512, hop 256), rounded to float16 as musicnn does, then
``log10(10000 x + 1)``, cut into patches of 187 frames (3 s).

A clip's embedding is the mean over its patches of the model's two temporal poolings (the mean
and the maximum over time of its 753 mid-level features): 1,506 numbers. Of the layers of
``msd-musicnn`` tried on GTZAN's development set with a logistic regression (5 folds), these
gave the best accuracy: 85 % against 83 % for the penultimate layer and 80 % for the 50 tags.
"""

from __future__ import annotations

import functools
import os
import platform
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from genrekit.errors import ModelError, ParameterError
from genrekit.features import loop_frames, melspectrogram
from genrekit.onnx_session import open_session

BACKBONE_SAMPLE_RATE = 16000
BACKBONE_N_FFT = 512
BACKBONE_HOP_LENGTH = 256
BACKBONE_N_MELS = 96
PATCH_FRAMES = 187
"""3 s of musicnn frames: what its models were trained on."""
OUTPUTS = ("taggram", "penultimate", "mean_pool", "max_pool")
BACKBONES = ("msd-musicnn", "mtt-musicnn")
_PRETRAINED = "genrekit.pretrained"

MSD_TAGS = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
]
"""The 50 Million Song Dataset tags of ``MSD_musicnn``, in output order."""

MTT_TAGS = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
]
"""The 50 MagnaTagATune tags of ``MTT_musicnn``, in output order."""

BACKBONE_TAGS = {"msd-musicnn": MSD_TAGS, "mtt-musicnn": MTT_TAGS}
"""Each shipped backbone's tags, in output order."""

Float32Array = npt.NDArray[np.float32]


def musicnn_input(y: npt.ArrayLike) -> Float32Array:
    """musicnn's log-compressed mel of 16 kHz mono samples, shape (frames, 96)."""
    mel = melspectrogram(
        y=y,
        sr=BACKBONE_SAMPLE_RATE,
        n_fft=BACKBONE_N_FFT,
        hop_length=BACKBONE_HOP_LENGTH,
        n_mels=BACKBONE_N_MELS,
    ).T
    # musicnn stores its spectrograms as float16; rounding the same way keeps the same numbers.
    rounded = mel.astype(np.float16).astype(np.float32)
    compressed: Float32Array = np.log10(np.float32(10000) * rounded + np.float32(1))
    return compressed


def musicnn_patches(rep: npt.ArrayLike, *, patch: int = PATCH_FRAMES) -> Float32Array:
    """Consecutive, non-overlapping patches of ``patch`` frames (musicnn's ``batch_data``).

    The frames after the last whole patch are dropped, as musicnn does; a clip shorter than one
    patch is looped to fill it (musicnn trained with "repeat-pad").
    """
    frames = np.asarray(rep, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != BACKBONE_N_MELS:
        raise ParameterError(f"need (frames, {BACKBONE_N_MELS}) musicnn input; got {frames.shape}")
    if frames.shape[0] < patch:
        return loop_frames(frames.T, patch).T[None].copy()
    starts = range(0, frames.shape[0] - patch + 1, patch)
    return np.stack([frames[s : s + patch] for s in starts])


@dataclass(frozen=True)
class BackboneOutputs:
    """Per-patch outputs of the backbone."""

    taggram: Float32Array  # (patches, 50) tag probabilities, in the backbone's tags' order
    penultimate: Float32Array  # (patches, 200)
    mean_pool: Float32Array  # (patches, 753)
    max_pool: Float32Array  # (patches, 753)

    def embedding(self) -> Float32Array:
        """The clip embedding: mean over patches of mean_pool and max_pool (1,506)."""
        pooled: Float32Array = np.concatenate(
            [self.mean_pool.mean(axis=0), self.max_pool.mean(axis=0)]
        ).astype(np.float32)
        return pooled

    def patch_embeddings(self) -> Float32Array:
        """One embedding per patch, (patches, 1,506): a timeline of the clip."""
        return np.concatenate([self.mean_pool, self.max_pool], axis=1).astype(np.float32)

    def tags(self) -> Float32Array:
        """Tag probabilities of the whole clip: the mean over its patches."""
        mean: Float32Array = self.taggram.mean(axis=0).astype(np.float32)
        return mean


EMBEDDING_SIZE = 2 * 753


class Backbone:
    """A pretrained tagger run by onnxruntime; thread-safe (one session, many callers)."""

    def __init__(self, path: Path, name: str, *, threads: int | None = None):
        self.session, self.meta = open_session(path, threads=threads)
        self.name = name
        self.path = path
        tags = self.meta.get("tags") if isinstance(self.meta, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ModelError(f"{path}: its genrekit metadata lists no tags; not a backbone")
        self.tags: list[str] = tags

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, {len(self.tags)} tags)"

    def run(self, patches: npt.ArrayLike) -> BackboneOutputs:
        x = np.ascontiguousarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (PATCH_FRAMES, BACKBONE_N_MELS):
            raise ParameterError(
                f"need patches of shape (n, {PATCH_FRAMES}, {BACKBONE_N_MELS}); got {x.shape}"
            )
        outputs = self.session.run(list(OUTPUTS), {"patches": x})
        return BackboneOutputs(*(np.asarray(o, dtype=np.float32) for o in outputs))

    def outputs_of(self, y: npt.ArrayLike) -> BackboneOutputs:
        """Outputs for 16 kHz mono samples."""
        return self.run(musicnn_patches(musicnn_input(y)))


PRECISIONS = ("int8", "float32")
"""How a backbone runs: ``int8`` (its front end's convolutions quantized, ~2.4x faster, built by
``scripts/quantize_musicnn.py``) or ``float32`` (the port as converted, checked against
TensorFlow). Their patch embeddings agree to a cosine of 0.997 or better."""
PRECISION_ENV = "GENREKIT_BACKBONE_PRECISION"
_INT8_WITHOUT_SATURATION = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def default_precision() -> str:
    """``int8`` where this CPU runs it exactly, else ``float32``; ``$GENREKIT_BACKBONE_PRECISION``
    overrides.

    x86 CPUs without VNNI multiply 8-bit numbers with an instruction that saturates 16-bit sums
    (onnxruntime's and OpenVINO's quantization notes), which would cost int8 accuracy there;
    ARM's 8-bit dot products do not saturate."""
    chosen = os.environ.get(PRECISION_ENV)
    if chosen:
        return chosen
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "int8"
    if machine in ("x86_64", "amd64") and _INT8_WITHOUT_SATURATION & _cpu_flags():
        return "int8"
    return "float32"


@functools.cache  # load_backbone() runs per track under `classify --tags`; the CPU stays the same
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no /proc/cpuinfo."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def backbone_file(name: str, precision: str) -> str:
    """The package file of backbone ``name`` at ``precision`` (in ``genrekit.pretrained``)."""
    return f"{name}.onnx" if precision == "float32" else f"{name}-{precision}.onnx"


_CACHE: dict[tuple[str, str, int | None], Backbone] = {}
_CACHE_LOCK = threading.Lock()


def load_backbone(
    name: str = "msd-musicnn", *, precision: str | None = None, threads: int | None = None
) -> Backbone:
    """A shipped backbone by name, loaded once per process (per precision and thread count).

    ``precision`` None: :func:`default_precision`."""
    precision = precision or default_precision()
    if name not in BACKBONES:
        raise ModelError(f"unknown backbone {name!r}; shipped: {', '.join(BACKBONES)}")
    if precision not in PRECISIONS:
        where = f" (from ${PRECISION_ENV})" if precision == os.environ.get(PRECISION_ENV) else ""
        raise ParameterError(
            f"backbone precision must be one of {', '.join(PRECISIONS)}, not {precision!r}{where}"
        )
    key = (name, precision, threads)
    with _CACHE_LOCK:
        if key not in _CACHE:
            file = resources.files(_PRETRAINED) / backbone_file(name, precision)
            with resources.as_file(file) as path:
                if not path.is_file():
                    raise ModelError(f"backbone {name!r} is not installed ({path} is missing)")
                backbone = Backbone(path, name, threads=threads)
            if backbone.tags != BACKBONE_TAGS[name]:
                raise ModelError(f"{backbone.path}: its tags are not {name}'s; reinstall genrekit")
            _CACHE[key] = backbone
        return _CACHE[key]
