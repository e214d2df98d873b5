"""Fixtures for AppTest page tests: an empty workspace and a populated one (real models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")  # AppTest resolves relative paths from the caller
TIMEOUT = 120


def _use_workspace(monkeypatch, root) -> Workspace:
    monkeypatch.setenv("OVDASH_WORKSPACE", str(root))
    st.cache_resource.clear()  # the page helpers cache the workspace and job runner per server
    return Workspace(root)


@pytest.fixture
def empty_ws(tmp_path, monkeypatch) -> Workspace:
    return _use_workspace(monkeypatch, tmp_path / "ws")


@pytest.fixture(scope="session")
def populated_root(tmp_path_factory):
    """LeNet5 and EfficientNet-Lite0 at FP32/FP16/INT8, with one benchmark and one evaluation each."""
    from core.benchmark import BenchmarkConfig, run_benchmark
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.quantize import QuantizeConfig, quantize_model

    root = tmp_path_factory.mktemp("populated")
    ws = Workspace(root)
    for model_id, calibration, subset in (
        ("lenet5-mnist", "builtin:mnist", 300),
        ("efficientnet-lite0", "builtin:imagenet-samples", 32),
    ):
        convert_model(ConvertConfig(model_id), workspace=ws)
        quantize_model(QuantizeConfig(model_id, calibration=calibration, subset_size=subset), workspace=ws)
        run_benchmark(
            BenchmarkConfig(model_id, precisions=("torch", "fp32", "fp16", "int8"), seconds=0.5), workspace=ws
        )
    evaluate_model(
        EvaluateConfig(
            "lenet5-mnist", precisions=("fp32", "fp16", "int8"), dataset="builtin:mnist", limit=500
        ),
        workspace=ws,
    )
    evaluate_model(
        EvaluateConfig(
            "efficientnet-lite0", precisions=("fp32", "fp16", "int8"), dataset="builtin:imagenet-samples"
        ),
        workspace=ws,
    )
    return root


@pytest.fixture
def populated_ws(populated_root, monkeypatch) -> Workspace:
    return _use_workspace(monkeypatch, populated_root)


def open_page(page: str, *, model_id: str | None = None) -> AppTest:
    """Run the app, switch to a page (e.g. "app_pages/classify.py") and return the AppTest."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if model_id:
        at.session_state["model_id"] = model_id
    at.run()
    at.switch_page(page)
    at.run()
    return at


def assert_clean(at: AppTest) -> None:
    """No uncaught exception rendered on the page."""
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def stop_jobs():
    """After the test, cancel active jobs and stop the app's job runner, so no worker outlives the test.

    Request it after the workspace fixture, so it tears down while that workspace is still in use.
    """
    yield
    from ui.common import runner

    jobs = runner()
    for record in jobs.store.list(active_only=True):
        jobs.cancel(record.id)
    jobs.shutdown()
