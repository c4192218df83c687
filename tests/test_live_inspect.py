"""The live per-label view's data: a worker process publishes each evaluated epoch's validation probabilities (and
the net's weights and alive units) to the run store while it trains; the best-weights validation set stays separate.

Real child processes and a real SQLite store, as in tests/test_workers.py. Deadlines are safety nets, never speed
checks.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from multilabel import load_checkpoint, train
from multilabel.engine import split_indices

from pagetest import WAIT_S


def test_a_worker_publishes_live_validation_while_it_trains_and_keeps_the_final_set_apart(registry, store,
                                                                                          small_data, make_config):
    config = make_config(epochs=100_000)
    session = registry.start(config, small_data)
    _, val_idx = split_indices(small_data.num_rows, config.val_fraction, config.seed)
    seen: dict[int, np.ndarray] = {}
    deadline = time.monotonic() + WAIT_S
    while len(seen) < 3:  # three different epochs published while the run is live
        assert time.monotonic() < deadline, f"the worker published only epochs {sorted(seen)}"
        live = store.load_live_validation(session.run_id)
        if live is not None and live["epoch"] not in seen:
            assert registry.is_live(session.run_id)
            assert live["probs"].shape == (len(val_idx), 3) and live["probs"].dtype == np.float32
            assert np.array_equal(live["targets"], small_data.Y[val_idx].astype(np.int8))
            assert live["weights"][0].shape == (16, 6) and live["weights"][1].shape == (3, 16)
            assert live["alive"].shape == (16,) and live["alive"].dtype == bool
            seen[live["epoch"]] = live["probs"]
        time.sleep(0.05)
    assert store.load_validation(session.run_id) is None  # the best-weights set comes only at the end
    epochs = sorted(seen)
    assert not np.array_equal(seen[epochs[0]], seen[epochs[-1]])  # the net moved between them
    history = {r["epoch"]: r for r in registry.view(session.run_id).history}
    for epoch in epochs:  # every published epoch is an evaluated one in the records
        assert "net" in history[epoch]

    registry.stop(session.run_id)
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "stopped"
    last = store.load_live_validation(session.run_id)
    assert last["epoch"] == view.epoch  # the last epoch is always published
    assert last["epoch"] > epochs[-1]

    # The run's final validation set is the best weights', not the last epoch's; the live one is the last weights'.
    final_probs, final_targets = store.load_validation(session.run_id)
    trained = load_checkpoint(view.checkpoint)
    with torch.no_grad():
        best_probs = torch.sigmoid(trained.model(torch.from_numpy(
            trained.standardizer.transform(small_data.X[val_idx])))).numpy()
    assert np.allclose(final_probs, best_probs, atol=1e-5)
    assert np.array_equal(final_targets, last["targets"])
    if view.best["epoch"] != view.epoch:
        assert not np.allclose(last["probs"], best_probs, atol=1e-6)

    store.delete_run(session.run_id)
    assert not store.live_validation_path(session.run_id).exists()


def test_live_snapshots_are_written_atomically_and_missing_ones_read_as_none(store, small_data, make_config):
    assert store.load_live_validation("no-such-run") is None
    seen = []
    train(make_config(epochs=2), small_data, on_validation=seen.append)
    path = store.save_live_validation("r1", seen[-1].arrays())
    assert path == store.live_validation_path("r1")
    assert not list(path.parent.glob("*.tmp*"))  # no temporary file left behind
    loaded = store.load_live_validation("r1")
    assert loaded["epoch"] == 2 and np.array_equal(loaded["probs"], seen[-1].probs)
    assert np.array_equal(loaded["weights"][0], seen[-1].weights[0])
    path.write_bytes(b"not an npz")
    assert store.load_live_validation("r1") is None
