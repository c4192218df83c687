"""``python -m multilabel runs`` and every command's ``--help`` answer without importing torch, pandas or pyarrow
(an import check in a fresh process; the time it buys is measured by benchmarks/bench_cli_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from multilabel.store import RunStore

REPO = Path(__file__).resolve().parents[1]

PROBE = r"""
import contextlib, io, json, sys
from multilabel.cli import main
out = {}
for argv in json.loads(sys.argv[1]):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help exits 0 after printing
            code = exc.code
    heavy = [name for name in ("torch", "pandas", "pyarrow", "optuna") if name in sys.modules]
    out[" ".join(argv)] = {"code": code, "heavy": heavy, "text": text.getvalue()}
print(json.dumps(out))
"""


def test_runs_and_every_help_import_neither_torch_nor_pandas(store_home):
    store = RunStore(store_home)
    run_id = store.create_run({"hidden_size": 8}, {"source": "synthetic", "rows": 100}, name="listed")
    store.finish(run_id, "completed", best={"epoch": 1, "val_loss": 0.5, "micro_f1": 0.75, "hamming_loss": 0.125})
    store.close()
    commands = [["runs"], ["runs", "--json"], ["--help"], *([c, "--help"] for c in
                                                            ("train", "evaluate", "predict", "export", "search",
                                                             "runs"))]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert {name: result["heavy"] for name, result in seen.items()} == {" ".join(c): [] for c in commands}
    assert all(result["code"] == 0 for result in seen.values()), seen
    assert run_id in seen["runs"]["text"] and "0.750" in seen["runs"]["text"]  # the table, really printed
    assert json.loads(seen["runs --json"]["text"])["id"] == run_id
    assert "--hidden-size" in seen["train --help"]["text"] and "--chunk-rows" in seen["predict --help"]["text"]
