"""The whole pipeline on real models: convert, quantize, classify, evaluate; and what it refuses."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.convert import ConvertConfig, convert_model
from core.errors import ArchitectureMismatchError, ArchiveError, ImageError, InputError, ModelFileError
from core.imports import ImportConfig, import_model
from core.inference import classify_images
from core.quantize import QuantizeConfig, quantizable_layers, quantize_model
from core.workspace import Workspace


def snapshot(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Every file under models/ with its size and mtime: what a failed job must not change."""
    return {
        str(p.relative_to(ws.root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in (ws.root / "models").rglob("*")
        if p.is_file()
    }


def test_lenet5_int8_keeps_accuracy_on_held_out_digits(workspace, lenet_int8):
    from core.evaluate import EvaluateConfig, evaluate_model

    result = evaluate_model(
        EvaluateConfig("lenet5-mnist", precisions=("fp32", "int8"), dataset="builtin:mnist"),
        workspace=workspace,
    ).to_dict()
    by = {r["precision"]: r for r in result["results"]}
    assert by["fp32"]["count"] == 4700
    assert by["fp32"]["top1"] >= 0.98
    assert abs(by["int8"]["top1"] - by["fp32"]["top1"]) <= 0.01
    assert result["agreement"]["fp32-vs-int8"] >= 0.99


def test_quantize_reports_progress_in_images_then_phases(lenet_int8):
    result, phases = lenet_int8
    counted = [p for p in phases if p.phase == "collecting statistics"]
    assert counted[-1].done == counted[-1].total == 300
    names = [p.phase for p in phases]
    assert names.index("collecting statistics") < names.index("saving the INT8 IR") < names.index("done")
    assert result.variant == "int8"  # the first INT8 variant of a model takes the plain name
    assert result.calibration["size"] == 300
    assert "calibration split" in result.calibration["name"]


def test_int8_manifest_records_settings_and_calibration(workspace, lenet_int8):
    variant = workspace.require_variant("lenet5-mnist", lenet_int8[0].variant)
    manifest = variant.manifest
    assert manifest["quantization"]["preset"] == "performance"
    assert manifest["quantization"]["subset_size"] == 300
    assert len(manifest["calibration"]["fingerprint"]) == 64
    assert manifest["files"]["model.bin"]["sha256"]
    assert manifest["versions"]["nncf"].startswith("3.")
    assert variant.recipe.calibration == manifest["calibration"]
    assert variant.recipe.parent == "fp32"


def test_lite0_int8_is_small_and_still_sees_a_cat(workspace, lite0_int8):
    fp32 = workspace.require_variant("efficientnet-lite0", "fp32")
    int8 = workspace.require_variant("efficientnet-lite0", lite0_int8.variant)
    assert int8.size_bytes <= 0.6 * fp32.size_bytes
    from core.data import load_dataset

    photos = {s.name: s for s in load_dataset("builtin:photos")}
    cat = photos["chelsea"].image()
    results = classify_images(
        "efficientnet-lite0", [("chelsea", cat)], ["torch", "fp32", int8.id], workspace=workspace
    )
    assert len(results) == 3
    for result in results:
        labels = [p.label for p in result.top[:3]]
        assert any(name in labels for name in ("tabby", "tiger cat", "Egyptian cat")), (
            result.precision,
            labels,
        )
        assert result.ms > 0


def test_options_reach_nncf(workspace, lenet_int8, monkeypatch):
    import nncf

    seen = {}
    real = nncf.quantize

    def spy(model, dataset, **kwargs):
        seen.update(kwargs)
        return real(model, dataset, **kwargs)

    monkeypatch.setattr(nncf, "quantize", spy)
    layer = quantizable_layers("lenet5-mnist", workspace=workspace)[0]
    result = quantize_model(
        QuantizeConfig(
            "lenet5-mnist",
            calibration="builtin:mnist",
            subset_size=40,
            preset="mixed",
            fast_bias_correction=False,
            ignored_scope=(layer,),
        ),
        workspace=workspace,
    )
    assert seen["subset_size"] == 40
    assert seen["preset"] == nncf.QuantizationPreset.MIXED
    assert seen["fast_bias_correction"] is False
    assert seen["ignored_scope"].names == [layer]
    assert result.calibration["size"] == 40
    # a second INT8 with another recipe is a new variant named after it; the first stays as it was
    assert result.variant == "int8-mnist-40"
    assert workspace.require_variant("lenet5-mnist", "int8").recipe.settings["subset_size"] == 300
    # the ignored convolution really stays in float: no FakeQuantize feeds it
    from core.runtime import get_core

    model = get_core().read_model(workspace.require_variant("lenet5-mnist", result.variant).xml)
    node = next(op for op in model.get_ordered_ops() if op.get_friendly_name() == layer)
    feeding = {node.input_value(i).get_node().get_type_name() for i in range(node.get_input_size())}
    assert "FakeQuantize" not in feeding


def test_accuracy_control_respects_max_drop(workspace, lenet_fp):
    result = quantize_model(
        QuantizeConfig(
            "lenet5-mnist",
            calibration="builtin:mnist",
            subset_size=100,
            max_drop=0.01,
            validation="builtin:mnist",
            validation_size=300,
        ),
        workspace=workspace,
    )
    control = result.accuracy_control
    assert control["validation"]["size"] == 300
    assert control["fp32_metric"] >= 0.95
    assert control["fp32_metric"] - control["int8_metric"] <= 0.01 + 1e-9


def test_accuracy_control_needs_a_labelled_validation_set(workspace):
    with pytest.raises(InputError, match="validation"):
        QuantizeConfig("lenet5-mnist", calibration="builtin:mnist", max_drop=0.01).check()


def test_failed_quantization_leaves_the_workspace_unchanged(workspace, lenet_int8, tmp_path):
    before = snapshot(workspace)
    empty = tmp_path / "calibration.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "no images here")
    with pytest.raises(ArchiveError, match="no images"):
        quantize_model(QuantizeConfig("lenet5-mnist", calibration=str(empty)), workspace=workspace)
    assert snapshot(workspace) == before
    assert not any((workspace.root / "tmp").iterdir())


def test_unreadable_image_is_refused_clearly(workspace, lenet_fp):
    from core.data import open_image

    with pytest.raises(ImageError, match="notes.png"):
        open_image(b"this is text", name="notes.png")


def test_wrong_model_files_are_refused_and_nothing_registered(workspace, tmp_path):
    before = snapshot(workspace)
    fake = tmp_path / "model.onnx"
    fake.write_text("not a model")
    with pytest.raises(ModelFileError, match="model.onnx"):
        import_model(ImportConfig(name="fake-onnx", files=(str(fake),)), workspace=workspace)
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"\x89HDF")
    with pytest.raises(ModelFileError, match="cannot tell"):
        import_model(ImportConfig(name="fake-h5", files=(str(odd),)), workspace=workspace)
    assert snapshot(workspace) == before
    assert "fake-onnx" not in workspace.model_ids()


def test_state_dict_for_another_architecture_is_refused(workspace, tmp_path):
    import torch

    from core.registry import _bundled_weights

    lenet_state = torch.load(_bundled_weights("lenet5"), map_location="cpu", weights_only=True)
    path = tmp_path / "lenet.pt"
    torch.save(lenet_state, path)
    with pytest.raises(ArchitectureMismatchError, match="resnet18"):
        import_model(
            ImportConfig(name="my-resnet", files=(str(path),), architecture="resnet18"), workspace=workspace
        )
    assert "my-resnet" not in workspace.model_ids()


def test_a_state_dict_with_nan_weights_is_refused_by_name(workspace, tmp_path):
    import torch
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer1.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "diverged.pt"
    torch.save(state, path)
    with pytest.raises(
        ModelFileError,
        match=r"diverged.pt holds NaN or infinite weights in 1 tensor\(s\) \(first: layer1.0.conv1.weight\)",
    ):
        import_model(
            ImportConfig(name="diverged", files=(str(path),), architecture="resnet18"), workspace=workspace
        )
    assert "diverged" not in workspace.model_ids()


def test_pickled_whole_model_is_refused(workspace, tmp_path):
    import torch

    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a pickled module, not a state dict
    with pytest.raises(ModelFileError, match="state dict"):
        import_model(
            ImportConfig(name="whole", files=(str(path),), architecture="resnet18"), workspace=workspace
        )


def test_user_state_dict_round_trip(workspace, tmp_path):
    """A user's own resnet18 weights are imported, converted and classify like PyTorch does."""
    import torch
    import torchvision

    torch.manual_seed(1)
    path = tmp_path / "weights.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    spec = import_model(
        ImportConfig(name="resnet18-mine", files=(str(path),), architecture="resnet18"), workspace=workspace
    )
    assert spec.trained
    assert spec.weights == "state-dict"
    convert_model(ConvertConfig("resnet18-mine", precisions=("fp32",)), workspace=workspace)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    torch_result, fp32_result = classify_images(
        "resnet18-mine", [("noise", image)], ["torch", "fp32"], workspace=workspace
    )
    assert torch_result.top[0].index == fp32_result.top[0].index


def test_untrained_variant_is_marked_everywhere(workspace):
    spec = import_model(
        ImportConfig(name="mobilenet-v2-untrained", files=(), architecture="mobilenet_v2", untrained=True),
        workspace=workspace,
    )
    assert not spec.trained
    assert spec.weights == "random"
    from core.registry import get_model

    assert get_model("mobilenet-v2-untrained", workspace).trained is False


def test_onnx_route_and_onnx_upload(workspace, lenet_fp, tmp_path):
    result = convert_model(
        ConvertConfig("lenet5-mnist", precisions=("fp32",), route="onnx"), workspace=workspace
    )
    assert result.route == "onnx"
    import torch

    from core.registry import build_torch_model, get_model

    onnx_path = tmp_path / "lenet.onnx"
    torch.onnx.export(
        build_torch_model(get_model("lenet5-mnist")), torch.zeros(1, 1, 28, 28), onnx_path, dynamo=False
    )
    spec = import_model(
        ImportConfig(name="lenet-onnx", files=(str(onnx_path),), labels="mnist", preprocess="mnist"),
        workspace=workspace,
    )
    assert spec.architecture == "onnx"
    assert spec.preprocess.size == 28
    convert_model(ConvertConfig("lenet-onnx"), workspace=workspace)
    from core.data import load_dataset

    digits = load_dataset("builtin:mnist").subset(20)
    images = [(s.name, s.image()) for s in digits]
    a = classify_images("lenet-onnx", images, ["fp32"], workspace=workspace)
    b = classify_images("lenet5-mnist", images, ["fp32"], workspace=workspace)
    assert [r.top[0].index for r in a] == [r.top[0].index for r in b]


def test_convert_refuses_int8(workspace):
    with pytest.raises(InputError, match="quantize"):
        convert_model(ConvertConfig("lenet5-mnist", precisions=("int8",)), workspace=workspace)


def test_concurrent_callers_get_consistent_answers(workspace, lenet_fp):
    """Each caller borrows its own infer request; threads never mix results."""
    from concurrent.futures import ThreadPoolExecutor

    from core.data import load_dataset

    digits = [(s.name, s.image()) for s in load_dataset("builtin:mnist").subset(16)]
    expected = [
        r.top[0].index for r in classify_images("lenet5-mnist", digits, ["fp32"], workspace=workspace)
    ]

    def one(i):
        return classify_images("lenet5-mnist", [digits[i]], ["fp32"], workspace=workspace)[0].top[0].index

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(one, range(16)))
    assert got == expected


def test_workspace_write_is_atomic_and_keeps_history(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.write_variant("demo", "fp32", {"note": "first"}) as folder:
        (folder / "model.xml").write_text("<xml/>")
        (folder / "model.bin").write_bytes(b"1")

    def crash_halfway() -> None:
        with ws.write_variant("demo", "fp32", {"note": "second"}) as folder:
            (folder / "model.xml").write_text("<half/>")
            msg = "crash halfway"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="crash halfway"):
        crash_halfway()
    assert ws.require_variant("demo", "fp32").manifest["note"] == "first"
    with ws.write_variant("demo", "fp32", {"note": "third"}) as folder:
        (folder / "model.xml").write_text("<xml/>")
        (folder / "model.bin").write_bytes(b"3")
    assert ws.require_variant("demo", "fp32").manifest["note"] == "third"
    history = list((ws.model_dir("demo") / ".history").iterdir())
    assert len(history) == 1
    assert (history[0] / "manifest.json").is_file()


def test_image_bytes_from_a_real_upload_classify(workspace, lenet_fp):
    from core.data import open_image

    buffer = io.BytesIO()
    Image.new("L", (28, 28), 0).save(buffer, format="PNG")
    image = open_image(buffer.getvalue(), name="blank.png")
    (result,) = classify_images("lenet5-mnist", [("blank.png", image)], ["fp32"], workspace=workspace)
    assert abs(sum(p.probability for p in result.top) - 1.0) < 0.5


def test_job_settings_with_an_unknown_key_are_refused_by_name():
    from core.jobs import config_from_dict

    with pytest.raises(InputError, match="subset_sise") as error:
        config_from_dict(QuantizeConfig, {"model_id": "lenet5-mnist", "subset_sise": 10})
    assert "subset_size" in str(error.value)  # the accepted names are listed
    config = config_from_dict(QuantizeConfig, {"model_id": "lenet5-mnist", "ignored_scope": ["a", "b"]})
    assert config.ignored_scope == ("a", "b")


def test_results_are_reread_when_a_file_changes(tmp_path):
    ws = Workspace(tmp_path / "ws")
    path = ws.save_result("benchmark", "demo", {"model_id": "demo", "value": 1})
    (first,) = ws.results("benchmark")
    assert first["value"] == 1
    assert first["path"] == str(path) == first["_path"]
    from core.workspace import write_json

    write_json(path, {"model_id": "demo", "value": 22})
    (again,) = ws.results("benchmark")
    assert again["value"] == 22
