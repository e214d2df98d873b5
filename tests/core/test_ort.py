"""ONNX Runtime on the real LeNet5 and 4,700 real MNIST digits: FP32 agrees with PyTorch, INT8 keeps top-1."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.data import load_dataset
from core.errors import InputError, ModelFileError
from core.ort import create_session, export_onnx, quantize_onnx, run_session
from core.registry import build_torch_model, get_model

DIGITS = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """LeNet5 exported and quantized once; the evaluation digits as one float32 batch."""
    import torch

    folder = tmp_path_factory.mktemp("ort")
    spec = get_model("lenet5-mnist")
    module = build_torch_model(spec)
    evaluation = load_dataset("builtin:mnist", purpose="evaluation")
    calibration = load_dataset("builtin:mnist", purpose="calibration")
    arrays = spec.preprocess.batch([s.image() for s in evaluation])
    labels = np.asarray(evaluation.label_indices(DIGITS))
    with torch.no_grad():
        torch_logits = module(torch.from_numpy(arrays)).numpy()
    exported = export_onnx(module, spec.input_shape, folder / "fp32.onnx")
    events = []
    quantized = quantize_onnx(
        folder / "fp32.onnx",
        folder / "int8.onnx",
        [spec.preprocess.to_array(s.image()) for s in calibration],
        progress=lambda done, total: events.append((done, total)),
    )
    return SimpleNamespace(
        folder=folder,
        spec=spec,
        arrays=arrays,
        labels=labels,
        torch_logits=torch_logits,
        exported=exported,
        quantized=quantized,
        calibration_count=len(calibration),
        events=events,
    )


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def test_export_is_self_contained_with_named_dynamic_batch(lenet):
    import onnx

    info = lenet.exported
    assert info["opset"] == 17
    assert (info["input_name"], info["output_name"]) == ("input", "logits")
    assert info["onnx_version"] == onnx.__version__
    assert info["size_bytes"] == (lenet.folder / "fp32.onnx").stat().st_size > 1_000_000
    assert not list(lenet.folder.glob("*.part"))
    model = onnx.load(str(lenet.folder / "fp32.onnx"), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    session, _ = create_session(lenet.folder / "fp32.onnx")
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for n in (1, 3):
        assert run_session(session, lenet.arrays[:n]).shape == (n, 10)


def test_fp32_matches_pytorch_on_all_evaluation_digits(lenet):
    session, _ = create_session(lenet.folder / "fp32.onnx")
    logits = run_session(session, lenet.arrays)
    assert logits.shape == (4700, 10)
    assert np.abs(logits - lenet.torch_logits).max() < 1e-4
    assert top1(lenet.torch_logits, lenet.labels) > 0.98


def test_int8_keeps_top1_within_one_point(lenet):
    fp32, _ = create_session(lenet.folder / "fp32.onnx")
    int8, _ = create_session(lenet.folder / "int8.onnx")
    fp32_top1 = top1(run_session(fp32, lenet.arrays), lenet.labels)
    int8_top1 = top1(run_session(int8, lenet.arrays), lenet.labels)
    assert int8_top1 >= fp32_top1 - 0.01, (fp32_top1, int8_top1)
    assert (lenet.folder / "int8.onnx").stat().st_size < lenet.exported["size_bytes"] / 2


def test_quantization_records_every_setting_and_reports_progress(lenet):
    import onnxruntime

    info = lenet.quantized
    assert info["quant_format"] == "QDQ"
    assert (info["activation_type"], info["weight_type"]) == ("QUInt8", "QInt8")
    assert info["per_channel"] is True
    assert isinstance(info["reduce_range"], bool)
    assert info["calibrate_method"] == "MinMax"
    assert info["calibration_count"] == lenet.calibration_count == 300
    assert info["pre_processing"].startswith("quant_pre_process")
    assert info["onnxruntime_version"] == onnxruntime.__version__
    assert info["seconds"] > 0
    assert lenet.events[0] == (1, 300)
    assert lenet.events[-1] == (300, 300)
    assert len(lenet.events) == 300


def test_session_options_record_the_threads_asked_for(lenet):
    import onnxruntime

    session, options = create_session(lenet.folder / "int8.onnx", threads=1)
    assert options["intra_op_num_threads"] == 1
    assert options["inter_op_num_threads"] == 1
    assert options["provider"] == "CPUExecutionProvider"
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert options["execution_mode"] == "ORT_SEQUENTIAL"
    assert options["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert options["onnxruntime_version"] == onnxruntime.__version__
    _, defaults = create_session(lenet.folder / "int8.onnx")
    assert defaults["intra_op_num_threads"] >= 1


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_onnx_file_gives_a_clear_model_file_error(lenet, tmp_path, damage):
    good = (lenet.folder / "fp32.onnx").read_bytes()
    content = {"truncated": good[: len(good) // 2], "garbage": b"\x00\xffnot a model" * 64, "empty": b""}
    path = tmp_path / f"{damage}.onnx"
    path.write_bytes(content[damage])
    with pytest.raises(ModelFileError, match=rf"{damage}\.onnx .*damaged.*export it again"):
        create_session(path)
    with pytest.raises(ModelFileError, match="damaged"):
        quantize_onnx(path, tmp_path / "out.onnx", lenet.arrays[:2])
    assert not (tmp_path / "out.onnx").exists()


def test_missing_file_and_wrong_batch_are_refused(lenet, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        create_session(tmp_path / "nowhere.onnx")
    session, _ = create_session(lenet.folder / "fp32.onnx")
    with pytest.raises(InputError, match="takes"):
        run_session(session, np.zeros((1, 3, 28, 28), dtype=np.float32))
    with pytest.raises(InputError, match="calibration"):
        quantize_onnx(lenet.folder / "fp32.onnx", tmp_path / "out.onnx", [])
