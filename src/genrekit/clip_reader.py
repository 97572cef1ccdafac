"""A store's clips as a model reads them: whole log-mels, windows, summaries or embeddings.

Training draws random windows (with tempo stretch) or whole clips from it; answering reads every
window of a clip, its real frames, or its backbone embedding (:meth:`ClipReader.answer_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from genrekit.dataset import FeatureStore
from genrekit.features import loop_frames
from genrekit.recipes import WINDOW_SECONDS, InputKind, input_kind
from genrekit.splits import Indices

if TYPE_CHECKING:
    from genrekit.checkpoint import Checkpoint


def window_frames(store: FeatureStore) -> int:
    params = store.params
    return 1 + round(WINDOW_SECONDS * params.sr / params.hop_length)


class ClipReader:
    """Inputs of a store's clips as a model reads them (``reads``): whole log-mels, windows
    (random ones in training, every one to answer), summaries' real frames, or embeddings."""

    def __init__(
        self,
        store: FeatureStore,
        window: int | None,
        backbone: str | None = None,
        reads: InputKind | None = None,
    ):
        self.store = store
        self.window = window
        self.backbone = backbone
        self.reads: InputKind = reads or (
            "embedding" if backbone else "windows" if window else "clip"
        )
        self.n_frames = store.array("logmel", 0).shape[1] if len(store) else 0

    @classmethod
    def for_checkpoint(cls, store: FeatureStore, checkpoint: Checkpoint) -> ClipReader:
        """The reader of the model a checkpoint describes."""
        info = checkpoint.info
        return cls(store, info.window_frames, info.backbone, input_kind(info.architecture))

    def answer_inputs(self, indices: Indices) -> Iterator[tuple[npt.NDArray[np.float32], bool]]:
        """Batches to answer clips ``indices`` from, in order: ``(x, pooled)``, where ``pooled``
        means x holds one clip's windows, whose answers are averaged into the clip's."""
        if self.reads == "embedding":
            yield self.embeddings(indices), False
        elif self.reads == "summaries":  # the real audio, whatever its length
            for i in indices:
                yield self.valid(int(i))[None], False
        elif self.reads == "clip":
            for start in range(0, len(indices), 64):
                yield self.whole(indices[start : start + 64]), False
        else:
            for i in indices:
                yield self.windows_of(int(i)), True

    def embeddings(self, indices: Indices) -> npt.NDArray[np.float32]:
        assert self.backbone is not None
        return np.stack([self.store.embedding(int(i), self.backbone) for i in indices])

    def whole(self, indices: Indices) -> npt.NDArray[np.float32]:
        return np.stack([np.asarray(self.store.array("logmel", int(i))) for i in indices])

    def valid(self, i: int) -> npt.NDArray[np.float32]:
        """The real frames of clip ``i`` only (at least 2), without the padding."""
        frames = max(2, self.store.tracks[i].n_valid)
        return np.array(self.store.array("logmel", i)[:, :frames])

    def random_windows(
        self, indices: Indices, rng: np.random.Generator, stretch: float = 0.0
    ) -> npt.NDArray[np.float32]:
        """A random window of each clip. ``stretch``: read up to ``1 + stretch`` times more or
        fewer frames and resample them to the window (a tempo change of as much)."""
        assert self.window is not None
        out = []
        for i in indices:
            length = self.window
            if stretch:
                rate = math.exp(rng.uniform(-math.log1p(stretch), math.log1p(stretch)))
                length = max(2, round(self.window * rate))
            valid = self.store.tracks[int(i)].n_valid
            image = self.store.array("logmel", int(i))
            if valid < length:
                # Loop the clip from a random point of it: a short clip's random crop.
                clip = np.asarray(image[:, : max(1, valid)])
                start = int(rng.integers(0, clip.shape[1]))
                crop = loop_frames(np.roll(clip, -start, axis=1), length)
            else:
                start = int(rng.integers(0, valid - length + 1))
                crop = np.asarray(image[:, start : start + length])
            if length != self.window:
                import torch

                stretched = torch.nn.functional.interpolate(
                    torch.tensor(crop)[None], size=self.window, mode="linear"
                )
                crop = stretched[0].numpy()
            out.append(crop)
        return np.stack(out)

    def windows_of(self, i: int) -> npt.NDArray[np.float32]:
        """Every window of clip ``i`` over its real frames, half-overlapping, end included."""
        assert self.window is not None
        image = np.asarray(self.store.array("logmel", i))
        valid = self.store.tracks[i].n_valid
        if valid < self.window:
            return loop_frames(image[:, : max(1, valid)], self.window)[None]
        last = valid - self.window
        starts = sorted({*range(0, last + 1, self.window // 2), last})
        return np.stack([image[:, s : s + self.window] for s in starts])
