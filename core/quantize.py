"""INT8 with NNCF post-training quantization, optionally under accuracy control.

The FP32 IR is the source (it is made first when missing). Calibration images go through the
model's own preprocessing, one image per dataset item, so `subset_size` counts images. NNCF has no
progress callback: counting calls of the transform function gives the statistics phase's progress,
later phases are reported by name.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.errors import DatasetError, InputError
from core.progress import ProgressCallback, report
from core.registry import class_names, get_model
from core.workspace import Precision, Workspace

__all__ = [
    "QuantizeConfig",
    "QuantizeResult",
    "quantizable_layers",
    "quantize_job",
    "quantize_model",
]

PRESETS = ("performance", "mixed")
DROP_TYPES = ("absolute", "relative")


@dataclass(frozen=True)
class QuantizeConfig:
    """`ignored_scope` entries are node names, `re:<regex>` patterns or `type:<OpType>`."""

    model_id: str
    calibration: str = "builtin:imagenet-samples"
    subset_size: int = 300
    preset: str = "performance"
    fast_bias_correction: bool = True
    model_type: str | None = None  # None or "transformer"
    ignored_scope: tuple[str, ...] = ()
    target_device: str = "CPU"
    max_drop: float | None = None  # accuracy control when set (needs `validation`)
    drop_type: str = "absolute"
    validation: str | None = None
    validation_size: int | None = 1000

    def check(self) -> None:
        if self.subset_size < 1:
            raise InputError(f"subset size must be at least 1 image, not {self.subset_size}")
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose {' or '.join(PRESETS)}")
        if self.model_type not in (None, "transformer"):
            raise InputError(f"unknown model type {self.model_type!r}; leave it empty or use 'transformer'")
        if self.drop_type not in DROP_TYPES:
            raise InputError(f"unknown drop type {self.drop_type!r}; choose {' or '.join(DROP_TYPES)}")
        if self.max_drop is not None:
            if not 0 < self.max_drop < 1:
                raise InputError(f"maximum drop {self.max_drop} must be between 0 and 1 (0.01 = 1 point)")
            if not self.validation:
                raise InputError("accuracy control needs a labelled validation set; give --validation")


@dataclass(frozen=True)
class QuantizeResult:
    model_id: str
    path: str
    size_bytes: int
    fp32_size_bytes: int
    seconds: float
    calibration: dict
    settings: dict
    accuracy_control: dict | None = None
    int8_layers: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        ratio = self.size_bytes / self.fp32_size_bytes if self.fp32_size_bytes else float("nan")
        text = (
            f"{self.model_id} INT8: {self.size_bytes / 2**20:.1f} MiB ({ratio:.0%} of FP32), "
            f"{self.int8_layers} quantized layers, calibrated on {self.calibration['size']} images of "
            f"{self.calibration['name']} in {self.seconds:.1f} s"
        )
        if self.accuracy_control:
            ac = self.accuracy_control
            text += (
                f"\naccuracy control: FP32 {ac['fp32_metric']:.4f}, INT8 {ac['int8_metric']:.4f} "
                f"(max {ac['drop_type']} drop {ac['max_drop']})"
            )
        return text


def _ignored_scope(entries: tuple[str, ...]):
    import nncf

    if not entries:
        return None
    names = [e for e in entries if not e.startswith(("re:", "type:"))]
    patterns = [e[3:] for e in entries if e.startswith("re:")]
    types = [e[5:] for e in entries if e.startswith("type:")]
    return nncf.IgnoredScope(names=names, patterns=patterns, types=types)


def quantizable_layers(model_id: str, *, workspace: Workspace) -> list[str]:
    """Names of the convolution and matmul nodes of the FP32 IR: the choices for an ignored scope."""
    from core.runtime import get_core

    artifact = workspace.require_artifact(model_id, Precision.FP32)
    model = get_core().read_model(artifact.xml)
    kinds = {"Convolution", "GroupConvolution", "MatMul"}
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in kinds]


def _count_int8_layers(model) -> int:
    return sum(1 for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize")


def quantize_model(
    config: QuantizeConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> QuantizeResult:
    """Quantize the FP32 IR to INT8 and save it atomically with its settings and calibration."""
    config.check()
    start = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    from core.data import load_dataset

    report(progress, "loading calibration images")
    calibration = load_dataset(
        config.calibration,
        purpose="calibration",
        workspace=workspace,
        count=config.subset_size,
        spec=spec.preprocess,
    )
    if len(calibration) == 0:
        raise DatasetError(f"{calibration.name} holds no images; calibration needs at least one")
    notes = []
    if len(calibration) < config.subset_size:
        notes.append(
            f"asked for {config.subset_size} calibration images but {calibration.name} "
            f"has {len(calibration)}; used them all"
        )
    samples = calibration.subset(min(config.subset_size, len(calibration)))
    total = len(samples)

    fp32 = workspace.artifact(spec.id, Precision.FP32)
    if fp32 is None:
        from core.convert import ConvertConfig, convert_model

        report(progress, "converting to FP32 first")
        convert_model(ConvertConfig(spec.id, precisions=("fp32",)), workspace=workspace)
        fp32 = workspace.require_artifact(spec.id, Precision.FP32)

    from core.runtime import disable_telemetry, get_core

    disable_telemetry()
    import nncf
    import openvino as ov

    model = get_core().read_model(fp32.xml)
    calls = {"n": 0}

    def transform(sample) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] <= total:
            report(progress, "collecting statistics", calls["n"], total)
        if calls["n"] == total:
            report(progress, "placing quantizers and correcting biases")
        return spec.preprocess.batch([sample.image()])

    dataset = nncf.Dataset(list(samples), transform)
    common = {
        "preset": nncf.QuantizationPreset(config.preset),
        "target_device": nncf.TargetDevice(config.target_device.upper()),
        "subset_size": total,
        "fast_bias_correction": config.fast_bias_correction,
        "model_type": nncf.ModelType(config.model_type) if config.model_type else None,
        "ignored_scope": _ignored_scope(config.ignored_scope),
    }
    accuracy = None
    try:
        if config.max_drop is None:
            quantized = nncf.quantize(model, dataset, **common)
        else:
            quantized, accuracy = _quantize_with_control(
                config, spec, model, dataset, common, workspace, progress
            )
    except nncf.ValidationError as exc:
        raise InputError(f"NNCF refused the settings: {exc}; check the ignored scope names") from exc
    except RuntimeError as exc:
        if "ignored" in str(exc).lower():
            raise InputError(f"ignored scope does not match the model: {exc}") from exc
        raise

    report(progress, "saving INT8 IR")
    settings = {
        "subset_size": total,
        "preset": config.preset,
        "fast_bias_correction": config.fast_bias_correction,
        "model_type": config.model_type,
        "ignored_scope": list(config.ignored_scope),
        "target_device": config.target_device,
        "max_drop": config.max_drop,
        "drop_type": config.drop_type if config.max_drop is not None else None,
    }
    calib_info = {
        "ref": str(config.calibration),
        "name": calibration.name,
        "description": calibration.description,
        "size": total,
        "fingerprint": samples.fingerprint(),
    }
    manifest = {
        "source": {
            "model": spec.id,
            "from": "fp32",
            "fp32_sha256": fp32.manifest["files"]["model.bin"]["sha256"],
        },
        "preprocess": spec.preprocess.to_dict(),
        "trained": spec.trained,
        "quantization": settings,
        "calibration": calib_info,
        "accuracy_control": accuracy,
    }
    with workspace.write_artifact(spec.id, Precision.INT8, manifest) as folder:
        ov.save_model(quantized, folder / "model.xml", compress_to_fp16=False)
    artifact = workspace.require_artifact(spec.id, Precision.INT8)
    report(progress, "done", total, total)
    return QuantizeResult(
        model_id=spec.id,
        path=str(artifact.folder),
        size_bytes=artifact.size_bytes,
        fp32_size_bytes=fp32.size_bytes,
        seconds=round(time.perf_counter() - start, 2),
        calibration=calib_info,
        settings=settings,
        accuracy_control=accuracy,
        int8_layers=_count_int8_layers(quantized),
        notes=notes,
    )


def _quantize_with_control(config, spec, model, dataset, common, workspace, progress) -> tuple[Any, dict]:
    import nncf

    from core.data import load_dataset

    validation = load_dataset(
        config.validation, purpose="evaluation", workspace=workspace, spec=spec.preprocess
    )
    if not validation.labelled:
        raise DatasetError(
            f"{validation.name} has no labels; accuracy control needs one sub-folder per class "
            "or a CSV of file,label"
        )
    if config.validation_size and len(validation) > config.validation_size:
        validation = validation.subset(config.validation_size)
    labels = validation.label_indices(class_names(spec))
    items = list(zip(validation.samples, labels, strict=False))
    cache: dict[str, np.ndarray] = {}

    def transform(item):
        sample, label = item
        if sample.name not in cache:
            cache[sample.name] = spec.preprocess.batch([sample.image()])
        return cache[sample.name], label

    passes = {"n": 0}

    def validate(compiled_model, data) -> float:
        data = list(data)
        if len(data) == len(items):  # NNCF also scores single samples when ranking layers
            passes["n"] += 1
            report(progress, f"validating on {len(items)} images (pass {passes['n']})")
        output = compiled_model.outputs[0]
        correct = 0
        for item in data:
            batch, label = transform(item)  # NNCF passes raw dataset items to validation_fn
            correct += int(np.argmax(compiled_model(batch)[output][0]) == label)
        return correct / max(len(data), 1)

    quantized = nncf.quantize_with_accuracy_control(
        model,
        dataset,
        nncf.Dataset(items, transform),
        validate,
        max_drop=config.max_drop,
        drop_type=nncf.DropType(config.drop_type),
        **common,
    )
    from core.runtime import get_core

    report(progress, "measuring FP32 and INT8 accuracy")
    fp32_metric = validate(get_core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}), items)
    int8_metric = validate(get_core().compile_model(quantized, "CPU"), items)
    return quantized, {
        "max_drop": config.max_drop,
        "drop_type": config.drop_type,
        "fp32_metric": fp32_metric,
        "int8_metric": int8_metric,
        "drop": fp32_metric - int8_metric
        if config.drop_type == "absolute"
        else (fp32_metric - int8_metric) / max(fp32_metric, 1e-9),
        "validation": {"ref": str(config.validation), "name": validation.name, "size": len(items)},
        "metric": "top-1 accuracy",
    }


def quantize_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in, plain result out."""
    from core.jobs import config_from_dict

    config = {**config, "ignored_scope": config.get("ignored_scope") or ()}
    result = quantize_model(
        config_from_dict(QuantizeConfig, config), workspace=workspace, progress=ctx.progress
    )
    for note in result.notes:
        ctx.log(note)
    return result.to_dict()
