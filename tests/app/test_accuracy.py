"""Accuracy page: submitting an evaluation job, rendering saved evaluations, refusing untrained models,
and an uploaded zip unpacked by the job's worker, never by the web server."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from core.jobs import JobState
from core.jobs.store import JobStore
from core.variants import model_variants
from tests.app.conftest import LENET, LENET_VARIANTS, assert_clean, open_page, shown, submit_slow_job

PAGE = "app_pages/accuracy.py"


def _evaluate_jobs(ws):
    return [r for r in JobStore(ws.jobs_db).list() if r.kind == "evaluate"]


def test_empty_workspace_explains_what_to_do(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert any("No model is converted yet" in info.value for info in at.info)


def test_evaluate_submits_a_job_for_every_variant(own_copy, stop_jobs):
    from core.registry import get_model

    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    assert at.radio(key=f"acc-set-{LENET}").value == "builtin:mnist"  # the model's own domain
    every = [v.id for v in model_variants(get_model(LENET, own_copy), own_copy)]
    # every variant by default, PyTorch first
    assert at.multiselect(key=f"acc-variants-{LENET}").value == every
    at.number_input(key=f"acc-limit-{LENET}").set_value(50)
    at.button(key="acc-run").click().run()
    assert_clean(at)

    (job,) = _evaluate_jobs(own_copy)
    assert job.config == {"model_id": LENET, "variants": every, "dataset": "builtin:mnist", "limit": 50}
    assert set(every) == {"torch", *LENET_VARIANTS}
    assert any(job.title in shown(m.value) for m in at.markdown)  # its progress panel is on the page


def test_saved_imagenet_evaluation_renders_with_its_caveat(populated_ws):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["Variant"]) == ["FP32", "FP16", "INT8"]
    assert all(ci.endswith(" %") and "–" in ci for ci in table["95 % CI"])  # every figure with its interval
    assert any("n = 20" in w.value for w in at.warning)  # wide interval on 20 images, said out loud
    captions = shown(" ".join(c.value for c in at.caption))
    assert "fingerprint" in captions
    assert "20 images" in captions
    assert [m.label for m in at.metric] == ["FP32 vs FP16", "FP32 vs INT8", "FP16 vs INT8"]
    assert len(at.get("plotly_chart")) == 2  # accuracy and confusion
    explorer = [m.value for m in at.markdown if "get a different top-1" in m.value]
    same = [s.value for s in at.success if "same top-1 on all 20" in s.value]
    assert explorer or same


def test_saved_mnist_evaluation_and_domain_warning(populated_ws):
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    table = at.dataframe[0].value
    assert sorted(table["Variant"]) == ["FP16", "FP32", "INT8", "INT8 · int8-noise-30", "ORT FP32"]
    assert table.set_index("Variant").loc["FP32", "vs FP32"] == "—"  # changes are against FP32
    assert "30 images of random noise" in table.set_index("Variant").loc["INT8 · int8-noise-30", "Recipe"]
    assert any("500 images" in shown(c.value) for c in at.caption)
    at.segmented_control[0].set_value("fp32").run()
    assert_clean(at)
    assert not at.warning
    at.radio(key=f"acc-set-{LENET}").set_value("builtin:imagenet-samples").run()
    assert any("digit models see 28×28" in shown(w.value) for w in at.warning)
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
    convert_model(ConvertConfig(spec.id, variants=("fp32",)), workspace=empty_ws)
    at = open_page(PAGE, model_id=spec.id)
    assert_clean(at)
    assert any("untrained" in e.value and "latency only" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "acc-run"]


def test_a_zip_that_is_not_a_zip_fails_clearly_in_the_job(own_copy, stop_jobs):
    from ui.services import jobs

    at = open_page(PAGE, model_id=LENET)
    at.radio(key=f"acc-set-{LENET}").set_value("upload").run()
    assert at.button(key="acc-run").disabled  # nothing to evaluate on yet
    not_a_zip = ("labels.zip", b"file,label\na.png,3\n", "application/zip")
    at.file_uploader(key="acc-upload").set_value(not_a_zip).run()
    at.button(key="acc-run").click().run()
    assert_clean(at)
    (job,) = _evaluate_jobs(own_copy)
    ended = jobs().wait(job.id, timeout=120, poll=0.2)
    assert ended.state == JobState.FAILED
    at.run()
    assert_clean(at)
    # said with the user's file name, not the generated one
    assert any(shown(e.value).startswith("labels.zip is not a zip archive") for e in at.error)


def test_an_uploaded_zip_is_unpacked_by_the_job_not_the_server(own_copy, stop_jobs):
    from ui.services import jobs

    at = open_page(PAGE, model_id=LENET)
    blocker = submit_slow_job(
        "Holds the queue"
    )  # the evaluation waits behind it, so nothing races the checks
    at.radio(key=f"acc-set-{LENET}").set_value("upload").run()
    at.multiselect(key=f"acc-variants-{LENET}").set_value(["fp32", "int8"])
    at.file_uploader(key="acc-upload").set_value(("digits.zip", _digit_zip(), "application/zip")).run()
    assert not at.button(key="acc-run").disabled
    at.button(key="acc-run").click().run()
    assert_clean(at)
    at.run()  # and the page rendered again while the job waits
    assert_clean(at)

    (job,) = _evaluate_jobs(own_copy)
    assert "digits.zip" in job.title
    assert jobs().get(job.id).state == JobState.QUEUED
    uploads = own_copy.uploads_dir
    saved = uploads / job.config["dataset"]
    assert saved.is_file()
    assert saved.suffix == ".zip"
    assert uploads in saved.parents
    unpacked = own_copy.unpacked_dir(saved)
    assert not unpacked.exists()  # the web server saved the upload and nothing more
    assert [p.name for p in uploads.iterdir()] == ["files"]

    jobs().cancel(blocker.id)
    ended = jobs().wait(job.id, timeout=120, poll=0.2)
    assert ended.state == JobState.SUCCEEDED, ended.error
    assert unpacked.is_dir()
    assert len([p for p in unpacked.rglob("*.png")]) == 4
    at.run()
    assert_clean(at)
    assert any("digits" in shown(c.value) and "4 images" in shown(c.value) for c in at.caption)
    assert list(at.dataframe[0].value["Variant"]) == ["FP32", "INT8"]


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
