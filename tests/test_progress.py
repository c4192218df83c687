"""The CLI's progress bar as an on_epoch listener: fed records directly, drawn into a text stream."""

from __future__ import annotations

import io

from multilabel import train
from multilabel.progress import EpochProgress


def record(epoch: int, f1: float | None = None, **extra) -> dict:
    rec = {"epoch": epoch, "epochs": 10, "train_loss": 0.5 / epoch, "val_loss": 0.6 / epoch, "samples_per_s": 1234.0,
           **extra}
    if f1 is not None:
        rec["val_micro_f1"] = f1
    return rec


def test_postfix_shows_the_latest_losses_and_f1_with_the_epoch_it_was_measured_on():
    progress = EpochProgress(10, stream=io.StringIO())
    progress(record(1, f1=0.25))
    assert progress.postfix(record(1)) == "train 0.5000 val 0.6000 F1 0.250@e1 1,234 samples/s"
    progress(record(2))  # no metrics this epoch: the F1 shown is still labelled as epoch 1's, never as epoch 2's
    assert progress.postfix(record(2)) == "train 0.2500 val 0.3000 F1 0.250@e1 1,234 samples/s"
    progress(record(4, f1=0.713))
    assert progress.f1 == (0.713, 4)
    assert "F1 0.713@e4" in progress.postfix(record(4))
    progress.close()


def test_no_f1_before_any_epoch_has_metrics_and_a_partial_epoch_is_marked():
    progress = EpochProgress(5, stream=io.StringIO())
    progress(record(1))
    assert "F1" not in progress.postfix(record(1))
    assert progress.postfix(record(2, partial=True)).endswith("(stopped mid-epoch)")
    progress.close()


def test_the_bar_counts_epochs_and_its_last_line_shows_the_final_state():
    stream = io.StringIO()
    with EpochProgress(3, stream=stream) as progress:
        for epoch in (1, 2, 3):
            progress(record(epoch, f1=0.1 * epoch))
    assert progress.bar.n == 3
    last = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in last and "100%" in last and "F1 0.300@e3" in last and "train 0.1667" in last


def test_it_is_a_real_on_epoch_listener_for_the_engine(small_data, make_config):
    stream = io.StringIO()
    progress = EpochProgress(4, stream=stream)
    result = train(make_config(epochs=4), small_data, on_epoch=progress)
    progress.close()
    assert progress.bar.n == len(result.history) == 4
    last_eval = max(r["epoch"] for r in result.history if "val_micro_f1" in r)
    assert f"@e{last_eval}" in stream.getvalue()
    assert "4/4" in stream.getvalue()
