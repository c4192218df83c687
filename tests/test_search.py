"""Search (Optuna) and ensembles: real storage files, real worker processes, a real checkpoint round trip."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from multilabel import TrainConfig, load_checkpoint, make_synthetic, save_checkpoint, train
from multilabel.checkpoint import VERSION
from multilabel.refit import refit, refit_result
from multilabel.stepper import auto_batch_size, resolve_auto
from multilabel.errors import MultilabelError
from multilabel.predict import PROB_SUFFIX, predict_frame
from multilabel import search

REPO = Path(__file__).resolve().parents[1]


def _cli_env(store_home: Path) -> dict[str, str]:
    """The environment of a CLI child: one thread, this test's run store (as the ``cli`` fixture in conftest)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MULTILABEL_HOME": str(store_home)}


optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def tiny():
    return make_synthetic(240, 6, 3, noise=0.1, seed=3)


def tiny_base(**changes) -> TrainConfig:
    return TrainConfig(**{**dict(input_size=6, num_outputs=3, epochs=6, patience=0, device="cpu"), **changes})


def write_tiny_csv(path, data) -> str:
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    for j, name in enumerate(data.label_names):
        frame[name] = data.Y[:, j].astype(int)
    frame.to_csv(path, index=False)
    return ",".join(data.label_names)


# ---- engine additions -------------------------------------------------------------------------------------------

def test_auto_batch_size_scales_with_rows_within_limits():
    assert [auto_batch_size(n) for n in (10, 512, 1600, 16_000, 10**7)] == [32, 32, 100, 1000, 1024]
    config = TrainConfig(batch_size=0)
    assert resolve_auto(config, 3200).batch_size == 200
    assert resolve_auto(config.replace(batch_size=48), 3200).batch_size == 48


def test_refit_uses_every_row_for_exactly_the_given_epochs_and_is_seeded(tiny):
    config = tiny_base(hidden_size=16, batch_size=0)
    a = refit(config, tiny, 4)
    b = refit(config, tiny, 4)
    assert a.config.epochs == 4 and a.config.batch_size == 32 and a.metrics["rows"] == tiny.num_rows
    np.testing.assert_allclose(a.standardizer.mean, tiny.X.mean(axis=0), atol=1e-5)  # fitted on all rows
    np.testing.assert_array_equal(a.predict_proba(tiny.X), b.predict_proba(tiny.X))
    c = refit(config, tiny, 5)
    assert not np.array_equal(a.predict_proba(tiny.X), c.predict_proba(tiny.X))
    with pytest.raises(MultilabelError, match="at least 1 epoch"):
        refit(config, tiny, 0)


# ---- ensemble checkpoint ----------------------------------------------------------------------------------------

def test_ensemble_checkpoint_round_trip_predicts_the_members_mean(tiny, tmp_path):
    members = [refit(tiny_base(hidden_size=h, seed=s, dropout=d), tiny, 3)
               for h, s, d in ((16, 0, 0.0), (32, 1, 0.3), (8, 2, 0.0))]
    members[1].thresholds = [0.4, 0.5, 0.6]
    joined = search.ensemble(members)
    assert len(joined.nets) == 3 and joined.thresholds == pytest.approx([0.5 - 0.1 / 3, 0.5, 0.5 + 0.1 / 3])
    path = save_checkpoint(joined, tmp_path / "ens.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["version"] == 2 == VERSION and len(raw["members"]) == 2
    loaded = load_checkpoint(path)
    expected = np.mean([m.predict_proba(tiny.X) for m in members], axis=0)
    np.testing.assert_allclose(loaded.predict_proba(tiny.X), expected, rtol=1e-5, atol=1e-6)
    assert [n.hidden_size for n in loaded.nets] == [16, 32, 8]
    # Every front door scores through predict_proba: the table path gives the same mean.
    frame = pd.DataFrame(tiny.X, columns=tiny.feature_names)
    scored, _ = predict_frame(loaded, frame)
    np.testing.assert_allclose(scored[[n + PROB_SUFFIX for n in tiny.label_names]].to_numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_a_single_model_is_still_written_as_format_1(tiny, tmp_path):
    path = save_checkpoint(refit(tiny_base(hidden_size=8), tiny, 1), tmp_path / "one.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["version"] == 1 and "members" not in raw
    assert load_checkpoint(path).members == []


def test_ensemble_refuses_members_trained_on_other_rows(tiny):
    a = refit(tiny_base(hidden_size=8), tiny, 1)
    other = make_synthetic(200, 6, 3, seed=9)
    b = refit(tiny_base(hidden_size=8), other, 1)
    with pytest.raises(MultilabelError, match="same rows"):
        search.ensemble([a, b])


def test_a_member_of_another_shape_is_a_damaged_checkpoint(tiny, tmp_path):
    joined = search.ensemble([refit(tiny_base(hidden_size=8, seed=s), tiny, 1) for s in (0, 1)])
    path = save_checkpoint(joined, tmp_path / "ens.pt")
    raw = torch.load(path, weights_only=True)
    raw["members"][0]["config"]["input_size"] = 7
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(MultilabelError, match="damaged"):
        load_checkpoint(tmp_path / "bad.pt")


# ---- search -----------------------------------------------------------------------------------------------------

def test_cross_fitted_tuned_thresholds_cannot_flatter_themselves():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 4)) < 0.3).astype(np.float32)
    noise = rng.random((200, 4)).astype(np.float32)  # probabilities that know nothing about Y
    tuned = search.score_holdout(noise, Y, "tuned")
    in_sample = search.tune_thresholds(noise, Y)
    pred = noise >= np.asarray(in_sample)
    tp = (pred & (Y > 0)).sum()
    in_sample_f1 = 2 * tp / (pred.sum() + Y.sum())
    assert tuned["micro_f1"] < in_sample_f1  # tuning on the scored rows would look better than it is
    assert tuned["thresholds"] == in_sample
    fixed = search.score_holdout(noise, Y, "fixed")
    assert fixed["thresholds"] == [0.5] * 4 and 0.0 < fixed["hamming"] < 1.0


def test_search_folds_are_disjoint_blocks_then_a_new_shuffle():
    n = 103
    first = [search.fold_rows(n, 0.2, f) for f in range(5)]
    assert sorted(map(len, first)) == [20, 20, 21, 21, 21]
    assert sorted(np.concatenate(first).tolist()) == list(range(n))  # five folds cover every row once
    assert all(np.array_equal(rows, search.fold_rows(n, 0.2, f)) for f, rows in enumerate(first))  # seeded
    sixth = search.fold_rows(n, 0.2, 5)  # a new shuffle: overlaps the first five
    assert len(sixth) == 21 and not any(np.array_equal(sixth, rows) for rows in first)
    halves = [search.fold_rows(10, 0.5, f) for f in range(2)]
    assert sorted(np.concatenate(halves).tolist()) == list(range(10))


def test_train_validates_on_the_given_rows_and_trains_on_the_others(tiny):
    rows = search.fold_rows(tiny.num_rows, 0.2, 3)
    result = train(tiny_base(), tiny, val_rows=rows)
    assert result.info["n_val"] == len(rows) and result.info["n_train"] == tiny.num_rows - len(rows)
    probs = result.trained.predict_proba(tiny.X[rows])
    eps = 1e-7
    p = np.clip(probs, eps, 1 - eps)
    Y = tiny.Y[rows]
    bce = float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())
    # The run's best validation loss is the loss on exactly these rows (the best weights are the ones returned).
    assert result.best["val_loss"] == pytest.approx(bce, rel=1e-4, abs=1e-5)
    with pytest.raises(MultilabelError, match="validation rows"):
        train(tiny_base(), tiny, val_rows=np.arange(tiny.num_rows))


def test_the_bce_objective_keeps_the_half_cut_off_and_the_mix_objective_searches_it(tiny):
    # Held-out cross-entropy is blind to thresholds: a bce study must not pick F1-tuned ones at random.
    assert search.space("bce")["threshold_mode"] == ("cat", ["fixed"])
    assert search.space("mix")["threshold_mode"] == search.SPACE["threshold_mode"]
    choices = {}
    for objective in ("bce", "mix"):
        study = search.memory_study(seed=1)
        search.run_search(tiny, tiny_base(epochs=2), study, trials=4, folds=1, objective=objective)
        choices[objective] = {c for t in study.get_trials() for c in t.distributions["threshold_mode"].choices}
        if objective == "bce":
            assert {t.params["threshold_mode"] for t in study.get_trials()} == {"fixed"}
    assert choices == {"bce": {"fixed"}, "mix": {"fixed", "tuned"}}


def test_the_pages_storage_sees_what_another_writer_stores_after_its_first_read(tmp_path):
    """``cached_storage`` keeps finished trials between polls and reads the rest again: a trial that was running at
    one poll and finished before the next, and trials added since, show with their state, value and attributes."""
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    writer = optuna.create_study(study_name="poll", storage=optuna.storages.RDBStorage(url))  # as a search process does
    first = writer.ask()
    writer.tell(writer.ask(), 0.5)
    page = search.cached_storage(url)
    assert search.cached_storage(url) is page
    before = search.study_summary(page, "poll")
    assert before["states"] == {"RUNNING": 1, "COMPLETE": 1} and before["best"]["value"] == 0.5
    first.set_user_attr("hamming", 0.125)
    writer.tell(first, 0.25)
    writer.tell(writer.ask(), state=optuna.trial.TrialState.PRUNED)
    after = search.study_summary(page, "poll")
    assert after["states"] == {"COMPLETE": 2, "PRUNED": 1} and after["n_trials"] == 3
    assert after["best"]["number"] == first.number and after["best"]["value"] == 0.25
    assert after["best"]["hamming"] == 0.125
    assert after == search.study_summary(optuna.storages.RDBStorage(url), "poll") | {"storage": page}


def test_small_search_records_trials_and_builds_an_ensemble(tiny, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = search.open_study(storage, "small", seed=0)
    search.run_search(tiny, tiny_base(), study, trials=2, folds=2)
    summary = search.study_summary(storage, "small")
    assert summary["n_trials"] == 2 and summary["states"] == {"COMPLETE": 2}
    assert set(summary["trials"][0]["params"]) == set(search.SPACE)
    best = summary["best"]
    assert 0 <= best["hamming"] <= 1 and 0 <= best["micro_f1"] <= 1
    top = search.completed(study)[0]
    assert search.OBJECTIVE == "bce" and best["value"] == pytest.approx(top.user_attrs["bce"])  # the default
    assert top.user_attrs["global_threshold"] in search.GLOBAL_THRESHOLDS
    trained = search.build_ensemble(tiny, study, members=2)
    chosen = [t.number for t in search.chosen_trials(study, 2)[0]]  # the best two but any worse beyond noise
    assert trained.metrics["trials"] == chosen and len(trained.nets) == len(chosen)
    assert chosen[0] == best["number"]
    assert trained.predict_proba(tiny.X).shape == (240, 3)
    # A second process (or page) joining the same study sees the same trials.
    assert len(search.completed(search.open_study(storage, "small"))) == 2


def test_pruning_stops_a_trial_that_is_worse_than_the_median(tiny, tmp_path):
    study = search.open_study(f"sqlite:///{tmp_path / 'p.db'}", "prune", seed=0)
    good = dict(hidden_size=64, learning_rate=1e-2, weight_decay=1e-6, dropout=0.0, batch_size=32,
                pos_weight="none", threshold_mode="fixed")
    for _ in range(5):  # the pruner's startup trials: fast learners
        study.enqueue_trial(good)
    study.enqueue_trial({**good, "learning_rate": 3e-4, "batch_size": 256, "hidden_size": 64})  # barely moves
    search.run_search(tiny, tiny_base(epochs=20), study, trials=6, folds=1)
    states = [t.state for t in study.get_trials()]
    assert states[:5] == [optuna.trial.TrialState.COMPLETE] * 5
    assert states[5] == optuna.trial.TrialState.PRUNED
    pruned = study.get_trials()[5]
    assert 10 <= pruned.last_step < 20  # pruned once the warm-up (10 steps) is over, before its last epoch


def _completed(curve: dict[int, float], as_attr: bool) -> optuna.trial.FrozenTrial:
    """A completed trial with this validation-loss curve: in its intermediate values (as Optuna's pruner wants, and
    as studies from before MedianCurves kept it) or as the ``curve`` user attribute (as the objective keeps it now)."""
    last = max(curve)
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, value=min(curve.values()),
        intermediate_values={last: curve[last]} if as_attr else dict(curve),
        user_attrs={search.CURVE_ATTR: [[s, v] for s, v in curve.items()]} if as_attr else {})


def test_median_curves_prunes_where_optunas_median_pruner_does():
    # Random studies: 0-9 completed trials with curves of different lengths over two folds' steps (1.. and 41..).
    # At every step of a new trial, Optuna's MedianPruner (asked through the storage, as the search used to) and
    # MedianCurves (a snapshot read once) must agree, with the completed curves in either form.
    rng = np.random.default_rng(0)
    decisions = {True: 0, False: 0}
    for case in range(40):
        optuna_study = search.memory_study(seed=0)
        ours = search.memory_study(seed=0)
        steps_of = lambda n: [s for s in range(1, 81) if s <= n or 41 <= s <= 40 + n]  # noqa: E731
        for i in range(int(rng.integers(0, 10))):
            steps = steps_of(int(rng.integers(1, 41)))
            curve = {s: float(v) for s, v in zip(steps, 0.6 + 0.05 * rng.normal(size=len(steps)).cumsum())}
            optuna_study.add_trial(_completed(curve, as_attr=False))
            ours.add_trial(_completed(curve, as_attr=bool(i % 2)))
        mine = search.MedianCurves(ours.ask())
        theirs = optuna_study.ask()
        for step in steps_of(int(rng.integers(1, 41))):
            value = float(0.65 + 0.1 * rng.normal())
            theirs.report(value, step)
            expected = theirs.should_prune()
            assert mine.should_prune(step, value) == expected, (case, step)
            decisions[expected] += 1
            if expected:
                break
    assert decisions[True] >= 10 and decisions[False] >= 100  # both answers were exercised


def test_completed_trials_keep_their_curve_and_pruned_ones_their_last_step(tiny, tmp_path):
    study = search.open_study(f"sqlite:///{tmp_path / 'c.db'}", "curves", seed=0)
    search.run_search(tiny, tiny_base(epochs=12), study, trials=2, folds=2)
    for t in study.get_trials():
        curve = t.user_attrs[search.CURVE_ATTR]
        steps = [s for s, _ in curve]
        assert steps == sorted(steps) and steps[0] == 1 and any(s > 12 for s in steps)  # both folds' epochs
        assert t.last_step == steps[-1] and t.intermediate_values == {steps[-1]: curve[-1][1]}


def test_bad_storage_is_one_clear_error(tmp_path):
    with pytest.raises(MultilabelError, match="storage|study"):
        search.open_study("nosuchdb://x", "s")


# ---- CLI: real processes on one storage file --------------------------------------------------------------------

def _search_cmd(csv, labels, storage, *extra):
    return [sys.executable, "-m", "multilabel", "search", "--data", str(csv), "--labels", labels,
            "--storage", storage, "--study", "common", "--folds", "1", "--epochs", "4", "--quiet", *map(str, extra)]


def _no_postgres(reason: str) -> None:
    """Skip where PostgreSQL cannot run; in CI (``$CI`` set), where scripts/test installs it, fail instead: the
    PostgreSQL case must run there, not pass by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL case: {reason}")
    pytest.skip(reason)


def _postgres_binary(name: str) -> Optional[str]:
    """``name`` on PATH, else in Debian's versioned folder (apt's postgresql puts initdb and pg_ctl there)."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server in a temp folder on a free port (initdb + pg_ctl, as a non-root user); skipped
    where PostgreSQL's binaries or the psycopg2 driver are missing (failed in CI, see ``_no_postgres``)."""
    import socket
    import importlib.util
    drivers = [d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d) is not None]
    if not drivers:
        _no_postgres("no PostgreSQL driver for SQLAlchemy (pip install 'psycopg[binary]' or psycopg2-binary)")
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not (initdb and pg_ctl):
        _no_postgres("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser"):
            _no_postgres("running as root without runuser: cannot start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="multilabel-pg-"))  # pytest's tmp folders are private to this user
    os.chmod(folder, 0o777)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = folder / "data"
    made = subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
                          capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _no_postgres(f"initdb failed here: {made.stderr.strip()[-300:]}")
    started = subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                              f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        _no_postgres(f"pg_ctl could not start a server here: {started.stderr.strip()[-300:]}")
    try:
        yield f"postgresql+{drivers[0]}://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.slow
def test_two_worker_processes_share_one_study_without_lost_or_duplicated_trials(tiny, tmp_path, store_home,
                                                                                storage_url):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    storage = storage_url
    env = _cli_env(store_home)
    workers = [subprocess.Popen(_search_cmd(csv, labels, storage, "--trials", 3, "--members", 0), cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outs]
    trials = optuna.load_study(study_name="common", storage=storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(6))  # 3 + 3: none lost, none run twice
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)
    last = json.loads(outs[0][0].strip().splitlines()[-1])
    assert last["study"] == "common" and last["checkpoint"] is None
    # Afterwards, on any machine: --trials 0 only builds the ensemble from the shared study.
    out = tmp_path / "ens.pt"
    done = subprocess.run(_search_cmd(csv, labels, storage, "--trials", 0, "--members", 2, "--seeds", 1,
                                      "--threshold", "global", "--out", out),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["trials"] == 6
    ensemble = load_checkpoint(out)
    assert len(ensemble.nets) == 2 and len(set(ensemble.thresholds)) == 1  # one cut-off for every label


@pytest.mark.slow
def test_cli_search_with_two_jobs_writes_an_ensemble_that_evaluate_accepts(tiny, tmp_path, cli, store_home):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    out = tmp_path / "ens.pt"
    done = cli("search", "--data", csv, "--labels", labels, "--trials", 3, "--folds", 1, "--epochs", 3,
               "--members", 2, "--out", out, "--quiet", "--jobs", 2)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["storage"] == f"sqlite:///{(store_home / 'search.db').resolve()}"  # default: in the run store
    # --jobs 2: a helper process ran its share of the 3 trials on the same study; the ensemble waited for it.
    assert result["checkpoint"] == str(out) and result["states"] == {"COMPLETE": 3}
    assert len(load_checkpoint(out).nets) == 2 * search.ENSEMBLE_SEEDS
    scored = cli("evaluate", "--model", out, "--data", csv)
    assert scored.returncode == 0, scored.stderr
    assert 0 <= json.loads(scored.stdout)["hamming_loss"] <= 1


@pytest.mark.slow
def test_run_workers_splits_the_trials_with_a_helper_process_and_counts_every_trial(tiny, tmp_path, monkeypatch):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    storage = f"sqlite:///{tmp_path / 'workers.db'}"
    study = search.open_study(storage, "workers", seed=0)
    monkeypatch.chdir(REPO)  # the helper runs ``python -m multilabel`` from this checkout
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    told, threads = [], torch.get_num_threads()
    search.run_workers(tiny, tiny_base(epochs=3), study, storage, str(csv), labels, trials=3, jobs=2, folds=1,
                       epochs=3, seed=0, on_trial=lambda st, trial: told.append(trial), poll_s=0.05)
    finished = study.get_trials(deepcopy=False)
    assert [t.state.name for t in finished] == ["COMPLETE"] * 3
    assert len(told) == 3  # once per trial, whichever worker ran it
    assert told.count(None) >= 1  # the helper's trials are counted too
    assert torch.get_num_threads() == threads  # every core back for the ensemble


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_trials(tiny, tmp_path, store_home):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    storage = f"sqlite:///{tmp_path / 'int.db'}"
    child = subprocess.Popen(_search_cmd(csv, labels, storage, "--trials", 1000, "--members", 0), cwd=REPO,
                             env=_cli_env(store_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until at least one trial has finished
            time.sleep(0.5)
            try:
                study = optuna.load_study(study_name="common", storage=storage)
            except KeyError:
                continue
            if any(t.state.is_finished() for t in study.get_trials()):
                break
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, stderr[-2000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["interrupted"] is True and "Traceback" not in stderr
    finished = [t for t in optuna.load_study(study_name="common", storage=storage).get_trials()
                if t.state.is_finished()]
    assert len(finished) >= 1 and result["trials"] >= len(finished)


# ---- batched members --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer,schedule", [("adam", "constant"), ("adamw", "cosine")])
def test_members_trained_together_match_members_trained_one_by_one(tiny, optimizer, schedule):
    from multilabel.batched import refit_seeds
    config = tiny_base(hidden_size=16, batch_size=32, optimizer=optimizer, lr_schedule=schedule, weight_decay=1e-2,
                       dropout=0.0, input_noise=0.0)  # dropout masks and input noise come from the global
    # RNG in another order when stacked
    together = refit_seeds(config, tiny, 5, [0, 1, 2])
    assert [m.config.seed for m in together] == [0, 1, 2]
    probs = [m.predict_proba(tiny.X) for m in together]
    for seed, p in zip((0, 1, 2), probs):
        alone = refit(config.replace(seed=seed), tiny, 5).predict_proba(tiny.X)
        np.testing.assert_allclose(p, alone, atol=1e-5)
    assert np.abs(probs[0] - probs[1]).max() > 1e-3  # the seeds really differ


def test_seeds_ensemble_from_a_study_uses_the_best_configuration(tiny, tmp_path):
    study = search.open_study(f"sqlite:///{tmp_path / 'e.db'}", "seeds", seed=1)
    search.run_search(tiny, tiny_base(), study, trials=2, folds=1)
    trained = search.build_ensemble(tiny, study, members=3, mode="seeds")
    best = search.completed(study)[0]
    assert len(trained.nets) == 3 and {n.hidden_size for n in trained.nets} == {best.params["hidden_size"]}
    assert trained.metrics["trials"] == [best.number] * 3


def test_a_fresh_study_starts_from_the_defaults(tiny, tmp_path):
    study = search.open_study(f"sqlite:///{tmp_path / 'w.db'}", "warm", seed=0)
    base = tiny_base(hidden_size=256, dropout=0.3, batch_size=0)
    search.run_search(tiny, base, study, trials=3, folds=1)
    first, second, third = [t.params for t in study.get_trials()]
    assert first["hidden_size"] == 256 and first["dropout"] == 0.3 and first["batch_size"] == 0
    assert second["input_noise"] == 0.6 and second["weight_decay"] == 1.0 and second["dropout"] == 0.5
    assert second["hidden_size"] == 256  # the rest from the base config
    assert third["hidden_size"] == 512 and third["dropout"] == 0.5
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))  # nothing left queued


# ---- refit wired into training (TrainConfig.refit) --------------------------------------------------------------

def test_refit_result_retrains_the_run_on_every_row_for_its_best_epoch(tiny):
    config = tiny_base(hidden_size=16, epochs=60, patience=3, learning_rate=3e-2, threshold_mode="tuned",
                     refit="all").validate()
    result = train(config, tiny)
    assert 1 <= result.best_epoch < 60 and result.outcome == "early_stopped"
    refitted = refit_result(config, tiny, result)
    expected = refit(result.trained.config, tiny, result.best_epoch, thresholds=result.trained.thresholds)
    np.testing.assert_array_equal(refitted.trained.predict_proba(tiny.X), expected.predict_proba(tiny.X))
    assert not np.array_equal(refitted.trained.predict_proba(tiny.X), result.trained.predict_proba(tiny.X))
    np.testing.assert_allclose(refitted.trained.standardizer.mean, tiny.X.mean(axis=0), atol=1e-5)  # every row
    assert refitted.trained.thresholds == result.trained.thresholds  # tuned on the run's validation rows
    assert refitted.trained.metrics["refit_epochs"] == result.best_epoch
    assert refitted.trained.metrics["micro_f1"] == result.trained.metrics["micro_f1"]
    assert refitted.trained.config == result.trained.config
    assert refitted.info["refit"]["epochs"] == result.best_epoch and refitted.info["refit"]["rows"] == tiny.num_rows
    assert refitted.history is result.history and refitted.best is result.best


def test_refit_none_and_stopped_runs_keep_the_runs_own_model(tiny):
    config = tiny_base(hidden_size=16, refit="none").validate()
    result = train(config, tiny)
    assert refit_result(config, tiny, result) is result
    stop = threading.Event()
    stop.set()
    all_rows = config.replace(refit="all")
    stopped = train(all_rows, tiny, stop=stop)
    assert stopped.outcome == "stopped"
    assert refit_result(all_rows, tiny, stopped) is stopped
    done = train(all_rows, tiny)
    assert refit_result(all_rows, tiny, done, stop=stop) is done  # Stop pressed before the refit began


def test_the_default_refits_and_a_worker_saves_the_refit_model(tiny, tmp_path):
    from multilabel.session import SessionRegistry
    from multilabel.store import RunStore
    assert TrainConfig().refit == "all"
    config = tiny_base(hidden_size=16, epochs=8, patience=0).validate()
    store = RunStore(tmp_path / "runs")
    session = SessionRegistry(store).start(config, tiny)
    assert session.join(timeout=120)
    snap = session.snapshot()
    assert snap["status"] == "completed"
    loaded = load_checkpoint(snap["checkpoint"])
    expected = refit_result(config, tiny, train(config, tiny))
    assert loaded.metrics["refit_epochs"] == expected.best_epoch == snap["best"]["epoch"]
    # The worker told pages what it was doing between the last epoch and the saved model.
    info = store.get_run(session.run_id)["info"]
    refitting = dict(info["refitting"])
    assert refitting.pop("expected_s") > 0  # the run's own pace: what the Train page and the CLI bar announce
    assert refitting == info["refit"] == {"epochs": expected.best_epoch, "rows": tiny.num_rows}
    np.testing.assert_allclose(loaded.predict_proba(tiny.X), expected.trained.predict_proba(tiny.X), atol=1e-6)


def test_a_stop_during_the_workers_refit_saves_the_runs_own_model_and_says_so(tmp_path):
    from multilabel.session import SessionRegistry
    from multilabel.store import RunStore
    data = make_synthetic(150_000, 10, 4, seed=2)  # a refit of seconds, to stop in the middle of
    config = TrainConfig(input_size=10, num_outputs=4, hidden_size=16, epochs=4, patience=0, seed=0).validate()
    store = RunStore(tmp_path / "runs")
    session = SessionRegistry(store).start(config, data)
    deadline = time.monotonic() + 120
    while "refitting" not in (store.get_run(session.run_id)["info"] or {}) and time.monotonic() < deadline:
        time.sleep(0.05)
    session.stop()
    assert session.join(timeout=120)
    run = store.get_run(session.run_id)
    assert run["status"] == "completed" and "refit" not in run["info"]
    cut = run["info"]["refit_stopped"]
    assert cut["rows"] == 150_000 and cut["epochs"] == run["best"]["epoch"] and 0 <= cut["done"] < cut["epochs"]
    saved = load_checkpoint(run["checkpoint"])
    assert "refit_epochs" not in saved.metrics  # the run's own best-epoch model, not a half-refit one


def test_the_mix_objective_scores_hamming_and_f1_and_a_bad_objective_is_refused(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=1, folds=2, objective="mix")
    top = search.completed(study)[0]
    assert top.value == pytest.approx((top.user_attrs["hamming"] + 1 - top.user_attrs["micro_f1"]) / 2)
    with pytest.raises(MultilabelError, match="objective must be one of bce, mix"):
        search.make_objective(tiny, tiny_base(), 1, objective="f1")


def test_global_threshold_minimizes_the_mix_of_hamming_and_f1():
    rng = np.random.default_rng(1)
    Y = (rng.random((400, 5)) < 0.3).astype(np.float32)
    # Probabilities that run low: positives around 0.4, negatives around 0.15, so the best cut sits below 0.5.
    probs = np.clip(np.where(Y > 0, 0.4, 0.15) + rng.normal(0, 0.05, Y.shape), 0, 1).astype(np.float32)
    t = search.global_threshold(probs, Y)
    assert 0.25 < t < 0.4 and t in search.GLOBAL_THRESHOLDS

    def mix(cut: float) -> float:
        pred, y = probs >= cut, Y > 0
        tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
        return ((fp + fn) / Y.size + 1 - 2 * tp / (2 * tp + fp + fn)) / 2
    assert all(mix(t) <= mix(other) + 1e-12 for other in search.GLOBAL_THRESHOLDS)
    assert mix(t) < mix(0.5)
    # Well separated at 0.5: the tie-break keeps 0.5.
    assert search.global_threshold(np.where(Y > 0, 0.9, 0.1).astype(np.float32), Y) == 0.5


def test_an_ensemble_of_configurations_times_seeds_with_one_global_threshold(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=3, folds=1)
    trained = search.build_ensemble(tiny, study, members=2, seeds=3, threshold="global")
    best = search.completed(study)[:2]
    assert len(trained.nets) == 6 and trained.metrics["seeds_per_trial"] == 3
    cut = np.mean([t.user_attrs["global_threshold"] for t in best])
    assert trained.thresholds == pytest.approx([cut] * 3)
    # The nets of one configuration are its stacked refit on every row with seeds 0, 1, 2 (then 3, 4, 5).
    from multilabel.batched import refit_seeds
    for k, trial in enumerate(best):
        config = TrainConfig.from_dict(trial.user_attrs["config"])
        epochs = max(1, round(trial.user_attrs["best_epoch"]))
        stacked = refit_seeds(config, tiny, epochs, [3 * k, 3 * k + 1, 3 * k + 2])
        for i, member in enumerate(stacked):
            x = torch.from_numpy(member.standardizer.transform(tiny.X[:8]))
            np.testing.assert_array_equal(member.model(x).detach().numpy(),
                                          trained.nets[3 * k + i](x).detach().numpy())


def test_the_refit_reports_its_progress_epoch_by_epoch_and_trains_the_same_nets(tiny, tmp_path):
    from multilabel.progress import RefitProgress
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=3, folds=1)
    plan = [max(1, round(t.user_attrs["best_epoch"])) for t in search.completed(study)[:2]]
    for seeds in (3, 1):  # the stacked refit of 3 seeds, then the plain one
        seen: list[dict] = []
        path = tmp_path / f"refit{seeds}.json"
        with RefitProgress(path) as writer:
            trained = search.build_ensemble(tiny, study, members=2, seeds=seeds,
                                            on_progress=lambda c: (seen.append(c), writer(c)))
        # Before the first epoch, then after every epoch of every configuration: its nets' epochs count once.
        assert [c["epochs_done"] for c in seen] == [0, *range(1, plan[0] + 1), plan[0],
                                                    *range(plan[0] + 1, sum(plan) + 1)]
        assert [c["config"] for c in seen] == [1] * (plan[0] + 1) + [2] * (plan[1] + 1)
        assert {(c["epochs"], c["configs"], c["nets"], c["rows"]) for c in seen} == {(sum(plan), 2, 2 * seeds,
                                                                                      tiny.num_rows)}
        assert json.loads(path.read_text()) == seen[-1]  # the file ends where the refit did
        # Same seeds, same nets as a refit nobody watched.
        quiet = search.build_ensemble(tiny, study, members=2, seeds=seeds)
        x = torch.from_numpy(trained.standardizer.transform(tiny.X[:8]))
        assert len(trained.nets) == len(quiet.nets) == 2 * seeds
        for a, b in zip(trained.nets, quiet.nets):
            np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


# ---- the guard against fold noise and the honest estimate ---------------------------------------------

def _copy_with_folds(trial: optuna.trial.FrozenTrial, fold_bce: list[float]) -> optuna.trial.FrozenTrial:
    """A completed trial with ``trial``'s configuration and these held-out cross-entropies per fold (not the
    defaults' trial, even though its parameters are the same)."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k != search.DEFAULTS_ATTR}
    return optuna.trial.create_trial(params=trial.params, distributions=trial.distributions,
                                     value=float(np.mean(fold_bce)),
                                     user_attrs={**attrs, search.FOLD_ATTR + "bce": fold_bce})


def test_each_trial_keeps_its_folds_and_the_defaults_trial_is_marked(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=3, folds=2)
    done = {t.number: t for t in search.completed(study)}
    assert set(done) == {0, 1, 2}
    for t in done.values():
        for key in ("bce", "hamming", "micro_f1"):
            folds = t.user_attrs[search.FOLD_ATTR + key]
            assert len(folds) == 2 and t.user_attrs[key] == pytest.approx(np.mean(folds))
    assert search.defaults_trial(study).number == 0  # the first warm start: the base config's own parameters
    assert [bool(done[n].user_attrs.get(search.DEFAULTS_ATTR)) for n in (0, 1, 2)] == [True, False, False]
    guess = search.estimate(study, "with-defaults", members=2)
    best = search.completed(study)[0].number
    others = [t.number for t in search.completed(study) if t.number != 0]
    assert guess["defaults_trial"] == 0 and guess["best_trial"] == best and guess["with_defaults"] is True
    assert guess["trials"] == [0, others[0]]  # the defaults' first, then the best other
    per_fold = np.mean([done[n].user_attrs[search.FOLD_ATTR + "hamming"] for n in guess["trials"]], axis=0)
    assert guess["folds"] == 2 and guess["hamming_sd"] == pytest.approx(np.std(per_fold, ddof=1))
    assert guess["hamming"] == pytest.approx(np.mean(per_fold))
    assert (guess["defaults_hamming"], guess["defaults_micro_f1"]) == (done[0].user_attrs["hamming"],
                                                                       done[0].user_attrs["micro_f1"])
    top = search.completed(study)[:2]  # the best two but one worse than the best beyond the folds' noise
    assert search.estimate(study, "best", members=2)["trials"] == [
        t.number for t in top if not search.distinguishable(top[0], t)]
    assert search.estimate(study, "with-defaults", members=5, mode="seeds")["trials"] == [best]
    assert search.estimate(study, "with-defaults", members=1)["trials"] == [best]  # no room for both
    trained = search.build_ensemble(tiny, study, members=2, choice="with-defaults")
    assert trained.metrics["trials"] == guess["trials"] and trained.metrics["estimate"] == guess


def test_guarded_ensemble_keeps_the_defaults_unless_the_best_beats_them_beyond_the_fold_noise(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=1, folds=2)
    defaults = search.defaults_trial(study)
    base = defaults.user_attrs[search.FOLD_ATTR + "bce"]
    # Lower on one fold, higher on the other: its lead (if any) is fold noise.
    noisy = _copy_with_folds(defaults, [base[0] - 0.05, base[1] + 0.04])
    study.add_trial(noisy)
    guess = search.estimate(study, "guarded", members=2)
    assert guess["best_trial"] == 1 and guess["distinguishable"] is False
    assert guess["keeps_defaults"] is True and guess["trials"] == [0]
    assert guess["hamming"] == pytest.approx(defaults.user_attrs["hamming"])
    guarded = search.build_ensemble(tiny, study, members=2, seeds=2, choice="guarded")
    assert len(guarded.nets) == 4 and guarded.metrics["trials"] == [0, 0, 0, 0]  # the defaults x 4 seeds
    assert guarded.metrics["estimate"] == guess
    best = search.build_ensemble(tiny, study, members=2, seeds=2)  # "best": as before issue 25
    assert best.metrics["trials"] == [1, 1, 0, 0] and best.metrics["estimate"]["choice"] == "best"
    # Lower on both folds by the same margin: distinguishable, so the guard ships the best trials.
    study.add_trial(_copy_with_folds(defaults, [base[0] - 0.05, base[1] - 0.05]))
    guess = search.estimate(study, "guarded")
    assert guess["best_trial"] == 2 and guess["distinguishable"] is True and guess["keeps_defaults"] is False
    assert search.build_ensemble(tiny, study, members=2, seeds=1, choice="guarded").metrics["trials"] == [2, 1]
    assert search.estimate(study, "best")["keeps_defaults"] is False
    with pytest.raises(MultilabelError, match="choice must be one of best, with-defaults, guarded"):
        search.estimate(study, "worst")


def test_the_best_leaves_out_a_configuration_worse_than_the_best_beyond_the_fold_noise(tiny):
    # A search stopped after two trials, the second far worse on both folds: an ensemble of both paid for it.
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=1, folds=2)
    defaults = search.defaults_trial(study)
    base = defaults.user_attrs[search.FOLD_ATTR + "bce"]
    study.add_trial(_copy_with_folds(defaults, [base[0] + 0.10, base[1] + 0.12]))
    guess = search.estimate(study, "best", members=5)
    assert guess["trials"] == [0] and guess["completed"] == 2
    assert guess["hamming"] == pytest.approx(defaults.user_attrs["hamming"])
    shipped = search.build_ensemble(tiny, study, members=5, seeds=2)
    assert shipped.metrics["trials"] == [0, 0] and shipped.metrics["estimate"] == guess
    # Worse on one fold, better on the other: fold noise, so it stays.
    study.add_trial(_copy_with_folds(defaults, [base[0] + 0.05, base[1] - 0.04]))
    assert search.estimate(study, "best", members=5)["trials"] == [0, 2]


def test_one_fold_cannot_tell_the_best_from_the_defaults_so_the_guard_ships_the_best(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=1, folds=1)
    defaults = search.defaults_trial(study)
    study.add_trial(_copy_with_folds(defaults, [defaults.user_attrs[search.FOLD_ATTR + "bce"][0] - 0.1]))
    guess = search.estimate(study, "guarded", members=1)
    assert guess["distinguishable"] is None and guess["keeps_defaults"] is False and guess["trials"] == [1]
    assert guess["hamming_sd"] is None and guess["folds"] == 1
    assert search.build_ensemble(tiny, study, members=1, choice="guarded").metrics["trials"] == [1]


def test_study_summary_and_the_cli_report_the_estimate(tiny, tmp_path, cli, store_home):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    out = tmp_path / "ens.pt"
    done = cli("search", "--data", csv, "--labels", labels, "--trials", 3, "--folds", 2, "--epochs", 3,
               "--members", 2, "--seeds", 1, "--out", out, "--quiet", "--seed", 0)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    summary = search.study_summary(result["storage"], result["study"], members=2)
    assert result["estimate"] == summary["estimate"] and summary["estimate"]["folds"] == 2
    ensemble = load_checkpoint(out)
    assert ensemble.metrics["estimate"] == result["estimate"] and ensemble.metrics["choice"] == search.ENSEMBLE_CHOICE
    assert ensemble.metrics["trials"] == result["estimate"]["trials"]  # --members 2 --seeds 1: one net each
    assert search.ENSEMBLE_CHOICE == "best" and result["estimate"]["trials"][0] == result["best"]["number"]
    study = search.open_study(result["storage"], result["study"])
    top = search.completed(study)[:2]  # the best two, but one worse than the best beyond the folds' noise
    assert ensemble.metrics["trials"] == [t.number for t in top if not search.distinguishable(top[0], t)]
    # --choose with-defaults on the same study (--trials 0: only the ensemble): the defaults' and the best other.
    again = cli("search", "--data", csv, "--labels", labels, "--trials", 0, "--members", 2, "--seeds", 1,
                "--choose", "with-defaults", "--out", out, "--quiet")
    assert again.returncode == 0, again.stderr
    other = [t.number for t in search.completed(study) if t.number != 0][0]
    assert load_checkpoint(out).metrics["trials"] == [0, other]
    guess = json.loads(again.stdout.strip().splitlines()[-1])["estimate"]
    assert guess["choice"] == "with-defaults" and guess["trials"] == [0, other] and guess["with_defaults"] is True


def test_a_study_from_before_the_folds_values_still_gets_an_estimate_without_spread(tiny):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=2, folds=2)
    old = search.memory_study(seed=0)
    for t in study.get_trials():  # as an older version stored them: no per-fold values, no defaults mark
        attrs = {k: v for k, v in t.user_attrs.items() if not k.startswith(search.FOLD_ATTR) and k != "defaults"}
        old.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.value,
                                                user_attrs=attrs))
    guess = search.estimate(old, members=2)
    assert guess["folds"] is None and guess["hamming_sd"] is None and guess["defaults_trial"] is None
    assert guess["distinguishable"] is None and guess["trials"] == [t.number for t in search.completed(old)]
    assert len(search.build_ensemble(tiny, old, members=2, choice="guarded").nets) == 2  # nothing to guard: best


# ---- the "oof" ensemble: cross-validated bagging, selected and cut on out-of-fold predictions --------

def test_greedy_selection_mixes_candidates_whose_errors_cancel_and_drops_a_useless_one():
    from multilabel import oof
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.2, 0.8, (5000, 3))
    Y = (rng.random(truth.shape) < truth).astype(np.float64)  # drawn from the true probabilities
    high, low = truth + 0.15, truth - 0.15  # too high, too low: their mean is the truth
    useless = np.full_like(truth, 0.5)
    counts = oof.greedy_select([useless, high, low], Y, steps=4)
    assert counts[0] == 0 and counts[1] == counts[2] >= 1  # the mean of high and low is the truth: the best mix
    alone = oof.greedy_select([useless, truth], Y, steps=3)
    assert alone == [0, 1]  # nothing improves on the best single one: the picks stop where the loss was lowest
    assert oof.bce((high + low) / 2, Y) < min(oof.bce(high, Y), oof.bce(low, Y))


def test_the_safe_cut_off_gains_micro_f1_only_where_it_costs_no_hamming_loss():
    from multilabel import oof
    Y = np.array([[1.0], [1.0], [0.0], [0.0], [0.0]] * 20)
    shy = np.array([[0.42], [0.42], [0.2], [0.2], [0.2]] * 20)  # every positive just below 0.5
    assert oof.safe_threshold(shy, Y, search.GLOBAL_THRESHOLDS) == 0.4  # all right from 0.225 to 0.4: nearest 0.5
    rare = np.array([[1.0], [0.0], [0.0], [0.0], [0.0]] * 20)
    unsure = np.array([[0.42], [0.42], [0.42], [0.2], [0.2]] * 20)  # below 0.42: one right, two wrong per five
    assert oof.safe_threshold(unsure, rare, search.GLOBAL_THRESHOLDS) == 0.5  # F1 would rise, Hamming too


def test_a_fold_net_restandardized_on_all_rows_predicts_as_before(tiny):
    from multilabel import oof
    from multilabel.data import Standardizer
    bag = oof.fold_bag(tiny_base(), tiny, folds=2)
    everyone = Standardizer.fit(tiny.X)
    for trained in bag.nets:
        assert not np.allclose(trained.standardizer.mean, everyone.mean)  # each fold's own rows: another shift
        net = oof.restandardize(trained, everyone).eval()
        with torch.no_grad():
            probs = torch.sigmoid(net(torch.from_numpy(everyone.transform(tiny.X)))).numpy()
        np.testing.assert_allclose(probs, trained.predict_proba(tiny.X), atol=1e-5)


def test_oof_ensemble_reuses_the_trials_folds_keeps_the_defaults_as_a_candidate_and_is_deterministic(tiny, tmp_path):
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=4, folds=2)
    trained = search.build_ensemble(tiny, study, members=2, choice="oof")
    m = trained.metrics
    best = [t.number for t in search.completed(study)[:2]]
    assert m["choice"] == "oof" and m["candidates"][:2] == best and 0 in m["candidates"]  # the defaults' trial too
    assert m["estimate"]["trials"] == m["candidates"] and sum(m["weights"]) >= 1
    assert len(trained.nets) == 2 * sum(m["weights"])  # one net per fold for every pick
    assert sorted(set(m["trials"])) == sorted(n for n, w in zip(m["candidates"], m["weights"]) if w)
    assert m["threshold"] in search.GLOBAL_THRESHOLDS and trained.thresholds == [m["threshold"]] * 3
    # The candidates' fold nets are the trials' own: their out-of-fold cross-entropy is the trial's value.
    candidates, bags = search.oof_bags(tiny, study, members=2)
    from multilabel import oof
    for trial, bag in zip(candidates, bags):
        for fold, value in enumerate(trial.user_attrs[search.FOLD_ATTR + "bce"]):
            rows = search.fold_rows(tiny.num_rows, 0.2, fold)
            assert oof.bce(bag.oof[rows], tiny.Y[rows]) == pytest.approx(value, abs=1e-5)
    assert m["oof"]["folds"] == 2 and 0 <= m["oof"]["hamming"] <= 1
    again = search.build_oof(tiny, study, members=2, bags=(candidates, bags))
    np.testing.assert_array_equal(again.predict_proba(tiny.X), trained.predict_proba(tiny.X))  # same seed, same numbers
    half = search.build_oof(tiny, study, members=2, bags=(candidates, bags), cut="half")
    assert half.thresholds == [0.5] * 3
    save_checkpoint(trained, tmp_path / "oof.pt")
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "oof.pt").predict_proba(tiny.X),
                                  trained.predict_proba(tiny.X))


@pytest.mark.slow
def test_cli_builds_the_oof_ensemble_on_an_existing_study(tiny, tmp_path, cli, store_home):
    csv = tmp_path / "tiny.csv"
    labels = write_tiny_csv(csv, tiny)
    done = cli("search", "--data", csv, "--labels", labels, "--trials", 3, "--folds", 2, "--epochs", 3,
               "--members", 0, "--quiet", "--seed", 0)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "oof.pt"
    again = cli("search", "--data", csv, "--labels", labels, "--trials", 0, "--members", 2, "--choose", "oof",
                "--out", out, "--quiet")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])
    model = load_checkpoint(out)
    assert model.metrics["choice"] == "oof" and result["estimate"]["choice"] == "oof"
    assert result["members"] == len(model.nets) == 2 * sum(model.metrics["weights"])
    mixed = cli("search", "--data", csv, "--labels", labels, "--trials", 0, "--members", 2, "--choose", "oof",
                "--threshold", "global", "--out", tmp_path / "never.pt", "--quiet")
    assert mixed.returncode == 2 and not (tmp_path / "never.pt").exists()
    assert mixed.stderr.strip().splitlines()[-1].endswith(
        "--choose oof picks its own nets and cut-off; leave out --threshold")


def test_threshold_oof_keeps_the_refit_nets_and_cuts_where_the_out_of_fold_rows_lose_no_hamming_loss(tiny):
    from multilabel import oof
    study = search.memory_study(seed=0)
    search.run_search(tiny, tiny_base(), study, trials=4, folds=2)
    plain = search.build_ensemble(tiny, study, members=2, seeds=1)
    cut = search.build_ensemble(tiny, study, members=2, seeds=1, threshold="oof")
    np.testing.assert_array_equal(cut.predict_proba(tiny.X), plain.predict_proba(tiny.X))  # the same nets
    assert cut.metrics["trials"] == plain.metrics["trials"] and plain.metrics["cut"] is None
    assert cut.metrics["cut"] in search.GLOBAL_THRESHOLDS and cut.thresholds == [cut.metrics["cut"]] * 3
    _, bags = search.oof_bags(tiny, study, trials=search.chosen_trials(study, 2)[0])
    mix = np.mean([b.oof for b in bags], axis=0)
    seen = ~np.isnan(mix).any(axis=1)
    ham = [search._metrics(mix[seen], tiny.Y[seen], np.full(3, t, dtype=np.float32)) for t in (0.5, cut.metrics["cut"])]
    assert ham[1][0] <= ham[0][0] and ham[1][1] >= ham[0][1]  # no more Hamming loss there, no less micro-F1
    # The estimate is at the cut it ships: the mix's Hamming loss and micro-F1 on each fold's held-out rows there
    guess, at_half = cut.metrics["estimate"], plain.metrics["estimate"]
    assert guess["cut"] == cut.metrics["cut"] and "cut" not in at_half and guess["trials"] == at_half["trials"]
    per_fold = [search._metrics(mix[rows], tiny.Y[rows], np.full(3, guess["cut"], dtype=np.float32))
                for rows in (r[seen[r]] for r in (search.fold_rows(tiny.num_rows, 0.2, f) for f in range(2)))]
    assert guess["folds"] == 2
    assert guess["hamming"] == pytest.approx(np.mean([h for h, _ in per_fold]))
    assert guess["micro_f1_sd"] == pytest.approx(np.std([f for _, f in per_fold], ddof=1))
    with pytest.raises(MultilabelError, match="threshold must be one of trial, global, oof"):
        search.build_ensemble(tiny, study, threshold="median")


@pytest.mark.parametrize("where", ["results", "tell", "state"])
def test_a_trial_the_other_process_recorded_first_is_skipped_not_raised(tiny, tmp_path, monkeypatch, where):
    # SQLite has no row locks: two processes can take the same waiting trial. The one that records second must
    # carry on (CI once saw UpdateFinishedTrialError end a worker). Here a second handle on the same file plays the
    # other process and records the first trial while this process is still running it: before this process
    # writes its results, before it tells, or between Optuna's check of the state and its write of it.
    storage = f"sqlite:///{tmp_path / 'race.db'}"
    study = search.open_study(storage, "race", seed=0)
    other = optuna.load_study(study_name="race", storage=storage)
    real_objective, real_write = search.make_objective, study._storage.set_trial_state_values

    def racing(*args, **kwargs):
        objective = real_objective(*args, **kwargs)

        def run(trial):
            if trial.number == 0 and where == "results":
                other.tell(trial.number, 0.25)
            value = objective(trial)
            if trial.number == 0 and where == "tell":
                other.tell(trial.number, 0.25)
            return value
        return run

    def write(trial_id, state, values=None):
        if where == "state" and study._storage.get_trial(trial_id).number == 0 and state.is_finished():
            other.tell(0, 0.25)
        return real_write(trial_id, state, values)

    monkeypatch.setattr(search, "make_objective", racing)
    monkeypatch.setattr(study._storage, "set_trial_state_values", write)
    search.run_search(tiny, tiny_base(epochs=2), study, trials=2, folds=1)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3  # the raced one once, and two of this process's own
    assert trials[0].value == 0.25  # the other process's record stands
