"""The "Sigmoid vs softmax" page under AppTest: press the button, both heads train, charts and table show their numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel.heads import compare_heads, demo_data

from app_pages._nav import HEADS

REPO = Path(__file__).resolve().parents[1]
PAGE = HEADS
ROWS, LABELS, SEED = 1000, 8, 3  # smaller than the page's defaults, same effect, faster


@pytest.fixture(scope="module")
def expected():
    """What the library says for the inputs the tests set on the page."""
    return compare_heads(demo_data(ROWS, LABELS, SEED), seed=SEED)


def open_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page(PAGE)
    return at.run()


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def train(at: AppTest, rows: int = ROWS, labels: int = LABELS, seed: int = SEED) -> AppTest:
    at.slider(key="heads_rows").set_value(rows)
    at.slider(key="heads_labels").set_value(labels)
    at.number_input(key="heads_seed").set_value(seed)
    at.button(key="heads_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_waits_for_the_button(home):
    at = open_page()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sigmoid vs softmax"]
    assert "Train both heads" in at.info[0].value
    assert "a second or two" not in at.info[0].value and "several seconds" in at.info[0].value  # it took 7 s
    assert not charts(at) and not at.dataframe
    assert at.slider(key="heads_labels").value == 8 and at.slider(key="heads_rows").value == 2000


def test_button_trains_both_heads_and_shows_their_numbers(home, expected):
    at = train(open_page())
    shown = charts(at)
    assert set(shown) == {"heads_probs_chart", "heads_metrics_chart", "heads_loss_chart"}

    # The metrics table is the library's, row for row.
    table = at.dataframe[0].value
    pd.testing.assert_frame_equal(table.reset_index(drop=True), pd.DataFrame(expected.metrics_table()))
    assert table["micro-F1"].iloc[0] > table["micro-F1"].iloc[1]  # sigmoid beats softmax at 0.5
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sigmoid micro-F1"] == f"{expected.metrics['sigmoid']['micro_f1']:.3f}"
    assert metrics["Softmax micro-F1"] == f"{expected.metrics['softmax']['micro_f1']:.3f}"
    assert metrics[f"Softmax best top-k micro-F1 (k = {expected.softmax_topk['k']})"] == \
        f"{expected.softmax_topk['metrics']['micro_f1']:.3f}"
    summary = "\n".join(m.value for m in at.markdown)
    assert f"**{expected.n_train:,}** training / **{expected.n_val:,}** validation rows" in summary
    assert f"**{expected.label_cardinality:.2f}** true labels per row" in summary

    # Probability bars: the chosen rows' probabilities, true labels in the "truly 1" bars, softmax panels summing to 1.
    probs = shown["heads_probs_chart"]
    assert len(expected.rows) == 4
    titles = [a["text"] for a in probs["layout"]["annotations"]]
    for r, row in enumerate(expected.rows):
        assert any(t.startswith(f"row {row}: ") and "Σp = 1.00" in t for t in titles)  # the softmax panel
        for c, head in enumerate(("sigmoid", "softmax")):
            axis = "x" if r == 0 and c == 0 else f"x{2 * r + c + 1}"
            bars = {t["name"]: t for t in probs["data"] if t["xaxis"] == axis}
            truth = expected.targets[r]
            true_labels = [expected.label_names[j] for j, t in enumerate(truth) if t]
            assert bars["truly 1"]["x"] == true_labels
            assert bars["truly 1"]["y"] == pytest.approx([expected.probs[head][r][j] for j, t in enumerate(truth) if t])
            if head == "softmax":
                assert sum(1 for p in bars["truly 1"]["y"] if p > 0.5) <= 1

    loss = shown["heads_loss_chart"]
    lines = {(t["xaxis"], t["name"]): t["y"] for t in loss["data"]}
    assert lines["x", "train"] == pytest.approx(expected.train_loss["sigmoid"])
    assert lines["x2", "validation"] == pytest.approx(expected.val_loss["softmax"])
    bars = shown["heads_metrics_chart"]["data"]
    assert bars[1]["y"] == pytest.approx([row["subset accuracy"] for row in expected.metrics_table()])


def test_results_stay_until_the_button_is_pressed_again(home, expected):
    at = train(open_page())
    at.slider(key="heads_labels").set_value(4).run()
    assert not at.exception
    assert any("press the button to train on the new settings" in c.value for c in at.caption)
    assert charts(at)["heads_probs_chart"]["data"][0]["y"] == pytest.approx(
        [p for p, t in zip(expected.probs["sigmoid"][0], expected.targets[0]) if t])  # still the 8-label run
    at.button(key="heads_run").click().run()
    assert not at.exception
    assert not any("press the button" in c.value for c in at.caption)
    table = at.dataframe[0].value
    again = compare_heads(demo_data(ROWS, 4, SEED), seed=SEED)
    assert table["micro-F1"].tolist() == pytest.approx([r["micro-F1"] for r in again.metrics_table()])
    assert len(charts(at)["heads_probs_chart"]["layout"]["xaxis"]["categoryarray"]) == 4
