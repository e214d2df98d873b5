"""Accuracy page: submitting an evaluation job, rendering saved evaluations, refusing untrained models."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from core.jobs import JobStore
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/accuracy.py"


@pytest.fixture
def stop_jobs():
    """Stop the worker of any job a test submitted, so nothing outlives the test."""
    yield
    from ui.common import runner

    jobs = runner()
    for record in jobs.store.list(active_only=True):
        jobs.cancel(record.id)
    jobs.shutdown()


def test_empty_workspace_explains_what_to_do(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert any("No model is converted yet" in info.value for info in at.info)


def test_evaluate_submits_a_job(populated_ws, stop_jobs):
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert_clean(at)
    assert at.radio(key="acc-set-lenet5-mnist").value == "builtin:mnist"  # the model's own domain
    at.number_input(key="acc-limit-lenet5-mnist").set_value(50)
    at.button(key="acc-run").click().run()
    assert_clean(at)

    jobs = [r for r in JobStore(populated_ws.jobs_db).list() if r.kind == "evaluate"]
    assert jobs, "no evaluate job was created"
    config = jobs[0].config
    assert config["model_id"] == "lenet5-mnist"
    assert config["dataset"] == "builtin:mnist"
    assert config["limit"] == 50
    assert config["precisions"] == ["fp32", "fp16", "int8"]
    assert at.session_state["accuracy-job-lenet5-mnist"] == jobs[0].id


def test_saved_imagenet_evaluation_renders_with_its_caveat(populated_ws):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["Precision"]) == ["FP32", "FP16", "INT8"]
    assert any("n = 20" in w.value for w in at.warning)  # wide interval on 20 images, said out loud
    assert any("fingerprint" in c.value and "20 images" in c.value for c in at.caption)
    assert [m.label for m in at.metric] == ["FP32 vs FP16", "FP32 vs INT8", "FP16 vs INT8"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # accuracy and confusion
    explorer = [m.value for m in at.markdown if "get a different top-1" in m.value]
    same = [s.value for s in at.success if "same top-1 on all 20" in s.value]
    assert explorer or same


def test_saved_mnist_evaluation_and_domain_warning(populated_ws):
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert_clean(at)
    assert len(at.dataframe[0].value) == 3
    assert any("500 images" in c.value for c in at.caption)
    at.segmented_control[0].set_value("fp32").run()
    assert_clean(at)
    assert not at.warning
    at.radio(key="acc-set-lenet5-mnist").set_value("builtin:imagenet-samples").run()
    assert any("trained on" in w.value or "digit models" in w.value for w in at.warning)
    assert_clean(at)


def test_untrained_model_is_refused(empty_ws):
    from core.convert import ConvertConfig, convert_model
    from core.preprocessing import MNIST
    from core.registry import ModelSpec, register_user_model

    spec = ModelSpec(
        id="lenet5-untrained",
        title="LeNet5 (untrained)",
        source="torchvision",
        architecture="lenet5",
        preprocess=MNIST,
        labels="mnist",
        num_classes=10,
        trained=False,
        weights="random",
    )
    register_user_model(empty_ws, spec)
    convert_model(ConvertConfig(spec.id, precisions=("fp32",)), workspace=empty_ws)
    at = open_page(PAGE, model_id=spec.id)
    assert_clean(at)
    assert any("untrained" in e.value and "latency only" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "acc-run"]


def test_upload_csv_alone_is_explained_and_zip_is_checked(populated_ws):
    at = open_page(PAGE, model_id="lenet5-mnist")
    at.radio(key="acc-set-lenet5-mnist").set_value("upload").run()
    uploader = at.file_uploader(key="acc-upload")
    uploader.set_value(("labels.csv", b"file,label\na.png,3\n", "text/csv")).run()
    assert_clean(at)
    assert any("labels.csv" in e.value and "zip" in e.value.lower() for e in at.error)
    assert at.button(key="acc-run").disabled

    at.file_uploader(key="acc-upload").set_value(("digits.zip", _digit_zip(), "application/zip")).run()
    assert_clean(at)
    assert any("digits.zip" in s.value and "4 images, labelled" in s.value for s in at.success)
    assert not at.button(key="acc-run").disabled


def _digit_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for digit in ("3", "7"):
            for n in range(2):
                image = Image.new("L", (28, 28))
                image.putdata(
                    [255 if (x + y + n) % 7 == int(digit) % 7 else 0 for y in range(28) for x in range(28)]
                )
                png = io.BytesIO()
                image.save(png, format="PNG")
                archive.writestr(f"digits/{digit}/{n}.png", png.getvalue())
    return buffer.getvalue()
