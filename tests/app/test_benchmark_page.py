"""Benchmark page: renders empty and populated (history and charts), queues one job per model."""

from __future__ import annotations

import shutil

import pytest

from core.jobs import JobStore
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/benchmark.py"
MODEL = "lenet5-mnist"


@pytest.fixture
def lenet_ws(empty_ws, populated_root):
    """An own workspace holding the populated LeNet5: the job queued here leaves the shared one alone."""
    shutil.copytree(populated_root / "models" / MODEL, empty_ws.models_dir / MODEL)
    return empty_ws


def test_renders_on_an_empty_workspace(empty_ws, stop_jobs):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Benchmark"
    assert any("No model is converted yet" in i.value for i in at.info)


def test_history_and_charts_render_from_saved_runs(populated_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 2  # latency and throughput
    assert any("History" in h.value for h in at.subheader)
    assert len(at.dataframe) == 2  # the runs of the shown result and the history
    captions = " ".join(c.value for c in at.caption)
    assert "AsyncInferQueue" in captions and "INFERENCE_PRECISION_HINT=f32" in captions
    assert "OpenVINO 20" in captions
    labels = [m.label for m in at.metric]
    assert "INT8 · median latency" in labels
    assert any("vs PyTorch" in (m.delta or "") for m in at.metric)


def test_submit_queues_a_benchmark_job_with_the_chosen_hint_and_batch(lenet_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    assert at.multiselect(key="b-models").value == [MODEL]
    at.segmented_control(key="b-hint").set_value("throughput")
    at.number_input(key="b-batch").set_value(4)
    at.slider(key="b-seconds").set_value(2)
    at.form_submit_button[0].click()
    at.run()
    assert_clean(at)
    jobs = [j for j in JobStore(lenet_ws.jobs_db).list() if j.kind == "benchmark"]
    assert len(jobs) == 1
    config = jobs[0].config
    assert config["model_id"] == MODEL
    assert config["hint"] == "throughput"
    assert config["batch"] == 4
    assert config["seconds"] == 2
    assert set(config["precisions"]) == {"torch", "fp32", "int8"}
    assert "grid" not in config
    assert any("Latest benchmark jobs" in m.value for m in at.markdown)
