"""The Inspect page in a real browser: a finished run's curves and confusion grid render, a threshold slider moved
with the keyboard updates that label's validation precision/recall/F1, and Save writes the model Predict loads."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from sklearn.metrics import f1_score, precision_score, recall_score

from multilabel import TrainConfig, load_checkpoint, make_synthetic
from multilabel.session import get_registry
from multilabel.store import RunStore

pytestmark = pytest.mark.browser
LOAD_MS = 60_000


def test_inspect_a_run_move_a_threshold_and_save_it(page: Page, server, screenshot):
    config = TrainConfig(input_size=6, hidden_size=16, num_outputs=3, epochs=25, patience=0, seed=4,
                         learning_rate=1e-2).validate()
    session = get_registry(server.home).start(config, make_synthetic(600, 6, 3, seed=4), name="browser inspect")
    assert session.join(timeout=120) and session.snapshot()["status"] == "completed"
    run_id = session.run_id
    store = RunStore(server.home)
    probs, targets = store.load_validation(run_id)

    page.goto(f"{server.url}/Inspect?run={run_id}")
    expect(page.get_by_role("heading", name="Inspect", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=LOAD_MS)  # PR, ROC, confusion grid
    expect(page.locator("[data-testid='stException']")).to_have_count(0)

    # label_1's threshold from 0.50 down to 0.30 with the keyboard, as a person without a mouse would.
    thumb = page.locator(f".st-key-inspect_thr_{run_id}_1 input[type=range]")
    thumb.focus()
    for _ in range(20):
        page.keyboard.press("ArrowLeft")
    pred = probs[:, 1] >= np.float32(0.3)
    line = (f"precision {precision_score(targets[:, 1], pred):.3f} · recall {recall_score(targets[:, 1], pred):.3f}"
            f" · F1 {f1_score(targets[:, 1], pred):.3f}")
    expect(page.locator(f".st-key-inspect_thr_{run_id}_1")).to_contain_text("0.30", timeout=LOAD_MS)
    expect(page.get_by_text(re.compile(re.escape(line) + r".*saved 0\.50"))).to_be_visible(timeout=LOAD_MS)
    screenshot("moved")

    page.get_by_role("button", name="Save thresholds into the model").click()
    expect(page.get_by_text("Saved into run")).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text(re.compile(re.escape(line) + r".*saved 0\.30"))).to_be_visible(timeout=LOAD_MS)
    assert load_checkpoint(store.checkpoint_path(run_id)).thresholds == pytest.approx([0.5, 0.3, 0.5])
    screenshot("saved")
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    store.close()



def chart_epoch(page: Page, key: str) -> int:
    """The newest "(epoch N)" in a chart's title, 0 before there is one (Streamlit keeps a stale copy of a chart
    while it draws the new one, so every copy is read)."""
    titles = page.evaluate(f"""() => [...document.querySelectorAll('.st-key-{key} .js-plotly-plot')]
        .map(el => (el.layout && el.layout.title && el.layout.title.text) || '')""")
    return max([int(m.group(1)) for t in titles if (m := re.search(r"\(epoch (\d+)\)", t))], default=0)


def wait_epoch(page: Page, key: str, above: int) -> int:
    """Wait (LOAD_MS at most) until the chart's title names an epoch above ``above``; return it."""
    deadline = time.monotonic() + LOAD_MS / 1000
    while (epoch := chart_epoch(page, key)) <= above:
        assert time.monotonic() < deadline, f"{key} stayed at epoch {epoch}"
        page.wait_for_timeout(200)
    return epoch


def test_inspect_a_live_run_its_epoch_advances_and_its_network_shows(page: Page, server, screenshot):
    """Start a run, open Inspect on it: the live PR curve's title names an epoch that advances while it trains; the
    Network view draws the net and its per-epoch curves; Stop, and the page shows the run as stopped."""
    config = TrainConfig(input_size=6, hidden_size=16, num_outputs=3, epochs=100_000, patience=0, seed=6,
                         learning_rate=1e-2, batch_size=32).validate()
    session = get_registry(server.home).start(config, make_synthetic(600, 6, 3, seed=6), name="browser live")
    try:
        page.goto(f"{server.url}/Inspect?run={session.run_id}")
        expect(page.get_by_role("heading", name="Inspect", exact=True)).to_be_visible(timeout=LOAD_MS)
        expect(page.locator(".st-key-live_pr_chart .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
        first = wait_epoch(page, "live_pr_chart", 0)
        later = wait_epoch(page, "live_pr_chart", first)  # the title follows the run
        assert later > first
        assert wait_epoch(page, "live_confusion_chart", 0) >= first
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        screenshot("live")

        page.get_by_text("Network", exact=True).click()
        expect(page.locator(".st-key-network_chart .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
        expect(page.locator(".st-key-network_chart").first).to_contain_text("hidden (ReLU) · 16", timeout=LOAD_MS)
        drawn = wait_epoch(page, "network_chart", 0)
        wait_epoch(page, "network_chart", drawn)  # the picture follows the run too
        assert wait_epoch(page, "network_curves_chart", 0) >= drawn
        screenshot("network")
    finally:
        session.stop()
    assert session.join(timeout=120)
    assert session.snapshot()["status"] == "stopped"
    # The fragment sees the end and redraws the page: the status line says so, the picture stays.
    expect(page.get_by_text(re.compile(r"Stopped · \d+ epochs"))).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-network_chart .js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    screenshot("stopped")
