"""Quantization-aware training, channel pruning and weight compression on the real LeNet5 and real
digits, through the CLI with --json; each result is a variant or a model the rest of the tool runs."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.catalog import NumberFormat, RecipeMethod
from core.cli import main
from core.data.builtin import mnist_set
from core.inference import classify_images
from core.prune import count_macs, known_layers, load_prune_results
from core.quantize import QuantizeConfig, quantize_model
from core.registry import build_torch_model, get_model
from core.workspace import Workspace

LENET = "lenet5-mnist"


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("optimize-ws"))


def run_json(ws: Workspace, *args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--json", "--workspace", str(ws.root)])
    assert code == 0
    return json.loads(out.getvalue())  # fails if anything but the JSON document reached stdout


@pytest.fixture(scope="module")
def qat(ws) -> dict:
    return run_json(
        ws, "qat", "--model", LENET, "--dataset", "builtin:mnist", "--epochs", "1", "--seconds", "1"
    )


@pytest.fixture(scope="module")
def pruned(ws) -> dict:
    return run_json(ws, "prune", "--model", LENET, "--ratio", "0.5", "--seconds", "1")


@pytest.fixture(scope="module")
def compressed(ws) -> dict:
    return run_json(ws, "compress", "--model", LENET, "--seconds", "1")


def _digits(n: int):
    return [(s.name, s.image()) for s in list(mnist_set("evaluation"))[:n]]


def test_qat_int8_runs_on_openvino_and_keeps_ptq_accuracy(qat, ws):
    rows = {r["variant"]: r for r in qat["rows"]}
    assert set(rows) == {"fp32", "int8-ptq", "int8-qat"}
    assert all(r["count"] == 470 for r in rows.values())  # one comparison, on the same held-out digits
    assert rows["int8-qat"]["top1"] >= rows["int8-ptq"]["top1"] - 0.005
    assert rows["int8-qat"]["top1_ci95"][0] <= rows["int8-qat"]["top1"] <= rows["int8-qat"]["top1_ci95"][1]
    variant = ws.require_variant(LENET, "int8-qat")
    assert variant.format == NumberFormat.INT8
    assert variant.recipe.method == RecipeMethod.QAT
    assert variant.manifest["int8_layers"] >= 4  # FakeQuantize nodes: OpenVINO runs them in 8-bit
    assert variant.recipe.calibration["size"] == 300
    assert qat["history"][0]["epoch"] == 0
    results = classify_images(LENET, _digits(3), ["int8-qat"], workspace=ws)
    assert [int(r.top[0].label) for r in results] == [int(s.label) for s in list(mnist_set("evaluation"))[:3]]


def test_pruning_lenet5_by_half_really_removes_channels(pruned, ws):
    before, after = pruned["before"], pruned["after"]
    assert after["parameters"] <= 0.6 * before["parameters"]  # at least 40 % fewer parameters
    assert after["macs"] < 0.5 * before["macs"]
    assert after["size_bytes"] < 0.5 * before["size_bytes"]
    assert before["latency_ms"] > 0
    assert after["latency_ms"] > 0
    assert before["top1"] is not None
    assert after["top1"] is not None
    assert pruned["evaluation"]["size"] == 4700
    spec = get_model(pruned["model_id"], ws)
    assert spec.architecture == "pruned"
    assert spec.arch_config["keep"] == ["linear2"]
    module = build_torch_model(
        spec, ws
    )  # rebuilt from model.json: base network, same pruning step, its weights
    assert module.conv1.out_channels == 16
    assert module.linear2.out_features == 10
    assert sum(p.numel() for p in module.parameters()) == after["parameters"]
    assert count_macs(ws.require_variant(spec.id, "fp32").xml, spec.input_shape) == after["macs"]
    assert known_layers(spec, ws) == ["conv1", "conv2", "linear1", "linear2"]
    assert [r.model_id for r in load_prune_results(ws)] == [spec.id]
    # the pruned network goes on like any other: quantize, then classify with every runtime
    quantize_model(QuantizeConfig(spec.id, calibration="builtin:mnist", subset_size=100), workspace=ws)
    results = classify_images(spec.id, _digits(2), ["torch", "fp32", "int8"], workspace=ws)
    assert {r.variant for r in results} == {"torch", "fp32", "int8"}
    assert all(r.top for r in results)


def test_weight_compression_is_a_smaller_variant_and_says_how_fast(compressed, ws):
    sizes = compressed["sizes"]
    assert sizes["int8w"] < 0.5 * sizes["fp32"]
    assert len(compressed["layers"]) == compressed["layers_total"] == 4
    variant = ws.require_variant(LENET, "int8w")
    assert variant.format == NumberFormat.INT8_WEIGHTS
    assert variant.recipe.method == RecipeMethod.COMPRESS_WEIGHTS
    assert variant.manifest["compressed_count"] == 4
    verdict = compressed["speed"]["fp32"]["verdict"]
    assert any(word in verdict for word in ("faster", "slower", "no clear difference"))
    assert any("of FP32" in sentence for sentence in compressed["reading"])
    assert [r.variant for r in classify_images(LENET, _digits(1), ["int8w"], workspace=ws)] == ["int8w"]


def test_weight_compression_of_lite0_keeps_its_predictions(ws):
    from core.compress import CompressConfig, compress_model

    result = compress_model(CompressConfig("efficientnet-lite0", seconds=0.5), workspace=ws)
    assert result.sizes["int8w"] < 0.35 * result.sizes["fp32"]
    assert len(result.layers) == result.layers_total == 50  # depthwise convolutions included
    assert result.accuracy["dataset"]["size"] == 20
    assert result.accuracy["agreement"] >= 0.9  # weight-only INT8 changes almost no prediction
    assert set(result.latency) == {"fp32", "int8w"}
    assert result.speed["fp32"]["verdict"]


def test_fine_tuning_needs_labelled_data_and_unknown_layers_are_named(ws, capsys):
    code = main(["prune", "--model", LENET, "--epochs", "1", "--workspace", str(ws.root)])
    assert code == 2
    assert "fine-tuning needs a labelled data set" in capsys.readouterr().err
    code = main(["prune", "--model", LENET, "--keep", "conv9", "--name", "nope", "--workspace", str(ws.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no convolution or linear layer named 'conv9'" in err
    assert "conv1, conv2" in err
    assert "nope" not in ws.model_ids()


def test_every_version_lands_on_trade_offs(ws, qat, pruned, compressed):
    from core.tradeoffs import collect_points

    points = {(p.model_id, p.variant): p for p in collect_points(ws)}
    for key in (
        (LENET, "fp32"),
        (LENET, "int8-ptq"),
        (LENET, "int8-qat"),
        (LENET, "int8w"),
        (pruned["model_id"], "fp32"),
    ):
        assert key in points, sorted(points)
        assert points[key].latency_ms, key
        assert points[key].top1 is not None, key
        assert points[key].size_mib, key


def test_page_shows_the_three_results(monkeypatch, ws, qat, pruned, compressed):
    monkeypatch.setenv("OVDASH_WORKSPACE", str(ws.root))
    st.cache_resource.clear()
    at = AppTest.from_file("/work/main/app.py", default_timeout=120)
    at.session_state["model_id"] = LENET
    at.run()
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "quantization\\-aware INT8" in text
    assert "Parameters 648,226" in text
    assert "4 of 4 convolution" in text
    st.cache_resource.clear()
