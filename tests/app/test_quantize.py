"""Quantize page: renders empty and populated (each INT8 variant next to its FP32), queues a job from the
form, reports a bad upload clearly, and a new recipe lands as a new variant beside the first."""

from __future__ import annotations

import shutil

import pytest

from core.jobs import JobState
from core.jobs.store import JobStore
from tests.app.conftest import LENET, NOISE_INT8, assert_clean, open_page, shown, tree_sha256

PAGE = "app_pages/quantize.py"


@pytest.fixture
def lenet_ws(empty_ws, populated_root):
    """An own workspace holding the populated LeNet5 variants: jobs here leave the shared one alone."""
    shutil.copytree(populated_root / "models" / LENET, empty_ws.models_dir / LENET)
    return empty_ws


def quantize_jobs(ws):
    return [j for j in JobStore(ws.jobs_db).list() if j.kind == "quantize"]


def submit(at):
    at.form_submit_button[0].click()
    at.run()
    return at


def metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def test_renders_on_an_empty_workspace(empty_ws):
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    assert at.title[0].value == "Quantize to INT8"
    assert at.radio(key=f"q-calibration-{LENET}").value == "builtin:mnist"  # digits for a digit model
    assert any("No INT8 variant yet" in i.value for i in at.info)
    assert any("no FP32 variant yet" in i.value for i in at.info)  # the job converts it first, and says so


def test_imagenet_model_preselects_the_package_photos(empty_ws):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    assert_clean(at)
    assert at.radio(key="q-calibration-efficientnet-lite0").value == "builtin:imagenet-samples"


def test_shows_each_int8_variant_next_to_fp32_from_the_files(populated_ws):
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    picker = at.selectbox(key=f"q-show-{LENET}")
    assert picker.options == ["INT8", f"INT8 · {NOISE_INT8}"]  # both INT8 variants: none replaced the other

    picker.set_value("int8").run()
    assert_clean(at)
    shown_now = metrics(at)
    size, share = shown_now["Size on disk"]
    int8, fp32 = populated_ws.variant(LENET, "int8"), populated_ws.variant(LENET, "fp32")
    assert size == f"{int8.size_bytes / 2**20:.2f} MiB"
    assert f"of FP32 ({fp32.size_bytes / 2**20:.2f} MiB)" in share
    assert int(shown_now["Quantized layers"][0]) > 0
    assert shown_now["Calibration images"][0] == "300"
    assert "FP32 top-1" in shown_now
    assert "INT8 top-1" in shown_now
    assert "FP32 median" in shown_now
    assert "INT8 median" in shown_now
    assert any("Both from one run of" in c.value and "interleaved rounds" in c.value for c in at.caption)

    at.selectbox(key=f"q-show-{LENET}").set_value(NOISE_INT8).run()
    assert_clean(at)
    shown_now = metrics(at)
    assert shown_now["Calibration images"][0] == "30"
    assert f"INT8 · {NOISE_INT8} top-1" in shown_now
    assert f"INT8 · {NOISE_INT8} median" in shown_now
    assert any("30 images of random noise" in shown(c.value) for c in at.caption)  # its recipe


def test_form_submits_a_quantize_job_with_the_chosen_settings(empty_ws, stop_jobs):
    at = open_page(PAGE, model_id=LENET)
    at.number_input(key="q-subset").set_value(120)
    at.radio(key="q-preset").set_value("mixed")
    submit(at)
    assert_clean(at)
    (job,) = quantize_jobs(empty_ws)
    config = job.config
    assert config["model_id"] == LENET
    assert config["calibration"] == "builtin:mnist"
    assert config["subset_size"] == 120
    assert config["preset"] == "mixed"
    assert config["max_drop"] is None
    assert config["backend"] == "openvino"
    assert config["name"] is None
    assert any("Latest quantization of this model" in m.value for m in at.markdown)


def test_accuracy_control_without_a_labelled_set_is_refused(empty_ws):
    at = open_page(PAGE, model_id=LENET)
    at.toggle(key="q-control").set_value(True)
    at.selectbox(key=f"q-validation-{LENET}").set_value("upload")
    submit(at)
    assert_clean(at)
    assert any("needs a labelled validation set" in e.value for e in at.error)
    assert quantize_jobs(empty_ws) == []


def test_a_zip_that_is_not_a_zip_fails_clearly_and_keeps_every_variant(lenet_ws, stop_jobs):
    from ui.services import jobs

    before = tree_sha256(lenet_ws.model_dir(LENET))
    at = open_page(PAGE, model_id=LENET)
    at.radio(key=f"q-calibration-{LENET}").set_value("upload").run()
    at.file_uploader(key="q-calibration-zip").set_value(
        ("calibration.zip", b"these are not images", "application/zip")
    )
    at.run()
    submit(at)
    assert_clean(at)
    (job,) = quantize_jobs(lenet_ws)
    assert "calibration.zip" in job.title

    record = jobs().wait(job.id, timeout=90, poll=0.2)
    assert record.state == JobState.FAILED
    assert "is not a zip archive or is damaged" in record.error

    at.run()
    assert_clean(at)
    assert any("calibration.zip is not a zip archive" in shown(e.value) for e in at.error)
    assert "Size on disk" in metrics(at)  # the page keeps working and still shows the existing INT8
    after = tree_sha256(lenet_ws.model_dir(LENET))
    assert {k: v for k, v in after.items() if not k.startswith(".")} == {
        k: v for k, v in before.items() if not k.startswith(".")
    }  # no variant file changed


def test_a_new_recipe_lands_beside_int8_and_latency_can_be_measured(lenet_ws, stop_jobs):
    from ui.services import jobs

    int8 = lenet_ws.variant(LENET, "int8")
    at = open_page(PAGE, model_id=LENET)
    at.number_input(key="q-subset").set_value(60)
    submit(at)
    (job,) = quantize_jobs(lenet_ws)

    record = jobs().wait(job.id, timeout=120, poll=0.2)
    assert record.state == JobState.SUCCEEDED, record.error
    made = record.result["variant"]
    assert made not in ("int8", NOISE_INT8)
    assert made.startswith("int8-")
    assert "60" in made
    assert lenet_ws.variant(LENET, "int8").fingerprint == int8.fingerprint  # the first INT8 is kept as it was
    # a fresh session, as after a reload (AppTest cannot replay the model picker, whose label lists the variants)
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    assert at.selectbox(key=f"q-show-{LENET}").value == made  # the variant the job just made is shown
    shown_now = metrics(at)
    assert shown_now["Calibration images"][0] == "60"
    assert shown_now["Time taken"][0] != "—"  # from its recipe

    at.button(key=f"q-measure-{made}").click().run()  # no benchmark of this variant yet
    assert_clean(at)
    (bench,) = [j for j in JobStore(lenet_ws.jobs_db).list() if j.kind == "benchmark"]
    assert bench.config == {"model_id": LENET, "variants": ["fp32", made], "seconds": 3}
