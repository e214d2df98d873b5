"""INT8 variants: NNCF post-training quantization of the OpenVINO FP32 IR (optionally under accuracy
control), or ONNX Runtime static quantization of the ONNX FP32 model, calibrated on the same images.

Each call makes a variant; a second INT8 model never replaces the first. Without a name the first
one is `int8` (`ort-int8`), later ones are named after their recipe (`int8-noise-300`), and a run of
exactly the same recipe refreshes its own variant (the old files move to history). Calibration
images go through the model's own preprocessing, one image per dataset item, so `subset_size`
counts images. NNCF has no progress callback: counting calls of the transform function gives the
statistics phase's progress, later phases are reported by name.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.catalog import Backend, DropType, NumberFormat, Preset, RecipeMethod, parse_option
from core.errors import DatasetError, InputError
from core.progress import ProgressCallback, report
from core.registry import ModelSpec, class_names, get_model
from core.variants import Recipe, Variant, check_new_variant_id, recipe_name
from core.workspace import JOB_SPACE_MB, Workspace, library_versions

__all__ = [
    "QuantizeConfig",
    "QuantizeResult",
    "quantizable_layers",
    "quantize_job",
    "quantize_model",
    "quantized_layer_count",
]


@dataclass(frozen=True)
class QuantizeConfig:
    """`ignored_scope` entries are node names, `re:<regex>` patterns or `type:<OpType>`.

    `name` names the new variant (refused if taken, unless `replace`); without it the tool names it.
    """

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
    backend: str = "openvino"  # "openvino" (NNCF) or "onnxruntime" (quantize_static, QDQ)
    name: str | None = None
    replace: bool = False

    def check(self) -> None:
        if self.subset_size < 1:
            msg = f"subset size must be at least 1 image, not {self.subset_size}"
            raise InputError(msg)
        parse_option(Preset, self.preset, "preset")
        parse_option(DropType, self.drop_type, "drop type")
        backend = parse_option(Backend, self.backend, "backend")
        if backend == Backend.TORCH:
            msg = "quantize makes OpenVINO or ONNX Runtime INT8 models; choose openvino or onnxruntime"
            raise InputError(msg)
        if self.model_type not in (None, "transformer"):
            msg = f"unknown model type {self.model_type!r}; leave it empty or use 'transformer'"
            raise InputError(msg)
        if self.name is not None:
            check_new_variant_id(self.name)
        for entry in self.ignored_scope:
            if entry.startswith("re:"):
                try:
                    re.compile(entry[3:])
                except re.error as exc:
                    msg = f"ignored scope {entry!r} is not a valid regular expression ({exc}); fix the pattern after 're:'"
                    raise InputError(msg) from None
            elif not entry.strip() or entry == "type:":
                msg = "an ignored scope entry is empty; give a node name, re:<pattern> or type:<OpType>"
                raise InputError(msg)
        if self.validation_size is not None and self.validation_size < 1:
            msg = (
                f"validation size must be at least 1 image, not {self.validation_size}; leave it out for 1000"
            )
            raise InputError(msg)
        if self.max_drop is not None:
            if backend == Backend.ONNXRUNTIME:
                msg = "accuracy control is NNCF's (OpenVINO); ONNX Runtime quantizes without it: leave max drop empty"
                raise InputError(msg)
            if not 0 < self.max_drop < 1:
                msg = f"maximum drop {self.max_drop} must be between 0 and 1 (0.01 = 1 point)"
                raise InputError(msg)
            if not self.validation:
                msg = "accuracy control needs a labelled validation set; give --validation"
                raise InputError(msg)

    @property
    def backend_kind(self) -> Backend:
        return parse_option(Backend, self.backend, "backend")


@dataclass(frozen=True)
class QuantizeResult:
    model_id: str
    variant: str
    backend: str
    path: str
    size_bytes: int
    fp32_size_bytes: int
    seconds: float
    calibration: dict
    settings: dict
    accuracy_control: dict | None = None
    int8_layers: int = 0
    notes: list[str] = field(default_factory=list)
    parent: str = "fp32"

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": "int8"}

    def __str__(self) -> str:
        ratio = self.size_bytes / self.fp32_size_bytes if self.fp32_size_bytes else float("nan")
        text = (
            f"{self.model_id} {self.variant} ({self.backend} INT8): {self.size_bytes / 2**20:.1f} MiB "
            f"({ratio:.0%} of {self.parent}), {self.int8_layers} quantized layers, calibrated on "
            f"{self.calibration['size']} images of {self.calibration['name']} in {self.seconds:.1f} s"
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

    fp32 = workspace.require_variant(model_id, "fp32")
    model = get_core().read_model(fp32.xml)
    kinds = {"Convolution", "GroupConvolution", "MatMul"}
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in kinds]


def quantized_layer_count(variant: Variant) -> int:
    """Quantized layers of an INT8 variant: recorded at quantization, else counted in the IR's text."""
    recorded = variant.manifest.get("int8_layers")
    if isinstance(recorded, int):
        return recorded
    if variant.backend != Backend.OPENVINO or variant.folder is None:
        return 0
    try:
        return variant.xml.read_text(encoding="utf-8", errors="replace").count('type="FakeQuantize"')
    except OSError:
        return 0


def _parent(spec: ModelSpec, backend: Backend, workspace: Workspace, progress) -> Variant:
    """The FP32 variant quantization starts from, made first when missing."""
    parent_id = "fp32" if backend == Backend.OPENVINO else "ort-fp32"
    found = workspace.variant(spec.id, parent_id)
    if found is None:
        from core.convert import ConvertConfig, convert_model

        report(progress, f"converting to {parent_id} first")
        convert_model(ConvertConfig(spec.id, variants=(parent_id,)), workspace=workspace)
        found = workspace.require_variant(spec.id, parent_id)
    return found


def _target_name(
    config: QuantizeConfig, workspace: Workspace, spec: ModelSpec, signature: dict
) -> tuple[str, str]:
    """(variant id, on_conflict) for this recipe; see the module docstring for the rule."""
    if config.name:
        return config.name, "replace" if config.replace else "fail"
    backend = config.backend_kind
    default = "int8" if backend == Backend.OPENVINO else "ort-int8"
    existing = [
        v for v in workspace.variants(spec.id) if v.backend == backend and v.format == NumberFormat.INT8
    ]
    for variant in existing:
        recipe = variant.recipe
        if _signature(recipe.method.value, recipe.settings, recipe.calibration or {}) == signature:
            return variant.id, "replace"
    if not any(v.id == default for v in existing) and workspace.variant(spec.id, default) is None:
        return default, "rename"
    extra = "ac" if config.max_drop is not None else ""
    return recipe_name(default, config.calibration, signature["count"], extra), "rename"


def _signature(method: str, settings: dict, calibration: dict) -> dict:
    """What makes two quantizations the same recipe: the same images *from the same set* (the same digits
    copied into another folder are another recipe, since the variant is named after its set)."""
    return {
        "method": method,
        "parent_sha": settings.get("parent_sha256"),
        "calibration": calibration.get("fingerprint"),
        "calibration_name": calibration.get("name"),
        "count": calibration.get("size"),
        "settings": {k: v for k, v in settings.items() if k != "parent_sha256"},
    }


def quantize_model(
    config: QuantizeConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> QuantizeResult:
    """Quantize to a new INT8 variant, saved atomically with its full recipe."""
    config.check()
    start = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    backend = config.backend_kind
    workspace.check_free_space(JOB_SPACE_MB, f"quantizing {spec.id}")
    from core.data import load_dataset

    report(progress, "loading calibration images")

    def distilling(done: int, total: int, loss: float) -> None:
        report(
            progress,
            "distilling calibration images from BatchNorm statistics",
            done,
            total,
            f"loss {loss:,.0f}",
        )

    calibration = load_dataset(
        config.calibration, purpose="calibration", workspace=workspace, count=config.subset_size,
        spec=spec.preprocess, model=spec, progress=distilling,
    )  # fmt: skip
    if len(calibration) == 0:
        msg = f"{calibration.name} holds no images; calibration needs at least one"
        raise DatasetError(msg)
    notes = []
    if len(calibration) < config.subset_size:
        notes.append(
            f"asked for {config.subset_size} calibration images but {calibration.name} has {len(calibration)}; "
            "used them all"
        )
    samples = calibration.subset(min(config.subset_size, len(calibration)))
    total = len(samples)
    parent = _parent(spec, backend, workspace, progress)
    calib_info = {
        "ref": str(config.calibration),
        "name": calibration.name,
        "description": calibration.description,
        "size": total,
        "fingerprint": samples.fingerprint(),
    }
    settings: dict[str, Any] = {"subset_size": total, "parent_sha256": parent.fingerprint}
    if backend == Backend.OPENVINO:
        settings.update(
            preset=config.preset,
            fast_bias_correction=config.fast_bias_correction,
            model_type=config.model_type,
            ignored_scope=list(config.ignored_scope),
            target_device=config.target_device,
            max_drop=config.max_drop,
            drop_type=config.drop_type if config.max_drop is not None else None,
        )
    method = RecipeMethod.PTQ_ACCURACY_CONTROL if config.max_drop is not None else RecipeMethod.PTQ
    signature = _signature(method.value, settings, calib_info)
    name, on_conflict = _target_name(config, workspace, spec, signature)
    manifest: dict[str, Any] = {
        "backend": backend.value,
        "format": NumberFormat.INT8.value,
        "precision": "int8",
        "source": {"model": spec.id, "from": parent.id, "fp32_sha256": parent.fingerprint},
        "preprocess": spec.preprocess.to_dict(),
        "trained": spec.trained,
        "quantization": settings,
        "calibration": calib_info,
        "input_shape": list(spec.input_shape),
    }
    saved: list[Variant] = []
    accuracy = None
    if backend == Backend.OPENVINO:
        quantized, accuracy, layers = _nncf(config, spec, parent, samples, workspace, progress)
        import openvino as ov

        report(progress, "saving the INT8 IR")
        with workspace.write_variant(
            spec.id, name, manifest, on_conflict=on_conflict, result=saved
        ) as folder:
            ov.save_model(quantized, folder / "model.xml", compress_to_fp16=False)
            manifest.update(accuracy_control=accuracy, int8_layers=layers)
            manifest["recipe"] = _recipe(method, parent, settings, calib_info, start, notes)
    else:
        from core.ort import quantize_onnx

        arrays = decode_calibration(samples, spec, progress)
        report(progress, "quantizing with ONNX Runtime (calibrating)", 0, total)

        def calibrated(done: int, count: int) -> None:
            report(progress, "quantizing with ONNX Runtime (calibrating)", done, count)

        with workspace.write_variant(
            spec.id, name, manifest, on_conflict=on_conflict, result=saved
        ) as folder:
            info = quantize_onnx(parent.onnx, folder / "model.onnx", arrays, progress=calibrated)
            settings.update({k: v for k, v in info.items() if k not in ("seconds", "path")})
            layers = int(info.get("quantized_nodes") or 0)
            manifest.update(quantization=settings, int8_layers=layers)
            manifest["recipe"] = _recipe(method, parent, settings, calib_info, start, notes)
    variant = saved[0]
    report(progress, "done", total, total)
    return QuantizeResult(
        model_id=spec.id,
        variant=variant.id,
        backend=backend.value,
        path=str(variant.folder),
        size_bytes=variant.size_bytes,
        fp32_size_bytes=parent.size_bytes,
        seconds=round(time.perf_counter() - start, 2),
        calibration=calib_info,
        settings={k: v for k, v in settings.items() if k != "parent_sha256"},
        accuracy_control=accuracy,
        int8_layers=variant.manifest.get("int8_layers") or 0,
        notes=notes,
        parent=parent.id,
    )


def _recipe(
    method, parent: Variant, settings: dict, calibration: dict, start: float, notes: list[str]
) -> dict:
    return Recipe(
        method,
        parent=parent.id,
        settings=dict(settings),
        calibration=dict(calibration),
        versions=library_versions(),
        seconds=round(time.perf_counter() - start, 2),
        notes=tuple(notes),
    ).to_dict()


def _nncf(config: QuantizeConfig, spec: ModelSpec, parent: Variant, samples, workspace: Workspace, progress):
    """NNCF post-training quantization (with accuracy control when asked): (model, control figures, layers)."""
    from core.runtime import disable_telemetry, get_core

    disable_telemetry()
    import nncf

    model = get_core().read_model(parent.xml)
    total = len(samples)
    arrays = decode_calibration(samples, spec, progress)
    calls = {"n": 0}

    def transform(array: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] <= total:
            report(progress, "collecting statistics", calls["n"], total)
        if calls["n"] == total:
            report(progress, "placing quantizers and correcting biases")
        return array

    dataset = nncf.Dataset(arrays, transform)
    common = {
        "preset": nncf.QuantizationPreset(parse_option(Preset, config.preset, "preset").value),
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
        msg = f"NNCF refused the settings: {' '.join(str(exc).split())}; check the ignored scope names"
        raise InputError(msg) from exc
    except RuntimeError as exc:
        if "ignored" in str(exc).lower():
            msg = f"ignored scope does not match the model: {' '.join(str(exc).split())}"
            raise InputError(msg) from exc
        raise
    layers = sum(1 for op in quantized.get_ordered_ops() if op.get_type_name() == "FakeQuantize")
    if accuracy is not None:
        accuracy["kept_in_float"] = _kept_in_float(model, quantized)
    return quantized, accuracy, layers


def decode_calibration(samples, spec: ModelSpec, progress) -> list[np.ndarray]:
    """Every calibration image decoded and preprocessed once, in parallel (decoding releases the GIL),
    before NNCF reads them (possibly more than once)."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(samples)
    done = 0
    arrays: list[np.ndarray] = []
    report(progress, "decoding calibration images", 0, len(items))
    with ThreadPoolExecutor(2, thread_name_prefix="ovdash-calib") as pool:
        for array in pool.map(lambda sample: spec.preprocess.to_array(sample.image())[None], items):
            arrays.append(array)
            done += 1
            if done % 25 == 0 or done == len(items):
                report(progress, "decoding calibration images", done, len(items))
    return arrays


def _kept_in_float(fp32_model, quantized) -> list[str]:
    """Convolution / MatMul layers accuracy control left without an INT8 input: the ignored scope to try next."""
    kinds = {"Convolution", "GroupConvolution", "MatMul"}
    protected = set()
    for op in quantized.get_ordered_ops():
        if op.get_type_name() in kinds:
            for value in op.inputs():
                source = value.get_source_output().get_node()
                if source.get_type_name() == "FakeQuantize":
                    protected.add(op.get_friendly_name())
                    break
    every = [op.get_friendly_name() for op in fp32_model.get_ordered_ops() if op.get_type_name() in kinds]
    return [name for name in every if name not in protected]


def _quantize_with_control(config, spec, model, dataset, common, workspace, progress) -> tuple[Any, dict]:
    import nncf

    from core.data import load_dataset

    validation = load_dataset(
        config.validation, purpose="evaluation", workspace=workspace, spec=spec.preprocess
    )
    if not validation.labelled:
        msg = f"{validation.name} has no labels; accuracy control needs one sub-folder per class or a CSV of file,label"
        raise DatasetError(msg)
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
