"""benchmark_app-style measurements on LeNet5; figures are checked for sense, never for speed."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from pathlib import Path

import pytest

from core.backends import clear_cache
from core.benchmark import BenchmarkConfig, run_benchmark, run_grid
from core.convert import ConvertConfig, convert_model
from core.errors import InputError, ModelNotFoundError
from core.imports import ImportConfig, import_model
from core.jobs import run_job_here
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
    "compile_source",
}
LATENCY_KEYS = {"median", "mean", "min", "max", "p90"}
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
    assert run["throughput_fps"] > 0
    assert run["first_inference_ms"] > 0
    assert run["iterations"]["latency"] >= 10
    assert run["iterations"]["throughput"] >= 10
    assert 10 <= len(run["latencies_ms"]) <= 2000
    assert run["settings"]["batch"] == batch
    assert run["settings"]["input_shape"] == [batch, 1, 28, 28]
    assert run["settings"]["nireq"] >= 1
    assert run["settings"]["streams"] >= 1
    assert run["settings"]["threads"] >= 1


def test_every_field_is_there_and_sane(lenet_bench):
    result, _ = lenet_bench
    runs = {run["precision"]: run for run in result.to_dict()["runs"]}
    assert list(runs) == ["torch", "fp32"]
    for run in runs.values():
        assert set(run) >= RUN_KEYS | {"variant", "backend", "format", "stable", "unstable_reasons"}
        assert set(run["settings"]) >= SETTINGS_KEYS  # new keys are added, none removed
        assert set(run["latency_ms"]) >= LATENCY_KEYS
        assert run["latency_ms"]["q1"] <= run["latency_ms"]["median"] <= run["latency_ms"]["q3"]
        assert set(run["iterations"]) == set(run["duration_s"]) == {"latency", "throughput"}
        assert run["versions"]["openvino"]
        assert run["created"]
        _check_sane(run, 1)
    assert runs["fp32"]["settings"]["inference_precision"] == "f32"
    assert runs["fp32"]["compile_ms"] > 0
    assert runs["fp32"]["compiled_from_cache"] == (runs["fp32"]["compile_source"] != "compiled")
    fp32 = runs["fp32"]["settings"]  # one request (latency hint): synchronous calls, as benchmark_app then
    assert ("synchronous" if fp32["nireq"] == 1 else "AsyncInferQueue") in fp32["throughput_method"]
    assert "sequential" in runs["torch"]["settings"]["throughput_method"]
    assert runs["torch"]["compile_ms"] is None
    assert runs["torch"]["settings"]["nireq"] == 1


def test_progress_is_per_phase_and_throttled(lenet_bench):
    _, events = lenet_bench
    # every phase of every round is named ("round 2/5 · fp32: latency"); the clock counts the seconds
    # of measuring of the whole run (1 s for each of the two variants)
    phases = {e.phase for e in events}
    for r in range(1, 6):
        for name in ("torch: latency", "torch: throughput", "fp32: latency", "fp32: throughput"):
            assert f"round {r}/5 · {name}" in phases
    assert all(e.total == 2.0 and 0 <= e.done <= 2.0 for e in events)
    assert len(events) < 40  # about four a second, plus phase changes


def test_saved_result_is_readable(lenet_bench, workspace):
    result, _ = lenet_bench
    saved = [r for r in workspace.results("benchmark", "lenet5-mnist") if r["_path"] == result.path]
    assert len(saved) == 1
    data = saved[0]
    assert set(data) >= {"model_id", "config", "created", "device_name", "runs", "path"}
    assert data["config"]["seconds"] == 1.0
    assert len(data["runs"]) == 2
    assert data["config"]["precisions"] == data["config"]["variants"] == ["torch", "fp32"]
    assert json.loads(Path(result.path).read_text())["path"] == result.path
    table = str(result)
    assert "median" in table
    assert "fp32" in table
    assert "torch" in table


@pytest.mark.parametrize(("batch", "hint"), [(4, "latency"), (1, "throughput")])
def test_batch_and_hint(workspace, lenet_fp, batch, hint):
    config = BenchmarkConfig("lenet5-mnist", precisions=("fp32",), batch=batch, hint=hint, seconds=0.4)
    result = run_benchmark(config, workspace=workspace, save=False)
    run = result.run("fp32").to_dict()
    _check_sane(run, batch)
    assert run["settings"]["hint"] == hint
    assert result.path is None
    # benchmark_app's own method: synchronous calls with one request, AsyncInferQueue with more
    method = "synchronous" if run["settings"]["nireq"] == 1 else "AsyncInferQueue"
    assert method in run["settings"]["throughput_method"]
    if hint == "throughput" and (os.cpu_count() or 1) > 1:
        assert run["settings"]["nireq"] > 1


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
    assert data["grid"] is True
    assert Path(data["path"]).is_file()
    combos = {(r["settings"]["batch"], r["settings"]["streams"]) for r in data["runs"]}
    assert combos == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert any(e.phase.startswith("batch 2, streams 2") for e in events)


def test_second_run_reuses_the_compiled_model_and_disk_cache_is_seen(workspace, lenet_fp):
    config = BenchmarkConfig("lenet5-mnist", precisions=("fp16",), seconds=0.1, warmup=0)
    run_benchmark(config, workspace=workspace, save=False)
    again = run_benchmark(config, workspace=workspace, save=False).run("fp16")
    assert again.compiled_from_cache
    assert again.compile_source == "memory"
    clear_cache()
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
    assert result.skipped[0]["precision"] == "torch"
    assert "PyTorch" in result.skipped[0]["reason"]


def test_missing_artifact_and_bad_options_fail_before_timing(tmp_path, workspace):
    empty = Workspace(tmp_path / "ws")
    with pytest.raises(ModelNotFoundError, match="quantize"):
        run_benchmark(BenchmarkConfig("lenet5-mnist", precisions=("torch", "int8")), workspace=empty)
    with pytest.raises(InputError, match="hint"):
        run_benchmark(BenchmarkConfig("lenet5-mnist", hint="fast"), workspace=workspace)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("seconds", float("inf"), "seconds must be more than 0 and at most 3600"),
        ("seconds", float("nan"), "seconds must be more than 0"),
        ("seconds", 0.0, "seconds must be more than 0"),
        ("batch", 1_000_000, "batch must be between 1 and 256"),
        ("batch", 0, "batch must be between 1 and 256"),
        ("streams", 10_000, "streams must be between 1 and 64"),
        ("rounds", 0, "rounds must be between 1 and 50"),
    ],
)
def test_options_out_of_range_are_refused_before_anything_runs(option, value, says):
    """An infinite run or a batch that needs gigabytes is refused, not started."""
    with pytest.raises(InputError, match=says):
        BenchmarkConfig("lenet5-mnist", **{option: value}).check()


def test_a_grid_checks_every_batch_and_streams_value(workspace):
    with pytest.raises(InputError, match="batch must be between"):
        run_grid(
            BenchmarkConfig("lenet5-mnist", precisions=("fp32",)),
            workspace=workspace,
            batches=[1, 100_000],
            streams=[1],
        )


class _Disturbed:
    """A prepared variant whose timed calls each wait a random 0-20 ms more: a machine busy with
    something else. Everything but the latency loop is the real prepared object."""

    def __init__(self, real, seed: int = 0):
        self._real = real
        self._random = random.Random(seed)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def latency_loop(self, batch, *, seconds, min_iterations, tick):
        latencies, start = [], time.perf_counter()
        while True:
            t0 = time.perf_counter()
            self._real.infer(batch)
            time.sleep(self._random.uniform(0.0, 0.020))
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1e3)
            if len(latencies) >= min_iterations and t1 - start >= seconds:
                return latencies
            tick()


def test_disturbed_variant_is_unstable_and_never_recommended(workspace, lenet_int8, tmp_path):
    from core.backends import prepare
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.tradeoffs import collect_points, recommend
    from tests.core.conftest import copy_variants

    ws = Workspace(tmp_path / "ws")  # its own workspace: no other run competes for the points
    int8 = lenet_int8[0].variant
    copy_variants(workspace, ws, "lenet5-mnist", ["fp32", int8])

    def disturbing(variant, spec, ws_, options):
        real = prepare(variant, spec, ws_, options)
        return _Disturbed(real) if variant.id == int8 else real

    config = BenchmarkConfig("lenet5-mnist", variants=("torch", "fp32", int8), seconds=1.0)
    result = run_benchmark(config, workspace=ws, prepare_fn=disturbing)
    disturbed = result.run(int8)
    assert disturbed.stable is False
    assert disturbed.unstable_reasons
    assert any("interquartile range" in reason for reason in disturbed.unstable_reasons)
    assert disturbed.iterations["latency"] >= 30  # unstable for its spread, not for too few iterations
    assert not result.stable
    (against,) = [c for c in result.comparisons() if c.variant == int8]
    assert against.reference == "torch"
    assert against.stable is False
    assert f"unstable {int8}" in str(result)
    assert "[unstable]" in str(result)
    saved = json.loads(Path(result.path).read_text())
    assert next(r for r in saved["runs"] if r["variant"] == int8)["stable"] is False

    evaluate_model(
        EvaluateConfig("lenet5-mnist", variants=("torch", "fp32", int8), dataset="builtin:mnist", limit=500),
        workspace=ws,
    )
    points = {p.variant: p for p in collect_points(ws)}
    assert points[int8].complete
    assert points[int8].stable is False
    assert any(note.startswith("unstable: ") for note in points[int8].notes)
    headline = recommend(points.values()).point
    assert headline is None or headline.variant != int8
    # even measured fastest and most accurate, an unstable figure is never the headline
    flattering = dataclasses.replace(points[int8], latency_ms=1e-6, top1=1.0)
    for rec in (
        recommend([*(p for v, p in points.items() if v != int8), flattering]),
        recommend([flattering]),
        recommend([flattering], min_top1=0.0, max_latency_ms=1000.0),
    ):
        assert rec.point is None or rec.point.variant != int8
    assert "unstable" in recommend([flattering]).reason
