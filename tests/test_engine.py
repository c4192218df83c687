"""train(): it learns, it is reproducible, early stopping keeps the best weights, failures say what to change."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from multilabel import Dataset, MultilabelError, TrainConfig, make_synthetic, train
from multilabel.callbacks import Checkpoint, LiveSnapshots
from multilabel.engine import PROBE_ROWS, split_indices
from multilabel.stepper import pos_weights
from multilabel.metrics import evaluate
from pagetest import without_timing


def val_split(data: Dataset, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows the engine held out for this config: (raw X, Y)."""
    _, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
    return data.X[val_idx], data.Y[val_idx]


def model_val_loss(result, data: Dataset, config: TrainConfig, pos_weight: np.ndarray | None = None) -> float:
    """BCE-with-logits of the returned model on the validation split, computed here from scratch."""
    return model_val_loss_of(result.trained, data, config, pos_weight)


def model_val_loss_of(trained, data: Dataset, config: TrainConfig, pos_weight: np.ndarray | None = None) -> float:
    X_val, Y_val = val_split(data, config)
    trained.model.eval()
    with torch.no_grad():
        logits = trained.model(torch.from_numpy(trained.standardizer.transform(X_val)))
        weight = torch.from_numpy(pos_weight) if pos_weight is not None else None
        return nn.BCEWithLogitsLoss(pos_weight=weight)(logits, torch.from_numpy(Y_val)).item()


def losses(result) -> list[tuple[float, float]]:
    return [(r["train_loss"], r["val_loss"]) for r in result.history]


def test_learns_the_synthetic_teacher_to_validation_micro_f1_of_0_9():
    data = make_synthetic(3000, 10, 5, noise=0.0, seed=0)
    # A noise-free teacher: little regularization wanted (AdamW's decay scales with the 10x learning rate).
    config = TrainConfig(epochs=40, hidden_size=64, learning_rate=1e-2, weight_decay=1e-2, patience=0,
                         device="cpu").validate()
    result = train(config, data)
    assert result.best["micro_f1"] >= 0.9
    assert result.history[-1]["val_micro_f1"] >= 0.9  # at the fixed 0.5 cut, too
    assert result.outcome == "completed" and len(result.history) == 40


def test_seed_article_shapes_10_20_5_train_and_the_loss_falls():
    data = make_synthetic(1000, 10, 5, seed=1)
    config = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, epochs=20, device="cpu").validate()
    result = train(config, data)
    layers = [m for m in result.trained.model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(layer.weight.shape) for layer in layers] == [(20, 10), (5, 20)]
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.7 * first["train_loss"]
    assert last["val_loss"] < 0.8 * first["val_loss"]
    assert last["val_micro_f1"] > first["val_micro_f1"]


def test_same_seed_and_data_on_cpu_give_identical_loss_histories(small_data, make_config):
    config = make_config(epochs=6)
    first, second = train(config, small_data), train(config, small_data)
    assert losses(first) == losses(second)
    assert first.trained.thresholds == second.trained.thresholds


def test_input_noise_perturbs_training_forwards_only_and_is_not_a_weight():
    from multilabel.model import MLP
    torch.manual_seed(0)
    noisy = MLP(4, 8, 2, input_noise=0.5)
    plain = MLP(4, 8, 2)
    plain.load_state_dict(noisy.state_dict())  # same keys: a checkpoint does not change shape
    x = torch.randn(16, 4)
    noisy.train()
    plain.train()
    assert not torch.equal(noisy(x), noisy(x)) and torch.equal(plain(x), plain(x))
    noisy.eval()
    assert torch.equal(noisy(x), plain(x))  # predictions never see the noise


def test_input_noise_changes_the_run_and_the_same_seed_repeats_it(small_data, make_config):
    config = make_config(epochs=4, input_noise=0.5)
    first, second = train(config, small_data), train(config, small_data)
    assert losses(first) == losses(second)
    assert losses(first) != losses(train(make_config(epochs=4), small_data))
    assert first.trained.model.input_noise == 0.5


def test_a_different_seed_gives_a_different_run(small_data, make_config):
    a = train(make_config(epochs=4, seed=0), small_data)
    b = train(make_config(epochs=4, seed=1), small_data)
    assert losses(a) != losses(b)


def test_early_stopping_restores_the_best_weights():
    # Few noisy rows and a wide net: validation loss bottoms out early, then rises as the net memorizes.
    data = make_synthetic(200, 10, 5, noise=1.5, seed=3)
    config = TrainConfig(hidden_size=128, epochs=300, learning_rate=2e-2, weight_decay=0.0, patience=4,
                         batch_size=16, device="cpu").validate()
    result = train(config, data)
    assert result.outcome == "early_stopped"
    assert result.best_epoch < len(result.history) == result.best_epoch + config.patience
    best_loss = result.history[result.best_epoch - 1]["val_loss"]
    assert best_loss == min(r["val_loss"] for r in result.history)
    assert result.history[-1]["val_loss"] > best_loss + 1e-3  # the last weights really are worse
    assert model_val_loss(result, data, config) == pytest.approx(best_loss, abs=1e-5)
    assert result.best["val_loss"] == best_loss and result.best["epoch"] == result.best_epoch


def test_patience_zero_runs_every_epoch(small_data, make_config):
    result = train(make_config(epochs=7, patience=0), small_data)
    assert [r["epoch"] for r in result.history] == list(range(1, 8))
    assert result.outcome == "completed"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_diverging_training_raises_a_clear_error(small_data, make_config):
    # Values near float32's limit overflow when centred (x - mean), so the loss turns NaN in the first epoch.
    X = small_data.X.copy()
    X[:, 0] = 3e38
    X[::10, 0] = -3e38
    extreme = Dataset(X, small_data.Y, small_data.feature_names, small_data.label_names)
    with pytest.raises(MultilabelError) as info:
        train(make_config(), extreme)
    message = str(info.value)
    assert message.startswith("training diverged at epoch 1: the loss became nan")
    assert "lower the learning rate (now 0.01)" in message and "extreme values" in message


@pytest.mark.parametrize("changes, message", [
    ({"input_size": 5}, "input_size is 5 but the data has 6 feature columns; set input_size to 6"),
    ({"num_outputs": 4}, "num_outputs is 4 but the data has 3 label columns; set num_outputs to 3"),
])
def test_config_that_does_not_fit_the_data_names_the_right_size(small_data, make_config, changes, message):
    with pytest.raises(MultilabelError) as info:
        train(TrainConfig(**{**make_config().to_dict(), **changes}), small_data)
    assert str(info.value) == message


def test_invalid_config_is_refused_before_training(small_data, make_config):
    with pytest.raises(MultilabelError, match="hidden_size must be >= 1, got 0"):
        train(make_config().replace(hidden_size=0), small_data)


def test_stop_event_set_before_the_first_epoch_ends_after_one_epoch(small_data, make_config):
    stop = threading.Event()
    stop.set()
    result = train(make_config(epochs=50), small_data, stop=stop)
    assert result.outcome == "stopped" and len(result.history) == 1 and result.best_epoch == 1


def test_callbacks_get_the_split_and_one_json_record_per_epoch(small_data, make_config):
    starts, records = [], []
    config = make_config(epochs=3)
    result = train(config, small_data, on_epoch=records.append, on_start=starts.append)
    (info,) = starts
    _, Y_val = val_split(small_data, config)
    assert info["n_train"] + info["n_val"] == small_data.num_rows and info["n_val"] == len(Y_val) == 80
    assert info["probe_targets"] == Y_val[:PROBE_ROWS].astype(int).tolist()
    assert info["label_names"] == small_data.label_names and info["device"] == "cpu"
    assert records == result.history and [r["epoch"] for r in records] == [1, 2, 3]
    evaluated = [r for r in records if "val_per_label" in r]
    assert evaluated[0] is records[0] and evaluated[-1] is records[-1]  # first and last epochs always get metrics
    for record in records:
        json.dumps(record, allow_nan=False)
        assert record["epochs"] == 3 and record["samples_per_s"] > 0
        assert {"train_loss", "val_loss", "best_epoch", "best_val_loss"} <= set(record)
    for record in evaluated:
        assert np.array(record["probe_probs"]).shape == (PROBE_ROWS, 3)
        assert len(record["prob_hist"]) == 3
        assert sum(record["prob_hist"][0]["neg"]) + sum(record["prob_hist"][0]["pos"]) == info["n_val"]
        assert {"val_micro_f1", "val_macro_f1", "val_hamming_loss", "val_subset_accuracy",
                "val_per_label"} <= set(record)
    assert records[-1]["best_epoch"] == result.best_epoch


def test_metrics_come_on_the_eval_every_cadence_plus_first_and_last(small_data, make_config):
    result = train(make_config(epochs=10, eval_every=3), small_data)
    assert [r["epoch"] for r in result.history if "val_per_label" in r] == [1, 3, 6, 9, 10]
    assert all("val_loss" in r for r in result.history)  # losses every epoch: early stopping needs them
    assert result.info["eval_every"] == 3


def test_same_seed_gives_the_same_records_on_the_same_epochs(small_data, make_config):
    clockless = lambda history: [{k: v for k, v in r.items() if k not in ("duration_s", "samples_per_s")}
                                 for r in history]
    first = train(make_config(epochs=12), small_data)
    second = train(make_config(epochs=12), small_data)
    assert clockless(first.history) == clockless(second.history)


def test_auto_eval_every_is_one_for_small_data_and_grows_with_a_large_validation_split():
    from multilabel.engine import resolve_eval_every
    small = TrainConfig(input_size=72, num_outputs=6).validate()
    assert resolve_eval_every(small, n_train=474, n_val=119) == 1
    # 400k training rows in 98 big batches of a tiny net: the metrics over 100k x 32 cells cost more than the epoch
    big = TrainConfig(input_size=10, hidden_size=16, num_outputs=32, batch_size=4096).validate()
    cadence = resolve_eval_every(big, n_train=400_000, n_val=100_000)
    assert cadence > 1
    assert resolve_eval_every(big.replace(eval_every=7), n_train=400_000, n_val=100_000) == 7


class _StopAfter:
    """A stop flag that reads as set from the ``after``-th look on: a stop that arrives mid-epoch, without a clock."""

    def __init__(self, after: int) -> None:
        self.after, self.looks = after, 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks >= self.after


def test_stop_inside_a_long_epoch_ends_it_early_and_keeps_the_best_weights(make_config, monkeypatch):
    import multilabel.stepper as stepper
    monkeypatch.setattr(stepper, "STOP_CHECK_S", 0.0)  # look at the flag before every step
    data = make_synthetic(4000, 6, 3, seed=1)
    config = make_config(epochs=5, batch_size=8)
    progress = []
    monkeypatch.setattr(stepper, "PROGRESS_S", 0.0)
    result = train(config, data, stop=_StopAfter(after=50), on_progress=progress.append)
    assert result.outcome == "stopped" and len(result.history) == 1
    record = result.history[0]
    assert record["partial"] is True and 0 < record["rows_done"] < result.info["n_train"]
    assert record["rows_done"] % 8 == 0 and "val_per_label" in record  # the last epoch always gets metrics
    assert progress and all(p["epoch"] == 1 and 0 < p["step"] < p["steps"] == 400 for p in progress)
    assert result.best_epoch == 1 and math.isfinite(result.best["val_loss"])


def test_checkpoints_offered_during_training_hold_the_best_weights_so_far(small_data, make_config):
    offers, records = [], []
    config = make_config(epochs=6)
    every_epoch = Checkpoint(lambda trained: offers.append((len(records), trained)), every_s=0.0, share=1e9)
    result = train(config, small_data, on_epoch=records.append, callbacks=[every_epoch])
    assert offers, "no checkpoint was offered"
    for epochs_seen, trained in offers:
        best = records[epochs_seen - 1]
        assert trained.metrics["epoch"] == best["best_epoch"] and trained.device.type == "cpu"
        assert model_val_loss_of(trained, small_data, config) == pytest.approx(best["best_val_loss"], rel=1e-5)
    assert offers[-1][0] < len(records) == len(result.history)  # the final result is the caller's to save


def test_cosine_schedule_takes_the_learning_rate_down_and_adamw_differs_from_adam(small_data, make_config):
    cosine = train(make_config(epochs=4, lr_schedule="cosine", learning_rate=0.01), small_data)
    assert [round(r["lr"], 6) for r in cosine.history] == [0.01, 0.008536, 0.005, 0.001464]
    adam = train(make_config(epochs=3, weight_decay=0.1, optimizer="adam"), small_data)
    adamw = train(make_config(epochs=3, weight_decay=0.1, optimizer="adamw"), small_data)
    assert adam.history[-1]["train_loss"] != adamw.history[-1]["train_loss"]


def test_tuned_thresholds_never_lower_a_labels_validation_f1(small_data, make_config):
    config = make_config(epochs=8, threshold_mode="tuned")
    result = train(config, small_data)
    X_val, Y_val = val_split(small_data, config)
    probs = torch.from_numpy(result.trained.predict_proba(X_val))
    fixed = evaluate(probs, torch.from_numpy(Y_val), [0.5] * 3, small_data.label_names)
    tuned = evaluate(probs, torch.from_numpy(Y_val), result.trained.thresholds, small_data.label_names)
    for label in small_data.label_names:
        assert tuned["per_label"][label]["f1"] >= fixed["per_label"][label]["f1"] - 1e-9
    assert result.best["micro_f1"] == pytest.approx(tuned["micro_f1"])
    assert result.best["thresholds"] == result.trained.thresholds


def test_fixed_threshold_mode_keeps_one_half_for_every_label(small_data, make_config):
    result = train(make_config(epochs=2, threshold_mode="fixed"), small_data)
    assert result.trained.thresholds == [0.5, 0.5, 0.5]


def test_pos_weights_are_negatives_over_positives_clipped():
    Y = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    # label 0: 3 negatives / 1 positive; label 1: no positives -> the cap; label 2: no negatives -> the floor
    np.testing.assert_allclose(pos_weights(Y), [3.0, 50.0, 0.05])


def test_pos_weight_auto_weighs_the_loss_by_the_training_splits_ratio(small_data, make_config):
    config = make_config(epochs=1, pos_weight="auto")  # one epoch: the returned model is the epoch-1 model
    result = train(config, small_data)
    train_idx, _ = split_indices(small_data.num_rows, config.val_fraction, config.seed)
    ratio = pos_weights(small_data.Y[train_idx])
    assert ratio[-1] > 2.0  # the rare label is up-weighted
    logged = result.history[0]["val_loss"]
    assert model_val_loss(result, small_data, config, pos_weight=ratio) == pytest.approx(logged, rel=1e-5)
    assert model_val_loss(result, small_data, config) != pytest.approx(logged, rel=1e-3)
    plain = train(config.replace(pos_weight="none"), small_data)
    assert plain.history[0]["val_loss"] != pytest.approx(logged, rel=1e-3)


def test_split_is_seeded_disjoint_and_keeps_a_row_on_each_side():
    train_idx, val_idx = split_indices(100, 0.2, seed=4)
    assert len(val_idx) == 20 and len(train_idx) == 80
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(100))
    again, _ = split_indices(100, 0.2, seed=4)
    other, _ = split_indices(100, 0.2, seed=5)
    np.testing.assert_array_equal(train_idx, again)
    assert not np.array_equal(train_idx, other)
    tiny_train, tiny_val = split_indices(2, 0.01, seed=0)
    assert len(tiny_train) == len(tiny_val) == 1


def test_one_row_cannot_be_split():
    with pytest.raises(MultilabelError, match="has 1 row"):
        split_indices(1, 0.2, seed=0)


def test_a_single_label_dataset_trains():
    data = make_synthetic(300, 4, 1, seed=2)
    config = TrainConfig(input_size=4, num_outputs=1, hidden_size=8, epochs=3, device="cpu").validate()
    result = train(config, data)
    assert list(result.best["per_label"]) == ["label_0"]
    assert result.trained.predict_proba(data.X[:5]).shape == (5, 1)


def _weights(trained) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in trained.model.state_dict().items()}


def test_a_continued_run_matches_one_uninterrupted_run_of_the_same_length(small_data, make_config):
    config = make_config(epochs=10, dropout=0.2, patience=0)
    whole = train(config, small_data)
    first = train(config.replace(epochs=4), small_data)
    rest = train(config, small_data, resume=first.resume)
    clockless = lambda history: [{k: v for k, v in r.items() if k not in ("duration_s", "samples_per_s")}
                                 for r in history]
    assert [r["epoch"] for r in rest.history] == list(range(5, 11))
    assert [r["train_loss"] for r in first.history + rest.history] == [r["train_loss"] for r in whole.history]
    assert [r["val_loss"] for r in first.history + rest.history] == [r["val_loss"] for r in whole.history]
    assert clockless(rest.history)[-1] == clockless(whole.history)[-1]
    assert rest.best_epoch == whole.best_epoch
    for name, value in _weights(whole.trained).items():
        np.testing.assert_array_equal(_weights(rest.trained)[name], value)
    for name, value in whole.resume.model.items():
        assert torch.equal(rest.resume.model[name], value)


def test_continuing_refuses_other_data_or_too_few_epochs(small_data, make_config):
    config = make_config(epochs=3)
    first = train(config, small_data)
    other = make_synthetic(400, 6, 3, noise=0.1, seed=8)
    with pytest.raises(MultilabelError, match="data differs"):
        train(config.replace(epochs=5), other, resume=first.resume)
    with pytest.raises(MultilabelError, match="set epochs above 3"):
        train(config, small_data, resume=first.resume)


def test_a_paused_run_waits_between_epochs_and_then_gives_the_same_numbers(small_data, make_config):
    config = make_config(epochs=6)
    plain = train(config, small_data)
    pause = threading.Event()
    seen = []

    def on_epoch(record):
        seen.append(record["epoch"])
        if record["epoch"] == 2:
            pause.set()
            threading.Timer(0.3, pause.clear).start()

    paused = []
    result = train(config, small_data, on_epoch=on_epoch, pause=pause,
                   on_progress=lambda p: paused.append(p) if p.get("paused") else None)
    assert paused == [{"epoch": 3, "step": 0, "steps": 10, "paused": True}]
    assert [r["val_loss"] for r in result.history] == [r["val_loss"] for r in plain.history]
    for name, value in _weights(plain.trained).items():
        np.testing.assert_array_equal(_weights(result.trained)[name], value)


def test_stop_ends_a_paused_run(small_data, make_config):
    pause, stop = threading.Event(), threading.Event()
    pause.set()
    threading.Timer(0.2, stop.set).start()
    result = train(make_config(epochs=50), small_data, stop=stop, pause=pause)
    assert result.outcome == "stopped" and len(result.history) == 1  # the epoch after the wait still reports


def test_a_stop_while_paused_after_some_epochs_trains_nothing_more(small_data, make_config):
    pause, stop = threading.Event(), threading.Event()
    config = make_config(epochs=50)

    def on_epoch(record):
        if record["epoch"] == 3:
            pause.set()
            threading.Timer(0.2, stop.set).start()

    result = train(config, small_data, on_epoch=on_epoch, stop=stop, pause=pause)
    assert result.outcome == "stopped" and [r["epoch"] for r in result.history] == [1, 2, 3]
    assert not any(r.get("partial") for r in result.history)
    assert result.resume.epoch == 3
    # The resume state is the paused run's: continuing it gives the numbers of one uninterrupted run.
    rest = train(config, small_data, resume=result.resume)
    whole = train(config, small_data)
    assert [r["train_loss"] for r in result.history + rest.history] == [r["train_loss"] for r in whole.history]


def test_network_stats_report_norms_and_dead_relus(small_data, make_config):
    from multilabel.engine import network_stats
    result = train(make_config(epochs=3, eval_every=1), small_data)
    stats = result.history[-1]["net"]
    assert stats["layers"] == ["hidden", "output"]
    assert all(v > 0 for v in stats["weight_norm"] + stats["grad_norm"]) and 0 <= stats["dead_relu"] < 1
    model = result.trained.model
    first = model.net[0]
    expected = torch.linalg.norm(first.weight).item()
    assert stats["weight_norm"][0] == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        first.bias.fill_(-1e6)  # every hidden unit is negative on every row
    X = torch.from_numpy(result.trained.standardizer.transform(small_data.X))
    assert network_stats(model, X)["dead_relu"] == 1.0


# -- on_validation: the live per-label and network views ---------------------------------------------------------------

def test_on_validation_changes_no_record_and_reports_the_epochs_own_probabilities(small_data, make_config):
    config = make_config(epochs=7, eval_every=2)
    plain = train(config, small_data)
    seen = []
    every_evaluated_epoch = LiveSnapshots(seen.append, every_s=0.0, share=1e9)
    watched = train(config, small_data, callbacks=[every_evaluated_epoch])
    assert without_timing(watched.history) == without_timing(plain.history)  # same seed, same records
    assert [s.epoch for s in seen] == [1, 2, 4, 6, 7]  # the evaluated epochs: first, every 2nd, last
    X_val, Y_val = val_split(small_data, config)
    for live in seen:
        assert live.probs.shape == Y_val.shape and live.probs.dtype == np.float32
        assert np.array_equal(live.targets, Y_val.astype(np.int8))
        w_hidden, w_output = live.weights
        assert w_hidden.shape == (16, 6) and w_output.shape == (3, 16)
    # The last snapshot is the last epoch's net: its probabilities are that net's on the validation rows, and its
    # dead-unit mask agrees with the record's dead share.
    last = seen[-1]
    X = torch.from_numpy(watched.trained.standardizer.transform(X_val))
    hidden = torch.relu(X @ torch.from_numpy(last.weights[0]).T + watched.resume.model["net.0.bias"])
    logits = hidden @ torch.from_numpy(last.weights[1]).T + watched.resume.model["net.3.bias"]
    assert np.allclose(torch.sigmoid(logits).numpy(), last.probs, atol=1e-5)
    assert np.array_equal(last.alive, (hidden > 0).any(dim=0).numpy())
    assert watched.history[-1]["net"]["dead_relu"] == pytest.approx(1 - last.alive.mean())
    assert watched.history[-1]["net"]["weight_norm"][0] == pytest.approx(np.linalg.norm(last.weights[0]), rel=1e-5)


def test_on_validation_is_rate_limited_by_time_but_always_gets_the_first_and_last_epoch(small_data, make_config):
    seen = []
    hourly = LiveSnapshots(lambda live: seen.append(live.epoch), every_s=3600.0)
    result = train(make_config(epochs=6, eval_every=1), small_data, callbacks=[hourly])
    assert seen == [1, 6]
    assert all("net" in r for r in result.history)  # every epoch still evaluated and recorded


def test_a_large_net_s_live_snapshot_leaves_the_weights_out(small_data, make_config):
    seen = []
    train(make_config(epochs=1), small_data, callbacks=[LiveSnapshots(seen.append, weights_max=100)])  # 144 weights
    (live,) = seen
    assert live.weights is None and live.alive.shape == (16,)
    assert set(live.arrays()) == {"epoch", "probs", "targets", "alive"}


# -- the loop's numbers are those it gave before fit() and the callbacks -----------------------------------------------

# What the loop computed at fa82dab, before it was split into fit() and callbacks (same seed, CPU, one thread): per
# run, the validation loss of each epoch, the best epoch, the outcome, the sum of each weight tensor of the returned
# model and its tuned thresholds.
PINNED = {
    "shipped_like": ([0.5100228, 0.4156331, 0.3579495, 0.3277295, 0.3161837, 0.3133734], 6, "completed",
                     [1.670742, 2.971729, -6.772641, -0.6417909], [0.4, 0.45, 0.1]),
    "early_stop": ([0.2797915, 0.26087, 0.2391542, 0.2385162, 0.2088838, 0.2042032, 0.2080651, 0.204079, 0.1999164,
                    0.1963481, 0.2170504, 0.1991461], 10, "early_stopped",
                   [4.156474, 8.53069, -12.82578, -1.196824], [0.5, 0.5, 0.5]),
    "resumed": ([0.368873, 0.3517657, 0.3476467], 6, "completed",
                [1.165757, 2.185235, -6.057845, -0.6055536], [0.45, 0.4, 0.1]),
    "refit": ([0.5100228, 0.4156331, 0.3579495, 0.3277295, 0.3161837, 0.3133734], 6, "completed",
              [0.7583297, 3.685129, -7.586604, -0.5568556], [0.4, 0.45, 0.1]),
}


def test_short_runs_give_the_numbers_the_loop_gave_before_it_was_split_into_callbacks(small_data, make_config):
    from multilabel.callbacks import Refit
    from multilabel.engine import ResumeState

    torch.set_num_threads(1)
    shipped_like = make_config(epochs=6, dropout=0.2, input_noise=0.1, optimizer="adamw", lr_schedule="cosine",
                               threshold_mode="tuned", batch_size=0)
    early = make_config(epochs=30, patience=2, learning_rate=5e-2)
    first = train(shipped_like.replace(epochs=3), small_data)
    runs = {"shipped_like": train(shipped_like, small_data), "early_stop": train(early, small_data),
            "resumed": train(shipped_like, small_data, resume=ResumeState.from_dict(first.resume.to_dict())),
            "refit": train(shipped_like.replace(refit="all"), small_data, callbacks=[Refit()])}
    for name, result in runs.items():
        val_losses, best_epoch, outcome, weight_sums, thresholds = PINNED[name]
        assert [r["val_loss"] for r in result.history] == pytest.approx(val_losses, rel=1e-5), name
        assert (result.best_epoch, result.outcome, result.trained.thresholds) == (best_epoch, outcome, thresholds)
        sums = [float(v.double().sum()) for v in result.trained.model.state_dict().values()]
        assert sums == pytest.approx(weight_sums, rel=1e-5, abs=1e-6), name
    assert runs["refit"].info["refit"]["epochs"] == 6 and runs["shipped_like"].info.get("refit") is None
