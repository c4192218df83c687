"""The Runs page in a real browser: rename a run, filter the table down to it, download its history as CSV and
check the file, and its model as ONNX; a live run's row refreshes on its own (no reload, no click) until it ends; a
first visit draws the table before the charts, however slowly the grid's script comes."""

from __future__ import annotations

import re
import time

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from multilabel import TrainConfig, load_checkpoint, make_synthetic
from multilabel.session import get_registry
from multilabel.store import RunStore

import pagetest

pytestmark = pytest.mark.browser
LOAD_MS = 60_000


def table_cells(page: Page) -> list[list[str]]:
    """The runs table's rows as text (the data grid's accessible table; the visible grid is a canvas)."""
    rows = page.locator("[data-testid='stDataFrame'] table tbody tr")
    cells = [[c.strip() for c in row.locator("td").all_text_contents()] for row in rows.all()]
    return [row for row in cells if any(row)]  # a row being redrawn can be empty for a moment


def wait_for(done, what: str) -> None:
    pagetest.wait_for(done, what, poll_s=0.2)


def train(home, name: str, seed: int, epochs: int = 8, rows: int = 300):
    config = TrainConfig(input_size=6, hidden_size=8 * seed, num_outputs=3, epochs=epochs, patience=0, seed=seed,
                         learning_rate=1e-2, device="cpu").validate()
    return get_registry(home).start(config, make_synthetic(rows, 6, 3, seed=seed), name=name)


def test_rename_filter_and_download_a_runs_history(page: Page, server, screenshot, tmp_path):
    first, second = train(server.home, "first try", 1), train(server.home, "second try", 2)
    for session in (first, second):
        assert session.join(timeout=120) and session.snapshot()["status"] == "completed"
    store = RunStore(server.home)

    page.goto(f"{server.url}/Runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=LOAD_MS)  # parallel coordinates, loss, F1
    wait_for(lambda: len(table_cells(page)) == 2, "two rows in the runs table")
    assert [r[0] for r in table_cells(page)] == ["second try", "first try"]  # names, newest first

    # Rename the older run from the "One run" section.
    page.locator("[data-testid='stSelectbox']").filter(has_text="Run").last.click()
    page.get_by_role("option", name="first try", exact=True).click()
    name_box = page.locator(f".st-key-name_{first.run_id} input")
    expect(name_box).to_have_value("first try", timeout=LOAD_MS)
    name_box.fill("baseline (renamed)")
    name_box.press("Enter")
    page.locator(".st-key-rename button").click()
    wait_for(lambda: "baseline (renamed)" in [r[0] for r in table_cells(page)], "the new name in the table")
    assert store.get_run(first.run_id)["name"] == "baseline (renamed)"
    # The pickers keep the renamed run chosen, under its new name (the browser keeps a choice as the shown text).
    expect(page.locator(".st-key-detail_run_v1 input")).to_have_value("baseline (renamed)", timeout=LOAD_MS)
    expect(page.locator(".st-key-compare_v1")).to_contain_text("baseline (renamed)", timeout=LOAD_MS)
    expect(page.locator(".st-key-compare_v1")).to_contain_text("second try")

    # Filter the table down to it by text.
    search = page.locator(".st-key-f_text input")
    search.fill("BASELINE")
    search.press("Enter")
    expect(page.get_by_text("1 of 2 runs shown")).to_be_visible(timeout=LOAD_MS)
    wait_for(lambda: [r[0] for r in table_cells(page)] == ["baseline (renamed)"], "only the renamed run listed")
    expect(page.locator(".st-key-compare_v1")).not_to_contain_text("second try", timeout=LOAD_MS)
    expect(page.locator(".st-key-compare_v1")).to_contain_text("baseline (renamed)")
    screenshot("renamed-and-filtered")

    # A status chosen in the filter, and the default columns: every chip whole and inside its box (the Columns
    # picker had kept its chips on one row that ended in half a chip; the Status box cut "stopped early").
    page.locator(".st-key-f_status").click()
    page.get_by_role("option", name="completed", exact=True).click()
    page.keyboard.press("Escape")
    expect(page.locator(".st-key-f_status [data-tag]")).to_have_count(1, timeout=LOAD_MS)
    cut = page.evaluate("""() => [...document.querySelectorAll('.st-key-f_status, .st-key-columns')].flatMap(box => {
        const outer = box.querySelector('[data-testid="stMultiSelectTagsContainer"]').getBoundingClientRect();
        return [...box.querySelectorAll('[data-tag]')].filter(tag => {
            const r = tag.getBoundingClientRect();
            const clipped = [...tag.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1);
            return clipped || r.right > outer.right + 1 || r.left < outer.left - 1; }).map(t => t.innerText); })""")
    assert page.locator(".st-key-columns [data-tag]").count() >= 10
    assert cut == [], cut

    # Its history as CSV, through the browser's own download.
    with page.expect_download(timeout=LOAD_MS) as info:
        page.locator(".st-key-download_history button").click()
    download = info.value
    assert download.suggested_filename == f"{first.run_id}-history.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    frame = pd.read_csv(saved)
    history = store.history(first.run_id)
    assert frame["epoch"].tolist() == list(range(1, 9))
    assert frame["train_loss"].tolist() == pytest.approx([r["train_loss"] for r in history])
    assert frame["val_loss"].tolist() == pytest.approx([r["val_loss"] for r in history])
    assert "val_per_label/label_0/f1" in frame.columns

    # Its model as ONNX (built on the click), run with onnxruntime: the checkpoint's own probabilities.
    with page.expect_download(timeout=LOAD_MS) as info:
        page.locator(".st-key-download_onnx button").first.click()  # with a help tooltip: two nodes
    assert info.value.failure() is None and info.value.suggested_filename == f"{first.run_id}.onnx"
    onnx_file = tmp_path / "model.onnx"
    info.value.save_as(onnx_file)
    trained = load_checkpoint(store.get_run(first.run_id)["checkpoint"])
    X = make_synthetic(200, 6, 3, seed=9).X
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"features": X})[0]
    assert np.abs(probs - trained.predict_proba(X)).max() <= 1e-5
    screenshot("onnx-downloaded")

    # A chart as PNG: plotly's own toolbar button, drawn in the browser (nothing fetched, no server-side renderer).
    chart = page.locator(".st-key-overlay_loss .js-plotly-plot")
    chart.hover()
    with page.expect_download(timeout=LOAD_MS) as info:
        chart.locator(".modebar-btn[data-title='Download plot as a PNG']").click()
    png = tmp_path / "chart.png"
    info.value.save_as(png)
    assert info.value.suggested_filename.endswith(".png") and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    errors = page.locator("[data-testid='stException']")
    if errors.count():
        screenshot("exception")
        pytest.fail(f"the page shows an exception: {errors.first.inner_text()[:2000]}")
    store.close()


def test_a_live_runs_row_refreshes_on_its_own(page: Page, server, screenshot):
    session = train(server.home, "live one", 3, epochs=3000, rows=3000)
    try:
        page.goto(f"{server.url}/Runs")
        expect(page.get_by_text(re.compile(r"1 live, refreshing every"))).to_be_visible(timeout=LOAD_MS)

        def epochs_run() -> int:
            for row in table_cells(page):
                if row and row[0] == "live one":
                    return int(row[3].replace(",", "") or 0)  # columns: name, status, data, epochs run, ...
            return -1

        wait_for(lambda: epochs_run() >= 1, "the live run's first epochs")
        seen = epochs_run()
        wait_for(lambda: epochs_run() > seen, "a newer epoch count without reloading")  # the page polled
        screenshot("live")
    finally:
        session.stop()
        assert session.join(timeout=60)
    wait_for(lambda: any(r and r[0] == "live one" and r[1] == "stopped" for r in table_cells(page)),
             "the stopped status without reloading")
    expect(page.get_by_text(re.compile(r"refreshing every"))).to_have_count(0, timeout=LOAD_MS)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


# When the table's grid and the first chart first have a size, on the page's clock (polled: no observer's own cost).
SEEN_JS = """
window.__seen = {};
setInterval(() => {
  for (const [name, selector] of [["table", "[data-testid='stDataFrame'] canvas"], ["chart", ".js-plotly-plot"]]) {
    const el = document.querySelector(selector);
    if (!(name in window.__seen) && el && el.getBoundingClientRect().height > 0) window.__seen[name] = performance.now();
  }
}, 20);
"""


def test_a_first_visit_draws_the_table_before_the_charts_however_slow_the_grids_script(page: Page, fresh_server):
    # A fresh browser loads the grid's script while the page is drawn; the charts, asked for after a fixed wait,
    # came first, and plotly's evaluation held the main thread for seconds while the table waited for its script.
    # Now the browser asks for them once it has drawn the table. Here the grid's script is held back 3 s.
    session = train(fresh_server.home, "slow grid", 1)
    assert session.join(timeout=120) and session.snapshot()["status"] == "completed"
    page.add_init_script(SEEN_JS)

    def hold(route):
        time.sleep(3)
        route.continue_()

    page.route(re.compile(r"/static/js/DataFrame\.[^/]*\.js$"), hold)
    page.goto(f"{fresh_server.url}/Runs")
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=LOAD_MS)  # they still come, all three
    seen = page.evaluate("() => window.__seen")
    assert seen["table"] < seen["chart"], seen
    assert seen["table"] > 3000, seen  # the hold did delay the grid (else this test shows nothing)
