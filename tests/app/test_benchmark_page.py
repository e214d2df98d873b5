"""Benchmark page: renders empty and populated (history and charts), queues one job per model, and marks
an unstable run with a way to measure it again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.jobs.store import JobStore
from core.results import load_benchmarks
from tests.app.conftest import LENET, LENET_VARIANTS, assert_clean, open_page, save_typed_benchmark, shown

PAGE = "app_pages/benchmark.py"


@pytest.fixture
def lenet_ws(empty_ws, populated_root):
    """An own workspace holding the populated LeNet5: the job queued here leaves the shared one alone."""
    shutil.copytree(populated_root / "models" / LENET, empty_ws.models_dir / LENET)
    return empty_ws


def _benchmark_jobs(ws):
    return [j for j in JobStore(ws.jobs_db).list() if j.kind == "benchmark"]


def test_renders_on_an_empty_workspace(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Benchmark"
    assert any("No model is converted yet" in i.value for i in at.info)
    assert not at.get("form")


def test_history_and_charts_render_from_saved_runs(populated_ws):
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 2  # latency and throughput
    assert any("History" in h.value for h in at.subheader)
    assert len(at.dataframe) == 2  # the runs of the shown result and the history
    captions = shown(" ".join(c.value for c in at.caption))
    assert "AsyncInferQueue" in captions
    assert "INFERENCE_PRECISION_HINT=f32" in captions
    assert "OpenVINO 20" in captions
    assert "5 rounds" in captions
    (result,) = [r for r in load_benchmarks(populated_ws) if r.model_id == LENET]
    metrics = {m.label: m for m in at.metric}
    for run in result.runs:  # every variant of the one run, with its median; unstable ones marked as such
        metric = metrics[f"{run.title} · median"]
        assert metric.value.endswith("ms" if run.stable else "ms ⚠"), (run.variant, metric.value)
    assert {r.variant for r in result.runs} == {"torch", *LENET_VARIANTS}
    assert metrics["PyTorch · median"].delta == "reference"
    assert all("vs PyTorch" in (m.delta or "") or "slower than PyTorch" in (m.delta or "")
               for label, m in metrics.items() if not label.startswith("PyTorch"))  # fmt: skip
    runs = at.dataframe[0].value
    assert set(runs["variant"]) == {r.title for r in result.runs}
    assert {"executed as", "IQR ms", "stable", "iterations (latency / throughput)"} <= set(runs.columns)
    assert (runs["iterations (latency / throughput)"].str.split(" / ").str[0].astype(int) >= 30).all()


def test_submit_queues_a_benchmark_job_with_the_chosen_hint_and_batch(lenet_ws, stop_jobs):
    at = open_page(PAGE, model_id=LENET)
    assert at.multiselect(key="b-models").value == [LENET]
    assert at.pills(key="b-variants").value == ["torch", "ort-fp32", "fp32", "fp16", "int8"]  # the usual five
    at.segmented_control(key="b-hint").set_value("throughput")
    at.number_input(key="b-batch").set_value(4)
    at.slider(key="b-seconds").set_value(2)
    at.form_submit_button[0].click()
    at.run()
    assert_clean(at)
    (job,) = _benchmark_jobs(lenet_ws)
    config = job.config
    assert config["model_id"] == LENET
    assert config["hint"] == "throughput"
    assert config["batch"] == 4
    assert config["seconds"] == 2
    assert config["variants"] == ["torch", "ort-fp32", "fp32", "fp16", "int8"]
    assert "grid" not in config
    assert any("Latest benchmark jobs" in m.value for m in at.markdown)


def test_an_unstable_run_is_marked_and_can_be_measured_again(lenet_ws, stop_jobs):
    path = save_typed_benchmark(
        lenet_ws,
        LENET,
        {"torch": [0.3] * 5, "fp32": [0.1] * 5, "int8": [0.05] * 5},
        per_round=2,  # 10 timed iterations per variant: too few to trust
    )
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    metrics = {m.label: m for m in at.metric}
    assert metrics["INT8 · median"].value == "0.05 ms ⚠"
    assert metrics["INT8 · median"].delta == "6.0× vs PyTorch · unstable"  # not given as a result
    assert any("Part of this run is **unstable**" in w.value for w in at.warning)
    at.button(key=f"b-again-{Path(path).name}").click().run()
    assert_clean(at)
    (job,) = _benchmark_jobs(lenet_ws)
    assert job.config["variants"] == ["torch", "fp32", "int8"]
    assert job.config["seconds"] == 6.0
    assert job.config["model_id"] == LENET
    assert job.config["hint"] == "latency"
