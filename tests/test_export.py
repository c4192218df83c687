"""ONNX export: the exported file, run by onnxruntime alone, gives the project's own predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from multilabel import make_synthetic
from multilabel.batched import refit_seeds
from multilabel.checkpoint import load_checkpoint, save_checkpoint
from multilabel.export import export_onnx, onnx_bytes, read_metadata
from multilabel.predict import PROB_SUFFIX, predict_frame
from multilabel.search import ensemble

REPO = Path(__file__).resolve().parents[1]


def _rows(n: int, features: int = 6, seed: int = 11) -> np.ndarray:
    # Off the training distribution's scale and centre: the standardization inside the graph has work to do.
    rng = np.random.default_rng(seed)
    return (3.0 * rng.standard_normal((n, features)) + 1.5).astype(np.float32)


def _session(trained, tmp_path) -> ort.InferenceSession:
    path = export_onnx(trained, tmp_path / "model.onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture
def trained_ensemble(make_config):
    """Three nets refit on the same rows with different seeds (as a search's ensemble is built), joined."""
    data = make_synthetic(400, 6, 3, noise=0.1, seed=7)
    members = refit_seeds(make_config(epochs=4), data, epochs=4, seeds=[0, 1, 2], thresholds=[0.4, 0.5, 0.6])
    return ensemble(members)


def _check_against_predict(trained, session: ort.InferenceSession, X: np.ndarray) -> None:
    frame = pd.DataFrame(X, columns=trained.feature_names)
    scored, _ = predict_frame(trained, frame)
    expected = scored[[label + PROB_SUFFIX for label in trained.label_names]].to_numpy(np.float32)
    probs, logits = session.run(["probabilities", "logits"], {"features": X})
    assert probs.shape == logits.shape == (len(X), len(trained.label_names))
    assert np.abs(probs - expected).max() <= 1e-5
    # sigmoid(logits) = probabilities, for one net and for an ensemble (the logit of the members' mean)
    assert np.abs(1 / (1 + np.exp(-logits.astype(np.float64))) - probs).max() <= 1e-5


def test_single_model_matches_predict_at_batch_1_and_1000(trained_small, tmp_path):
    session = _session(trained_small, tmp_path)
    X = _rows(1000)
    _check_against_predict(trained_small, session, X)  # batch 1000
    _check_against_predict(trained_small, session, X[:300])
    for i in (0, 1, 999):  # batch 1, row by row
        _check_against_predict(trained_small, session, X[i:i + 1])
    # the raw logits are the net's own (standardized inputs, no sigmoid)
    with torch.no_grad():
        z = trained_small.model.eval()(torch.from_numpy(trained_small.standardizer.transform(X))).numpy()
    assert np.abs(session.run(["logits"], {"features": X})[0] - z).max() <= 1e-4


def test_ensemble_averages_members_inside_the_graph(trained_ensemble, tmp_path):
    assert len(trained_ensemble.nets) == 3
    session = _session(trained_ensemble, tmp_path)
    X = _rows(1000, seed=3)
    _check_against_predict(trained_ensemble, session, X)
    _check_against_predict(trained_ensemble, session, X[:1])
    # the mean, not one member: the first member alone differs from the ensemble's probabilities
    alone = trained_ensemble.model.eval()
    with torch.no_grad():
        p0 = torch.sigmoid(alone(torch.from_numpy(trained_ensemble.standardizer.transform(X)))).numpy()
    assert np.abs(session.run(["probabilities"], {"features": X})[0] - p0).max() > 1e-3


def test_metadata_names_and_dynamic_batch_read_back(trained_ensemble, tmp_path):
    session = _session(trained_ensemble, tmp_path)
    meta = read_metadata(session)
    assert meta["feature_names"] == trained_ensemble.feature_names
    assert meta["label_names"] == trained_ensemble.label_names
    assert meta["thresholds"] == pytest.approx(trained_ensemble.thresholds)
    assert meta["thresholds"] == pytest.approx([0.4, 0.5, 0.6])
    assert meta["members"] == 3
    assert read_metadata(tmp_path / "model.onnx") == meta  # the onnx package reads the same
    (inp,) = session.get_inputs()
    assert (inp.name, inp.type, inp.shape) == ("features", "tensor(float)", ["batch", 6])
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("probabilities", ["batch", 3]),
                                                                  ("logits", ["batch", 3])]


def test_same_model_same_bytes(trained_small):
    assert onnx_bytes(trained_small) == onnx_bytes(trained_small)


@pytest.mark.slow
def test_cli_export_model_and_run(cli, tmp_path, store_home):
    done = cli("train", "--synthetic", "--samples", 300, "--input-size", 5, "--num-outputs", 3, "--epochs", 3,
               "--quiet", "--out", tmp_path / "m.pt")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    by_model = cli("export", "--model", tmp_path / "m.pt", "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert by_model.returncode == 0, by_model.stderr
    assert json.loads(by_model.stdout)["members"] == 1
    by_run = cli("export", "--run", run_id, "--out", tmp_path / "r.onnx")
    assert by_run.returncode == 0, by_run.stderr
    trained = load_checkpoint(tmp_path / "m.pt")
    X = _rows(200, features=5)
    for name in ("m.onnx", "r.onnx"):
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        _check_against_predict(trained, session, X)
        assert read_metadata(session)["run_id"] == run_id


@pytest.mark.slow
def test_cli_export_errors_are_one_line(cli, tmp_path, trained_small):
    (tmp_path / "not.pt").write_text("hello")
    for args, words in ((("--model", tmp_path / "not.pt"), "not a multilabel checkpoint"),
                        (("--model", tmp_path / "missing.pt"), "does not exist"),
                        (("--run", "nope"), "no run")):
        done = cli("export", *args, "--out", tmp_path / "x.onnx")
        assert done.returncode == 2
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    save_checkpoint(trained_small, tmp_path / "ok.pt")
    done = cli("export", "--model", tmp_path / "ok.pt", "--out", tmp_path / "no-such-folder" / "x.onnx")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_the_readme_snippet_scores_a_csv_without_torch(trained_small, tmp_path):
    """The README's onnxruntime + pandas lines, run as written, give predict's probabilities; torch never loads."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Use the model elsewhere (ONNX)", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    export_onnx(trained_small, tmp_path / "model.onnx")
    X = _rows(300)
    frame = pd.DataFrame(X[:, ::-1], columns=trained_small.feature_names[::-1])  # columns in another order
    frame.insert(0, "id", range(300))
    frame.to_csv(tmp_path / "new.csv", index=False)
    check = snippet + "\nimport sys\nassert 'torch' not in sys.modules, 'the snippet loaded torch'\n"
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(tmp_path / "probabilities.csv")
    assert list(got.columns) == trained_small.label_names
    # (CSV text round-trips the inputs: a float32 written with ~9 digits reads back the same float32)
    assert np.abs(got.to_numpy(np.float32) - trained_small.predict_proba(X)).max() <= 1e-5
