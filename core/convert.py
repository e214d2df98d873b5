"""PyTorch, ONNX or OpenVINO IR in; FP32 and FP16 OpenVINO IR in the workspace out.

The direct route is `ov.convert_model` on the torch module; the classic route exports ONNX first.
Uploaded files are checked (kind, size, external data) before anything is registered, and are
meant to be parsed inside a job's worker process, not in the web server.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.errors import InputError, ModelFileError
from core.preprocessing import IMAGENET_TORCHVISION, MNIST, tf_efficientnet_lite
from core.progress import ProgressCallback, report
from core.registry import (
    TORCHVISION_ARCHITECTURES,
    ModelSpec,
    apply_state_dict,
    build_torch_model,
    get_model,
    load_state_dict_file,
    register_user_model,
)
from core.registry import _empty_module as empty_module
from core.workspace import Precision, Workspace, check_model_id

__all__ = [
    "ConvertConfig",
    "ConvertResult",
    "ImportConfig",
    "PREPROCESS_PRESETS",
    "convert_job",
    "convert_model",
    "import_model",
    "parameter_count",
]

MAX_MODEL_BYTES = 1 << 30
PREPROCESS_PRESETS = {
    "imagenet-torchvision": IMAGENET_TORCHVISION,
    "imagenet-tf-lite": tf_efficientnet_lite(224),
    "mnist": MNIST,
}


@dataclass(frozen=True)
class ConvertConfig:
    model_id: str
    precisions: tuple[str, ...] = ("fp32", "fp16")
    route: str = "direct"  # "direct" (ov.convert_model on torch) or "onnx" (torch -> ONNX -> OpenVINO)


@dataclass(frozen=True)
class ConvertResult:
    model_id: str
    route: str
    artifacts: list[dict] = field(default_factory=list)  # precision, path, size_bytes
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImportConfig:
    """An uploaded model: a state dict for a known architecture, an ONNX file, or an IR pair."""

    name: str
    files: tuple[str, ...]
    architecture: str | None = None  # required for a state dict
    labels: str = "imagenet"  # "imagenet" | "mnist" | "indices"
    preprocess: str = "imagenet-torchvision"  # a PREPROCESS_PRESETS key (ONNX / IR only)
    untrained: bool = False  # torchvision architecture, random weights, latency only


def _check_precisions(precisions) -> list[Precision]:
    chosen = [Precision.parse(p) for p in precisions]
    bad = [p.value for p in chosen if p not in (Precision.FP32, Precision.FP16)]
    if bad:
        raise InputError(f"convert makes FP32 and FP16 models, not {', '.join(bad)}; use `quantize` for INT8")
    return chosen or [Precision.FP32, Precision.FP16]


def _source_model(spec: ModelSpec, workspace: Workspace, route: str, staging: Path, progress):
    """Read or convert the source of a model into an in-memory ov.Model."""
    import openvino as ov

    from core.runtime import get_core

    if spec.architecture in ("onnx", "ir"):
        report(progress, f"reading the uploaded {spec.architecture.upper()} model")
        return get_core().read_model(workspace.model_dir(spec.id) / spec.source_file)
    import torch

    module = build_torch_model(spec, workspace)
    example = torch.zeros(spec.input_shape)
    shape = ov.PartialShape([-1, *spec.input_shape[1:]])
    if route == "onnx":
        report(progress, "exporting to ONNX")
        onnx_path = staging / "model.onnx"
        torch.onnx.export(
            module,
            example,
            onnx_path,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        report(progress, "converting ONNX to OpenVINO")
        return ov.convert_model(onnx_path)
    if route != "direct":
        raise InputError(f"unknown conversion route {route!r}; use 'direct' or 'onnx'")
    report(progress, "converting PyTorch to OpenVINO")
    return ov.convert_model(module, example_input=example, input=[shape])


def convert_model(
    config: ConvertConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> ConvertResult:
    """Convert a model to OpenVINO IR at FP32 and/or FP16, each saved atomically with a manifest."""
    import openvino as ov

    start = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    precisions = _check_precisions(config.precisions)
    staging = workspace.tmp_dir()
    try:
        model = _source_model(spec, workspace, config.route, staging, progress)
        parameters = parameter_count(model)
        made = []
        for i, precision in enumerate(precisions):
            report(progress, f"saving {precision.value.upper()} IR", i, len(precisions))
            manifest = {
                "source": _source_description(spec),
                "route": config.route if spec.has_torch else spec.architecture,
                "preprocess": spec.preprocess.to_dict(),
                "trained": spec.trained,
                "parameters": parameters,
                "input_shape": list(spec.input_shape),
                "weights_compression": "fp16" if precision == Precision.FP16 else "none",
            }
            with workspace.write_artifact(spec.id, precision, manifest) as folder:
                ov.save_model(model, folder / "model.xml", compress_to_fp16=precision == Precision.FP16)
            artifact = workspace.require_artifact(spec.id, precision)
            made.append(
                {
                    "precision": precision.value,
                    "path": str(artifact.folder),
                    "size_bytes": artifact.size_bytes,
                }
            )
        report(progress, "done", len(precisions), len(precisions))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConvertResult(spec.id, config.route, made, round(time.perf_counter() - start, 2))


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


# imports ------------------------------------------------------------------------------------


def _check_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    if not path.is_file():
        raise ModelFileError(f"{path} does not exist; check the path")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path.name} is larger than {MAX_MODEL_BYTES >> 20} MiB; the tool refuses it")
    if path.suffix.lower() not in suffixes:
        raise ModelFileError(f"{path.name} is not a {' or '.join(suffixes)} file")
    return path


def _check_onnx(path: Path) -> tuple[int, ...]:
    """Refuse ONNX files that reference external data or do not parse; return the input shape."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelFileError(
            f"{path.name} is not a readable ONNX model ({type(exc).__name__}); export it again"
        ) from exc
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ModelFileError(
                f"{path.name} keeps its weights in external files; export it as one self-contained .onnx file"
            )
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelFileError(
            f"{path.name} has {len(inputs)} inputs; an image classifier takes one image tensor"
        )
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in inputs[0].type.tensor_type.shape.dim)
    return dims


def _spec_for_file(config: ImportConfig, kind: str, shape: tuple[int, ...], source_file: str) -> ModelSpec:
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ModelFileError(
            f"the model's input has shape {list(shape)}; an image classifier takes [N, 1 or 3, H, W]"
        )
    preset = PREPROCESS_PRESETS.get(config.preprocess)
    if preset is None:
        raise InputError(
            f"unknown preprocessing {config.preprocess!r}; choose one of {', '.join(PREPROCESS_PRESETS)}"
        )
    size = shape[2] if shape[2] > 0 else preset.size
    preprocess = replace(preset, size=size, resize=round(size * preset.resize / preset.size))
    if (shape[1] == 1) != (preprocess.color == "L"):
        raise InputError(
            f"the model takes {shape[1]} channel(s) but preprocessing {config.preprocess!r} gives "
            f"{preprocess.channels}; choose a matching preprocessing"
        )
    num_classes = {"imagenet": 1000, "mnist": 10}.get(config.labels, 0)
    return ModelSpec(
        id=config.name,
        title=f"{config.name} (uploaded {kind.upper()})",
        source="upload",
        architecture=kind,
        preprocess=preprocess,
        labels=config.labels,
        num_classes=num_classes,
        weights="file",
        description=f"Uploaded {kind.upper()} model.",
        source_file=source_file,
    )


def import_model(config: ImportConfig, *, workspace: Workspace) -> ModelSpec:
    """Check an upload, copy it into the workspace and describe it; nothing is touched on failure."""
    check_model_id(config.name)
    files = [Path(f) for f in config.files]
    staging = workspace.tmp_dir()
    try:
        if config.untrained or (files and files[0].suffix.lower() in (".pt", ".pth")):
            spec = _torch_variant(config, files, staging)
        elif len(files) == 1 and files[0].suffix.lower() == ".onnx":
            path = _check_file(files[0], (".onnx",))
            shape = _check_onnx(path)
            shutil.copyfile(path, staging / "model.onnx")
            spec = _spec_for_file(config, "onnx", shape, "source/model.onnx")
        elif sorted(f.suffix.lower() for f in files) == [".bin", ".xml"]:
            xml = _check_file(next(f for f in files if f.suffix.lower() == ".xml"), (".xml",))
            binary = _check_file(next(f for f in files if f.suffix.lower() == ".bin"), (".bin",))
            shutil.copyfile(xml, staging / "model.xml")
            shutil.copyfile(binary, staging / "model.bin")
            shape = _check_ir(staging / "model.xml")
            spec = _spec_for_file(config, "ir", shape, "source/model.xml")
        else:
            names = ", ".join(f.name for f in files) or "nothing"
            raise ModelFileError(
                f"cannot tell what kind of model {names} is; upload a PyTorch state dict (.pt/.pth) with "
                "its architecture, one .onnx file, or an OpenVINO IR as a .xml and .bin pair"
            )
        return register_user_model(workspace, spec, source=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_ir(xml: Path) -> tuple[int, ...]:
    from core.runtime import get_core

    try:
        model = get_core().read_model(xml)
    except Exception as exc:
        raise ModelFileError(
            f"{xml.name} and its .bin are not a readable OpenVINO IR ({exc}); "
            "upload the pair that ov.save_model wrote"
        ) from exc
    if len(model.inputs) != 1:
        raise ModelFileError(f"the IR has {len(model.inputs)} inputs; an image classifier takes one")
    return tuple(d.get_length() if d.is_static else -1 for d in model.inputs[0].partial_shape)


def _torch_variant(config: ImportConfig, files: list[Path], staging: Path) -> ModelSpec:
    arch = (config.architecture or "").replace("-", "_")
    if arch not in TORCHVISION_ARCHITECTURES:
        raise InputError(
            f"a state dict needs its architecture; choose one of {', '.join(TORCHVISION_ARCHITECTURES)}"
        )
    base = get_model(arch.replace("_", "-"))
    if config.untrained:
        weights, trained, source_file, desc = (
            "random",
            False,
            "",
            "Randomly initialised: latency only, no accuracy.",
        )
    else:
        if len(files) != 1:
            raise ModelFileError("upload exactly one state dict file (.pt or .pth)")
        path = _check_file(files[0], (".pt", ".pth"))
        state = load_state_dict_file(path)
        apply_state_dict(empty_module(arch), state, arch=arch, name=path.name)
        shutil.copyfile(path, staging / "weights.pt")
        weights, trained, source_file, desc = (
            "state-dict",
            True,
            "source/weights.pt",
            f"Your weights from {path.name}.",
        )
    return replace(
        base,
        id=config.name,
        title=f"{base.title.split(' (')[0]} ({'untrained' if not trained else config.name})",
        source="upload" if trained else "torchvision",
        weights=weights,
        trained=trained,
        published_top1={},
        published_source="",
        description=desc,
        source_file=source_file,
    )


def convert_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: optional import of an upload, then conversion."""
    from core.jobs import config_from_dict

    if config.get("import"):
        spec = import_model(config_from_dict(ImportConfig, config["import"]), workspace=workspace)
        ctx.log(f"imported {spec.id} ({spec.architecture})")
        config = {**config, "model_id": spec.id}
    convert = config_from_dict(ConvertConfig, config, extra=("import", "uploaded_as"))
    return convert_model(convert, workspace=workspace, progress=ctx.progress).to_dict()
