"""A network's training log: one row per epoch, written as ``train_log.csv`` and drawn as
``learning_curve.png`` in the model folder."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

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
