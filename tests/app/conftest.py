"""Fixtures for AppTest page tests: an empty workspace and a populated one (real models)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")  # AppTest resolves relative paths from the caller
TIMEOUT = 120
LENET = "lenet5-mnist"
LITE0 = "efficientnet-lite0"
NOISE_INT8 = "int8-noise-30"  # the second INT8 variant of LeNet5, named after its recipe
LENET_VARIANTS = ("fp32", "fp16", "int8", NOISE_INT8, "ort-fp32")  # stored (the PyTorch reference is not)
LITE0_VARIANTS = ("fp32", "fp16", "int8")


def _use_workspace(monkeypatch, root) -> Workspace:
    monkeypatch.setenv("OVDASH_WORKSPACE", str(root))
    st.cache_resource.clear()  # the page helpers cache the workspace and job service per server
    return Workspace(root)


def _stop_service() -> None:
    """Cancel the app's active jobs and stop its job service (dispatcher thread and workers)."""
    from ui.services import jobs

    service = jobs()
    for record in service.active():
        service.cancel(record.id)
    service.shutdown()


@pytest.fixture
def empty_ws(tmp_path, monkeypatch):
    yield _use_workspace(monkeypatch, tmp_path / "ws")
    _stop_service()  # no dispatcher of this test keeps polling a workspace that is gone


@pytest.fixture(scope="session")
def populated_root(tmp_path_factory):
    """LeNet5 (FP32, FP16, two INT8 recipes, ONNX Runtime FP32) and EfficientNet-Lite0 (FP32, FP16, INT8),
    each measured in one benchmark run (PyTorch included) and evaluated once."""
    from core.benchmark import BenchmarkConfig, run_benchmark
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.quantize import QuantizeConfig, quantize_model

    root = tmp_path_factory.mktemp("populated")
    ws = Workspace(root)
    convert_model(ConvertConfig(LENET), workspace=ws)
    convert_model(ConvertConfig(LENET, variants=("ort-fp32",)), workspace=ws)
    quantize_model(QuantizeConfig(LENET, calibration="builtin:mnist", subset_size=300), workspace=ws)
    noise = quantize_model(QuantizeConfig(LENET, calibration="noise", subset_size=30), workspace=ws)
    assert noise.variant == NOISE_INT8, noise.variant  # a second INT8 never replaces the first
    convert_model(ConvertConfig(LITE0), workspace=ws)
    quantize_model(
        QuantizeConfig(LITE0, calibration="builtin:imagenet-samples", subset_size=32), workspace=ws
    )
    for model_id, variants in ((LENET, LENET_VARIANTS), (LITE0, LITE0_VARIANTS)):
        # 1 s per variant in 5 rounds: well over 30 latency iterations each; whether the spread passes as
        # stable depends on the machine's load, so tests check the verdict is shown, not what it is
        run_benchmark(BenchmarkConfig(model_id, variants=("torch", *variants), seconds=1.0), workspace=ws)
    evaluate_model(
        EvaluateConfig(LENET, variants=LENET_VARIANTS, dataset="builtin:mnist", limit=500), workspace=ws
    )
    evaluate_model(
        EvaluateConfig(LITE0, variants=LITE0_VARIANTS, dataset="builtin:imagenet-samples"), workspace=ws
    )
    return root


@pytest.fixture
def populated_ws(populated_root, monkeypatch):
    """The shared populated workspace: read-only for tests (copy it with `own_copy` to change it)."""
    yield _use_workspace(monkeypatch, populated_root)
    _stop_service()


@pytest.fixture
def own_copy(populated_root, tmp_path, monkeypatch):
    """A private copy of the populated workspace (without its job table): a test may change it."""
    root = tmp_path / "ws"
    shutil.copytree(populated_root, root, ignore=shutil.ignore_patterns("jobs.sqlite*", "jobs", "ov_cache"))
    yield _use_workspace(monkeypatch, root)
    _stop_service()


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


def texts(at: AppTest) -> str:
    """Every markdown text of the page (as sent to the browser, so escaped text shows its escapes)."""
    return "\n".join(m.value for m in at.markdown)


def shown(markdown: str) -> str:
    """What a reader sees of markdown text escaped by `ui.format.safe`: backslash escapes and joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def tree_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def slow_job(config: dict, workspace, ctx) -> dict:
    """A job that reports progress until it is cancelled (runs in a worker process)."""
    import time

    from core.progress import Progress

    for step in range(600):
        ctx.progress(Progress("waiting to be cancelled", step, 600))
        time.sleep(0.1)
    return {}


def submit_slow_job(title: str = "A slow job"):
    """Queue a job that runs until cancelled: jobs run one at a time, so later ones wait behind it."""
    from core.jobs import register_job_kind
    from ui.services import jobs

    register_job_kind("slow", "tests.app.conftest:slow_job")
    return jobs().submit("slow", {}, title=title)


@pytest.fixture
def stop_jobs():
    """After the test, cancel active jobs and stop the app's job service, so no worker outlives the test.

    Request it after the workspace fixture, so it tears down while that workspace is still in use. (The
    workspace fixtures do the same when they end; this one says that the test submits jobs.)
    """
    yield
    _stop_service()


# typed results with figures chosen by the test (to decide a rule, not to stand in for a measurement) ---


def typed_run(model_id: str, variant: str, round_medians, *, per_round: int = 10, created: str = ""):
    """A `VariantRun` whose latencies sit at the given per-round medians; stability judged by core's own rule."""
    from core.catalog import DEFAULT_VARIANTS, Backend, NumberFormat
    from core.results import LatencyStats, VariantRun, judge_stability

    kind = DEFAULT_VARIANTS.get(variant)
    backend = kind.backend if kind else Backend.OPENVINO
    fmt = kind.format if kind else NumberFormat.INT8
    latencies = [float(m) for m in round_medians for _ in range(per_round)]
    stats = LatencyStats.of(latencies)
    openvino = backend == Backend.OPENVINO
    return VariantRun(
        model_id=model_id,
        variant=variant,
        backend=backend,
        format=fmt,
        latency=stats,
        throughput_fps=round(1000 / stats.median, 1),
        first_inference_ms=stats.max,
        compile_ms=50.0 if openvino else None,
        compile_source="compiled" if openvino else "none",
        iterations={"latency": len(latencies), "throughput": len(latencies)},
        duration_s={"latency": sum(latencies) / 1000, "throughput": sum(latencies) / 1000},
        latencies_ms=tuple(latencies),
        settings={
            "device": "CPU",
            "device_name": "Test CPU",
            "hint": "latency" if openvino else None,
            "batch": 1,
            "threads": 2,
            "inference_precision": "f32" if openvino else None,
            "runtime": backend.value,
        },
        versions={"openvino": "2026.4.1"},
        created=created,
        round_medians=tuple(float(m) for m in round_medians),
        unstable_reasons=judge_stability(stats, len(latencies), round_medians),
    )


def save_typed_benchmark(ws: Workspace, model_id: str, medians: dict, *, per_round: int = 10) -> Path:
    """Save one interleaved benchmark run (variant -> per-round medians in ms) as the benchmark job would."""
    from datetime import UTC, datetime

    from core.results import BenchmarkResult

    created = datetime.now(UTC).isoformat(timespec="seconds")
    runs = tuple(typed_run(model_id, v, m, per_round=per_round, created=created) for v, m in medians.items())
    result = BenchmarkResult(
        model_id=model_id,
        created=created,
        config={
            "model_id": model_id,
            "variants": list(medians),
            "hint": "latency",
            "batch": 1,
            "seconds": 6.0,
        },
        device_name="Test CPU",
        runs=runs,
        machine={"brand": "Test CPU", "cores": 2, "isa": ["AVX2", "AVX-512"], "flags": ["avx2", "avx512f"]},
        rounds=len(next(iter(medians.values()))),
    )
    return ws.save_result("benchmark", model_id, result.to_dict())


def save_typed_evaluation(ws: Workspace, model_id: str, correct: dict, *, count: int, dataset: dict) -> Path:
    """Save one evaluation (variant -> images with the right top-1 out of `count`) with Wilson intervals."""
    from datetime import UTC, datetime

    from core.catalog import DEFAULT_VARIANTS, Backend, NumberFormat
    from core.results import EvaluationResult, VariantScore, wilson_interval

    scores = []
    for variant, right in correct.items():
        kind = DEFAULT_VARIANTS.get(variant)
        scores.append(
            VariantScore(
                variant=variant,
                backend=kind.backend if kind else Backend.OPENVINO,
                format=kind.format if kind else NumberFormat.INT8,
                count=count,
                top1=right / count,
                top5=1.0,
                correct1=right,
                correct5=count,
                top1_ci95=wilson_interval(right, count),
                top5_ci95=wilson_interval(count, count),
                ms_per_image=1.0,
                batch=1,
            )
        )
    result = EvaluationResult(
        model_id=model_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        device="CPU",
        device_name="Test CPU",
        trained=True,
        dataset={"labelled": True, "fingerprint": "0" * 16, **dataset, "size": count},
        results=tuple(scores),
        agreement_detail={},
        predictions={},
        machine={"brand": "Test CPU", "cores": 2, "isa": ["AVX2"], "flags": ["avx2"]},
    )
    return ws.save_result("evaluation", model_id, result.to_dict())
