"""benchmark_app-style measurements on LeNet5; figures are checked for sense, never for speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.benchmark import BenchmarkConfig, run_benchmark
from core.convert import ConvertConfig, ImportConfig, convert_model, import_model
from core.errors import InputError, ModelNotFoundError
from core.jobs import run_job_here
from core.runtime import clear_caches
from core.workspace import Workspace

RUN_KEYS = {
    "model_id",
    "precision",
    "latency_ms",
    "throughput_fps",
    "first_inference_ms",
    "compile_ms",
    "compiled_from_cache",
    "iterations",
    "duration_s",
    "latencies_ms",
    "settings",
    "versions",
    "created",
}
SETTINGS_KEYS = {
    "device",
    "device_name",
    "hint",
    "streams",
    "threads",
    "nireq",
    "batch",
    "precision",
    "inference_precision",
    "input_shape",
    "throughput_method",
}


@pytest.fixture(scope="module")
def lenet_bench(workspace, lenet_fp):
    events = []
    config = BenchmarkConfig("lenet5-mnist", precisions=("torch", "fp32"), seconds=1.0)
    return run_benchmark(config, workspace=workspace, progress=events.append), events


def _check_sane(run: dict, batch: int) -> None:
    lat = run["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert run["throughput_fps"] > 0 and run["first_inference_ms"] > 0
    assert run["iterations"]["latency"] >= 10 and run["iterations"]["throughput"] >= 10
    assert 10 <= len(run["latencies_ms"]) <= 2000
    assert run["settings"]["batch"] == batch
    assert run["settings"]["input_shape"] == [batch, 1, 28, 28]
    assert (
        run["settings"]["nireq"] >= 1 and run["settings"]["streams"] >= 1 and run["settings"]["threads"] >= 1
    )


def test_every_field_is_there_and_sane(lenet_bench):
    result, _ = lenet_bench
    runs = {run["precision"]: run for run in result.to_dict()["runs"]}
    assert list(runs) == ["torch", "fp32"]
    for run in runs.values():
        assert set(run) >= RUN_KEYS
        assert set(run["settings"]) == SETTINGS_KEYS
        assert set(run["latency_ms"]) == {"median", "mean", "min", "max", "p90"}
        assert set(run["iterations"]) == set(run["duration_s"]) == {"latency", "throughput"}
        assert run["versions"]["openvino"] and run["created"]
        _check_sane(run, 1)
    assert runs["fp32"]["settings"]["inference_precision"] == "f32"
    assert runs["fp32"]["compile_ms"] > 0
    assert runs["fp32"]["compiled_from_cache"] == (runs["fp32"]["compile_source"] != "compiled")
    assert "AsyncInferQueue" in runs["fp32"]["settings"]["throughput_method"]
    assert "sequential" in runs["torch"]["settings"]["throughput_method"]
    assert runs["torch"]["compile_ms"] is None and runs["torch"]["settings"]["nireq"] == 1


def test_progress_is_per_phase_and_throttled(lenet_bench):
    _, events = lenet_bench
    phases = {e.phase for e in events}
    assert {"torch: latency", "torch: throughput", "fp32: latency", "fp32: throughput"} <= phases
    assert all(e.total == 1.0 and 0 <= e.done <= 1.0 for e in events)
    assert len(events) < 40  # about four a second, plus phase changes


def test_saved_result_is_readable(lenet_bench, workspace):
    result, _ = lenet_bench
    saved = [r for r in workspace.results("benchmark", "lenet5-mnist") if r["_path"] == result.path]
    assert len(saved) == 1
    data = saved[0]
    assert set(data) >= {"model_id", "config", "created", "device_name", "runs", "path"}
    assert data["config"]["seconds"] == 1.0 and len(data["runs"]) == 2
    assert json.loads(Path(result.path).read_text())["path"] == result.path
    table = str(result)
    assert "median" in table and "fp32" in table and "torch" in table


@pytest.mark.parametrize(("batch", "hint"), [(4, "latency"), (1, "throughput")])
def test_batch_and_hint(workspace, lenet_fp, batch, hint):
    config = BenchmarkConfig("lenet5-mnist", precisions=("fp32",), batch=batch, hint=hint, seconds=0.4)
    result = run_benchmark(config, workspace=workspace, save=False)
    run = result.run("fp32").to_dict()
    _check_sane(run, batch)
    assert run["settings"]["hint"] == hint and result.path is None


def test_grid_job_runs_every_combination(workspace, lenet_fp):
    events = []
    config = {
        "model_id": "lenet5-mnist",
        "precisions": ["fp32"],
        "seconds": 0.2,
        "warmup": 2,
        "grid": {"batches": [1, 2], "streams": [1, 2]},
    }
    data = run_job_here("benchmark", config, workspace, progress=events.append)
    assert data["grid"] is True and Path(data["path"]).is_file()
    combos = {(r["settings"]["batch"], r["settings"]["streams"]) for r in data["runs"]}
    assert combos == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert any(e.phase.startswith("batch 2, streams 2") for e in events)


def test_second_run_reuses_the_compiled_model_and_disk_cache_is_seen(workspace, lenet_fp):
    config = BenchmarkConfig("lenet5-mnist", precisions=("fp16",), seconds=0.1, warmup=0)
    run_benchmark(config, workspace=workspace, save=False)
    again = run_benchmark(config, workspace=workspace, save=False).run("fp16")
    assert again.compiled_from_cache and again.compile_source == "memory"
    clear_caches()
    cold = run_benchmark(config, workspace=workspace, save=False).run("fp16")
    assert cold.compile_source in ("disk-cache", "compiled")
    assert cold.compiled_from_cache == (cold.compile_source == "disk-cache")


def test_model_without_pytorch_skips_torch(workspace, lenet_fp):
    fp32 = Path(lenet_fp.artifacts[0]["path"])
    import_model(
        ImportConfig(
            name="lenet5-ir-bench",
            files=(str(fp32 / "model.xml"), str(fp32 / "model.bin")),
            labels="mnist",
            preprocess="mnist",
        ),
        workspace=workspace,
    )
    convert_model(ConvertConfig("lenet5-ir-bench", precisions=("fp32",)), workspace=workspace)
    config = BenchmarkConfig("lenet5-ir-bench", precisions=("torch", "fp32"), seconds=0.2)
    result = run_benchmark(config, workspace=workspace)
    assert [r.precision for r in result.runs] == ["fp32"]
    assert result.skipped[0]["precision"] == "torch" and "PyTorch" in result.skipped[0]["reason"]


def test_missing_artifact_and_bad_options_fail_before_timing(tmp_path, workspace):
    empty = Workspace(tmp_path / "ws")
    with pytest.raises(ModelNotFoundError, match="quantize"):
        run_benchmark(BenchmarkConfig("lenet5-mnist", precisions=("torch", "int8")), workspace=empty)
    with pytest.raises(InputError, match="hint"):
        run_benchmark(BenchmarkConfig("lenet5-mnist", hint="fast"), workspace=workspace)
