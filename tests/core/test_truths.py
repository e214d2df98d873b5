"""Smaller truths a stakeholder would catch: the device a benchmark ran on, runs that are not one run,
names that only look valid, and the fast preprocessing path agreeing with the reference."""

from __future__ import annotations

import numpy as np
import pytest

from core.backends import RunOptions, prepare
from core.benchmark import BenchmarkConfig, run_benchmark
from core.data import load_dataset
from core.errors import InputError
from core.registry import get_model
from core.tradeoffs import collect
from core.workspace import Workspace, check_model_id


def test_auto_device_benchmarks_and_an_unknown_device_is_refused_with_the_choices(workspace, lenet_fp):
    result = run_benchmark(
        BenchmarkConfig("lenet5-mnist", variants=("fp32",), device="auto", seconds=0.5), workspace=workspace
    )
    assert result.runs[0].settings["device"] == "AUTO"
    assert result.device_name.startswith("AUTO (")
    # AUTO does not report what the layers ran in; it handed FP32 to the CPU with the f32 setting passed on
    assert result.runs[0].settings["execution_devices"] == ["CPU"]
    assert result.runs[0].settings["inference_precision"] == "f32"
    assert result.runs[0].execution == "f32"
    with pytest.raises(InputError, match=r"unknown device 'TPU'; this machine offers CPU.*AUTO"):
        run_benchmark(BenchmarkConfig("lenet5-mnist", variants=("fp32",), device="TPU"), workspace=workspace)


def test_figures_from_two_runs_are_named_as_two_runs(tmp_path, lenet_fp, workspace):
    """Benchmark fp32 alone, then fp16 alone: a view must not present them as one comparison."""
    from tests.core.conftest import copy_variants

    ws = Workspace(tmp_path / "ws")
    copy_variants(workspace, ws, "lenet5-mnist", ("fp32", "fp16"))
    first = run_benchmark(BenchmarkConfig("lenet5-mnist", variants=("fp32",), seconds=0.5), workspace=ws)
    second = run_benchmark(BenchmarkConfig("lenet5-mnist", variants=("fp16",), seconds=0.5), workspace=ws)
    found = collect(ws)
    runs = found.mixed_runs["lenet5-mnist"]
    assert {r["created"] for r in runs} == {first.created, second.created}
    notes = {p.variant: " ".join(p.notes) for p in found.points}
    assert first.created in notes["fp32"]
    assert second.created in notes["fp16"]
    assert (
        found.comparison(next(p for p in found.points if p.variant == "fp16"), "fp32") is None
    )  # no cross-run ratio


@pytest.mark.parametrize(
    "bad", ["lenet5-mnist\n", "lenet5-mnist\r\n", " lenet5", "Upper", "a/b", "", "x" * 65]
)
def test_a_model_id_must_match_as_a_whole(bad):
    with pytest.raises(InputError, match="is not allowed"):
        check_model_id(bad)


@pytest.mark.parametrize(
    ("model_id", "ref"),
    [("lenet5-mnist", "builtin:mnist"), ("efficientnet-lite0", "builtin:imagenet-samples")],
)
def test_normalising_inside_the_graph_and_fast_resizing_keep_top1(
    workspace, lenet_fp, lite0_fp, model_id, ref
):
    """OpenVINO with uint8 pixels in (mean, scale and layout inside the IR) against the Python path: the same
    top-1 on every labelled image and logits within 1e-4; the fast resize (whole-factor shrink, then
    bilinear) keeps top-1 on these sets too, with logits that may move more (documented, not hidden)."""
    spec = get_model(model_id)
    images = list(load_dataset(ref))[:400]
    exact = np.stack([spec.preprocess.to_pixels(s.image()) for s in images])
    fast = np.stack([spec.preprocess.to_pixels(s.image(), fast=True) for s in images])
    variant = workspace.require_variant(model_id, "fp32")
    python_path = prepare(variant, spec, workspace, RunOptions(batch=len(images)))
    graph_path = prepare(variant, spec, workspace, RunOptions(batch=len(images), pixels=True))
    reference = python_path.infer(spec.preprocess.normalize(exact))
    in_graph = graph_path.infer_pixels(exact)
    assert np.abs(reference - in_graph).max() < 1e-4
    assert (reference.argmax(1) == in_graph.argmax(1)).all()
    fast_logits = graph_path.infer_pixels(fast)
    assert (reference.argmax(1) == fast_logits.argmax(1)).mean() == 1.0
