"""How a training went: a network's log, one row per epoch (written as ``train_log.csv`` and
drawn as ``learning_curve.png`` in the model folder), and how it ended (kept in the checkpoint)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genrekit import plotting
from genrekit.storage import write_bytes_atomic


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    lr: float
    seconds: float
    member: int = 1  # which network of an ensemble


UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrainingOutcome:
    """How training ended, for people and reports (``Checkpoint.training``).

    ``stopped`` is "fitted" (closed form), "early" (no better validation accuracy for
    ``patience`` epochs), "epochs" (all of them), "interrupted" (Ctrl-C: the best epoch so far
    is kept) or "unknown" (a checkpoint that does not say); ``kept`` and ``ran`` are the epochs
    kept and run per network, ``notes`` what a user should know. :func:`genrekit.training.train`
    adds what it held out and the test accuracy.
    """

    stopped: str
    kept: tuple[int, ...] = ()
    ran: tuple[int, ...] = ()
    planned: int | None = None  # epochs planned per network (networks only)
    kept_val_accuracy: tuple[float, ...] | None = None  # of each kept epoch (networks only)
    patience: int | None = None
    val_clips: int | None = None
    notes: tuple[str, ...] = ()
    held_out: tuple[str, ...] | None = None  # what train() held out, and why
    test_accuracy: float | None = None  # on the held-out clips, None if there are none
    test_clips: int | None = None
    file: str | None = None  # where train() saved the model: told, not saved

    def to_dict(self) -> dict[str, Any]:
        """Plain types, in the order checkpoints have always held them."""
        if self.stopped == UNKNOWN:
            return {}
        found: dict[str, Any] = {"stopped": self.stopped, "kept": [*self.kept], "ran": [*self.ran]}
        if self.planned is not None:
            found["planned"] = self.planned
            found["kept_val_accuracy"] = [*(self.kept_val_accuracy or ())]
        found |= {"patience": self.patience, "val_clips": self.val_clips, "notes": [*self.notes]}
        if self.held_out is not None:
            found |= {
                "held_out": [*self.held_out],
                "test_accuracy": self.test_accuracy,
                "test_clips": self.test_clips,
            }
        return found

    @classmethod
    def from_dict(cls, data: Any) -> TrainingOutcome:
        """The outcome saved in a checkpoint; "unknown" when there is none or it is damaged (it
        only informs people: a model is used the same without it)."""
        if not isinstance(data, dict) or not isinstance(data.get("stopped"), str):
            return cls(UNKNOWN)
        try:
            accuracy = data.get("kept_val_accuracy")
            held_out = data.get("held_out")
            return cls(
                data["stopped"],
                kept=tuple(int(k) for k in data.get("kept") or ()),
                ran=tuple(int(r) for r in data.get("ran") or ()),
                planned=_int_or_none(data.get("planned")),
                kept_val_accuracy=None if accuracy is None else tuple(map(float, accuracy)),
                patience=_int_or_none(data.get("patience")),
                val_clips=_int_or_none(data.get("val_clips")),
                notes=tuple(str(n) for n in data.get("notes") or ()),
                held_out=None if held_out is None else tuple(map(str, held_out)),
                test_accuracy=_float_or_none(data.get("test_accuracy")),
                test_clips=_int_or_none(data.get("test_clips")),
            )
        except (TypeError, ValueError):
            return cls(UNKNOWN)

    def describe(self) -> str:
        """How training ended, in one line for people."""
        if self.stopped == "fitted":
            return "fitted in closed form (no epochs to choose)"
        if self.stopped == UNKNOWN:
            return "how training ended is not recorded"
        kept, ran, accuracy = self.kept, self.ran, self.kept_val_accuracy or ()
        if len(kept) == 1:
            chosen = f"kept epoch {kept[0]}"
        else:
            chosen = "kept epochs " + ", ".join(map(str, kept)) + f" of networks 1-{len(kept)}"
        if not self.val_clips:
            chosen += ", the lowest training loss (no validation clips)"
        elif len(accuracy) == 1:
            chosen += f", the best on validation ({100 * accuracy[0]:.1f} %)"
        else:
            chosen += ", each the best on validation"
        last = ran[-1] if ran else 0
        if self.stopped == "interrupted":
            why = f"interrupted (Ctrl-C) after {last} of {self.planned} epochs"
        elif self.stopped == "early":
            why = (
                f"early stopping after epoch {max(ran)}: no better validation accuracy for "
                f"{self.patience} epochs"
            )
        else:
            why = f"ran all {self.planned} epochs"
        return f"{why}; {chosen}"


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def write_log(log: list[EpochLog], model_dir: Path) -> None:
    """``train_log.csv`` and ``learning_curve.png`` of a network; none for a closed-form model
    (a previous network's in this folder are removed: they describe another model)."""
    if not log:
        for name in ("train_log.csv", "learning_curve.png"):
            (model_dir / name).unlink(missing_ok=True)
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(asdict(log[0])))
    writer.writeheader()
    writer.writerows(asdict(entry) for entry in log)
    write_bytes_atomic(model_dir / "train_log.csv", text.getvalue().encode("utf-8"))
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ax2 = ax.twinx()
    for member in sorted({e.member for e in log}):  # an ensemble: one set of lines per network
        part = [e for e in log if e.member == member]
        epochs = [e.epoch for e in part]
        first = member == 1
        ax.plot(
            epochs,
            [e.train_accuracy for e in part],
            color="C0",
            label="training accuracy (augmented)" if first else None,
        )
        ax.plot(
            epochs,
            [e.val_accuracy for e in part],
            color="C1",
            label="validation accuracy (whole tracks)" if first else None,
        )
        ax2.plot(epochs, [e.train_loss for e in part], color="grey", alpha=0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax2.set_ylabel("loss")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Learning curve")
    plotting.save(fig, model_dir / "learning_curve.png", dpi=100)
