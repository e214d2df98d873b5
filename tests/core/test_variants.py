"""Variants on real models: a workspace of the previous release opens intact, two INT8 variants of one
model coexist, ONNX Runtime stands beside OpenVINO and PyTorch, and one benchmark run covers them all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.backends import prepare
from core.benchmark import BenchmarkConfig, run_benchmark
from core.catalog import Backend, NumberFormat, RecipeMethod
from core.convert import ConvertConfig, convert_model
from core.data import load_dataset
from core.evaluate import EvaluateConfig, evaluate_model
from core.inference import classify_images
from core.quantize import QuantizeConfig, quantize_model
from core.registry import get_model
from core.results import load_benchmarks, load_evaluations
from core.tradeoffs import MIB, collect_points
from core.variants import model_variants, reference_variant
from core.workspace import MANIFEST, Workspace
from tests.core.conftest import file_hashes

MODEL = "lenet5-mnist"


@pytest.fixture(scope="module")
def lenet_ws(tmp_path_factory) -> Workspace:
    """LeNet5 in a workspace of this module: fp32, fp16, and INT8 calibrated on digits and on noise."""
    ws = Workspace(tmp_path_factory.mktemp("variants") / "ws")
    convert_model(ConvertConfig(MODEL), workspace=ws)
    first = quantize_model(QuantizeConfig(MODEL, calibration="builtin:mnist", subset_size=300), workspace=ws)
    second = quantize_model(QuantizeConfig(MODEL, calibration="noise", subset_size=300), workspace=ws)
    assert (first.variant, second.variant) == ("int8", "int8-noise-300")
    return ws


# a workspace of the previous release -----------------------------------------------------------------

OLD_CREATED = "2025-06-01T09:00:00+00:00"
OLD_VERSIONS = {
    "python": "3.11.7",
    "openvino": "2025.1.0",
    "nncf": "2.16.0",
    "torch": "2.7.0",
    "numpy": "2.2.6",
}
OLD_QUANTIZATION = {
    "subset_size": 300,
    "preset": "performance",
    "fast_bias_correction": True,
    "model_type": None,
    "ignored_scope": [],
    "target_device": "CPU",
    "max_drop": None,
    "drop_type": None,
}
OLD_CALIBRATION = {
    "ref": "builtin:mnist",
    "name": "MNIST digits (calibration split)",
    "description": "300 digits",
    "size": 300,
    "fingerprint": "f" * 64,
}
OLD_TOP1 = {"torch": 0.98, "fp32": 0.98, "fp16": 0.98, "int8": 0.96}
LABELS = [i % 10 for i in range(50)]


def _old_run(precision: str, median: float, fps: float) -> dict:
    """One precision's run exactly as the previous release's `PrecisionRun.to_dict` wrote it."""
    torch = precision == "torch"
    return {
        "model_id": MODEL,
        "precision": precision,
        "latency_ms": {
            "median": median,
            "mean": median * 1.02,
            "min": median * 0.9,
            "max": median * 1.6,
            "p90": median * 1.1,
        },
        "throughput_fps": fps,
        "first_inference_ms": median * 4,
        "compile_ms": None if torch else 35.5,
        "compiled_from_cache": not torch,
        "iterations": {"latency": 400, "throughput": 900},
        "duration_s": {"latency": 5.0, "throughput": 5.0},
        "latencies_ms": [median * f for f in (0.9, 0.95, 1.0, 1.05, 1.6)],
        "settings": {
            "device": "CPU",
            "device_name": "Old CPU @ 2.0GHz",
            "hint": "latency",
            "streams": 1 if torch else 2,
            "threads": 2,
            "nireq": 1 if torch else 2,
            "batch": 1,
            "precision": precision,
            "inference_precision": "f32" if precision in ("torch", "fp32") else "bf16",
            "input_shape": [1, 1, 28, 28],
            "throughput_method": "sequential" if torch else "AsyncInferQueue with 2 infer requests",
        },
        "versions": OLD_VERSIONS,
        "created": "2025-06-01T10:00:00+00:00",
        "compile_source": "none" if torch else "disk-cache",
    }


def _old_score(precision: str) -> dict:
    top1 = OLD_TOP1[precision]
    correct = round(top1 * 50)
    return {
        "precision": precision,
        "top1": correct / 50,
        "top5": 1.0,
        "count": 50,
        "correct1": correct,
        "correct5": 50,
        "top1_ci95": [correct / 50 - 0.08, min(1.0, correct / 50 + 0.01)],
        "top5_ci95": [0.93, 1.0],
        "ms_per_image": 0.2,
        "batch": 32 if precision == "torch" else 1,
    }


def _write_old_workspace(source: Workspace, root: Path) -> dict:
    """Variant folders and result files in the previous release's shapes (no variant/backend/format/recipe)."""
    folder = root / "models" / MODEL
    old: dict = {"manifests": {}}
    current = source.require_variant(MODEL, "fp32").manifest
    for precision in ("fp32", "fp16", "int8"):
        target = folder / precision
        target.mkdir(parents=True)
        variant = source.require_variant(MODEL, precision)
        for name in ("model.xml", "model.bin"):
            shutil.copyfile(variant.folder / name, target / name)
        files = {
            name: {"bytes": (target / name).stat().st_size, "sha256": file_hashes(target)[name]}
            for name in ("model.bin", "model.xml")
        }
        manifest = {
            "model_id": MODEL,
            "precision": precision,
            "created": OLD_CREATED,
            "versions": OLD_VERSIONS,
        }
        if precision == "int8":
            manifest.update(
                source={
                    "model": MODEL,
                    "from": "fp32",
                    "fp32_sha256": old["manifests"]["fp32"]["files"]["model.bin"]["sha256"],
                },
                preprocess=current["preprocess"],
                trained=True,
                quantization=OLD_QUANTIZATION,
                calibration=OLD_CALIBRATION,
                accuracy_control=None,
            )
        else:
            manifest.update(
                source=current["source"],
                route="direct",
                preprocess=current["preprocess"],
                trained=True,
                parameters=current["parameters"],
                input_shape=[1, 1, 28, 28],
                weights_compression="fp16" if precision == "fp16" else "none",
            )
        manifest["files"] = files
        assert not {"variant", "backend", "format", "recipe"} & set(manifest)
        (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
        old["manifests"][precision] = manifest

    runs = [_old_run("torch", 2.0, 450.0), _old_run("fp32", 0.5, 3000.0), _old_run("fp16", 0.45, 3200.0),
            _old_run("int8", 0.3, 5000.0)]  # fmt: skip
    bench_path = root / "results" / "benchmark" / f"20250601T100000000000Z-{MODEL}.json"
    old["benchmark"] = {
        "model_id": MODEL,
        "config": {"model_id": MODEL, "precisions": ["torch", "fp32", "fp16", "int8"], "device": "CPU",
                   "hint": "latency", "batch": 1, "seconds": 10.0, "streams": None, "threads": None, "warmup": 5},
        "created": "2025-06-01T10:00:00+00:00",
        "device_name": "Old CPU @ 2.0GHz",
        "runs": runs,
        "skipped": [],
        "path": str(bench_path),
    }  # fmt: skip
    eval_path = root / "results" / "evaluation" / f"20250601T110000000000Z-{MODEL}.json"
    top1 = {p: [label if i >= 50 - round(50 * OLD_TOP1[p]) else (label + 1) % 10 for i, label in enumerate(LABELS)]
            for p in OLD_TOP1}  # fmt: skip
    old["evaluation"] = {
        "model_id": MODEL,
        "created": "2025-06-01T11:00:00+00:00",
        "device": "CPU",
        "device_name": "Old CPU @ 2.0GHz",
        "versions": OLD_VERSIONS,
        "trained": True,
        "dataset": {"ref": "builtin:mnist", "name": "MNIST digits (evaluation split)", "description": "50 digits",
                    "size": 50, "labelled": True, "fingerprint": "e" * 64},
        "results": [_old_score(p) for p in OLD_TOP1],
        "agreement": {"torch-vs-fp32": 1.0, "fp32-vs-int8": 0.98},
        "agreement_detail": {
            "torch-vs-fp32": {"rate": 1.0, "same": 50, "count": 50, "ci95": [0.9287, 1.0]},
            "fp32-vs-int8": {"rate": 0.98, "same": 49, "count": 50, "ci95": [0.8950, 0.9965]},
        },
        "predictions": {"names": [f"{i}.png" for i in range(50)], "labels": LABELS, "top1": top1,
                        "prob": {p: [0.9] * 50 for p in OLD_TOP1}, "top5": {}},
        "path": str(eval_path),
    }  # fmt: skip
    for path, data in ((bench_path, old["benchmark"]), (eval_path, old["evaluation"])):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data, indent=2))
    return old


def test_a_workspace_of_the_previous_release_opens_without_loss(lenet_ws, tmp_path):
    root = tmp_path / "old-ws"
    old = _write_old_workspace(lenet_ws, root)
    before = file_hashes(root)
    ws = Workspace(root)

    assert ws.model_ids() == [MODEL]
    variants = {v.id: v for v in ws.variants(MODEL)}
    assert list(variants) == ["fp32", "fp16", "int8"]
    for variant_id, variant in variants.items():
        manifest = old["manifests"][variant_id]
        assert variant.backend == Backend.OPENVINO
        assert variant.format == NumberFormat(variant_id)
        assert variant.manifest == manifest
        assert variant.created == OLD_CREATED
        assert variant.trained
        assert variant.size_bytes == sum(f["bytes"] for f in manifest["files"].values())
        assert variant.fingerprint == manifest["files"]["model.bin"]["sha256"][:16]
        assert variant.recipe.versions == OLD_VERSIONS
    for variant_id, compression in (("fp32", "none"), ("fp16", "fp16")):
        recipe = variants[variant_id].recipe
        assert recipe.method == RecipeMethod.CONVERT
        assert recipe.settings == {"route": "direct", "weights_compression": compression}
    int8 = variants["int8"].recipe
    assert (int8.method, int8.parent) == (RecipeMethod.PTQ, "fp32")
    assert int8.settings == OLD_QUANTIZATION
    assert int8.calibration == OLD_CALIBRATION
    assert "post-training quantization of fp32 on 300 images" in int8.summary()
    spec = get_model(MODEL, ws)
    assert [v.id for v in model_variants(spec, ws)] == ["torch", "fp32", "fp16", "int8"]

    benchmarks = load_benchmarks(ws)
    assert not benchmarks.damaged
    assert len(benchmarks) == 1
    (bench,) = benchmarks
    assert bench.config == old["benchmark"]["config"]
    assert bench.device_name == "Old CPU @ 2.0GHz"
    assert bench.created == old["benchmark"]["created"]
    assert bench.variants == [
        "torch",
        "fp32",
        "fp16",
        "int8",
    ]
    for run, written in zip(bench.runs, old["benchmark"]["runs"], strict=True):
        assert run.backend == (Backend.TORCH if run.variant == "torch" else Backend.OPENVINO)
        assert run.stable, run.unstable_reasons
        data = run.to_dict()
        for key, value in written.items():  # every old key reads back with its old value
            if key == "latency_ms":
                assert {k: data[key][k] for k in value} == value
            else:
                assert data[key] == value, key

    evaluations = load_evaluations(ws)
    assert not evaluations.damaged
    assert len(evaluations) == 1
    (evaluation,) = evaluations
    written = old["evaluation"]
    assert evaluation.dataset == written["dataset"]
    assert evaluation.predictions == written["predictions"]
    assert evaluation.agreement == written["agreement"]
    assert evaluation.versions == OLD_VERSIONS
    assert evaluation.variants == list(OLD_TOP1)
    for score, row in zip(evaluation.results, written["results"], strict=True):
        data = score.to_dict()
        assert {key: data[key] for key in row} == row
    detail = evaluation.agreement_detail["fp32-vs-int8"]
    assert (detail.a, detail.b, detail.same, detail.count, detail.ci95) == (
        "fp32",
        "int8",
        49,
        50,
        (0.8950, 0.9965),
    )

    points = {p.variant: p for p in collect_points(ws)}
    assert list(points) == ["torch", "fp32", "fp16", "int8"]
    for run in old["benchmark"]["runs"]:
        p = points[run["precision"]]
        assert p.latency_ms == run["latency_ms"]["median"]
        assert p.throughput_fps == run["throughput_fps"]
        assert p.top1 == OLD_TOP1[run["precision"]]
        assert p.stable
        assert p.benchmark["hint"] == "latency"
    assert points["fp32"].size_mib == pytest.approx(variants["fp32"].size_bytes / MIB)
    assert points["int8"].recipe == variants["int8"].recipe.summary()
    assert file_hashes(root) == before, "reading rewrote nothing"

    # and the old variants still run: evaluate and benchmark them, and the points follow the new figures
    result = evaluate_model(
        EvaluateConfig(MODEL, variants=("torch", "fp32", "fp16", "int8"), dataset="builtin:mnist"),
        workspace=ws,
    )
    fp32 = result.score("fp32")
    assert fp32.count == 4700
    assert fp32.top1 >= 0.98
    assert result.agreement["torch-vs-fp32"] >= 0.995
    assert abs(result.score("int8").top1 - fp32.top1) <= 0.01
    bench = run_benchmark(
        BenchmarkConfig(MODEL, variants=("torch", "fp32", "fp16", "int8"), seconds=0.4), workspace=ws
    )
    assert bench.variants == ["torch", "fp32", "fp16", "int8"]
    points = {p.variant: p for p in collect_points(ws)}
    for run in bench.runs:
        assert points[run.variant].latency_ms == run.median_ms
        assert points[run.variant].top1 == result.score(run.variant).top1
    assert len(load_benchmarks(ws)) == 2
    assert len(load_evaluations(ws)) == 2
    after = file_hashes(root)
    assert {k: v for k, v in after.items() if k in before} == before, "old files are untouched"


# two INT8 variants of one model ----------------------------------------------------------------------


def test_two_int8_variants_coexist_and_deleting_one_leaves_the_rest(lenet_ws):
    ws = lenet_ws
    digits, noise = ws.require_variant(MODEL, "int8"), ws.require_variant(MODEL, "int8-noise-300")
    for variant in (digits, noise):
        assert (variant.backend, variant.format) == (Backend.OPENVINO, NumberFormat.INT8)
        assert variant.recipe.method == RecipeMethod.PTQ
        assert variant.recipe.parent == "fp32"
    assert (digits.recipe.calibration["ref"], noise.recipe.calibration["ref"]) == ("builtin:mnist", "noise")
    assert digits.folder != noise.folder
    assert digits.fingerprint != noise.fingerprint

    chosen = ("fp32", "int8", "int8-noise-300")
    evaluation = evaluate_model(EvaluateConfig(MODEL, variants=chosen, dataset="builtin:mnist"), workspace=ws)
    assert evaluation.variants == list(chosen)
    assert abs(evaluation.score("int8").top1 - evaluation.score("fp32").top1) <= 0.01
    assert evaluation.score("int8-noise-300").top1 is not None
    assert evaluation.agreement_of("int8", "int8-noise-300") is not None
    bench = run_benchmark(BenchmarkConfig(MODEL, variants=chosen, seconds=0.4), workspace=ws)
    assert bench.variants == list(chosen)

    points = {p.variant: p for p in collect_points(ws, model_ids=[MODEL])}
    for name in ("int8", "int8-noise-300"):
        p = points[name]
        assert p.complete
        assert p.latency_ms == bench.run(name).median_ms
        assert p.top1 == evaluation.score(name).top1
        assert p.size_mib == pytest.approx(ws.require_variant(MODEL, name).size_bytes / MIB)
    assert "noise" in points["int8-noise-300"].recipe.lower()
    assert points["int8"].recipe != points["int8-noise-300"].recipe

    model_dir = ws.model_dir(MODEL)
    keep = [v.id for v in ws.variants(MODEL) if v.id != "int8-noise-300"]
    before = {v: file_hashes(model_dir / v) for v in keep}
    ws.remove_variant(MODEL, "int8-noise-300")
    assert [v.id for v in ws.variants(MODEL)] == keep
    assert {v: file_hashes(model_dir / v) for v in keep} == before, "no other variant was touched"
    assert ws.variant(MODEL, "int8-noise-300") is None
    assert [h[0] for h in ws.history(MODEL)] == ["int8-noise-300"]  # kept in history, not deleted

    (result,) = classify_images(
        MODEL, [("digit", load_dataset("builtin:mnist").samples[0].image())], ["int8"], workspace=ws
    )
    assert result.variant == "int8"
    assert result.top[0].label == load_dataset("builtin:mnist").samples[0].label
    gone = {p.variant: p for p in collect_points(ws, model_ids=[MODEL])}["int8-noise-300"]
    assert gone.size_mib is None
    assert any("no such variant on disk" in note for note in gone.notes)


def test_results_stay_with_their_variant_when_another_holds_identical_files(lenet_ws, tmp_path):
    """A calibration study's int8-mnist-300 can be byte for byte the int8 made earlier with the same recipe:
    int8's benchmark stays int8's, and the twin gets no figure it was not measured for."""
    skip = shutil.ignore_patterns("jobs.sqlite*", "results", "ov_cache")
    shutil.copytree(lenet_ws.root, tmp_path / "ws", ignore=skip)
    ws = Workspace(tmp_path / "ws")
    source = ws.require_variant(MODEL, "int8")
    stored = json.loads((source.folder / MANIFEST).read_text())
    with ws.write_variant(MODEL, "int8-twin", {k: v for k, v in stored.items() if k != "files"}) as folder:
        for name in stored["files"]:
            shutil.copyfile(source.folder / name, folder / name)
    assert ws.require_variant(MODEL, "int8-twin").fingerprint == source.fingerprint
    bench = run_benchmark(
        BenchmarkConfig(MODEL, variants=("fp32", "int8"), seconds=0.2, rounds=2), workspace=ws
    )
    points = {p.variant: p for p in collect_points(ws, model_ids=[MODEL])}
    assert points["int8"].latency_ms == bench.run("int8").median_ms
    assert "int8-twin" not in points or points["int8-twin"].latency_ms is None
    # a rename still carries results along: the twin renamed keeps none, int8 renamed keeps its own
    ws.rename_variant(MODEL, "int8", "int8-digits")
    points = {p.variant: p for p in collect_points(ws, model_ids=[MODEL])}
    assert points["int8-digits"].latency_ms == bench.run("int8").median_ms


def test_the_same_images_from_another_set_make_a_new_variant_not_a_refresh(lenet_ws, tmp_path):
    """Two folders holding the same ten digits give the same calibration fingerprint; the second must not
    refresh the first's variant under a name that says the first folder (its recipe would then lie)."""
    skip = shutil.ignore_patterns("jobs.sqlite*", "results", "ov_cache")
    shutil.copytree(lenet_ws.root, tmp_path / "ws", ignore=skip)
    ws = Workspace(tmp_path / "ws")
    digits = load_dataset("builtin:mnist").samples[:10]
    for folder in ("left", "right"):
        (tmp_path / folder).mkdir()
        for i, sample in enumerate(digits):
            sample.image().save(tmp_path / folder / f"{i}.png")
    first = quantize_model(
        QuantizeConfig(MODEL, calibration=str(tmp_path / "left"), subset_size=10), workspace=ws
    )
    second = quantize_model(
        QuantizeConfig(MODEL, calibration=str(tmp_path / "right"), subset_size=10), workspace=ws
    )
    assert first.calibration["fingerprint"] == second.calibration["fingerprint"]
    assert first.variant != second.variant
    assert "right" in second.variant
    assert "left" in ws.require_variant(MODEL, first.variant).recipe.calibration["name"]
    again = quantize_model(
        QuantizeConfig(MODEL, calibration=str(tmp_path / "left"), subset_size=10), workspace=ws
    )
    assert again.variant == first.variant  # exactly the same recipe refreshes its own variant


# ONNX Runtime -----------------------------------------------------------------------------------------


def test_onnx_runtime_fp32_matches_pytorch_and_int8_keeps_top1(lenet_ws):
    ws = lenet_ws
    converted = convert_model(ConvertConfig(MODEL, variants=("ort-fp32",)), workspace=ws)
    assert [(a["variant"], a["backend"]) for a in converted.artifacts] == [("ort-fp32", "onnxruntime")]
    quantized = quantize_model(
        QuantizeConfig(MODEL, backend="onnxruntime", calibration="builtin:mnist"), workspace=ws
    )
    assert (quantized.variant, quantized.backend, quantized.parent) == ("ort-int8", "onnxruntime", "ort-fp32")
    fp32, int8 = ws.require_variant(MODEL, "ort-fp32"), ws.require_variant(MODEL, "ort-int8")
    assert (fp32.backend, fp32.format, int8.format) == (
        Backend.ONNXRUNTIME,
        NumberFormat.FP32,
        NumberFormat.INT8,
    )
    assert fp32.onnx.is_file()
    assert int8.onnx.is_file()
    assert int8.size_bytes < fp32.size_bytes / 2
    assert int8.recipe.calibration["ref"] == "builtin:mnist"
    assert int8.recipe.calibration["size"] == 300

    spec = get_model(MODEL, ws)
    images = load_dataset("builtin:mnist", purpose="evaluation")
    arrays = spec.preprocess.batch([s.image() for s in images])
    ort_logits = prepare(fp32, spec, ws).infer(arrays)
    torch_logits = prepare(reference_variant(spec), spec, ws).infer(arrays)
    assert ort_logits.shape == torch_logits.shape == (4700, 10)
    assert np.abs(ort_logits - torch_logits).max() < 1e-4

    result = evaluate_model(
        EvaluateConfig(MODEL, variants=("ort-fp32", "ort-int8"), dataset="builtin:mnist"), workspace=ws
    )
    top1_fp32, top1_int8 = result.score("ort-fp32").top1, result.score("ort-int8").top1
    assert result.score("ort-fp32").count == 4700
    assert top1_fp32 >= 0.98
    assert abs(top1_int8 - top1_fp32) <= 0.01, (top1_fp32, top1_int8)
    assert {s.backend for s in result.results} == {Backend.ONNXRUNTIME}


# one benchmark over every backend ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_ort(workspace, lite0_fp):
    """EfficientNet-Lite0 for ONNX Runtime: the FP32 export and a small-calibration INT8."""
    convert_model(ConvertConfig("efficientnet-lite0", variants=("ort-fp32",)), workspace=workspace)
    return quantize_model(
        QuantizeConfig(
            "efficientnet-lite0",
            backend="onnxruntime",
            calibration="builtin:imagenet-samples",
            subset_size=32,
        ),
        workspace=workspace,
    )


def test_one_benchmark_run_over_every_backend_records_each_variants_settings(
    workspace, lite0_int8, lite0_ort
):
    chosen = ("torch", "ort-fp32", lite0_ort.variant, "fp32", "fp16", lite0_int8.variant)
    backends = dict(
        zip(chosen, ("torch", "onnxruntime", "onnxruntime", "openvino", "openvino", "openvino"), strict=True)
    )
    before = len(load_benchmarks(workspace, "efficientnet-lite0"))
    result = run_benchmark(
        BenchmarkConfig("efficientnet-lite0", variants=chosen, seconds=1.0), workspace=workspace
    )
    assert len(load_benchmarks(workspace, "efficientnet-lite0")) == before + 1  # one run, one result
    assert result.variants == list(chosen)
    assert result.machine
    assert result.rounds == 5
    saved = json.loads(Path(result.path).read_text())
    assert [r["variant"] for r in saved["runs"]] == list(chosen)
    for run, data in zip(result.runs, saved["runs"], strict=True):
        settings = data["settings"]
        assert data["backend"] == backends[run.variant] == run.backend.value
        assert settings == run.settings
        assert settings["threads"] >= 1
        assert settings["runtime"]
        assert settings["inference_precision"]
        assert settings["device_name"]
        assert run.iterations["latency"] >= 30
        assert run.throughput_fps > 0
        assert run.first_inference_ms > 0
        assert run.recipe
        assert data["versions"]["onnxruntime"]
        assert data["versions"]["openvino"]
    runs = {r.variant: r for r in result.runs}
    assert (
        runs["torch"].settings["inference_precision"] == runs["fp32"].settings["inference_precision"] == "f32"
    )
    assert runs["ort-fp32"].settings["inference_precision"] == "f32"
    assert runs[lite0_ort.variant].settings["inference_precision"] == "int8"
    for name in ("ort-fp32", lite0_ort.variant):
        options = runs[name].settings["session_options"]
        assert options["provider"] == "CPUExecutionProvider"
        assert options["intra_op_num_threads"] >= 1
        assert options["graph_optimization_level"]
        assert options["onnxruntime_version"]
    for name in ("fp32", "fp16", lite0_int8.variant):
        settings = runs[name].settings
        assert settings["hint"] == "latency"
        assert settings["streams"] >= 1
        assert settings["nireq"] >= 1
        assert ("synchronous" if settings["nireq"] == 1 else "AsyncInferQueue") in settings[
            "throughput_method"
        ]
    assert [c.variant for c in result.comparisons()] == list(chosen[1:])
    assert all(c.reference == "torch" for c in result.comparisons())
