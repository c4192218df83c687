"""The Search page's three charts, ours (multilabel.charts.search) against optuna.visualization's, side by side.

A study of --trials synthetic trials over search.SPACE in an in-memory storage (values from a smooth function of the
knobs plus noise; every 5th trial pruned). For each chart: median build time over --repeats (ours from the plain
trial rows the page reads once per poll for its table; Optuna's from the Study), and each figure's JSON size (what a
poll sends to the browser). Importance: ours draws fANOVA values the page fits once per refresh step (the fit is
timed separately); plot_param_importances fits them on every call.

    python benchmarks/bench_search_charts.py --trials 300 --repeats 5
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multilabel import TrainConfig, search  # noqa: E402
from multilabel.charts import search_importance_figure, search_parallel_figure, search_progress_figure  # noqa: E402


def make_study(n: int, seed: int = 0) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rng = random.Random(seed)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    base = TrainConfig(input_size=6, num_outputs=3).validate()
    for i in range(n):
        trial = study.ask()
        search.suggest(trial, base)  # draws every knob of search.SPACE, as a real search does
        values = trial.params
        if i % 5 == 4:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        value = 0.3 + 0.05 * abs(math.log10(values["learning_rate"]) + 2.5) + 0.02 * rng.random()
        trial.set_user_attr("hamming", value / 3)
        trial.set_user_attr("micro_f1", 1 - value)
        study.tell(trial, value)
    return study


def rows(study: optuna.Study) -> list[dict]:
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
             "hamming": t.user_attrs.get("hamming"), "micro_f1": t.user_attrs.get("micro_f1")}
            for t in study.get_trials(deepcopy=False)]


def timed(build, repeats: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        fig = build()
        times.append(time.perf_counter() - began)
        size = len(fig.to_json())
    return statistics.median(times) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from optuna import visualization as vis
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    study = make_study(args.trials)
    began = time.perf_counter()
    found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    fit_ms = (time.perf_counter() - began) * 1000
    pairs = {
        "progress": (lambda: search_progress_figure(rows(study)), lambda: vis.plot_optimization_history(study)),
        "parallel": (lambda: search_parallel_figure(rows(study), search.SPACE),
                     lambda: vis.plot_parallel_coordinate(study)),
        "importance": (lambda: search_importance_figure(found),
                       lambda: vis.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))),
    }
    print(f"{args.trials} trials; fANOVA fit alone {fit_ms:.0f} ms")
    print(f"{'chart':<11} {'ours ms':>8} {'optuna ms':>10} {'optuna/ours':>11} {'ours KB':>8} {'optuna KB':>10}")
    for name, (ours, theirs) in pairs.items():
        a_ms, a_size = timed(ours, args.repeats)
        b_ms, b_size = timed(theirs, args.repeats)
        print(f"{name:<11} {a_ms:>8.1f} {b_ms:>10.1f} {b_ms / a_ms:>11.1f} {a_size / 1024:>8.0f} {b_size / 1024:>10.0f}")


if __name__ == "__main__":
    main()
