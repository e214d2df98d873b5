"""Accuracy, uncertainty and agreement on real models and real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.backends import RunOptions, prepare
from core.data import load_dataset
from core.errors import DatasetError, ModelNotFoundError, UntrainedModelError
from core.evaluate import EvaluateConfig, evaluate_model, wilson_interval
from core.imports import ImportConfig, import_model
from core.jobs import run_job_here
from core.registry import get_model
from core.variants import resolve_variants
from core.workspace import Workspace

RESULT_KEYS = {
    "model_id",
    "created",
    "device",
    "device_name",
    "versions",
    "trained",
    "dataset",
    "results",
    "agreement",
    "agreement_detail",
    "predictions",
    "path",
}
NEW_RESULT_KEYS = {"machine", "settings"}
DATASET_KEYS = {"ref", "name", "description", "size", "labelled", "fingerprint"}
SCORE_KEYS = {
    "precision",
    "top1",
    "top5",
    "count",
    "correct1",
    "correct5",
    "top1_ci95",
    "top5_ci95",
    "ms_per_image",
}


@pytest.fixture(scope="module")
def lenet_eval(workspace, lenet_fp):
    events = []
    result = evaluate_model(
        EvaluateConfig("lenet5-mnist", precisions=("torch", "fp32", "fp16"), dataset="builtin:mnist"),
        workspace=workspace,
        progress=events.append,
    )
    return result, events


@pytest.fixture(scope="module")
def lite0_eval(workspace, lite0_fp):
    return evaluate_model(
        EvaluateConfig("efficientnet-lite0", precisions=("fp32", "torch")), workspace=workspace
    )


def test_lenet_is_accurate_on_4700_digits_and_precisions_agree(lenet_eval):
    result, _ = lenet_eval
    fp32 = result.score("fp32")
    assert fp32.count == 4700
    assert fp32.top1 >= 0.98
    assert fp32.top1_ci95[0] < fp32.top1 < fp32.top1_ci95[1]
    assert fp32.top5 >= fp32.top1
    assert result.agreement["fp32-vs-fp16"] >= 0.995
    assert result.agreement["torch-vs-fp32"] >= 0.995
    assert set(result.agreement) == {"torch-vs-fp32", "torch-vs-fp16", "fp32-vs-fp16"}


def test_progress_counts_every_image(lenet_eval):
    _, events = lenet_eval
    assert {e.phase for e in events} == {"loading the models", "evaluating"}
    loading = [e for e in events if e.phase == "loading the models"]
    assert loading[-1].done == loading[-1].total == 3  # torch, fp32, fp16
    counted = [e for e in events if e.phase == "evaluating"]
    assert events.index(loading[-1]) < events.index(counted[0])
    assert events[-1].done == events[-1].total == 4700
    assert [e.done for e in counted] == sorted(e.done for e in counted)


def test_saved_json_has_every_key(lenet_eval, workspace):
    result, _ = lenet_eval
    saved = json.loads(Path(result.path).read_text())
    assert set(saved) == RESULT_KEYS | NEW_RESULT_KEYS
    assert set(saved["settings"]["variants"]) == {"torch", "fp32", "fp16"}
    assert saved["path"] == result.path
    assert set(saved["dataset"]) == DATASET_KEYS
    assert saved["dataset"]["labelled"] is True
    assert saved["dataset"]["size"] == 4700
    for row in saved["results"]:
        assert set(row) >= SCORE_KEYS | {"variant", "backend", "format"}
        assert len(row["top1_ci95"]) == 2
        assert row["ms_per_image"] > 0
    detail = saved["agreement_detail"]["fp32-vs-fp16"]
    assert set(detail) == {"rate", "same", "count", "ci95", "a", "b", "top5_overlap"}
    assert (detail["a"], detail["b"], detail["count"]) == ("fp32", "fp16", 4700)
    assert 0 <= detail["top5_overlap"] <= 1
    preds = saved["predictions"]
    assert set(preds) == {"names", "labels", "top1", "prob", "top5"}
    assert len(preds["names"]) == len(preds["labels"]) == len(preds["top1"]["fp32"]) == 4700
    assert len(preds["top5"]["fp16"][0]) == 5
    assert 0 < preds["prob"]["torch"][0] <= 1
    assert saved["trained"] is True
    assert saved["versions"]["openvino"]
    assert any(r["_path"] == result.path for r in workspace.results("evaluation", "lenet5-mnist"))
    assert "fp32" in str(result)
    assert "agreement" in str(result)


def test_lite0_on_20_imagenet_samples_reports_a_wide_interval(lite0_eval):
    fp32 = lite0_eval.score("fp32")
    assert fp32.count == 20
    assert fp32.top1 >= 0.8
    lo, hi = fp32.top1_ci95
    assert lo < fp32.top1 < hi or fp32.top1 == hi == 1.0
    assert hi - lo > 0.15  # twenty images cannot pin accuracy down
    assert lite0_eval.agreement["fp32-vs-torch"] >= 0.95


def test_openvino_fp32_logits_match_pytorch(workspace, lite0_fp):
    spec = get_model("efficientnet-lite0")
    images = load_dataset("builtin:imagenet-samples")
    batch = spec.preprocess.batch(sample.image() for sample in images)
    (fp32, torch), _ = resolve_variants(spec, workspace, ["fp32", "torch"])
    options = RunOptions(batch=len(batch))
    ov_logits = prepare(fp32, spec, workspace, options).infer(batch)
    torch_logits = prepare(torch, spec, workspace, options).infer(batch)
    assert ov_logits.shape == torch_logits.shape == (20, 1000)
    assert np.abs(ov_logits - torch_logits).max() < 1e-3


def test_untrained_model_has_no_accuracy(workspace):
    if "resnet18-untrained" not in workspace.model_ids():  # another test may have registered it
        import_model(
            ImportConfig(name="resnet18-untrained", files=(), architecture="resnet18", untrained=True),
            workspace=workspace,
        )
    with pytest.raises(UntrainedModelError, match="randomly initialised.*benchmark it for latency"):
        evaluate_model(EvaluateConfig("resnet18-untrained", precisions=("fp32",)), workspace=workspace)


def test_missing_int8_says_to_quantize(tmp_path):
    empty = Workspace(tmp_path / "ws")
    with pytest.raises(ModelNotFoundError, match="quantize"):
        evaluate_model(EvaluateConfig("lenet5-mnist", precisions=("int8",)), workspace=empty)


def test_unlabelled_set_gives_agreement_only(workspace, lenet_fp):
    result = evaluate_model(
        EvaluateConfig("lenet5-mnist", precisions=("fp32", "fp16"), dataset="builtin:photos"),
        workspace=workspace,
    )
    data = result.to_dict()
    assert data["dataset"]["labelled"] is False
    assert all(row["top1"] is None and row["top1_ci95"] is None for row in data["results"])
    assert 0 <= data["agreement"]["fp32-vs-fp16"] <= 1
    assert set(data["predictions"]["labels"]) == {None}
    assert "no labels in this set" in str(result)
    with pytest.raises(DatasetError, match="has no labels, so there is no accuracy to measure"):
        evaluate_model(
            EvaluateConfig("lenet5-mnist", variants=("fp32",), dataset="builtin:photos"), workspace=workspace
        )


def test_job_entry_honours_the_limit_and_reports_progress(workspace, lenet_fp):
    events = []
    data = run_job_here(
        "evaluate",
        {"model_id": "lenet5-mnist", "precisions": ["fp32"], "dataset": "builtin:mnist", "limit": 100},
        workspace,
        progress=events.append,
    )
    assert data["dataset"]["size"] == 100
    assert data["results"][0]["count"] == 100
    assert data["agreement"] == {}
    assert events[-1].done == 100


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [(0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0)), (5, 10, (0.2366, 0.7634)), (0, 0, (0.0, 1.0))],
)
def test_wilson_interval_known_values(successes, n, expected):
    lo, hi = wilson_interval(successes, n)
    assert lo == pytest.approx(expected[0], abs=1e-4)
    assert hi == pytest.approx(expected[1], abs=1e-4)


def test_pipelined_evaluation_gives_exactly_the_serial_predictions_and_reuses_decoded_pixels(
    workspace, lenet_fp
):
    """The fast path (decode ahead, OpenVINO batches, normalisation in the graph, cached pixels) changes
    no prediction: every image's top-1 and top-5 equal the one-image-at-a-time reference path's."""
    config = EvaluateConfig("lenet5-mnist", variants=("fp32", "torch"), dataset="builtin:mnist", limit=600)
    serial = evaluate_model(EvaluateConfig(**{**config.__dict__, "pipelined": False}), workspace=workspace)
    cache = workspace.root / "cache" / "pixels"
    for _ in range(2):  # the second run reads the pixels the first one kept
        fast = evaluate_model(config, workspace=workspace)
        assert fast.predictions["top1"] == serial.predictions["top1"]
        assert fast.predictions["top5"] == serial.predictions["top5"]
        assert fast.dataset["fingerprint"] == serial.dataset["fingerprint"]
        assert list(cache.glob("*.npy")), "the decoded pixels were not kept"
    assert "pipelined" in fast.settings["method"]
    assert "serial" in serial.settings["method"]
