"""Untrusted text in a real browser (issue 23, item 1): hostile run, label, feature and file names, a hostile note
and stored error, and hostile URL values, on every page. No <img> or <a> comes from them, their text shows as
typed, and no request leaves 127.0.0.1 (every other request is recorded and aborted).

tests/test_untrusted_text.py checks the Markdown sources under AppTest; this checks what Chromium renders.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlparse

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from multilabel import TrainConfig, make_synthetic
from multilabel.session import SessionRegistry
from multilabel.store import RunStore

pytestmark = pytest.mark.browser

LOAD_MS = 60_000
IMG = "![px](http://evil.test/{}.png)"
LINK = "[click](http://evil.test/{})"
HOSTILE = IMG.format("q") + " " + LINK.format("q") + " :red[alarm] <img src=http://evil.test/h.png>"
SHOTS = Path(os.environ.get("MULTILABEL_SHOTS", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))


@pytest.fixture
def hostile_server(tmp_path, request):
    """A server on a run store holding a finished run with hostile names (and a hostile note) and a failed run whose
    error quotes a hostile column."""
    data = make_synthetic(200, 4, 3, seed=3)
    data.feature_names = [f"f{i} " + IMG.format(f"f{i}") for i in range(4)]
    data.label_names = [f"l{j} " + LINK.format(f"l{j}") + " :red[x]" for j in range(3)]
    config = TrainConfig(input_size=4, hidden_size=8, num_outputs=3, epochs=4, patience=0, refit="none").validate()
    registry = SessionRegistry(RunStore(tmp_path))
    session = registry.start(config, data, name="<img src=http://evil.test/n.png> " + IMG.format("name"))
    assert session.join(timeout=120) and session.snapshot()["status"] == "completed"
    registry.store.add_note(session.run_id, "note " + LINK.format("note"))
    failed = registry.store.create_run(config.to_dict(), {"source": "csv", "name": "x.csv"},
                                       name="failed " + LINK.format("failed"))
    registry.store.fail(failed, f"feature column {IMG.format('col')!r} in 'x.csv' is not numeric (row 2: 'a')")
    registry.store.close()
    server = request.getfixturevalue("fresh_server")
    return server, session.run_id, failed


def guard(page: Page) -> list[str]:
    """Record and abort every request that does not go to 127.0.0.1."""
    left: list[str] = []

    def handle(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    page.context.route("**/*", handle)
    return left


def check(page: Page, name: str, least_shown: int = 1) -> None:
    """No markup from hostile text: no image or link to the hostile host; the text itself shows as typed."""
    page.wait_for_timeout(1500)  # fragments and images a page would load
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    assert page.locator("img[src*='evil']").count() == 0, name
    links = page.locator("a[href*='evil']")
    assert links.count() == 0, (name, page.evaluate("""() => [...document.querySelectorAll("a[href*='evil']")]
        .slice(0, 4).map(a => (a.closest('[data-testid]') || {}).getAttribute?.('data-testid') + ' ' + a.outerHTML.slice(0, 200))"""))
    shown = page.get_by_text("evil.test", exact=False).count()
    assert shown >= least_shown, f"{name}: the hostile text is not on the page ({shown})"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"untrusted-{name}.png"), full_page=True)


def test_no_markup_and_no_request_leaves_the_machine(page: Page, hostile_server, tmp_path):
    server, run_id, failed = hostile_server
    left = guard(page)
    q = quote(HOSTILE)

    page.goto(f"{server.url}/Train?hidden_size={q}&optimizer={q}&run={run_id}")
    expect(page.get_by_text("in the link was ignored", exact=False).first).to_be_visible(timeout=LOAD_MS)
    check(page, "train-url-and-run", least_shown=3)

    page.goto(f"{server.url}/Train?run={failed}")
    expect(page.get_by_text("is not numeric", exact=False).first).to_be_visible(timeout=LOAD_MS)
    check(page, "train-failed-run")

    page.goto(f"{server.url}/Predict?model={run_id}")
    expect(page.get_by_text("4 features", exact=False)).to_be_visible(timeout=LOAD_MS)
    page.get_by_text("Per-label thresholds").click()
    check(page, "predict-labels", least_shown=4)

    page.goto(f"{server.url}/Predict?model={q}")
    expect(page.get_by_text("of the link is not in this run store", exact=False)).to_be_visible(timeout=LOAD_MS)
    check(page, "predict-bad-link")

    page.goto(f"{server.url}/Runs")
    expect(page.get_by_text("This run failed", exact=False)).to_be_visible(timeout=LOAD_MS)
    check(page, "runs")

    page.goto(f"{server.url}/Inspect?run={q}")
    expect(page.get_by_text("No run", exact=False).first).to_be_visible(timeout=LOAD_MS)
    check(page, "inspect", least_shown=4)

    page.goto(f"{server.url}/Search?study={q}")
    expect(page.get_by_text("No search named", exact=False)).to_be_visible(timeout=LOAD_MS)
    check(page, "search-bad-link")

    # A CSV whose feature column has a hostile name and text values: the "not numeric" error at Start.
    frame = pd.DataFrame({IMG.format("colname"): ["a"] * 30, "x": np.arange(30.0), "y": [0, 1] * 15})
    csv = tmp_path / "hostile.csv"
    frame.to_csv(csv, index=False)
    page.goto(f"{server.url}/Train")
    page.get_by_text("Upload CSV", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(csv))
    expect(page.get_by_text("hostile.csv: 30 rows", exact=False)).to_be_visible(timeout=LOAD_MS)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("is not numeric", exact=False).first).to_be_visible(timeout=LOAD_MS)
    check(page, "train-csv-not-numeric")

    assert left == [], f"requests left 127.0.0.1: {left}"
