"""Logging to TensorBoard and MLflow: what ``train --tensorboard`` / ``--mlflow`` wrote, read back with
TensorBoard's own event reader and ``mlflow.MlflowClient``, equals what the run store holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from multilabel import cli, load_checkpoint, make_synthetic
from multilabel.store import RunStore

from app_pages._nav import PAGES
from pagetest import open_page, text, wait_until

TRAIN = ["train", "--synthetic", "--samples", 400, "--input-size", 6, "--num-outputs", 3, "--epochs", 12,
         "--hidden-size", 16, "--lr", 0.01, "--patience", 0, "--refit", "none", "--device", "cpu", "--quiet"]


def _train(capsys, home: Path, *extra: object) -> dict:
    code = cli.main([*map(str, TRAIN), "--store", str(home), *map(str, extra)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_tensorboard_scalars_pr_curves_and_hparams_read_back(capsys, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    done = _train(capsys, tmp_path / "home", "--tensorboard", tmp_path / "tb")
    run_id = done["run_id"]
    store = RunStore(tmp_path / "home")
    history = store.history(run_id)
    acc = EventAccumulator(str(tmp_path / "tb" / run_id), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()

    val = acc.Scalars("loss/val")
    assert [e.step for e in val] == [r["epoch"] for r in history] == list(range(1, 13))
    assert [e.value for e in val] == pytest.approx([r["val_loss"] for r in history], rel=1e-6)
    assert [e.value for e in acc.Scalars("loss/train")] == pytest.approx([r["train_loss"] for r in history], rel=1e-6)
    evaluated = [r for r in history if r.get("val_micro_f1") is not None]
    assert evaluated and [e.step for e in acc.Scalars("f1/val_micro")] == [r["epoch"] for r in evaluated]
    assert [e.value for e in acc.Scalars("f1/val_macro")] == pytest.approx([r["val_macro_f1"] for r in evaluated])
    per_label = acc.Scalars("f1_per_label/label_1")
    assert [e.value for e in per_label] == pytest.approx([r["val_per_label"]["label_1"]["f1"] for r in evaluated])

    # The best model's PR curve of label_0, against the validation probabilities the store keeps for it.
    best_epoch = done["best"]["epoch"]
    events = [e for e in acc.Tensors("pr/label_0") if e.step == best_epoch]
    assert events and {1, 12} <= {e.step for e in acc.Tensors("pr/label_0")}  # first and last epochs too
    curve = tensor_util.make_ndarray(events[-1].tensor_proto)  # rows: TP, FP, TN, FN, precision, recall
    probs, targets = store.load_validation(run_id)
    positives = targets[:, 0] == 1
    assert curve[0, 0] == positives.sum() and curve[1, 0] == (~positives).sum()  # threshold 0: all predicted 1
    middle = (curve.shape[1] - 1) // 2  # threshold 0.5 of 127
    assert curve[0, middle] == np.sum(positives & (probs[:, 0] >= 0.5))
    assert curve[1, middle] == np.sum(~positives & (probs[:, 0] >= 0.5))

    # HParams: the run's settings and its best metrics.
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["hidden_size"].number_value == 16 and hparams["optimizer"].string_value == "adamw"
    assert hparams["learning_rate"].number_value == pytest.approx(0.01)
    best = acc.Scalars("hparam/micro_f1")
    assert best[-1].value == pytest.approx(done["best"]["micro_f1"])
    assert acc.Scalars("hparam/val_loss")[-1].value == pytest.approx(done["best"]["val_loss"])
    store.close()


@pytest.mark.slow
def test_mlflow_params_metrics_checkpoint_and_onnx_read_back(capsys, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = _train(capsys, tmp_path / "home", "--mlflow", uri, "--name", "tracked")
    run_id = done["run_id"]
    store = RunStore(tmp_path / "home")
    history = store.history(run_id)

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("multilabel").experiment_id])
    assert run.info.run_name == "tracked" and run.info.status == "FINISHED"
    assert run.data.tags["multilabel.run_id"] == run_id
    assert run.data.params["hidden_size"] == "16" and run.data.params["optimizer"] == "adamw"
    assert run.data.params["refit"] == "none" and run.data.params["rows"] == "400"
    val = client.get_metric_history(run.info.run_id, "val_loss")
    assert sorted((m.step, m.value) for m in val) == [(r["epoch"], pytest.approx(r["val_loss"])) for r in history]
    f1 = client.get_metric_history(run.info.run_id, "val_f1/label_2")
    evaluated = [r for r in history if r.get("val_micro_f1") is not None]
    assert sorted(m.step for m in f1) == [r["epoch"] for r in evaluated]
    assert run.data.metrics["best_micro_f1"] == pytest.approx(done["best"]["micro_f1"])

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {f"model/{run_id}.pt", "model/model.onnx"}
    local = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path / "got")))
    trained = load_checkpoint(local / f"{run_id}.pt")
    assert trained.run_id == run_id
    X = make_synthetic(100, 6, 3, seed=3).X
    session = ort.InferenceSession(str(local / "model.onnx"), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(["probabilities"], {"features": X})[0] - trained.predict_proba(X)).max() <= 1e-5
    store.close()


def test_without_the_packages_the_options_say_what_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed: find_spec and import fail
    monkeypatch.setitem(sys.modules, "mlflow", None)
    for flag, words in ((["--tensorboard", tmp_path / "tb"], "pip install tensorboard"),
                        (["--mlflow"], "pip install mlflow-skinny")):
        code = cli.main([*map(str, TRAIN), "--store", str(tmp_path / "home"), *map(str, flag)])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "home").exists()  # refused before any run was created


def test_an_unusable_mlflow_uri_is_one_line_and_fails_the_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main([*map(str, TRAIN), "--store", str(tmp_path / "home"), "--mlflow", "nosuchscheme://x"])
    out, err = capsys.readouterr()
    assert code == 2 and "--mlflow cannot log to 'nosuchscheme://x'" in err and len(err.strip().splitlines()) == 1
    (run,) = RunStore(tmp_path / "home").list_runs()
    assert run["status"] == "failed" and "--mlflow" in run["error"]


def test_the_train_form_logs_a_run_to_tensorboard(home, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    at = open_page(PAGES["Train"])
    at.text_input(key="tensorboard_dir").set_value(str(tmp_path / "tb"))
    at.slider(key="patience").set_value(0)
    at.slider(key="epochs").set_value(6).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_id = at.session_state["run_id"]
    wait_until(at, lambda at: "status: **completed**" in text(at), "the run to complete")
    history = RunStore(home).history(run_id)
    acc = EventAccumulator(str(tmp_path / "tb" / run_id), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss/val")] == [
        (r["epoch"], pytest.approx(r["val_loss"], rel=1e-6)) for r in history]
    assert "hparam/micro_f1" in acc.Tags()["scalars"]


def test_a_tracker_failing_mid_run_is_one_warning_and_the_run_goes_on(store, small_data, make_config, capsys):
    """Trackers keeps a failing tracker from ending the run: one warning line, then that tracker is dropped."""
    from multilabel.tracking import Trackers
    from multilabel.worker import StopFlag, run_training

    class FullDisk:  # a tracker whose writes fail from the third epoch on, as a full disk would
        def __init__(self) -> None:
            self.epochs: list[int] = []

        def epoch(self, record: dict) -> None:
            if record["epoch"] >= 3:
                raise OSError(28, "No space left on device")
            self.epochs.append(record["epoch"])

        def validation(self, epoch, probs, targets) -> None:
            pass

        def finish(self, result, checkpoint, status) -> None:
            raise AssertionError("a dropped tracker is not called again")

    tracker = FullDisk()
    config = make_config(epochs=6)
    run_id = store.create_run(config.to_dict(), small_data.description)
    result = run_training(store, run_id, config, small_data, StopFlag(store, run_id), trackers=Trackers([tracker]))
    assert result is not None and result.outcome == "completed"
    assert tracker.epochs == [1, 2]
    assert [r["epoch"] for r in store.history(run_id)] == list(range(1, 7))  # the store has every epoch
    assert store.get_run(run_id)["status"] == "completed"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: logging to FullDisk stopped (OSError: [Errno 28] No space left on device); the run goes on"]
