"""How a training went (genrekit.training_log): train_log.csv, learning_curve.png, the outcome."""

from __future__ import annotations

import csv
from pathlib import Path

from genrekit.training_log import EpochLog, TrainingOutcome, write_log


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


def test_an_outcome_reads_back_as_saved_and_a_damaged_one_is_unknown() -> None:
    saved = {
        "stopped": "early",
        "kept": [3, 5],
        "ran": [6, 8],
        "planned": 10,
        "kept_val_accuracy": [0.5, 0.75],
        "patience": 3,
        "val_clips": 12,
        "notes": ["a note"],
        "held_out": ["held out: 4 clips"],
        "test_accuracy": 0.625,
        "test_clips": 8,
    }
    outcome = TrainingOutcome.from_dict(saved)
    assert outcome.to_dict() == saved
    assert list(outcome.to_dict()) == list(saved)  # the order checkpoints are written in
    assert outcome.describe() == (
        "early stopping after epoch 8: no better validation accuracy for 3 epochs; "
        "kept epochs 3, 5 of networks 1-2, each the best on validation"
    )
    fitted = {"stopped": "fitted", "kept": [], "ran": [], "patience": 10, "val_clips": 0}
    assert TrainingOutcome.from_dict(fitted).to_dict() == fitted | {"notes": []}
    damaged: list[object] = [None, [], {"kept": [1]}, {"stopped": "early", "kept": ["x"]}]
    for data in damaged:
        unknown = TrainingOutcome.from_dict(data)
        assert unknown.stopped == "unknown" and unknown.to_dict() == {}
        assert unknown.describe() == "how training ended is not recorded"
