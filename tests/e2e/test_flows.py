"""What a person clicks through, in a real browser against a real server and real models."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import open_app, start_server, stop_server, wait_ready

JOB_TIMEOUT = 240_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A workspace with EfficientNet-Lite0 (FP32, FP16) and LeNet5 (FP32) converted and LeNet5 measured."""
    from core.benchmark import BenchmarkConfig, run_benchmark
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("e2e-flows")
    ws = Workspace(root / "ws")
    convert_model(ConvertConfig("efficientnet-lite0"), workspace=ws)
    convert_model(ConvertConfig("lenet5-mnist", variants=("fp32",)), workspace=ws)
    run_benchmark(BenchmarkConfig("lenet5-mnist", variants=("torch", "fp32"), seconds=2.0), workspace=ws)
    evaluate_model(
        EvaluateConfig("lenet5-mnist", variants=("torch", "fp32"), dataset="builtin:mnist", limit=300),
        workspace=ws,
    )
    server = start_server(ws.root, root / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def calibration_zip(tmp_path_factory):
    """120 real MNIST digits as PNG files in a flat zip, as a user would upload them."""
    from core.data import load_dataset

    path = tmp_path_factory.mktemp("upload") / "digits.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for sample in load_dataset("builtin:mnist", purpose="calibration").samples[:120]:
            image_path = path.parent / f"{sample.name}.png"
            sample.image().save(image_path)
            archive.write(image_path, f"digits/{sample.name}.png")
    return path


def test_classify_a_bundled_sample_photo(page, server):
    open_app(page, server, "classify?model=efficientnet-lite0")
    page.get_by_role("button", name=re.compile("Classify")).click()
    results = page.get_by_text(re.compile(r"tiger cat|tabby|Egyptian cat")).first
    results.wait_for(timeout=120_000)
    wait_ready(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    for variant in ("PyTorch", "FP32", "FP16"):
        assert variant in body
    assert re.search(r"\d+(\.\d+)? ms", body)
    assert page.locator('[data-testid="stException"]').count() == 0
    # PyTorch answered, but from a helper process: the web server itself never loaded torch
    with Path(f"/proc/{server.process.pid}/maps").open() as handle:
        assert "libtorch" not in handle.read()


def test_quantize_lenet5_on_an_uploaded_zip(page, server, calibration_zip):
    open_app(page, server, "quantize?model=lenet5-mnist")
    page.get_by_text("Your images (.zip)").click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Calibration images (.zip)")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(calibration_zip))
    page.get_by_text("digits.zip").first.wait_for()
    page.get_by_role("button", name=re.compile("Quantize to INT8")).click()
    page.get_by_text(re.compile("succeeded")).first.wait_for(timeout=JOB_TIMEOUT)
    wait_ready(page)
    page.get_by_text("INT8 next to FP32").first.wait_for()
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "% of FP32" in body
    assert "120" in body
    assert server.workspace.joinpath("models/lenet5-mnist/int8/manifest.json").is_file()


def test_a_job_survives_a_reload_and_can_be_cancelled(page, server):
    open_app(page, server, "benchmark?model=lenet5-mnist")
    page.get_by_role("button", name=re.compile("Run benchmark")).click()
    page.get_by_text(re.compile(r"· running")).first.wait_for(timeout=120_000)
    page.reload()
    wait_ready(page)
    page.get_by_text(re.compile(r"· running")).first.wait_for(
        timeout=30_000
    )  # still running after the reload
    page.get_by_role("button", name="Cancel").first.click()
    page.get_by_text(re.compile("cancelled")).first.wait_for(timeout=60_000)


def test_tradeoff_chart_is_shown(page, server):
    open_app(page, server, "tradeoffs")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    # a recommendation, or the plain reason there is none (a busy machine makes figures unstable)
    page.get_by_text(re.compile("Recommended|unstable|no recommendation", re.I)).first.wait_for()
    assert page.get_by_role("button", name=re.compile("report", re.I)).count() >= 1
