"""A model's source (PyTorch, an uploaded ONNX file or IR) in; its converted variants out:
OpenVINO `fp32` and `fp16` IR, and ONNX Runtime `ort-fp32`.

The direct route is `ov.convert_model` on the torch module; the classic route exports ONNX first.
Each variant is saved atomically with a recipe that says how it was made.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.catalog import DEFAULT_VARIANTS, Backend, NumberFormat, RecipeMethod
from core.errors import InputError, ModelFileError
from core.progress import ProgressCallback, report
from core.registry import ModelSpec, build_torch_model, get_model
from core.variants import Recipe
from core.workspace import JOB_SPACE_MB, Workspace, library_versions

__all__ = [
    "CONVERT_TARGETS",
    "ConvertConfig",
    "ConvertResult",
    "convert_job",
    "convert_model",
    "parameter_count",
]

CONVERT_TARGETS = ("fp32", "fp16", "ort-fp32")
ROUTES = ("direct", "onnx")


@dataclass(frozen=True)
class ConvertConfig:
    """`precisions` is the older name of `variants` and is merged into it."""

    model_id: str
    variants: tuple[str, ...] = ()
    route: str = "direct"  # "direct" (ov.convert_model on torch) or "onnx" (torch -> ONNX -> OpenVINO)
    precisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        merged = tuple(dict.fromkeys((*self.variants, *self.precisions))) or ("fp32", "fp16")
        object.__setattr__(self, "variants", merged)
        object.__setattr__(self, "precisions", ())

    def check(self) -> None:
        bad = [v for v in self.variants if v not in CONVERT_TARGETS]
        if bad:
            hint = "; use `quantize` for INT8" if any("int8" in b for b in bad) else ""
            msg = f"convert makes {', '.join(CONVERT_TARGETS)}, not {', '.join(bad)}{hint}"
            raise InputError(msg)
        if self.route not in ROUTES:
            msg = f"unknown conversion route {self.route!r}; use 'direct' or 'onnx'"
            raise InputError(msg)


@dataclass(frozen=True)
class ConvertResult:
    model_id: str
    route: str
    artifacts: list[dict] = field(default_factory=list)  # variant, precision, backend, path, size_bytes
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _export_onnx(spec: ModelSpec, workspace: Workspace, path: Path, progress) -> dict:
    """The model as one ONNX file: the upload itself, or an export of the torch module."""
    if spec.architecture == "onnx":
        shutil.copyfile(workspace.model_dir(spec.id) / spec.source_file, path)
        return {"exported": False, "from": "the uploaded ONNX file"}
    if spec.architecture == "ir":
        msg = f"{spec.id} was uploaded as an OpenVINO IR; ONNX Runtime cannot run it (upload the ONNX file instead)"
        raise ModelFileError(msg)
    from core.ort import export_onnx

    report(progress, "exporting to ONNX")
    info = export_onnx(build_torch_model(spec, workspace), spec.input_shape, path)
    return {"exported": True, **info}


def _openvino_model(spec: ModelSpec, workspace: Workspace, route: str, staging: Path, progress):
    """Read or convert the source of a model into an in-memory ov.Model."""
    import openvino as ov

    from core.runtime import get_core

    if spec.architecture in ("onnx", "ir"):
        report(progress, f"reading the uploaded {spec.architecture.upper()} model")
        try:
            return get_core().read_model(workspace.model_dir(spec.id) / spec.source_file)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            msg = (
                f"OpenVINO cannot read the uploaded {spec.architecture.upper()} model ({first}); "
                "export it again as one self-contained file"
            )
            raise ModelFileError(msg) from exc
    import torch

    module = build_torch_model(spec, workspace)
    example = torch.zeros(spec.input_shape)
    shape = ov.PartialShape([-1, *spec.input_shape[1:]])
    if route == "onnx":
        onnx_path = staging / "model.onnx"
        _export_onnx(spec, workspace, onnx_path, progress)
        report(progress, "converting ONNX to OpenVINO")
        return ov.convert_model(onnx_path)
    report(progress, "converting PyTorch to OpenVINO")
    return ov.convert_model(module, example_input=example, input=[shape])


def convert_model(
    config: ConvertConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> ConvertResult:
    """Make the asked variants, each saved atomically with its recipe (a replaced one moves to history)."""
    import openvino as ov

    config.check()
    start = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    workspace.check_free_space(JOB_SPACE_MB, f"converting {spec.id}")
    staging = workspace.tmp_dir()
    made = []
    try:
        openvino_targets = [v for v in config.variants if DEFAULT_VARIANTS[v].backend == Backend.OPENVINO]
        model = parameters = None
        if openvino_targets:
            model = _openvino_model(spec, workspace, config.route, staging, progress)
            parameters = parameter_count(model)
        total = len(config.variants)
        for i, variant_id in enumerate(config.variants):
            kind = DEFAULT_VARIANTS[variant_id]
            report(progress, f"saving {kind.title}", i, total)
            began = time.perf_counter()
            common = {
                "backend": kind.backend.value,
                "format": kind.format.value,
                "precision": kind.format.value,
                "source": _source_description(spec),
                "preprocess": spec.preprocess.to_dict(),
                "trained": spec.trained,
                "input_shape": list(spec.input_shape),
            }
            saved: list = []
            with workspace.write_variant(spec.id, variant_id, common, result=saved) as folder:
                if kind.backend == Backend.OPENVINO:
                    fp16 = kind.format == NumberFormat.FP16
                    route = config.route if spec.has_torch else spec.architecture
                    ov.save_model(model, folder / "model.xml", compress_to_fp16=fp16)
                    settings = {"route": route, "compress_to_fp16": fp16}
                    common.update(
                        parameters=parameters, route=route, weights_compression="fp16" if fp16 else "none"
                    )
                else:
                    info = _export_onnx(spec, workspace, folder / "model.onnx", progress)
                    settings = {"route": "onnx", **{k: v for k, v in info.items() if k != "seconds"}}
                    common["route"] = "onnx"
                common["recipe"] = _recipe(settings, began)
            variant = saved[0]
            made.append(
                {
                    "variant": variant.id,
                    "precision": variant.format.value,
                    "backend": variant.backend.value,
                    "path": str(variant.folder),
                    "size_bytes": variant.size_bytes,
                }
            )
        report(progress, "done", total, total)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConvertResult(spec.id, config.route, made, round(time.perf_counter() - start, 2))


def _recipe(settings: dict, began: float) -> dict:
    return Recipe(
        RecipeMethod.CONVERT,
        parent="torch",
        settings=settings,
        versions=library_versions(),
        seconds=round(time.perf_counter() - began, 2),
    ).to_dict()


def parameter_count(model) -> int:
    """Weights in an ov.Model: the elements of its floating-point constants."""
    total = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Constant" and op.get_output_element_type(0).is_real():
            count = 1
            for dim in op.get_output_shape(0):
                count *= int(dim)
            total += count
    return total


def _source_description(spec: ModelSpec) -> dict:
    return {
        "model": spec.id,
        "source": spec.source,
        "architecture": spec.architecture,
        "weights": spec.weights,
        "file": spec.source_file or None,
    }


def convert_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: optional import of an upload (removed again if its conversion fails), then conversion."""
    from core.imports import ImportConfig, import_model, unregister_failed_import
    from core.jobs import config_from_dict

    imported = None
    if config.get("import"):
        imported = import_model(config_from_dict(ImportConfig, config["import"]), workspace=workspace)
        ctx.log(f"imported {imported.id} ({imported.architecture})")
        config = {**config, "model_id": imported.id}
    convert = config_from_dict(ConvertConfig, config, extra=("import", "uploaded_as"))
    try:
        return convert_model(convert, workspace=workspace, progress=ctx.progress).to_dict()
    except BaseException:
        if imported is not None:
            unregister_failed_import(workspace, imported.id)
            ctx.log(f"removed {imported.id} again: its conversion failed, so nothing of it is kept")
        raise
