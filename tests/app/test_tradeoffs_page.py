"""Trade-offs page: guidance when empty; chart, recommendation and exports when populated."""

from __future__ import annotations

from core.tradeoffs import collect_points
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/tradeoffs.py"


def test_empty_workspace_gets_guidance(empty_ws, stop_jobs):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Trade-offs"
    assert any("Nothing measured yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_populated_shows_chart_recommendation_and_exports(populated_ws, stop_jobs):
    at = open_page(PAGE)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1
    assert any(s.value.startswith("**Recommended:") for s in at.success)
    assert [d.label for d in at.download_button] == ["HTML report", "Points (CSV)", "Results (JSON)"]
    captions = " ".join(c.value for c in at.caption)
    assert "hint" in captions and "batch 1" in captions and "images)" in captions
    assert any("Not on the chart" in m.value for m in at.markdown)  # PyTorch points have no accuracy


def test_a_floor_above_every_point_says_no_model_reaches_it(populated_ws, stop_jobs):
    best = max(p.top1 for p in collect_points(populated_ws) if p.top1 is not None)
    assert best < 1.0, "a point at 100 % leaves no floor above it"
    at = open_page(PAGE)
    at.slider(key="t-floor").set_value(round(min(100.0, best * 100 + 0.5), 1)).run()
    assert_clean(at)
    assert not at.success
    assert any("no model reaches" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1  # the chart stays, with the floor shaded
