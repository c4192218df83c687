"""Per-label analysis: curves against scikit-learn, confusion counts, the threshold trade-off against
metrics.evaluate, and thresholds saved into a finished run's model."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import (average_precision_score, f1_score, precision_recall_curve, precision_score,
                             recall_score, roc_auc_score, roc_curve)

from multilabel import MultilabelError, TrainConfig, load_checkpoint, make_synthetic
from multilabel.analysis import (Tradeoff, all_label_curves, confusion_matrices, label_curves, save_thresholds,
                                 with_thresholds)
from multilabel.metrics import evaluate
from multilabel.predict import PROB_SUFFIX, predict_frame
from multilabel.session import get_registry
from multilabel.store import RunStore

REPO = Path(__file__).resolve().parents[1]


def tied_data(n: int = 300, labels: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities rounded to 2 decimals (many ties) that lean towards the truth, with labels of varied rates."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < np.linspace(0.1, 0.6, labels)).astype(np.int8)
    p = np.clip(0.35 * y + rng.random((n, labels)) * 0.65, 0, 1)
    return np.round(p, 2).astype(np.float32), y


# -- curves --------------------------------------------------------------------------------------------------------

def test_curves_match_sklearn_on_tied_data():
    p, y = tied_data()
    assert len(np.unique(p[:, 0])) < len(p) / 2  # the data really has ties
    curves = all_label_curves(p, y, ["a", "b", "c", "d"])
    assert [c.label for c in curves] == ["a", "b", "c", "d"]
    for j, c in enumerate(curves):
        precision, recall, thresholds = precision_recall_curve(y[:, j], p[:, j])
        np.testing.assert_allclose(c.precision, precision, atol=1e-6)
        np.testing.assert_allclose(c.recall, recall, atol=1e-6)
        np.testing.assert_allclose(c.pr_thresholds, thresholds, atol=1e-6)
        fpr, tpr, roc_thr = roc_curve(y[:, j], p[:, j], drop_intermediate=False)
        np.testing.assert_allclose(c.fpr, fpr, atol=1e-6)
        np.testing.assert_allclose(c.tpr, tpr, atol=1e-6)
        np.testing.assert_allclose(c.roc_thresholds[1:], roc_thr[1:], atol=1e-6)  # sklearn starts at inf
        assert c.auroc == pytest.approx(roc_auc_score(y[:, j], p[:, j]), abs=1e-6)
        assert c.average_precision == pytest.approx(average_precision_score(y[:, j], p[:, j]), abs=1e-6)
        assert (c.positives, c.negatives) == (int(y[:, j].sum()), int(len(y) - y[:, j].sum()))


def test_curves_equal_torchmetrics_which_drew_them_before_including_the_first_roc_threshold():
    from torchmetrics.functional.classification import (binary_auroc, binary_average_precision,
                                                         binary_precision_recall_curve, binary_roc)

    rng = np.random.default_rng(1)
    for _ in range(40):
        n = int(rng.integers(2, 300))
        y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int64)
        p = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), int(rng.integers(1, 4))).astype(np.float32)
        if y.min() == y.max():
            continue
        c = label_curves(p[:, None], y[:, None], 0)
        pt, yt = torch.from_numpy(p), torch.from_numpy(y)
        for ours, theirs in zip((c.precision, c.recall, c.pr_thresholds, c.fpr, c.tpr, c.roc_thresholds),
                                (*binary_precision_recall_curve(pt, yt), *binary_roc(pt, yt))):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-6)
        assert c.average_precision == pytest.approx(binary_average_precision(pt, yt).item(), abs=1e-6)
        assert c.auroc == pytest.approx(binary_auroc(pt, yt).item(), abs=1e-6)


def test_one_class_labels_have_no_undefined_curves_and_no_warnings():
    p, y = tied_data(50, 3)
    y[:, 0] = 0
    y[:, 1] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none_pos, all_pos, normal = (label_curves(p, y, j) for j in range(3))
    assert none_pos.precision == [] and none_pos.average_precision is None
    assert none_pos.fpr == [] and none_pos.auroc is None
    assert all_pos.fpr == [] and all_pos.auroc is None
    assert all_pos.average_precision == pytest.approx(1.0)  # every row is positive: precision 1 everywhere
    assert normal.auroc is not None and normal.label == "2"


# -- confusion -----------------------------------------------------------------------------------------------------

def test_confusion_matches_a_hand_count():
    p = np.array([[0.9, 0.2], [0.6, 0.5], [0.4, 0.7], [0.1, 0.5]], dtype=np.float32)
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    a, b = confusion_matrices(p, y, [0.5, 0.5], ["a", "b"])
    # a: rows 0,1 predicted 1; truth 1,0,1,0 -> tp row0, fp row1, fn row2, tn row3
    assert (a.tn, a.fp, a.fn, a.tp) == (1, 1, 1, 1)
    assert (a.tpr, a.fnr, a.tnr, a.fpr) == (0.5, 0.5, 0.5, 0.5)
    # b: p >= 0.5 is rows 1,2,3 (0.5 counts as 1); truth 0,1,1,0 -> tn row0, tp rows 1,2, fp row3
    assert (b.tn, b.fp, b.fn, b.tp) == (1, 1, 0, 2)
    assert (b.tpr, b.fnr, b.tnr, b.fpr) == (1.0, 0.0, 0.5, 0.5)
    assert b.threshold == 0.5 and b.label == "b"


def test_confusion_counts_add_up_and_agree_with_the_tradeoff():
    p, y = tied_data()
    cuts = [0.3, 0.5, 0.62, 0.9]
    tradeoff = Tradeoff(p, y)
    for c, point, j in zip(confusion_matrices(p, y, cuts, list("abcd")), tradeoff.all_at(cuts), range(4)):
        assert c.total == len(p)
        assert c.tp + c.fn == y[:, j].sum()
        assert c.tpr + c.fnr == pytest.approx(1) and c.tnr + c.fpr == pytest.approx(1)
        assert (c.tp, c.fp, c.fn, c.tn) == (point.tp, point.fp, point.fn, point.tn)


def test_confusion_rate_of_an_empty_class_is_none():
    (c,) = confusion_matrices(np.array([[0.2], [0.8]]), np.array([[0], [0]]), [0.5], ["x"])
    assert c.tpr is None and c.fnr is None and c.fpr == 0.5


# -- trade-off -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.33, 0.5, 0.51, 0.77, 0.99, 1.0])
def test_tradeoff_equals_evaluate_and_sklearn_at_a_threshold(threshold):
    p, y = tied_data()
    names = list("abcd")
    tradeoff = Tradeoff(p, y)
    per_label = evaluate(torch.from_numpy(p), torch.from_numpy(y).float(), [threshold] * 4, names)["per_label"]
    for j, name in enumerate(names):
        point = tradeoff.at(j, threshold)
        pred = p[:, j] >= np.float32(threshold)
        assert point.f1 == pytest.approx(per_label[name]["f1"], abs=1e-12)
        assert point.f1 == pytest.approx(f1_score(y[:, j], pred, zero_division=0.0))
        assert point.recall == pytest.approx(recall_score(y[:, j], pred))
        if pred.any():
            assert point.precision == pytest.approx(precision_score(y[:, j], pred))
        else:
            assert point.precision is None


def test_tradeoff_at_a_curve_threshold_is_that_curve_point():
    p, y = tied_data()
    tradeoff = Tradeoff(p, y)
    curve = label_curves(p, y, 2)
    for k in range(0, len(curve.pr_thresholds), 7):
        point = tradeoff.at(2, curve.pr_thresholds[k])
        assert (point.precision, point.recall) == pytest.approx((curve.precision[k], curve.recall[k]), abs=1e-6)


def test_tradeoff_edge_cases():
    t = Tradeoff(np.array([[0.2], [0.2], [0.7]]), np.array([[0], [1], [1]]))
    assert t.at(0, 0.2).tp == 2 and t.at(0, 0.2).fp == 1  # ties at the threshold count as predicted 1
    above = t.at(0, 0.9)
    assert above.precision is None and above.recall == 0.0 and above.f1 == 0.0 and above.tn == 1
    with pytest.raises(ValueError):
        t.all_at([0.5, 0.5])


# -- thresholds into the model -------------------------------------------------------------------------------------

def test_with_thresholds_copies_and_checks(trained_small):
    before = list(trained_small.thresholds)
    moved = with_thresholds(trained_small, [0.1, 0.2, 0.9])
    assert moved.thresholds == [0.1, 0.2, 0.9]  # as given, not rounded to float32
    assert trained_small.thresholds == before
    assert moved.model is trained_small.model and moved.label_names == trained_small.label_names
    for bad in ([0.5, 0.5], [0.5, 0.5, 1.5]):
        with pytest.raises(MultilabelError, match="one threshold in \\[0, 1\\] per label"):
            with_thresholds(trained_small, bad)


def same(a, b) -> bool:
    """Deep equality of checkpoint payload parts (dicts, lists, tensors, numbers)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture
def finished_run(tmp_path):
    """A run trained through the session registry in a fresh home: (store, run_id)."""
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=6, patience=0, seed=2).validate()
    session = get_registry(tmp_path).start(config, make_synthetic(300, 6, 3, seed=2))
    assert session.join(timeout=120)
    assert session.snapshot()["status"] == "completed", session.snapshot()["error"]
    store = RunStore(tmp_path)
    yield store, session.run_id
    store.close()


def test_save_thresholds_writes_a_checkpoint_predict_uses(finished_run):
    store, run_id = finished_run
    path = store.checkpoint_path(run_id)
    original = load_checkpoint(path)
    assert original.thresholds == [0.5, 0.5, 0.5]
    new = [0.3, 0.65, 0.8]
    best = save_thresholds(store, run_id, new)

    saved = load_checkpoint(path)
    assert saved.thresholds == pytest.approx(new)
    assert saved.run_id == run_id and saved.label_names == original.label_names
    assert saved.feature_names == original.feature_names
    for key, value in original.model.state_dict().items():
        assert torch.equal(saved.model.state_dict()[key], value)
    np.testing.assert_array_equal(saved.standardizer.mean, original.standardizer.mean)
    assert original.resume is not None and same(saved.resume, original.resume)  # the run can still be continued

    # The metrics are recomputed on the stored validation split at the new thresholds, in checkpoint and run.
    probs, targets = store.load_validation(run_id)
    expected = evaluate(torch.from_numpy(probs), torch.from_numpy(targets).float(), new, saved.label_names)
    run = store.get_run(run_id)
    assert run["best"] == best == saved.metrics
    assert best["micro_f1"] == pytest.approx(expected["micro_f1"])
    assert best["per_label"] == expected["per_label"]
    assert best["thresholds"] == pytest.approx(new) and best["epoch"] == original.metrics["epoch"]
    assert best["val_loss"] == original.metrics["val_loss"]
    assert run["notes"][-1]["text"].startswith("thresholds saved: ")
    # The registry that trained the run (the Train page's view of it) shows the new metrics too, not its memory.
    registry = get_registry(store.home)
    assert registry.get(run_id) is not None  # the in-memory session, not the stored record, answers view()
    view = registry.view(run_id)
    assert view.best == best and view.notes[-1]["text"] == run["notes"][-1]["text"]
    assert "0.50→0.30" in run["notes"][-1]["text"]
    again = [0.3, 0.5, 0.8]  # only label_1 moves: the note names it alone, not "0.30→0.30"
    save_thresholds(store, run_id, again)
    note = store.get_run(run_id)["notes"][-1]["text"]
    assert note.startswith(f"thresholds saved: {saved.label_names[1]} 0.65→0.50 (")
    assert "0.30→0.30" not in note and "0.80→0.80" not in note

    # predict_frame cuts at the saved thresholds, and they change some 0/1 answers.
    data = make_synthetic(200, 6, 3, seed=9)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    result, _ = predict_frame(saved, frame)
    for j, label in enumerate(saved.label_names):
        probs_j = result[label + PROB_SUFFIX].to_numpy()
        np.testing.assert_array_equal(result[label].to_numpy(), (probs_j >= np.float32(new[j])).astype(np.int8))
    old_result, _ = predict_frame(original, frame)
    assert not old_result[saved.label_names].equals(result[saved.label_names])


def test_save_thresholds_refuses_bad_input_and_keeps_the_checkpoint(finished_run):
    store, run_id = finished_run
    path = store.checkpoint_path(run_id)
    before = path.read_bytes()
    with pytest.raises(MultilabelError, match="per label"):
        save_thresholds(store, run_id, [0.5, 0.5])
    store.validation_path(run_id).unlink()
    with pytest.raises(MultilabelError, match="no stored validation data"):
        save_thresholds(store, run_id, [0.4, 0.4, 0.4])
    assert path.read_bytes() == before
    assert store.get_run(run_id)["notes"] == []
    # no temp file left behind (beside the model, the run's last live snapshot of its training)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, store.live_validation_path(run_id).name])


def test_importing_analysis_does_not_import_torchmetrics():
    code = "import sys, multilabel.analysis, multilabel.engine; assert 'torchmetrics' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


@pytest.mark.parametrize("cuts", [[0.5] * 4, [0.05, 0.33, 0.62, 0.99], [0.0, 1.0, 0.5, 0.44]])
def test_summary_at_equals_evaluate(cuts):
    from multilabel.analysis import summary_at
    p, y = tied_data()
    want = evaluate(torch.from_numpy(p), torch.from_numpy(y).float(), cuts, list("abcd"))
    got = summary_at(p, y, cuts)
    assert set(got) == {"micro_f1", "macro_f1", "hamming_loss", "subset_accuracy"}
    for key, value in got.items():
        assert value == pytest.approx(want[key], abs=1e-12), key


# -- the network, visible ----------------------------------------------------------------------------------------------

def test_network_picture_keeps_each_layer_s_strongest_units_and_the_weights_between_them():
    from multilabel.analysis import network_picture

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(40, 7)), rng.normal(size=(5, 40))
    w1[:, 3] *= 10  # feature x3 feeds the hidden layer hardest
    alive = np.ones(40, dtype=bool)
    alive[[2, 9]] = False
    pic = network_picture(w1, w2, alive, [f"f{i}" for i in range(7)], list("abcde"), max_units=4)
    inputs, hidden, outputs = pic.layers
    assert (inputs.size, hidden.size, outputs.size) == (7, 40, 5)
    want_in = sorted(np.argsort(-np.linalg.norm(w1, axis=0))[:4].tolist())
    want_h = sorted(np.argsort(-(np.linalg.norm(w1, axis=1) * np.linalg.norm(w2, axis=0)))[:4].tolist())
    want_o = sorted(np.argsort(-np.linalg.norm(w2, axis=1))[:4].tolist())
    assert (inputs.shown, hidden.shown, outputs.shown) == (want_in, want_h, want_o) and 3 in inputs.shown
    assert inputs.names == [f"f{i}" for i in want_in] and outputs.names == [list("abcde")[o] for o in want_o]
    assert hidden.norm == pytest.approx(np.linalg.norm(w1[want_h], axis=1).tolist())
    assert hidden.dead == [h in (2, 9) for h in want_h] and pic.dead_units == 2
    assert hidden.title == "hidden (ReLU) · 40 · 2 dead"
    assert len(pic.edges[0]) == 16 and len(pic.edges[1]) == 16
    for a, b, w in pic.edges[0]:
        assert w == w1[want_h[b], want_in[a]]
    for a, b, w in pic.edges[1]:
        assert w == w2[want_o[b], want_h[a]]


def test_network_picture_without_alive_units_knows_no_dead_ones_and_rejects_mismatched_weights():
    from multilabel.analysis import network_picture

    pic = network_picture(np.ones((3, 2)), np.ones((1, 3)))
    assert pic.dead_units is None and pic.layers[1].dead is None and pic.layers[1].title == "hidden (ReLU) · 3"
    assert pic.layers[0].names == ["x0", "x1"] and pic.layers[2].names == ["label_0"]
    with pytest.raises(ValueError, match="need weights"):
        network_picture(np.ones((3, 2)), np.ones((1, 4)))


def test_network_history_reads_the_evaluated_epochs_of_a_real_run(small_data):
    from multilabel import train
    from multilabel.analysis import network_history

    config = TrainConfig(input_size=6, hidden_size=16, num_outputs=3, epochs=6, eval_every=2, patience=0,
                         device="cpu", learning_rate=1e-2, batch_size=32).validate()
    history = train(config, small_data).history
    cols = network_history(history)
    assert cols["epoch"] == [1, 2, 4, 6]  # evaluated epochs only
    by_epoch = {r["epoch"]: r["net"] for r in history if "net" in r}
    assert cols["grad_norm_output"] == [by_epoch[e]["grad_norm"][1] for e in cols["epoch"]]
    assert cols["dead_relu"] == [by_epoch[e]["dead_relu"] for e in cols["epoch"]]


def test_model_picture_draws_the_saved_weights_with_the_model_s_names(trained_small):
    from multilabel.analysis import model_picture, network_picture

    net = trained_small.model
    w1, w2 = net.weight_matrices()
    assert w1.shape == (net.hidden_size, net.input_size) and w2.shape == (net.num_outputs, net.hidden_size)
    assert np.array_equal(w1, net.net[0].weight.detach().numpy())
    assert np.array_equal(w2, net.net[-1].weight.detach().numpy())
    pic = model_picture(trained_small)
    same_pic = network_picture(w1, w2, None, trained_small.feature_names, trained_small.label_names)
    assert pic == same_pic and pic.dead_units is None
    assert pic.layers[0].names == [trained_small.feature_names[i] for i in pic.layers[0].shown]
    assert pic.layers[2].names == [trained_small.label_names[j] for j in pic.layers[2].shown]


def test_live_picture_names_units_from_the_run_info_or_numbers_them():
    from multilabel.analysis import live_picture

    rng = np.random.default_rng(0)
    snap = {"weights": (rng.normal(size=(4, 3)), rng.normal(size=(2, 4))), "alive": np.array([1, 0, 1, 1], bool)}
    pic = live_picture(snap, {"feature_names": ["a", "b", "c"], "label_names": ["y", "z"]})
    assert pic.dead_units == 1 and sorted(pic.layers[0].names) == ["a", "b", "c"]
    assert sorted(live_picture(snap, None).layers[2].names) == ["label_0", "label_1"]


def test_inspectable_runs_are_finished_with_a_model_live_or_ended_with_a_live_epoch(finished_run):
    from multilabel.analysis import inspectable

    store, run_id = finished_run
    run = store.get_run(run_id)
    assert inspectable(store, run)
    assert not inspectable(store, {**run, "checkpoint": None})  # finished without a model
    assert inspectable(store, {**run, "status": "running"})
    crashed = {**run, "status": "interrupted"}
    assert inspectable(store, crashed) == store.live_validation_path(run_id).is_file()
    assert not inspectable(store, {**crashed, "id": "no-such-run"})
    from multilabel.analysis import inspectable_runs
    assert [r["id"] for r in inspectable_runs(store)] == [run_id]


def test_drawing_the_curves_imports_no_torchmetrics():
    # The server draws these for Inspect: torchmetrics (and the scipy behind it) cost a first Inspect page 0.7 s of
    # imports for formulas that NumPy computes directly.
    code = ("import sys, numpy as np\nfrom multilabel.analysis import all_label_curves\n"
            "y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]]); p = np.array([[.9, .2], [.3, .8], [.6, .4], [.1, .5]])\n"
            "curves = all_label_curves(p, y, ['a', 'b'])\nassert curves[0].auroc == 1.0, curves[0]\n"
            "print(sorted(m for m in ('torchmetrics', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
