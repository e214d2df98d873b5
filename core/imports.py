"""Bring a user's model in: a state dict for a known architecture, an ONNX file, or an IR pair.

Uploads are checked (kind, size, external data anywhere in the graph) before anything is
registered, and are parsed inside a job's worker process, not in the web server. The naming rules
of new models live here too, so the Models page and the CLI refuse the same names the same way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import InputError, ModelFileError
from core.modelfiles import check_onnx
from core.preprocessing import IMAGENET_TORCHVISION, MNIST, tf_efficientnet_lite
from core.registry import (
    MODEL_JSON,
    TORCHVISION_ARCHITECTURES,
    ModelSpec,
    apply_state_dict,
    arch_of,
    get_model,
    is_builtin,
    load_state_dict_file,
    model_id_of,
    register_user_model,
)
from core.registry import _empty_module as empty_module
from core.workspace import Workspace, check_model_id

__all__ = [
    "MAX_MODEL_BYTES",
    "PREPROCESS_PRESETS",
    "ImportConfig",
    "check_new_model_name",
    "free_model_name",
    "import_model",
    "in_user_terms",
    "ir_pair",
    "model_name_taken",
    "pending_import_names",
    "unregister_failed_import",
]

MAX_MODEL_BYTES = 1 << 30  # the default of the limit "model_mb" (core.limits)


def model_bytes_limit() -> int:
    from core.limits import value

    return int(value("model_mb") * 2**20)


PREPROCESS_PRESETS = {
    "imagenet-torchvision": IMAGENET_TORCHVISION,
    "imagenet-tf-lite": tf_efficientnet_lite(224),
    "mnist": MNIST,
}


@dataclass(frozen=True)
class ImportConfig:
    """An uploaded model: a state dict for a known architecture, an ONNX file, or an IR pair."""

    name: str
    files: tuple[str, ...]
    architecture: str | None = None  # required for a state dict
    labels: str = "imagenet"  # "imagenet" | "mnist" | "indices"
    preprocess: str = "imagenet-torchvision"  # a PREPROCESS_PRESETS key (ONNX / IR only)
    untrained: bool = False  # torchvision architecture, random weights, latency only


# naming -----------------------------------------------------------------------------------------


def model_name_taken(workspace: Workspace, name: str, pending: Iterable[str] = ()) -> bool:
    """Taken by a built-in model, a model in the workspace, or an import still queued or running."""
    return is_builtin(name) or workspace.model_dir(name).exists() or name in set(pending)


def free_model_name(workspace: Workspace, base: str, pending: Iterable[str] = ()) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is free."""
    pending = set(pending)
    name, number = base, 2
    while model_name_taken(workspace, name, pending):
        name, number = f"{base}-{number}", number + 1
    return name


def check_new_model_name(workspace: Workspace, name: str, pending: Iterable[str] = ()) -> str:
    """A valid, free name for a new model, or an InputError saying why not."""
    name = (name or "").strip()
    check_model_id(name)
    if model_name_taken(workspace, name, pending):
        msg = f"a model named {name!r} already exists or is being imported; choose another name"
        raise InputError(msg)
    return name


def ir_pair(names: Sequence[str]) -> tuple[int, int]:
    """Indices of the .xml and the .bin among uploaded file names; an IR is exactly those two files."""
    endings = [Path(n).suffix.lower() for n in names]
    if sorted(endings) != [".bin", ".xml"]:
        msg = "an OpenVINO IR is two files: upload exactly one .xml and its .bin"
        raise InputError(msg)
    return endings.index(".xml"), endings.index(".bin")


def unregister_failed_import(workspace: Workspace, model_id: str) -> None:
    """Remove a user model whose import went through but whose conversion failed: nothing half-made stays,
    and the name is free again. Built-in models and models with variants are never touched."""
    if is_builtin(model_id):
        return
    folder = workspace.model_dir(model_id)
    if not (folder / MODEL_JSON).is_file() or workspace.variants(model_id):
        return
    shutil.rmtree(folder, ignore_errors=True)


# imports --------------------------------------------------------------------------------------


def _check_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    if not path.is_file():
        msg = f"{path} does not exist; check the path"
        raise ModelFileError(msg)
    limit = model_bytes_limit()
    if path.stat().st_size > limit:
        msg = (
            f"{path.name} is {path.stat().st_size / 2**20:,.0f} MiB, larger than the {limit >> 20:,} MiB allowed "
            "(OVDASH_MAX_MODEL_MB); the tool refuses it"
        )
        raise ModelFileError(msg)
    if path.suffix.lower() not in suffixes:
        msg = f"{path.name} is not a {' or '.join(suffixes)} file"
        raise ModelFileError(msg)
    return path


def _spec_for_file(config: ImportConfig, kind: str, shape: tuple[int, ...], source_file: str) -> ModelSpec:
    if len(shape) != 4 or shape[1] not in (1, 3):
        msg = f"the model's input has shape {list(shape)}; an image classifier takes [N, 1 or 3, H, W]"
        raise ModelFileError(msg)
    preset = PREPROCESS_PRESETS.get(config.preprocess)
    if preset is None:
        msg = f"unknown preprocessing {config.preprocess!r}; choose one of {', '.join(PREPROCESS_PRESETS)}"
        raise InputError(msg)
    size = shape[2] if shape[2] > 0 else preset.size
    preprocess = replace(preset, size=size, resize=round(size * preset.resize / preset.size))
    if (shape[1] == 1) != (preprocess.color == "L"):
        msg = (
            f"the model takes {shape[1]} channel(s) but preprocessing {config.preprocess!r} gives "
            f"{preprocess.channels}; choose a matching preprocessing"
        )
        raise InputError(msg)
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
            shape = check_onnx(path, max_bytes=model_bytes_limit()).input_shape
            shutil.copyfile(path, staging / "model.onnx")
            spec = _spec_for_file(config, "onnx", shape, "source/model.onnx")
        elif sorted(f.suffix.lower() for f in files) == [".bin", ".xml"]:
            xml = _check_file(next(f for f in files if f.suffix.lower() == ".xml"), (".xml",))
            binary = _check_file(next(f for f in files if f.suffix.lower() == ".bin"), (".bin",))
            shutil.copyfile(xml, staging / "model.xml")
            shutil.copyfile(binary, staging / "model.bin")
            shape = _check_ir(staging / "model.xml", shown=f"{xml.name} and {binary.name}")
            spec = _spec_for_file(config, "ir", shape, "source/model.xml")
        else:
            names = ", ".join(f.name for f in files) or "nothing"
            msg = (
                f"cannot tell what kind of model {names} is; upload a PyTorch state dict (.pt/.pth) with "
                "its architecture, one .onnx file, or an OpenVINO IR as a .xml and .bin pair"
            )
            raise ModelFileError(msg)
        return register_user_model(workspace, spec, source=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ov_reason(exc: BaseException) -> str:
    """OpenVINO's own reason in one line, without its source locations and check expressions."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [
        line for line in lines
        if not line.startswith(("Exception from ", "Check '", "[ ", "File ")) and "src/" not in line
    ]  # fmt: skip
    reason = (useful or lines or [type(exc).__name__])[-1]
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _check_ir(xml: Path, *, shown: str | None = None) -> tuple[int, ...]:
    from xml.etree import ElementTree

    from core.runtime import get_core

    shown = shown or f"{xml.name} and its .bin"
    try:  # before OpenVINO, which would try every frontend on a broken file and log their complaints
        root = ElementTree.parse(xml).getroot()  # noqa: S314 - expat refuses external entities and entity bombs
    except ElementTree.ParseError as exc:
        msg = f"{shown} are not an OpenVINO IR: the .xml is not well-formed XML ({exc}); upload the pair ov.save_model wrote"
        raise ModelFileError(msg) from None
    if root.tag != "net":
        msg = (
            f"{shown} are not an OpenVINO IR: the .xml's root element is <{root.tag[:40]}>, an IR's is <net>"
        )
        raise ModelFileError(msg)
    try:
        model = get_core().read_model(xml)
    except Exception as exc:
        msg = (
            f"{shown} are not a readable OpenVINO IR ({_ov_reason(exc)}); "
            "upload the .xml and .bin pair that ov.save_model wrote, unchanged"
        )
        raise ModelFileError(msg) from exc
    if len(model.inputs) != 1:
        msg = f"the IR has {len(model.inputs)} inputs; an image classifier takes one"
        raise ModelFileError(msg)
    return tuple(d.get_length() if d.is_static else -1 for d in model.inputs[0].partial_shape)


def _torch_variant(config: ImportConfig, files: list[Path], staging: Path) -> ModelSpec:
    arch = arch_of(config.architecture or "")
    if arch not in TORCHVISION_ARCHITECTURES:
        given = (
            f"unknown architecture {config.architecture!r}"
            if config.architecture
            else "a state dict needs its architecture"
        )
        msg = f"{given}; choose one of {', '.join(TORCHVISION_ARCHITECTURES)}"
        raise InputError(msg)
    base = get_model(model_id_of(arch))
    if config.untrained:
        weights, trained, source_file, desc = (
            "random",
            False,
            "",
            "Randomly initialised: latency only, no accuracy.",
        )
    else:
        if len(files) != 1:
            msg = "upload exactly one state dict file (.pt or .pth)"
            raise ModelFileError(msg)
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
        title=f"{base.short_title} ({'untrained' if not trained else config.name})",
        source="upload" if trained else "torchvision",
        weights=weights,
        trained=trained,
        published_top1={},
        published_source="",
        description=desc,
        source_file=source_file,
    )


def pending_import_names(records) -> set[str]:
    """Names of models being imported by queued or running convert jobs (so a second import waits its turn)."""
    names = set()
    for record in records:
        block = record.config.get("import") if record.kind == "convert" else None
        if record.state.active and isinstance(block, dict) and block.get("name"):
            names.add(str(block["name"]))
    return names


def in_user_terms(message: str, uploaded_as: dict[str, str] | None) -> str:
    """An error about an upload, with the generated file names replaced by the names the user knows."""
    for saved, original in (uploaded_as or {}).items():
        message = message.replace(saved, original)
    return message
