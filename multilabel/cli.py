"""The headless front door: ``python -m multilabel train|predict|evaluate|runs|search|export``.

Training flags are derived from TrainConfig's fields, so the CLI, the pages and the config cannot drift apart.

``train`` trains in this process's main thread (not in a worker process as the dashboard does): the CLI process is
already a process of its own, so a worker would only add a start and a copy of the data. It goes through the same
store wiring as a worker (``worker.run_training``): the run is owned by this process, every epoch, the progress and
checkpoints of the best weights go to the run store, and SIGINT (Ctrl-C) or SIGTERM (``registry.stop`` from the
dashboard) stop it after the current step with the best weights kept. Each command imports only what it uses.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from .config import DEFAULT_CHUNK_ROWS, TrainConfig, advice, knobs
from .errors import MultilabelError
from .jobs import DATA_SHAPED, config_flag
from .paths import check_output_file, os_error_message
from .words import count, status_word

def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and training (defaults shown)")
    for f in knobs():
        kind = {"int": int, "float": float, "str": str}[str(f.type)]
        extra = " (CSV: taken from the data)" if f.name in DATA_SHAPED else ""
        group.add_argument(config_flag(f.name), dest=f.name, type=kind, default=None, metavar=f.name.upper(),
                           choices=f.metadata.get("choices"),
                           help=f"{f.metadata['help']}{extra} [default: {f.default}]")


def _flag_words(message: str) -> str:
    """A TrainConfig error in the CLI's words: the field names it starts with or quotes become the flags the user
    typed ('learning_rate must be <= 10.0' -> '--lr must be <= 10.0'); the dashboard keeps config.py's own words."""
    names = [f.name for f in knobs()]
    first = message.split(" ", 1)[0]
    if first in names:
        message = config_flag(first) + message[len(first):]
    for name in names:  # names with an underscore cannot be ordinary words ('use cuda_graph 'auto'')
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){name}\b", config_flag(name), message)
    return message


def _valid_config(**given: Any) -> TrainConfig:
    """``TrainConfig(**given).validate()``, its error naming the flags (see ``_flag_words``)."""
    try:
        return TrainConfig(**given).validate()
    except MultilabelError as exc:
        raise MultilabelError(_flag_words(str(exc))) from None


def _config_from_args(args: argparse.Namespace, input_size: int, num_outputs: int) -> TrainConfig:
    given = {f.name: getattr(args, f.name) for f in knobs() if getattr(args, f.name) is not None}
    for name, actual in (("input_size", input_size), ("num_outputs", num_outputs)):
        if name in given and given[name] != actual:
            raise MultilabelError(f"{config_flag(name)} is {given[name]} but the data has {actual}; leave it out, "
                                  "it is taken from the data")
        given[name] = actual
    return _valid_config(**given)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m multilabel",
                                     description="Train and use multi-label classifiers (one sigmoid per label).")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    store_help = "run store folder (default: $MULTILABEL_HOME or ./runs)"
    tr = sub.add_parser("train", help="train a model on a CSV or on synthetic data",
                        description="Train on --data FILE.csv (or .parquet) --labels SPEC, or on --synthetic "
                                    "data. Prints a progress bar on stderr and one JSON line with the run id, "
                                    "checkpoint and best validation metrics on stdout. Ctrl-C stops after the "
                                    "current epoch and keeps the best model.")
    src = tr.add_mutually_exclusive_group()  # one of --data / --synthetic, unless --continue (checked in cmd_train)
    src.add_argument("--data", metavar="FILE.csv", help="CSV with a header row, or a Parquet file (.parquet)")
    src.add_argument("--synthetic", action="store_true", help="learnable synthetic data from a hidden teacher net")
    tr.add_argument("--continue", dest="continue_run", metavar="RUN_ID",
                    help="continue a finished or stopped run of the store for --epochs MORE epochs, in a new run "
                         "that carries its epochs (same numbers as one run of the total length); its other settings "
                         "are the run's own. A CSV run needs --data with the same file")
    tr.add_argument("--labels", metavar="SPEC", help="label columns: names or globs, comma-separated ('a,b', 'Class*')")
    tr.add_argument("--samples", type=int, default=2000, help="synthetic: number of rows [default: 2000]")
    tr.add_argument("--noise", type=float, default=0.1, help="synthetic: label noise (0 = a perfect teacher) [default: 0.1]")
    tr.add_argument("--store", metavar="DIR", help=store_help)
    tr.add_argument("--out", metavar="MODEL.pt", help="also write the checkpoint here")
    tr.add_argument("--name", help="a name for the run (default: its id)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--tensorboard", metavar="DIR", help="also log to TensorBoard, in DIR/<run id>: per-epoch "
                    "losses and F1 (micro, macro, per label), per-label PR curves, hyperparameters with the best "
                    "metrics (pip install tensorboard)")
    tr.add_argument("--mlflow", metavar="URI", nargs="?", const="", default=None,
                    help="also log to MLflow (URI: a tracking URI such as sqlite:///mlflow.db or http://host:5000; "
                         "without one, MLflow's default): settings, per-epoch metrics, the checkpoint and the ONNX "
                         "model (pip install mlflow-skinny)")
    _add_config_flags(tr)

    ev = sub.add_parser("evaluate", help="score a model on a labelled CSV or Parquet file; prints JSON metrics")
    ev.add_argument("--model", required=True, metavar="MODEL.pt")
    ev.add_argument("--data", required=True, metavar="FILE.csv", help="CSV or Parquet (.parquet) file")
    ev.add_argument("--labels", metavar="SPEC", help="label columns (default: the model's label names)")

    pr = sub.add_parser("predict", help="write per-label probabilities and 0/1 labels for a CSV or Parquet file")
    pr.add_argument("--model", required=True, metavar="MODEL.pt")
    pr.add_argument("--data", required=True, metavar="FILE.csv", help="CSV or Parquet (.parquet) file, read in chunks")
    pr.add_argument("--out", required=True, metavar="OUT.csv", help="CSV, or Parquet when it ends in .parquet")
    pr.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                    help=f"rows scored and written at a time [default: {DEFAULT_CHUNK_ROWS}]")
    pr.add_argument("--device", default="cpu", help="device to score on: cpu, cuda, mps [default: cpu]")

    ex = sub.add_parser("export", help="write a model (a run's or a search ensemble's) as ONNX",
                        description="Write a checkpoint (--model FILE.pt) or a stored run's model (--run ID) as an "
                                    "ONNX file that onnxruntime runs without torch: input 'features' float32 "
                                    "[batch, F] of raw feature values, outputs 'probabilities' and 'logits' "
                                    "[batch, L]; feature names, label names and thresholds in its metadata.")
    which = ex.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="MODEL.pt", help="a checkpoint saved by multilabel (a run or a search)")
    which.add_argument("--run", metavar="RUN_ID", help="a run of the store (python -m multilabel runs lists them)")
    ex.add_argument("--store", metavar="DIR", help=store_help)
    ex.add_argument("--format", choices=("onnx",), default="onnx", help="file format [default: onnx]")
    ex.add_argument("--out", required=True, metavar="MODEL.onnx")

    _add_search_parser(sub)

    ru = sub.add_parser("runs", help="list stored runs")
    ru.add_argument("--store", metavar="DIR", help=store_help)
    ru.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    import signal

    from .checkpoint import save_checkpoint
    from .data import load_csv, make_synthetic, stored_description
    from .engine import check_rows
    from .progress import EpochProgress
    from .store import RunStore
    from .threads import run_macs, step_threads
    from .tracking import TrackerSpec, Trackers, check_installed
    from .worker import PauseFlag, StopFlag, run_training

    if args.out:  # checked before the data is read and the model trained, not after the work is done
        check_output_file(args.out, "--out", "model.pt")
    spec = TrackerSpec(tensorboard=args.tensorboard, mlflow=args.mlflow)
    check_installed(spec)
    resume = None
    if args.continue_run:
        store, run_id, config, data, resume = _continuation(args)
    elif not (args.data or args.synthetic):
        raise MultilabelError("say what to train on: --data FILE.csv --labels SPEC, or --synthetic (or --continue "
                              "RUN_ID --epochs MORE to continue a run)")
    else:
        if args.synthetic:
            from .trainview import SAMPLES_RANGE  # the dashboard's range: what Train takes, the CLI takes
            low, high = SAMPLES_RANGE
            if not low <= args.samples <= high:
                raise MultilabelError(f"--samples must be from {low:,} to {high:,}, got {args.samples:,}")
            inputs = args.input_size or TrainConfig.input_size
            outputs = args.num_outputs or TrainConfig.num_outputs
            data = make_synthetic(args.samples, inputs, outputs, noise=args.noise,
                                  seed=args.seed if args.seed is not None else 0)
        else:
            if not args.labels:
                raise MultilabelError("--labels is required with --data; name the label columns, e.g. --labels "
                                      "'a,b'")
            data = load_csv(args.data, args.labels)
        check_rows(data)  # before the run is created: a one-row file leaves no failed run behind
        for warning in data.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        config = _config_from_args(args, data.X.shape[1], data.Y.shape[1])
        for line in advice(config):
            sys.stderr.write(f"warning: {line}\n")
        store = RunStore(args.store)
        run_id = store.create_run(config.to_dict(), stored_description(data), name=args.name, started_by=_cli_owner())
    try:
        trackers = Trackers.open(spec, run_id, config, list(data.label_names), data.description, name=args.name)
    except MultilabelError as exc:
        store.fail(run_id, str(exc))
        raise
    bar = None if args.quiet else EpochProgress(config.epochs)
    stop = StopFlag(store, run_id)

    def on_signal(signum: int) -> None:
        if signum == signal.SIGINT:
            sys.stderr.write("\nstopping (the best model so far is kept; Ctrl-C again to abort)...\n")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop.install_signal_handlers(on_signal)
    try:
        # Pause / One epoch on the dashboard hold this run between epochs too (worker.PauseFlag polls the store).
        pause = PauseFlag(store, run_id, epoch_done=resume.epoch if resume is not None else 0)
        with step_threads(run_macs(config, data.num_rows)):  # a small net beside a busy process: one thread
            result = run_training(store, run_id, config, data, stop, on_epoch=bar if bar is not None else None,
                                  pause=pause, resume=resume, on_refit=bar.refit if bar is not None else None,
                                  trackers=trackers)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    run = store.get_run(run_id)
    if result is None:  # the store may not have taken the error (a full disk): then it is in the run's error file
        raise MultilabelError(run["error"] or store.side_error(run_id) or f"run {run_id} failed")
    epochs_run = len(result.history)  # in this process (a continued run's earlier epochs are its parent's)
    last = result.history[-1]["epoch"] if result.history else 0
    if not args.quiet:
        ended = {"early_stopped": f"stopped early at epoch {last}: no better validation loss for "
                                  f"{config.patience} epochs",
                 "stopped": f"stopped at epoch {last}", "completed": f"completed {count(epochs_run, 'epoch')}"}
        sys.stderr.write(f"{ended[result.outcome]}; best epoch {result.best['epoch']} "
                         f"(validation loss {result.best['val_loss']:.4f})\n")
    checkpoint = run["checkpoint"]
    if args.out:
        checkpoint = str(save_checkpoint(result.trained, args.out))
    out = {"run_id": run_id, "status": result.outcome, "checkpoint": checkpoint, "device": result.device,
           "epochs_run": epochs_run, "best": result.best}
    if resume is not None:
        out.update(continued_from=args.continue_run, epochs=last)
    if "refit" in result.info:  # {"epochs", "rows", "seconds"}: the model saved was refit on all rows
        out["refit"] = result.info["refit"]
    if "refit_stopped" in result.info:  # Ctrl-C during the refit: the model saved is the run's own best epoch
        out["refit_stopped"] = result.info["refit_stopped"]
    print(json.dumps(out))
    return 0


def _cli_owner() -> str:
    return f"CLI (pid {os.getpid()} on {socket.gethostname()})"


def _continuation(args: argparse.Namespace) -> tuple[Any, str, TrainConfig, Any, Any]:
    """``train --continue RUN_ID --epochs MORE``: (store, new run id, config, data, the parent's resume state)."""
    from .data import load_csv
    from .store import RunStore
    from .worker import load_resume_state, prepare_continuation

    given = [config_flag(f.name) for f in knobs() if f.name != "epochs" and getattr(args, f.name) is not None]
    if args.synthetic:
        given.append("--synthetic")
    if given:
        raise MultilabelError(f"--continue keeps the run's own settings; leave out {', '.join(given)}")
    if not args.epochs:
        raise MultilabelError("--continue needs --epochs MORE: how many epochs to add, e.g. --epochs 50")
    store = RunStore(args.store)
    data = None
    if args.data:
        labels = args.labels or ",".join((store.get_run(args.continue_run)["data"] or {}).get("labels", []))
        data = load_csv(args.data, labels)
    run_id, config, data, checkpoint = prepare_continuation(store, args.continue_run, args.epochs, data,
                                                            name=args.name, started_by=_cli_owner())
    try:
        resume = load_resume_state(checkpoint)
    except MultilabelError:  # replaced since prepare_continuation read it: the refused run is not kept
        store.delete_run(run_id)
        raise
    return store, run_id, config, data, resume


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .checkpoint import load_checkpoint
    from .data import labels_array, match_labels, read_csv
    from .metrics import evaluate
    from .predict import PROB_SUFFIX, check_thresholds, predict_frame

    trained = load_checkpoint(args.model)
    name = f"'{args.data}'"
    frame = read_csv(args.data, name).rename(columns=str)
    missing = [label for label in trained.label_names if label not in set(frame.columns)]
    if args.labels is None and missing:
        which = "column" if len(missing) == 1 else "columns"
        raise MultilabelError(f"{name} lacks the label {which} {', '.join(map(repr, missing))} that the model "
                              "predicts; evaluate needs true labels (use predict for unlabelled data)")
    label_cols = match_labels(list(frame.columns), args.labels or trained.label_names)
    if len(label_cols) != len(trained.label_names):
        raise MultilabelError(f"--labels chose {count(len(label_cols), 'column')} but the model predicts "
                              f"{count(len(trained.label_names), 'label')}")
    Y = labels_array(frame, label_cols, name)
    # Features as predict finds them: by name (other columns, an id say, are ignored) or by position.
    scored, plan = predict_frame(trained, frame.drop(columns=label_cols), name=name)
    probs = scored[[label + PROB_SUFFIX for label in trained.label_names]].to_numpy(np.float32, copy=True)
    result = evaluate(torch.from_numpy(probs), torch.from_numpy(Y), check_thresholds(trained, None),
                      trained.label_names)
    for note in plan.notes:
        sys.stderr.write(f"note: {note}\n")
    print(json.dumps({"rows": len(frame), **result}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .predict import predict_csv

    if args.chunk_rows < 1:
        raise MultilabelError(f"--chunk-rows must be >= 1, got {args.chunk_rows}")
    device = args.device
    _valid_config(device=device)  # same availability check and message as training
    check_output_file(args.out, "--out", "predictions.csv")  # before the model is loaded and the data read
    trained = load_checkpoint(args.model, device=device)
    summary = predict_csv(trained, args.data, args.out, chunk_rows=args.chunk_rows)
    for note in summary["notes"]:
        sys.stderr.write(f"note: {note}\n")
    print(json.dumps(summary))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .export import export_onnx

    out = check_output_file(args.out, "--out", "model.onnx")
    if args.run:
        from .store import RunStore, default_home

        home = Path(args.store) if args.store else default_home()
        if not RunStore.exists(home):
            raise MultilabelError(f"no run store at {str(home)!r}; give --store DIR, or --model FILE.pt")
        run = RunStore(home).get_run(args.run)
        if not run["checkpoint"]:
            raise MultilabelError(f"run {args.run!r} has no saved model yet (status {run['status']}); export it "
                                  "once it has trained an epoch")
        trained = load_checkpoint(run["checkpoint"])
    else:
        trained = load_checkpoint(args.model)
    path = export_onnx(trained, out)
    print(json.dumps({"out": str(path), "format": args.format, "features": len(trained.feature_names),
                      "labels": trained.label_names, "members": len(trained.nets)}))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .store import RunStore, default_home

    home = Path(args.store) if args.store else default_home()
    if not RunStore.exists(home):  # listing creates nothing: only train makes a store folder
        if not args.json:
            print(f"no runs in {home / 'runs.db'}")
        return 0
    store = RunStore(home, readonly=True)  # listing writes nothing: a store on a read-only disk is listed too
    runs = store.list_runs()
    if args.json:
        for run in runs:
            print(json.dumps({k: run[k] for k in ("id", "name", "status", "created_at", "duration_s", "epochs_done",
                                                 "best", "checkpoint", "error", "data", "config")}))
        return 0
    if not runs:
        print(f"no runs in {store.path}")
        return 0
    # The pages' words: the run's name (its id until renamed) and its status as they say it ('stopped early').
    names = [_cell(run["name"] or run["id"], NAME_WIDTH) for run in runs]
    width = max(len("name"), *map(len, names))
    print(f"{'id':<24} {'name':<{width}} {'status':<14} {'epochs':>6} {'val micro-F1':>12} {'hamming':>8}  data")
    for run, name in zip(runs, names):
        best = run["best"] or {}
        f1 = f"{best['micro_f1']:.3f}" if "micro_f1" in best else "-"
        ham = f"{best['hamming_loss']:.3f}" if "hamming_loss" in best else "-"
        data = run["data"] or {}
        print(f"{run['id']:<24} {name:<{width}} {status_word(run['status']):<14} {run['epochs_done']:>6} {f1:>12} "
              f"{ham:>8}  {data.get('name') or data.get('source', '')}")
    return 0


NAME_WIDTH = 30  # a longer run name is cut short in the runs table (--json has it whole)


def _cell(text: str, width: int) -> str:
    """``text`` on one line in at most ``width`` characters ('…' where it was cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- search -------------------------------------------------------------------------------------------------------

def _add_search_parser(sub: argparse._SubParsersAction) -> None:
    from . import search_defaults as defaults  # the values, without importing optuna

    se = sub.add_parser(
        "search", help="search hyperparameters (Optuna), then save an ensemble of the best configurations",
        description="Optuna study over hidden size, learning rate, weight decay, dropout, input noise, batch size, "
                    "pos_weight and threshold mode, scored on cross-validation folds of --data only; then refits the "
                    "best --members configurations on all rows and saves them as one checkpoint (--out). The study "
                    "lives in --storage, so several processes or machines can share one study (same --storage and "
                    "--study). Ctrl-C ends the search; finished trials are kept in the storage.")
    se.add_argument("--data", required=True, metavar="FILE.csv", help="training CSV with a header row, or Parquet")
    se.add_argument("--labels", required=True, metavar="SPEC", help="label columns: names or globs, comma-separated")
    se.add_argument("--trials", type=int, default=None, help="trials to run here [default: 50 unless --timeout is "
                                                            "given]; 0: only build the ensemble from the study")
    se.add_argument("--timeout", type=float, default=None, metavar="S", help="stop starting trials after S seconds")
    se.add_argument("--folds", type=int, default=3,
                    help="cross-validation folds per trial (disjoint validation blocks; 5 = plain 5-fold CV) "
                         "[default: 3]")
    se.add_argument("--storage", metavar="URL", help="Optuna storage URL, e.g. sqlite:///x.db or "
                                                     "postgresql://user:pw@host/db [default: sqlite in the run store]")
    se.add_argument("--study", default=None, metavar="NAME", help=f"study name [default: {defaults.DEFAULT_STUDY}]")
    se.add_argument("--jobs", type=int, default=1,
                    help="worker processes on this machine, this one included: J-1 more 'search' processes join the "
                         "same study and split --trials [default: 1]")
    se.add_argument("--members", type=int, default=5, help="ensemble size [default: 5]; 0 = no ensemble")
    se.add_argument("--ensemble-from", choices=("configs", "seeds"), default="configs",
                    help="configs: the best N configurations; seeds: the best one with N seeds [default: configs]")
    se.add_argument("--seeds", type=int, default=None,
                    help="with --ensemble-from configs: seeds per configuration, trained together "
                         f"[default: {defaults.ENSEMBLE_SEEDS}]")
    se.add_argument("--threshold", choices=("trial", "global", "oof"), default=None,
                    help="the ensemble's cut-off: trial (each trial's own), global (one for every label, chosen "
                         "on the trials' held-out rows) or oof (one for every label, chosen on the out-of-fold "
                         "predictions of the ensemble's configurations, trained once per CV fold) "
                         f"[default: {defaults.ENSEMBLE_THRESHOLD}]")
    se.add_argument("--choose", choices=("best", "with-defaults", "guarded", "oof"), default=None,
                    help="the ensemble's configurations. best: the best --members; with-defaults: the defaults' and "
                         "the best --members - 1 others; guarded: the defaults' alone (--members x --seeds seeds) "
                         "unless the best trial beats it by more than the CV folds' noise; oof: the best --members "
                         "and the defaults' trained once per CV fold, mixed and cut on their out-of-fold "
                         f"predictions (no --seeds, no --threshold) [default: {defaults.ENSEMBLE_CHOICE}]")
    se.add_argument("--objective", choices=("bce", "mix"), default=None,
                    help="trial value: bce (held-out cross-entropy) or mix ((hamming + 1 - micro-F1) / 2); every "
                         f"worker on a study must use the same [default: {defaults.OBJECTIVE}]")
    se.add_argument("--epochs", type=int, default=None,
                    help=f"maximum epochs per trial [default: {TrainConfig.epochs}, as train's --epochs]")
    se.add_argument("--seed", type=int, default=None, help="sampler seed [default: none]")
    se.add_argument("--store", metavar="DIR", help="run store folder (default: $MULTILABEL_HOME or ./runs)")
    se.add_argument("--out", metavar="MODEL.pt", help="write the ensemble checkpoint here")
    se.add_argument("--quiet", action="store_true", help="no progress bar")
    se.add_argument("--progress", metavar="FILE.json",
                    help="keep the ensemble refit's progress in this file (JSON: epochs done and in all, the "
                         "configuration being trained), for a page to show")


def cmd_search(args: argparse.Namespace) -> int:
    import signal
    import threading

    import optuna

    from . import search
    from .checkpoint import save_checkpoint
    from .data import load_csv
    from .progress import RefitProgress

    for flag, value, low in (("--folds", args.folds, 1), ("--jobs", args.jobs, 1), ("--members", args.members, 0),
                             ("--trials", args.trials, 0), ("--epochs", args.epochs, 1), ("--seeds", args.seeds, 1)):
        if value is not None and value < low:
            raise MultilabelError(f"{flag} must be >= {low}, got {value}")
    if args.timeout is not None and args.timeout <= 0:
        raise MultilabelError(f"--timeout must be > 0 seconds, got {args.timeout}")
    given = [flag for flag, value in (("--seeds", args.seeds), ("--threshold", args.threshold)) if value is not None]
    if args.choose == "oof" and args.ensemble_from != "seeds" and given:
        raise MultilabelError(f"--choose oof picks its own nets and cut-off; leave out {' and '.join(given)}")
    trials = args.trials if args.trials is not None or args.timeout is not None else 50
    if args.out:
        check_output_file(args.out, "--out", "model.pt")  # before the search, not after it
    data = load_csv(args.data, args.labels)
    from .engine import check_rows
    check_rows(data)  # a one-row file: one line and exit 2, not a study of failed trials
    if not args.storage:  # the study goes into the run store: a folder that cannot take it is said so, plainly
        from .store import RunStore
        RunStore(args.store).close()
    base = _valid_config(input_size=data.X.shape[1], num_outputs=data.Y.shape[1],
                         **({"epochs": args.epochs} if args.epochs else {}))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = args.storage or search.default_storage(args.store)
    study = search.open_study(storage, args.study or search.DEFAULT_STUDY, seed=args.seed)
    stop = threading.Event()
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(total=trials, unit="trial", desc="search", file=sys.stderr, dynamic_ncols=True)

    def on_trial(st: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if bar is not None:
            best = search.completed(st)
            bar.set_postfix_str(f"best {best[0].value:.4f}" if best else "best -")
            bar.update(1)

    def on_sigint(signum: int, frame: Any) -> None:
        # First Ctrl-C: the running trial ends at its next epoch (recorded as failed), no new trial starts.
        # A second one interrupts whatever runs then.
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        search.run_workers(data, base, study, storage, args.data, args.labels, trials, jobs=args.jobs,
                           timeout=args.timeout, folds=args.folds, objective=args.objective, seed=args.seed,
                           epochs=args.epochs, stop=stop, on_trial=on_trial)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if bar is not None:
            bar.close()
    interrupted = stop.is_set()
    if interrupted:
        sys.stderr.write("\nsearch interrupted; finished trials are kept in the study\n")
    summary = search.study_summary(storage, study.study_name)
    out: dict[str, Any] = {"study": study.study_name, "storage": storage, "interrupted": interrupted,
                           "trials": summary["n_trials"], "states": summary["states"], "best": summary["best"],
                           "estimate": search.estimate(study, args.choose, args.members or 5, args.ensemble_from),
                           "checkpoint": None}
    try:
        if args.members and args.out and summary["best"] is not None:
            if not args.quiet:
                sys.stderr.write(f"refitting {count(args.members, 'member')} on all {data.num_rows:,} rows"
                                 + (" (Ctrl-C to skip)" if interrupted else "") + "...\n")
            with RefitProgress(args.progress, bar=not args.quiet) as on_progress:
                trained = search.build_ensemble(
                    data, study, members=args.members, mode=args.ensemble_from,
                    seeds=args.seeds if args.seeds is not None else search.ENSEMBLE_SEEDS,
                    threshold=args.threshold or search.ENSEMBLE_THRESHOLD,
                    choice=args.choose or search.ENSEMBLE_CHOICE, on_progress=on_progress)
            out["checkpoint"] = str(save_checkpoint(trained, args.out))
            out["members"] = len(trained.nets)
            out["estimate"] = trained.metrics.get("estimate") or out["estimate"]  # at the cut-off it ships
    except KeyboardInterrupt:
        interrupted = out["interrupted"] = True
        sys.stderr.write("\nensemble skipped; the study keeps every finished trial\n")
    finally:
        signal.signal(signal.SIGINT, previous)
    print(json.dumps(out))
    return 130 if interrupted else 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "runs": cmd_runs,
            "search": cmd_search, "export": cmd_export}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MultilabelError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except BrokenPipeError:
        # The reader went away (`runs | head -3`): stop quietly, as Unix tools do. Point stdout at /dev/null so the
        # interpreter's last flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports for a tool that a closed pipe ended
    except (OSError, sqlite3.OperationalError) as exc:  # the machine, not the code: a full disk, a read-only folder
        if args.debug:
            raise
        sys.stderr.write(f"error: {os_error_message(exc, f'python -m multilabel {args.command}')}\n")
        return 2
