"""A network's training log (genrekit.training_log): train_log.csv and learning_curve.png."""

from __future__ import annotations

import csv
from pathlib import Path

from genrekit.training_log import EpochLog, write_log


def test_one_row_per_epoch_and_member_and_a_curve(tmp_path: Path) -> None:
    log = [
        EpochLog(1, 1.1, 0.4, 0.5, 0.01, 2.0),
        EpochLog(2, 0.7, 0.8, 0.75, 0.005, 2.5),
        EpochLog(1, 1.0, 0.5, 0.5, 0.01, 2.0, member=2),
    ]
    write_log(log, tmp_path)
    with (tmp_path / "train_log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_accuracy",
        "lr",
        "seconds",
        "member",
    ]
    assert [(r["epoch"], r["val_accuracy"], r["member"]) for r in rows] == [
        ("1", "0.5", "1"),
        ("2", "0.75", "1"),
        ("1", "0.5", "2"),
    ]
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_a_closed_form_model_removes_the_log_of_a_network_before_it(tmp_path: Path) -> None:
    write_log([EpochLog(1, 1.0, 0.5, 0.5, 0.01, 1.0)], tmp_path)
    write_log([], tmp_path)
    assert list(tmp_path.iterdir()) == []
