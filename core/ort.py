"""ONNX Runtime as a second opinion on OpenVINO: export, INT8-quantize, and run on the CPU.

Plain functions: a backend adapter wraps them. Every function returns the settings it actually
used, so a figure measured with ONNX Runtime can say exactly how its model was made and run.
onnx, onnxruntime and torch are imported inside the functions, so a web server can import this
module without paying for them.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InputError, ModelFileError

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "cpu_has_vnni",
    "create_session",
    "export_onnx",
    "quantize_onnx",
    "run_session",
]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
_VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
_QUANT_TYPES = ("QUInt8", "QInt8")


def export_onnx(module: Any, input_shape: tuple[int, int, int, int], path: Path, *, opset: int = 17) -> dict:
    """Export an eval-mode torch module to one self-contained .onnx file with a dynamic batch axis.

    The legacy (TorchScript) exporter is used on purpose: it handles every model the project ships.
    The file is written next to `path` first and moved into place only once `onnx` accepts it.
    """
    import onnx
    import torch

    if len(input_shape) != 4 or any(int(d) <= 0 for d in input_shape):
        msg = f"input shape {list(input_shape)} is not (N, C, H, W) with positive sizes"
        raise InputError(msg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    was_training = bool(getattr(module, "training", False))
    start = time.perf_counter()
    try:
        module.eval()
        with torch.no_grad():
            torch.onnx.export(
                module,
                (torch.zeros(tuple(int(d) for d in input_shape)),),
                str(partial),
                dynamo=False,
                export_params=True,
                opset_version=opset,
                do_constant_folding=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
        model = _load_checked(partial, name=path.name)
        onnx.checker.check_model(model, full_check=True)
    except ModelFileError:
        partial.unlink(missing_ok=True)
        raise
    except Exception as exc:
        partial.unlink(missing_ok=True)
        _raise_if_disk_full(exc, path.parent, "exporting the model to ONNX")
        msg = (
            f"exporting the model to ONNX (opset {opset}) failed ({type(exc).__name__}: {_short(exc)}); "
            "check that the model runs on an input of that shape, or try another opset"
        )
        raise ModelFileError(msg) from exc
    finally:
        if was_training:
            module.train()
    Path(partial).replace(path)
    return {
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "opset": opset,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_shape": [int(d) for d in input_shape],
        "dynamic_axes": {INPUT_NAME: {"0": "batch"}, OUTPUT_NAME: {"0": "batch"}},
        "constant_folding": True,
        "onnx_version": onnx.__version__,
        "torch_version": torch.__version__,
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - start, 3),
    }


def cpu_has_vnni() -> bool | None:
    """True if this CPU has an 8-bit dot-product instruction (VNNI, AMX); None if it cannot tell.

    It decides `reduce_range`: without VNNI, x86 kernels multiply uint8 by int8 through 16-bit sums
    that can saturate, and 7-bit weights avoid that.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return any(flag in flags for flag in _VNNI_FLAGS)
    return None


def quantize_onnx(
    fp32_path: Path,
    out_path: Path,
    calibration: Sequence[np.ndarray],
    *,
    per_channel: bool = True,
    activation_type: str = "QUInt8",
    weight_type: str = "QInt8",
    reduce_range: bool | None = None,
    preprocess: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Static INT8 quantization in QDQ format, MinMax-calibrated one image at a time.

    The defaults are onnxruntime's advice for x86 CPUs, and were the best of the choices tried on
    EfficientNet-Lite0 (2-core AMD EPYC with AVX-512 VNNI): uint8 activations with symmetric int8
    weights (U8S8; S8S8, onnxruntime's generic first choice, ran 1.6x slower there, U8U8 10x);
    per-channel weights (per-tensor cut the logits' signal-to-noise ratio from 19 to 7 dB for
    almost no speed); 7-bit weights (`reduce_range`) only on x86 CPUs without VNNI, where 16-bit
    intermediate sums can saturate (`None` decides from this CPU; on VNNI it only cost accuracy).
    `quant_pre_process` (graph optimisation, ONNX shape inference) runs first: without it the INT8
    model was 1.5x slower. If it fails, the original graph is quantized and the result says so.
    `progress(done, total)` follows the calibration images; the final rewrite has no progress.
    """
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    for name, value in (("activation_type", activation_type), ("weight_type", weight_type)):
        if value not in _QUANT_TYPES:
            msg = f"{name} {value!r} is not one of {', '.join(_QUANT_TYPES)}"
            raise InputError(msg)
    images = _calibration_images(calibration)
    model = _load_checked(fp32_path)
    input_name = _input_name(model, fp32_path)
    del model
    vnni = cpu_has_vnni()
    if reduce_range is None:
        reduce_range = _is_x86() and vnni is False
    total = len(images)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.done = 0

        def get_next(self) -> dict | None:
            if self.done >= total:
                return None
            item = {input_name: images[self.done]}
            self.done += 1
            if progress is not None:
                progress(self.done, total)
            return item

    start = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ort-quant-") as tmp:
        source, pre_processing = fp32_path, "none"
        if preprocess:
            prepared = Path(tmp) / "prepared.onnx"
            try:
                quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
                source, pre_processing = (
                    prepared,
                    "quant_pre_process (ORT graph optimisation, ONNX shape inference)",
                )
            except Exception as exc:
                pre_processing = f"skipped: quant_pre_process failed ({type(exc).__name__}: {_short(exc)})"
        partial = Path(tmp) / "quantized.onnx"
        settings = {
            "quant_format": "QDQ",
            "activation_type": activation_type,
            "weight_type": weight_type,
            "activation_symmetric": False,
            "weight_symmetric": True,
            "per_channel": per_channel,
            "reduce_range": reduce_range,
            "calibrate_method": "MinMax",
        }
        try:
            quantize_static(
                str(source),
                str(partial),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=getattr(QuantType, activation_type),
                weight_type=getattr(QuantType, weight_type),
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        except Exception as exc:
            _raise_if_disk_full(exc, out_path.parent, "quantizing with ONNX Runtime")
            msg = (
                f"ONNX Runtime could not quantize {fp32_path.name} ({type(exc).__name__}: {_short(exc)}); "
                "check that the calibration images match the model's input shape, or re-export the model"
            )
            raise ModelFileError(msg) from exc
        shutil.move(str(partial), out_path)
    return {
        **settings,
        "calibration_count": total,
        "calibration_batch": 1,
        "pre_processing": pre_processing,
        "cpu_has_vnni": vnni,
        "input_name": input_name,
        "onnxruntime_version": onnxruntime.__version__,
        "path": str(out_path),
        "size_bytes": out_path.stat().st_size,
        "seconds": round(time.perf_counter() - start, 3),
    }


def create_session(
    path: Path, *, threads: int | None = None, spinning: bool = False
) -> tuple[onnxruntime.InferenceSession, dict]:
    """A CPU session set up the same way every time, plus the options to record next to each figure.

    One inter-op thread and sequential execution: image classifiers are a chain of layers, and
    extra inter-op threads would only compete with the intra-op ones for the same cores. Idle
    worker threads do not spin by default: on these shared 2-core virtual machines spinning doubled
    the median latency of EfficientNet-Lite0, and it steals the cores of any other session
    (OpenVINO, PyTorch, another ONNX Runtime model) measured in the same process.
    """
    import onnxruntime

    if threads is not None and threads < 0:
        msg = f"threads must be a positive count (or None for all cores), not {threads}"
        raise InputError(msg)
    path = Path(path)
    _load_checked(path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    provider = "CPUExecutionProvider"
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=[provider])
    except Exception as exc:
        msg = (
            f"ONNX Runtime cannot load {path.name} ({type(exc).__name__}: {_short(exc)}); "
            "export the model again with a supported opset"
        )
        raise ModelFileError(msg) from exc
    return session, {
        "runtime": "onnxruntime",
        "provider": provider,
        "providers": session.get_providers(),
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "execution_mode": options.execution_mode.name,
        "allow_spinning": spinning,
        "graph_optimization_level": options.graph_optimization_level.name,
        "onnxruntime_version": onnxruntime.__version__,
    }


def run_session(session: onnxruntime.InferenceSession, batch: np.ndarray) -> np.ndarray:
    """Logits for a float32 (N, C, H, W) batch; the input is named by the session, not assumed."""
    batch = np.asarray(batch)
    if batch.ndim != 4:
        msg = f"a batch must have shape (N, C, H, W), not {list(batch.shape)}"
        raise InputError(msg)
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    model_input = session.get_inputs()[0]
    expected = model_input.shape
    for axis, (want, got) in enumerate(zip(expected[1:], batch.shape[1:], strict=False), start=1):
        if isinstance(want, int) and want > 0 and want != got:
            msg = (
                f"the model takes {_shape_text(expected)} but the batch is {list(batch.shape)} "
                f"(axis {axis}); preprocess images with the model's own preprocessing"
            )
            raise InputError(msg)
    try:
        return session.run(None, {model_input.name: batch})[0]
    except Exception as exc:
        msg = (
            f"ONNX Runtime failed to run the model ({type(exc).__name__}: {_short(exc)}); "
            "check the batch's shape against the model's input, or re-export the model"
        )
        raise ModelFileError(msg) from exc


def _raise_if_disk_full(exc: BaseException, where: Path, what: str) -> None:
    """A full disk is said as such, not as a problem with the model."""
    from core.errors import DiskFullError
    from core.workspace import disk_full_guard

    try:
        with disk_full_guard(where, what):
            raise exc
    except DiskFullError:
        raise
    except BaseException:  # anything else: the caller's own message
        return


def _load_checked(path: Path, *, name: str | None = None):
    """Parse an .onnx file without following external-data references, or say why not."""
    import onnx

    name = name or path.name
    if not path.is_file():
        msg = f"{path} does not exist; export or convert the model first"
        raise ModelFileError(msg)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        msg = (
            f"{name} is not a readable ONNX model ({type(exc).__name__}); the file is damaged or of "
            "another kind: export it again"
        )
        raise ModelFileError(msg) from exc
    if not model.graph.node:
        msg = f"{name} holds no ONNX graph; the file is damaged or empty: export it again"
        raise ModelFileError(msg)
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            msg = f"{name} keeps its weights in external files; export it as one self-contained .onnx file"
            raise ModelFileError(msg)
    return model


def _input_name(model, path: Path) -> str:
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        msg = f"{path.name} has {len(inputs)} inputs; an image classifier takes one image tensor"
        raise ModelFileError(msg)
    return inputs[0]


def _calibration_images(calibration: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each image as a contiguous float32 (1, C, H, W) array, all of one shape."""
    images = []
    for index, item in enumerate(calibration):
        array = np.asarray(item, dtype=np.float32)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[0] != 1:
            msg = (
                f"calibration image {index} has shape {list(np.shape(item))}; give one image per item, "
                "as (C, H, W) or (1, C, H, W)"
            )
            raise InputError(msg)
        if images and array.shape != images[0].shape:
            msg = (
                f"calibration image {index} has shape {list(array.shape)}, the first {list(images[0].shape)}; "
                "preprocess every image with the model's preprocessing"
            )
            raise InputError(msg)
        images.append(np.ascontiguousarray(array))
    if not images:
        msg = "quantization needs calibration images; give at least one (a few hundred is usual)"
        raise InputError(msg)
    return images


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) and d > 0 else "N" for d in shape) + "]"


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
