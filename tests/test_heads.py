"""compare_heads: a sigmoid head and a softmax head trained side by side on the same multi-label data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from multilabel import Dataset, MultilabelError
from multilabel.heads import (DEMO_LABELS, DEMO_ROWS, MAX_ROWS, HeadsComparison, compare_heads, demo_data,
                              top_k_predictions)
from multilabel.metrics import evaluate


@pytest.fixture(scope="module")
def default() -> HeadsComparison:
    """The page's default comparison (2,000 rows, 8 labels, seed 0), with probabilities of many rows."""
    return compare_heads(demo_data(seed=0), seed=0, n_rows=200)


def test_default_data_has_co_occurring_labels(default):
    data = demo_data()
    assert data.Y.shape == (DEMO_ROWS, DEMO_LABELS)
    assert default.label_cardinality == pytest.approx(data.Y.sum(axis=1).mean())
    assert default.label_cardinality >= 2
    assert default.co_occurrence > 0.5
    assert default.n_train + default.n_val == DEMO_ROWS and default.n_val == 500


@pytest.mark.parametrize("seed", [0, 1])
def test_sigmoid_head_beats_softmax_head(seed):
    result = compare_heads(demo_data(seed=seed), seed=seed)
    sig, soft, topk = result.metrics["sigmoid"], result.metrics["softmax"], result.softmax_topk["metrics"]
    assert sig["micro_f1"] > 0.85 and soft["micro_f1"] < 0.5  # measured: 0.90 against 0.27-0.28
    assert sig["micro_f1"] > soft["micro_f1"] + 0.3
    assert sig["subset_accuracy"] > soft["subset_accuracy"] + 0.2  # measured: 0.65-0.67 against 0.20-0.21
    assert sig["hamming_loss"] < soft["hamming_loss"]
    # Even its best fixed top-k, chosen with hindsight on the same rows, leaves softmax behind.
    assert sig["micro_f1"] > topk["micro_f1"] and sig["subset_accuracy"] > topk["subset_accuracy"]
    assert 1 <= result.softmax_topk["k"] <= DEMO_LABELS


def test_softmax_cannot_put_two_true_labels_above_one_half(default):
    targets = np.array(default.targets)
    sig, soft = np.array(default.probs["sigmoid"]), np.array(default.probs["softmax"])
    assert len(targets) == 200 and (targets.sum(axis=1) >= 2).all()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)  # one unit of probability per row
    assert ((soft > 0.5).sum(axis=1) <= 1).all()
    two = targets.sum(axis=1) == 2
    assert two.sum() >= 20
    soft_hits = ((soft > 0.5) & (targets == 1)).sum(axis=1)
    sig_hits = ((sig > 0.5) & (targets == 1)).sum(axis=1)
    assert (soft_hits[two] <= 1).all()
    assert (sig_hits[two] == 2).mean() > 0.6  # the sigmoid head gets both labels of most such rows
    assert sig.sum(axis=1).max() > 1.5  # sigmoids are free to sum past 1


def test_reported_rows_are_validation_rows_with_their_true_labels(default):
    data = demo_data()
    assert default.rows == sorted(default.rows) and len(set(default.rows)) == len(default.rows)
    np.testing.assert_array_equal(np.array(default.targets), data.Y[default.rows].astype(int))
    assert default.label_names == data.label_names
    assert all(len(row) == DEMO_LABELS for head in ("sigmoid", "softmax") for row in default.probs[head])


def test_losses_are_recorded_per_epoch_and_fall():
    result = compare_heads(demo_data(600, 6, seed=3), epochs=12, seed=3)
    for head in ("sigmoid", "softmax"):
        assert len(result.train_loss[head]) == len(result.val_loss[head]) == 12
        assert all(math.isfinite(v) for v in result.train_loss[head] + result.val_loss[head])
        assert result.train_loss[head][-1] < result.train_loss[head][0]
    # Cross-entropy against a target spread over 2+ labels has a floor above 0 (its entropy); BCE does not.
    assert result.val_loss["softmax"][-1] > 2 * result.val_loss["sigmoid"][-1]


def test_same_seed_same_numbers_and_the_global_rng_is_left_alone():
    data = demo_data(600, 6, seed=4)
    state = torch.get_rng_state()
    first = compare_heads(data, epochs=5, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    again = compare_heads(data, epochs=5, seed=4)
    assert dataclasses.asdict(first) == dataclasses.asdict(again)
    other = compare_heads(data, epochs=5, seed=5)
    assert other.train_loss != first.train_loss


def test_top_k_predictions_marks_each_rows_k_most_probable_labels():
    probs = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    assert top_k_predictions(probs, 1).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert top_k_predictions(probs, 2).tolist() == [[0, 1, 1], [1, 1, 0]]
    assert top_k_predictions(probs, 3).tolist() == [[1, 1, 1], [1, 1, 1]]


def test_metrics_and_best_top_k_match_the_reported_probabilities():
    """On data where every row has 2+ labels, the reported rows are the whole validation split: recompute from them."""
    data = demo_data(800, 5, seed=6)
    Y = data.Y.copy()
    Y[:, 0] = 1.0
    Y[Y.sum(axis=1) < 2, 1] = 1.0
    data = Dataset(X=data.X, Y=Y, feature_names=data.feature_names, label_names=data.label_names)
    result = compare_heads(data, epochs=8, seed=6, n_rows=10_000)
    assert len(result.rows) == result.n_val == 200
    targets = torch.tensor(result.targets, dtype=torch.float32)
    cut = [0.5] * 5
    for head in ("sigmoid", "softmax"):
        again = evaluate(torch.tensor(result.probs[head]), targets, cut, data.label_names)
        for key in ("micro_f1", "hamming_loss", "subset_accuracy"):
            assert result.metrics[head][key] == pytest.approx(again[key])
    soft = torch.tensor(result.probs["softmax"])
    by_k = [evaluate(top_k_predictions(soft, k), targets, cut, data.label_names) for k in range(1, 6)]
    best = max(range(5), key=lambda i: by_k[i]["micro_f1"])
    assert result.softmax_topk["k"] == best + 1
    assert result.softmax_topk["metrics"]["micro_f1"] == pytest.approx(by_k[best]["micro_f1"])
    assert result.softmax_topk["k"] >= 2  # every row has a second label to find


def test_metrics_table_lists_both_heads_and_the_best_top_k(default):
    table = default.metrics_table()
    assert [(r["head"], r["prediction"]) for r in table] == [
        ("sigmoid", "p > 0.5 per label"), ("softmax", "p > 0.5 per label"),
        ("softmax", f"top-{default.softmax_topk['k']} (best k)")]
    assert table[0]["micro-F1"] == default.metrics["sigmoid"]["micro_f1"]
    assert table[1]["Hamming loss"] == default.metrics["softmax"]["hamming_loss"]
    assert table[2]["subset accuracy"] == default.softmax_topk["metrics"]["subset_accuracy"]


def test_bad_inputs_get_one_line_errors():
    one_label = demo_data(100, 1)
    with pytest.raises(MultilabelError, match="at least 2 labels"):
        compare_heads(one_label)
    with pytest.raises(MultilabelError, match="epochs"):
        compare_heads(demo_data(100, 3), epochs=0)
    big = Dataset(X=np.zeros((MAX_ROWS + 1, 2), np.float32), Y=np.zeros((MAX_ROWS + 1, 3), np.float32),
                  feature_names=["a", "b"], label_names=["x", "y", "z"])
    with pytest.raises(MultilabelError, match="at most"):
        compare_heads(big)
