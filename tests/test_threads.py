"""Torch threads by the work of a step (multilabel/threads.py): the count, the block that sets and restores it, and
a search's trials and ensemble training inside it."""

from __future__ import annotations

import torch

from multilabel import TrainConfig, make_synthetic, search, stepper
from multilabel.threads import MACS_PER_THREAD, run_macs, step_threads


def test_the_work_of_a_step_counts_the_batch_the_run_uses():
    config = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, batch_size=64, val_fraction=0.2).validate()
    assert run_macs(config, 1000) == 64 * (10 * 20 + 20 * 5)
    assert run_macs(config.replace(batch_size=4096), 1000) == 800 * (10 * 20 + 20 * 5)  # all 800 training rows
    auto = stepper.auto_batch_size(800)
    assert run_macs(config.replace(batch_size=0), 1000) == auto * (10 * 20 + 20 * 5)


def test_step_threads_gives_one_thread_per_share_of_work_within_what_the_process_has_and_restores_it():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        for macs, inside in ((0, 1), (MACS_PER_THREAD - 1, 1), (2 * MACS_PER_THREAD, 2), (100 * MACS_PER_THREAD, 3)):
            with step_threads(macs) as threads:
                assert threads == inside == torch.get_num_threads()
            assert torch.get_num_threads() == 3
        try:
            with step_threads(0):
                raise RuntimeError("a failed trial")
        except RuntimeError:
            pass
        assert torch.get_num_threads() == 3  # also after an exception
    finally:
        torch.set_num_threads(before)


def test_a_search_trains_a_small_net_on_one_thread_and_gives_the_process_its_threads_back(monkeypatch, tmp_path):
    # Two spinning OpenMP threads on a small net beside one busy process made a search 11x slower
    # (benchmarks/README.md): its trials and its ensemble train on the threads their step is worth.
    seen: list[int] = []
    for name in ("train", "refit", "refit_seeds"):
        real = getattr(search, name)
        monkeypatch.setattr(search, name, lambda *a, _real=real, **k: (seen.append(torch.get_num_threads()),
                                                                        _real(*a, **k))[1])
    data = make_synthetic(240, 6, 3, noise=0.1, seed=3)
    base = TrainConfig(input_size=6, num_outputs=3, epochs=3, patience=0, device="cpu")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        study = search.open_study(f"sqlite:///{tmp_path / 's.db'}", "threads", seed=0)
        search.run_search(data, base, study, trials=2, folds=2)
        search.build_ensemble(data, study, members=2, seeds=2)
        members = len(search.chosen_trials(study, 2)[0])  # the best 2, but one worse beyond the folds' noise
        assert len(seen) >= 4 + members and set(seen) == {1}  # 2 trials x 2 folds, then the stacked members
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_cli_train_trains_a_small_net_on_one_thread_and_gives_the_threads_back(monkeypatch, tmp_path):
    from multilabel import cli, worker

    seen: list[int] = []
    real = worker.run_training
    monkeypatch.setattr(worker, "run_training", lambda *a, **k: (seen.append(torch.get_num_threads()),
                                                                  real(*a, **k))[1])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert cli.main(["train", "--synthetic", "--samples", "300", "--input-size", "6", "--num-outputs", "3",
                         "--epochs", "2", "--store", str(tmp_path), "--quiet"]) == 0
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_overlapping_blocks_restore_the_threads_when_the_last_one_ends():
    # Torch's thread count is per process: two script runs of the server may overlap their blocks.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        first, second = step_threads(2 * MACS_PER_THREAD), step_threads(0)
        assert first.__enter__() == 2
        assert second.__enter__() == 1
        first.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # the second block is still open
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_sigmoid_vs_softmax_trains_its_small_nets_on_one_thread(monkeypatch):
    # The page trains both heads in the server's script run: on 2 threads beside a busy process it took seconds.
    from multilabel import heads

    seen: list[int] = []
    real = heads._activate
    monkeypatch.setattr(heads, "_activate", lambda *a: (seen.append(torch.get_num_threads()), real(*a))[1])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        heads.compare_heads(heads.demo_data(rows=300), epochs=2)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
