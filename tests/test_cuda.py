"""CUDA-only behaviour: the graphed training step, device choice, GPU checkpoints. Skips where there is no GPU."""

import numpy as np
import pytest
import torch

from multilabel import TrainConfig, load_checkpoint, make_synthetic, resolve_device, save_checkpoint, train
from multilabel.predict import predict_csv, predict_frame

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")


def _config(**kw):
    # No dropout: the graph's warm-up steps draw dropout masks, so with dropout graphed and eager runs see other masks.
    base = dict(input_size=16, hidden_size=64, num_outputs=6, epochs=8, batch_size=128, patience=0, device="cuda",
                seed=3, threshold_mode="fixed", weight_decay=0.0, dropout=0.0, optimizer="adam")
    return TrainConfig(**{**base, **kw}).validate()


@cuda
def test_graphed_and_eager_steps_give_the_same_losses():
    data = make_synthetic(1000, 16, 6, noise=0.2, seed=1)  # 800 training rows: 6 full batches + a partial one
    graphed = train(_config(cuda_graph="on"), data)
    eager = train(_config(cuda_graph="off"), data)
    assert graphed.info["cuda_graph"] is True and eager.info["cuda_graph"] is False
    g = np.array([[r["train_loss"], r["val_loss"]] for r in graphed.history])
    e = np.array([[r["train_loss"], r["val_loss"]] for r in eager.history])
    assert g[-1, 0] < g[0, 0] * 0.8  # it learns
    np.testing.assert_allclose(g, e, rtol=2e-4, atol=1e-5)


@cuda
def test_graphed_run_learns_as_well_as_on_cpu():
    data = make_synthetic(3000, 16, 6, noise=0.0, seed=2)
    gpu = train(_config(epochs=60, cuda_graph="on"), data)
    cpu = train(_config(epochs=60, device="cpu"), data)
    assert gpu.best["micro_f1"] >= 0.9
    assert abs(gpu.best["micro_f1"] - cpu.best["micro_f1"]) < 0.03


def test_auto_device_keeps_the_seed_size_on_cpu():
    """The seed article's 32 rows: fewer training rows than a batch, so no CUDA graph, and eager GPU steps lose."""
    tiny = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, batch_size=32).validate()
    assert resolve_device(tiny, n_train=26).type == "cpu"
    assert resolve_device(tiny.replace(cuda_graph="off"), n_train=20000).type == "cpu"


@cuda
def test_auto_device_takes_the_gpu_where_a_cuda_graph_will_run():
    tiny = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, batch_size=32).validate()
    assert resolve_device(tiny, n_train=20000).type == "cuda"


@cuda
def test_auto_device_takes_the_gpu_for_a_big_net():
    big = TrainConfig(input_size=128, hidden_size=512, num_outputs=32, batch_size=4096).validate()
    assert resolve_device(big).type == "cuda"


@cuda
def test_gpu_checkpoint_predicts_the_same_on_cpu_and_gpu(tmp_path):
    data = make_synthetic(600, 16, 6, seed=4)
    result = train(_config(epochs=5), data)
    path = save_checkpoint(result.trained, tmp_path / "m.pt")
    on_cpu = load_checkpoint(path)
    on_gpu = load_checkpoint(path, device="cuda")
    np.testing.assert_allclose(on_cpu.predict_proba(data.X), on_gpu.predict_proba(data.X), atol=1e-5)
    import pandas as pd
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.to_csv(tmp_path / "in.csv", index=False)
    predict_csv(on_gpu, tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=128)
    expected, _ = predict_frame(on_cpu, frame)
    got = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(got[expected.columns].to_numpy(float), expected.to_numpy(float), atol=1e-5)


@cuda
@pytest.mark.parametrize("changes", [dict(lr_schedule="cosine"), dict(optimizer="adamw", weight_decay=0.05)])
def test_graphed_schedules_and_optimizers_match_eager(changes):
    data = make_synthetic(1000, 16, 6, noise=0.2, seed=1)
    graphed = train(_config(cuda_graph="on", **changes), data)
    eager = train(_config(cuda_graph="off", **changes), data)
    assert graphed.info["cuda_graph"] is True
    assert [round(r["lr"], 8) for r in graphed.history] == [round(r["lr"], 8) for r in eager.history]
    g = np.array([[r["train_loss"], r["val_loss"]] for r in graphed.history])
    e = np.array([[r["train_loss"], r["val_loss"]] for r in eager.history])
    np.testing.assert_allclose(g, e, rtol=2e-4, atol=1e-5)


@cuda
def test_a_graphed_run_continues_exactly():
    data = make_synthetic(1000, 16, 6, noise=0.2, seed=1)
    whole = train(_config(cuda_graph="on", epochs=8), data)
    first = train(_config(cuda_graph="on", epochs=3), data)
    rest = train(_config(cuda_graph="on", epochs=8), data, resume=first.resume)
    joined = [r["val_loss"] for r in first.history + rest.history]
    np.testing.assert_allclose(joined, [r["val_loss"] for r in whole.history], rtol=1e-5, atol=1e-6)


@cuda
def test_an_eager_cuda_run_with_dropout_continues_exactly():
    data = make_synthetic(1000, 16, 6, noise=0.2, seed=1)
    config = _config(cuda_graph="off", dropout=0.3, epochs=6)
    whole = train(config, data)
    first = train(config.replace(epochs=3), data)
    rest = train(config, data, resume=first.resume)
    assert [r["val_loss"] for r in first.history + rest.history] == [r["val_loss"] for r in whole.history]
