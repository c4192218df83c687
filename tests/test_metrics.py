"""Metrics on tiny hand-computed examples: per-label thresholds, micro vs macro F1, exact-match subset accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from multilabel.metrics import HIST_BINS, evaluate, probability_histograms, tune_thresholds

LABELS = ["a", "b", "c"]
# Four rows, three labels. At 0.5 the only mistake is row 2's label b (0.6 predicted positive, truly 0).
PROBS = torch.tensor([[0.9, 0.2, 0.6],
                      [0.1, 0.8, 0.4],
                      [0.7, 0.6, 0.3],
                      [0.2, 0.1, 0.9]])
TARGETS = torch.tensor([[1, 0, 1],
                        [0, 1, 0],
                        [1, 0, 0],
                        [0, 0, 1]], dtype=torch.float32)


def test_evaluate_matches_hand_computed_values_at_one_half():
    result = evaluate(PROBS, TARGETS, [0.5, 0.5, 0.5], LABELS)
    assert result["hamming_loss"] == pytest.approx(1 / 12)  # one wrong cell of twelve
    assert result["subset_accuracy"] == pytest.approx(3 / 4)  # three rows entirely right
    assert result["micro_f1"] == pytest.approx(10 / 11)  # TP 5, FP 1, FN 0 over all labels
    assert result["macro_f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)  # label b: TP 1, FP 1
    assert result["per_label"]["b"]["f1"] == pytest.approx(2 / 3)
    assert result["per_label"]["a"] == {"f1": pytest.approx(1.0), "auroc": pytest.approx(1.0), "support": 2}
    assert [result["per_label"][k]["support"] for k in LABELS] == [2, 1, 2]


def test_each_label_is_cut_at_its_own_threshold():
    result = evaluate(PROBS, TARGETS, [0.5, 0.65, 0.5], LABELS)  # b's 0.6 now falls below its cut
    assert result["hamming_loss"] == 0.0
    assert result["subset_accuracy"] == 1.0
    assert result["micro_f1"] == pytest.approx(1.0) and result["macro_f1"] == pytest.approx(1.0)


def test_a_probability_equal_to_the_threshold_counts_as_positive():
    probs = torch.tensor([[0.5], [0.2]])
    targets = torch.tensor([[1.0], [0.0]])
    assert evaluate(probs, targets, [0.5], ["x"])["subset_accuracy"] == 1.0


def test_subset_accuracy_is_exact_match_not_element_wise_accuracy():
    # Sparse labels, and a model that always says 0: element-wise accuracy would be 5/6, exact match is 1/2.
    probs = torch.zeros(2, 3)
    targets = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    result = evaluate(probs, targets, [0.5] * 3, LABELS)
    assert result["subset_accuracy"] == pytest.approx(0.5)
    assert result["hamming_loss"] == pytest.approx(1 / 6)
    assert result["micro_f1"] == 0.0


def test_auroc_is_none_for_a_label_with_one_class_and_results_are_json():
    targets = TARGETS.clone()
    targets[:, 1] = 0  # label b has no positive row
    result = evaluate(PROBS, targets, [0.5] * 3, LABELS)
    assert result["per_label"]["b"]["auroc"] is None
    assert result["per_label"]["b"]["support"] == 0
    assert result["per_label"]["c"]["auroc"] == pytest.approx(1.0)
    json.dumps(result, allow_nan=False)  # plain floats only: the store and the CLI write this as JSON


def test_probability_histograms_split_counts_by_true_label_and_put_one_in_the_last_bin():
    probs = np.array([[0.05], [0.15], [0.95], [1.0], [0.55]])
    targets = np.array([[0], [0], [1], [1], [1]])
    (hist,) = probability_histograms(probs, targets)
    assert len(hist["neg"]) == len(hist["pos"]) == HIST_BINS
    assert hist["neg"][0] == 1 and hist["neg"][1] == 1 and sum(hist["neg"]) == 2
    assert hist["pos"][HIST_BINS - 1] == 2 and hist["pos"][5] == 1 and sum(hist["pos"]) == 3


def test_tune_thresholds_finds_the_cut_that_separates_a_low_scoring_label():
    # Positives score 0.3-0.4, negatives 0.1-0.2: at 0.5 F1 is 0, any cut in (0.2, 0.3] is perfect.
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.1], [0.4, 0.2]])
    targets = np.array([[0, 1], [0, 1], [1, 0], [1, 0]])
    thresholds = tune_thresholds(probs, targets)
    assert thresholds[0] == pytest.approx(0.3)  # of the perfect cuts 0.25 and 0.3, the one nearest 0.5
    assert thresholds[1] == pytest.approx(0.5)  # already perfect at 0.5: stays there
    before = evaluate(torch.tensor(probs), torch.tensor(targets), [0.5, 0.5], ["low", "high"])
    after = evaluate(torch.tensor(probs), torch.tensor(targets), thresholds, ["low", "high"])
    assert before["per_label"]["low"]["f1"] == 0.0
    assert after["per_label"]["low"]["f1"] == pytest.approx(1.0)
    assert after["macro_f1"] > before["macro_f1"]


def test_tune_thresholds_keeps_one_half_for_a_label_without_positives():
    probs = np.array([[0.9], [0.1]])
    assert tune_thresholds(probs, np.zeros((2, 1))) == [0.5]


def test_tune_thresholds_uses_the_given_grid():
    probs = np.array([[0.3], [0.35], [0.9]])
    targets = np.array([[0], [1], [1]])
    assert tune_thresholds(probs, targets, grid=[0.32, 0.6]) == [pytest.approx(0.32)]


def test_evaluate_agrees_with_torchmetrics_on_random_data_with_ties():
    from torchmetrics.functional.classification import (multilabel_auroc, multilabel_exact_match,
                                                        multilabel_f1_score, multilabel_hamming_distance)
    gen = torch.Generator().manual_seed(3)
    probs = torch.rand(500, 7, generator=gen)
    probs[:100] = (probs[:100] * 3).round() / 3  # many exact ties (none at the 0.5 cut, where torchmetrics uses >)
    targets = (torch.rand(500, 7, generator=gen) < torch.linspace(0.05, 0.6, 7)).float()
    names = [f"l{j}" for j in range(7)]
    got = evaluate(probs, targets, [0.5] * 7, names)
    t = targets.int()
    kw = dict(num_labels=7)
    assert got["micro_f1"] == pytest.approx(float(multilabel_f1_score(probs, t, average="micro", **kw)), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(float(multilabel_f1_score(probs, t, average="macro", **kw)), abs=1e-6)
    assert got["hamming_loss"] == pytest.approx(float(multilabel_hamming_distance(probs, t, **kw)), abs=1e-6)
    assert got["subset_accuracy"] == pytest.approx(float(multilabel_exact_match(probs, t, **kw)), abs=1e-6)
    auroc = multilabel_auroc(probs, t, average="none", **kw).tolist()
    f1 = multilabel_f1_score(probs, t, average="none", **kw).tolist()
    for j, name in enumerate(names):
        assert got["per_label"][name]["auroc"] == pytest.approx(auroc[j], abs=1e-6)
        assert got["per_label"][name]["f1"] == pytest.approx(f1[j], abs=1e-6)
