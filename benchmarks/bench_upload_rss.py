"""The server's memory across big uploads (issue 23): RSS of the `streamlit run app.py` process before, after each
of three uploads of a ~150 MB CSV on the Train page (Chromium, Playwright, the browser tests' arguments), and after
a page change. Target: back within 300 MB of the RSS before the uploads.

    python benchmarks/bench_upload_rss.py [--mb 150] [--uploads 3] [--baseline REV]

``--baseline REV`` measures a git revision the same way in the same run (extracted with `git archive`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server  # noqa: E402

TIMEOUT_MS = 600_000


def make_csv(path: Path, megabytes: float, seed: int) -> int:
    """A CSV of about ``megabytes`` MB: 40 float features and 5 0/1 labels. Returns its rows."""
    rows = int(megabytes * 1e6 / 385)
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=rows).round(6) for i in range(40)}
    cols.update({f"y{j}": (rng.random(rows) < 0.3).astype(np.int8) for j in range(5)})
    pacsv.write_csv(pa.table(cols), path)
    return rows


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def settle(pid: int, seconds: float = 4.0) -> float:
    """RSS after ``seconds`` of quiet (what a person's server keeps, not a peak)."""
    time.sleep(seconds)
    return rss_mb(pid)


def measure(root: Path, files: list[Path], rows: int) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as home:
        with streamlit_server(Path(home), root, {"OMP_NUM_THREADS": "1"}, on_start=servers.append) as url:
            proc = servers[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(f"{url}/Train")
                page.get_by_text("Upload CSV", exact=True).click()
                page.locator("input[type=file]").wait_for(state="attached")
                out.append(("before the uploads (Train, Upload CSV open)", settle(proc.pid)))
                for i, path in enumerate(files, 1):
                    page.locator("input[type=file]").set_input_files(str(path))
                    page.get_by_text(f"{path.name}: {rows:,} rows", exact=False).wait_for()
                    out.append((f"after upload {i} ({path.stat().st_size / 1e6:.0f} MB)", settle(proc.pid)))
                page.goto(f"{url}/Runs")  # a page change: the uploader and its file are gone from the page
                page.get_by_role("heading", name="Runs").wait_for()
                out.append(("after a page change (Runs)", settle(proc.pid, 8.0)))
                browser.close()
    return out


def extract(rev: str, into: Path) -> Path:
    data = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=150)
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="a git revision measured the same way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.uploads):
            path = Path(tmp) / f"big{i + 1}.csv"
            rows = make_csv(path, args.mb, seed=i)
            files.append(path)
        roots = [("this tree", REPO)]
        if args.baseline:
            roots.insert(0, (args.baseline, extract(args.baseline, Path(tmp) / "baseline")))
        for name, root in roots:
            results = measure(root, files, rows)
            before = results[0][1]
            print(f"\n{name}: server RSS (MB)")
            for what, mb in results:
                print(f"  {what:<48} {mb:8.0f}   {mb - before:+8.0f}")


if __name__ == "__main__":
    main()
