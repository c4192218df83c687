"""The Search page in a real browser: start a tiny search with one click, watch the trials table fill, reload (the
search is found again from ?study=), stop it, click through to Predict with its ensemble preselected, and score a
file that carries the label columns (per-label analysis)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from multilabel import jobs, load_checkpoint, make_synthetic

pytestmark = pytest.mark.browser
LOAD_MS = 60_000
TRIALS_MS = 120_000


def fill(page: Page, key: str, value: str) -> None:
    """Type a number into a number input and commit it with Enter, as a person does."""
    box = page.locator(f".st-key-{key} input")
    box.fill(value)
    box.press("Enter")
    expect(box).to_have_value(value, timeout=LOAD_MS)


# The status counts trials by state: "status: running · 2 complete · 1 pruned · 1 running · budget ...".
FINISHED_JS = """() => { const line = (document.querySelector('.st-key-search_panel').innerText.split('\\n')
        .find(t => t.startsWith('status:')) || '');
    let n = 0; for (const m of line.matchAll(/(\\d+) (complete|pruned|failed)/g)) n += +m[1]; return n; }"""


def finished_trials(page: Page) -> int:
    return page.evaluate(FINISHED_JS)


def test_start_a_search_watch_it_reload_stop_it_and_predict_with_its_ensemble(page: Page, server, screenshot,
                                                                               tmp_path):
    page.goto(server.url + "/")
    expect(page.get_by_text("Devices on this machine")).to_be_visible(timeout=LOAD_MS)
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']").get_by_text("Search", exact=True).click()
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible(timeout=LOAD_MS)

    # A tiny study: 240 synthetic rows, 4 epochs per trial, one split, an ensemble of 2; a trial budget it will
    # not reach, so Stop ends it.
    for key, value in (("search_samples", "240"), ("search_inputs", "6"), ("search_outputs", "3"),
                       ("search_minutes", "0.00"), ("search_trials", "1000"), ("search_epochs", "4"),
                       ("search_folds", "1"), ("search_members", "2"), ("search_seeds", "1")):
        fill(page, key, value)
    expect(page.locator(".st-key-search_name input")).to_have_value("search-1", timeout=LOAD_MS)
    screenshot("1-form")
    page.locator(".st-key-search_start button").click()

    panel = page.locator(".st-key-search_panel")
    expect(panel.get_by_text("status: running")).to_be_visible(timeout=LOAD_MS)
    expect(page).to_have_url(re.compile(r"study=search-1"))
    expect(panel.locator("[data-testid='stDataFrame']")).to_be_visible(timeout=TRIALS_MS)
    page.wait_for_function(f"() => ({FINISHED_JS})() >= 3", timeout=TRIALS_MS)
    expect(panel.locator(".st-key-search_parallel .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
    expect(panel.locator(".st-key-search_progress .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
    screenshot("2-running")

    # A reload is a new session: the search is found again from the URL and keeps going.
    before = finished_trials(page)
    page.reload()
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(panel.get_by_text("status: running")).to_be_visible(timeout=LOAD_MS)
    screenshot("2b-reloaded")
    page.wait_for_function(f"() => ({FINISHED_JS})() > {before}", timeout=TRIALS_MS)

    stop = page.get_by_role("button", name="Stop", exact=True)  # the visible one (Streamlit may keep a stale copy)
    stop.click()
    expect(panel.get_by_text("status: stopped")).to_be_visible(timeout=TRIALS_MS)
    expect(stop).to_be_disabled()
    expect(panel.get_by_text(re.compile(r"Ensemble of the best 2 configuration"))).to_be_visible()
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    screenshot("3-stopped")
    job = jobs.find_job("search-1", server.home)
    assert not job["alive"] and job["result"]["interrupted"] and job["result"]["states"]["COMPLETE"] >= 3
    assert len(load_checkpoint(job["ensemble"]).nets) == 2

    page.get_by_role("button", name="Use the ensemble on Predict").click()
    expect(page.get_by_role("heading", name="Predict", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-predict_run_select input[role=combobox]")).to_have_value(
        re.compile(r"^search:search-1 · \S+ · ensemble of 2 .* · estimated micro-F1 \d\.\d{3}"), timeout=LOAD_MS)
    expect(page).to_have_url(re.compile(r"model=search%3Asearch-1|model=search:search-1"))
    expect(page.get_by_text("6 features → 3 labels")).to_be_visible()

    # A file with the label columns: the predictions are scored against them (metrics, curves, confusion grid).
    data = make_synthetic(200, 6, 3, seed=0)  # the page's synthetic generator: the same teacher
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    for j, name in enumerate(data.label_names):
        frame[name] = data.Y[:, j].astype(int)
    labelled = tmp_path / "labelled.csv"
    frame.to_csv(labelled, index=False)
    page.locator(".st-key-predict_csv input[type=file]").set_input_files(labelled)
    expect(page.get_by_text("200 rows scored.")).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_role("heading", name="Against this file's labels")).to_be_visible(timeout=LOAD_MS)
    for key in ("predict_pr", "predict_roc", "predict_confusion"):
        expect(page.locator(f".st-key-{key} .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    screenshot("4-predict")
