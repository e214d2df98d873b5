"""Quantize page: renders empty and populated, queues a job from the form, reports a bad upload clearly."""

from __future__ import annotations

import shutil

import pytest

from core.jobs import JobState, JobStore
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/quantize.py"
MODEL = "lenet5-mnist"


@pytest.fixture
def lenet_ws(empty_ws, populated_root):
    """An own workspace holding the populated LeNet5 (FP32/FP16/INT8): jobs here leave the shared one alone."""
    shutil.copytree(populated_root / "models" / MODEL, empty_ws.models_dir / MODEL)
    return empty_ws


def quantize_jobs(ws):
    return [j for j in JobStore(ws.jobs_db).list() if j.kind == "quantize"]


def submit(at):
    at.form_submit_button[0].click()
    at.run()
    return at


def metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def test_renders_on_an_empty_workspace(empty_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    assert_clean(at)
    assert at.title[0].value == "Quantize to INT8"
    assert at.radio(key=f"q-calibration-{MODEL}").value == "builtin:mnist"  # digits for a digit model
    assert any("No INT8 model yet" in i.value for i in at.info)


def test_imagenet_model_preselects_the_package_photos(empty_ws, stop_jobs):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    assert_clean(at)
    assert at.radio(key="q-calibration-efficientnet-lite0").value == "builtin:imagenet-samples"


def test_shows_int8_next_to_fp32_from_the_artifacts(populated_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    assert_clean(at)
    shown = metrics(at)
    size, share = shown["Size on disk"]
    assert size.endswith("MiB") and "of FP32" in share
    assert int(shown["Quantized layers"][0]) > 0
    assert shown["Calibration images"][0] == "300"
    assert "FP32 top-1" in shown and "INT8 top-1" in shown  # from the populated evaluation
    assert "FP32 median" in shown and "INT8 median" in shown  # from the populated benchmark


def test_form_submits_a_quantize_job_with_the_chosen_settings(empty_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    at.number_input(key="q-subset").set_value(120)
    at.radio(key="q-preset").set_value("mixed")
    submit(at)
    assert_clean(at)
    jobs = quantize_jobs(empty_ws)
    assert len(jobs) == 1
    config = jobs[0].config
    assert config["model_id"] == MODEL
    assert config["calibration"] == "builtin:mnist"
    assert config["subset_size"] == 120
    assert config["preset"] == "mixed"
    assert config["max_drop"] is None
    assert any("Latest quantization of this model" in m.value for m in at.markdown)


def test_accuracy_control_without_a_labelled_set_is_refused(empty_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    at.toggle(key="q-control").set_value(True)
    at.selectbox(key=f"q-validation-{MODEL}").set_value("upload")
    submit(at)
    assert_clean(at)
    assert any("needs a labelled validation set" in e.value for e in at.error)
    assert quantize_jobs(empty_ws) == []


def test_a_zip_that_is_not_a_zip_fails_clearly_and_keeps_the_int8_model(lenet_ws, stop_jobs):
    int8 = lenet_ws.artifact(MODEL, "int8")
    before = (int8.manifest["created"], int8.fingerprint)

    at = open_page(PAGE, model_id=MODEL)
    at.radio(key=f"q-calibration-{MODEL}").set_value("upload").run()
    at.file_uploader(key="q-calibration-zip").set_value(
        ("calibration.zip", b"these are not images", "application/zip")
    )
    at.run()
    submit(at)
    assert_clean(at)
    (job,) = quantize_jobs(lenet_ws)
    assert "calibration.zip" in job.title

    from ui.common import runner

    record = runner().wait(job.id, timeout=90, poll=0.2)
    assert record.state == JobState.FAILED
    assert "is not a zip archive or is damaged" in record.error

    at.run()
    assert_clean(at)
    assert any("is not a zip archive" in e.value for e in at.error)
    assert "Size on disk" in metrics(at)  # the page keeps working and still shows the existing INT8
    after = lenet_ws.artifact(MODEL, "int8")
    assert (after.manifest["created"], after.fingerprint) == before


def test_a_finished_job_shows_its_result_and_latency_can_be_measured(lenet_ws, stop_jobs):
    at = open_page(PAGE, model_id=MODEL)
    at.number_input(key="q-subset").set_value(60)
    submit(at)
    (job,) = quantize_jobs(lenet_ws)

    from ui.common import runner

    record = runner().wait(job.id, timeout=120, poll=0.2)
    assert record.state == JobState.SUCCEEDED, record.error
    at.run()
    assert_clean(at)
    shown = metrics(at)
    assert shown["Calibration images"][0] == "60"
    assert shown["Time taken"][0] != "—"  # from the job's result, which made the INT8 model on disk

    at.button(key="q-measure").click().run()  # no benchmark in this workspace yet
    assert_clean(at)
    (bench,) = [j for j in JobStore(lenet_ws.jobs_db).list() if j.kind == "benchmark"]
    assert bench.config == {"model_id": MODEL, "precisions": ["fp32", "int8"], "seconds": 3}
