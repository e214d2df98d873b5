"""A variant is one runnable version of a model: backend × number format × recipe.

A model has many: the PyTorch reference (`torch`), OpenVINO `fp32` / `fp16` / `int8`, ONNX Runtime
`ort-fp32` / `ort-int8`, and any number of named ones (`int8-noise-300`, `int8-qat`, ...). Each
stored variant is a folder under `models/<model>/<variant>/` with its files and a manifest whose
recipe says how it was made, completely enough to make it again. The PyTorch reference is not
stored: it exists whenever the model has PyTorch weights.

Manifests written before variants existed (folders `fp32`, `fp16`, `int8`, without a `variant`
key) are read as the OpenVINO variants of those names, with their recipe taken from the old keys,
so a workspace made by an earlier release opens without loss and without being rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalog import (
    BACKENDS,
    DEFAULT_VARIANTS,
    FORMATS,
    Backend,
    NumberFormat,
    RecipeMethod,
    dataset_info,
    variant_colour,
    variant_order,
    variant_title,
)
from core.errors import InputError, ModelNotFoundError

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.workspace import Workspace

__all__ = [
    "REFERENCE",
    "Recipe",
    "Variant",
    "check_name_fits",
    "check_variant_id",
    "free_variant_id",
    "missing_variant_message",
    "model_variants",
    "recipe_name",
    "reference_variant",
    "resolve_variants",
]

REFERENCE = "torch"
_VARIANT_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")
_RESERVED = {"source", REFERENCE}
MAIN_FILES = {Backend.OPENVINO: "model.bin", Backend.ONNXRUNTIME: "model.onnx"}


def check_variant_id(variant_id: str) -> str:
    """A variant id is 1-48 lowercase letters, digits, '.', '_' or '-' (the whole string)."""
    if not isinstance(variant_id, str) or not _VARIANT_RE.fullmatch(variant_id):
        msg = (
            f"variant name {variant_id!r} is not allowed; use 1-48 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
        raise InputError(msg)
    return variant_id


def check_new_variant_id(variant_id: str) -> str:
    check_variant_id(variant_id)
    if variant_id in _RESERVED:
        msg = f"{variant_id!r} is reserved (the PyTorch reference or the upload folder); choose another"
        raise InputError(msg)
    return variant_id


def check_name_fits(variant_id: str, backend: Backend | str | None, fmt: NumberFormat | str | None) -> str:
    """A default name (fp16, ort-int8, ...) means one kind of variant; it may not name another kind."""
    kind = DEFAULT_VARIANTS.get(variant_id)
    if kind is None or backend is None or fmt is None:
        return variant_id
    if (kind.backend.value, kind.format.value) != (Backend(backend).value, NumberFormat(fmt).value):
        msg = (
            f"{variant_id!r} is the name of {BACKENDS[kind.backend].title} {FORMATS[kind.format].title} variants; "
            f"choose another name for this {BACKENDS[Backend(backend)].title} {FORMATS[NumberFormat(fmt)].title} variant"
        )
        raise InputError(msg)
    return variant_id


@dataclass(frozen=True)
class Recipe:
    """How a variant was made: enough to make it again and to say so beside every figure."""

    method: RecipeMethod
    parent: str | None = None  # the variant it was made from
    settings: dict = field(default_factory=dict)
    calibration: dict | None = None  # ref, name, description, size, fingerprint
    versions: dict = field(default_factory=dict)
    seconds: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "method": self.method.value,
            "parent": self.parent,
            "settings": self.settings,
            "calibration": self.calibration,
            "versions": self.versions,
            "seconds": self.seconds,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        method = data.get("method") or RecipeMethod.CONVERT.value
        try:
            parsed = RecipeMethod(method)
        except ValueError:
            parsed = RecipeMethod.CONVERT
        return cls(
            method=parsed,
            parent=data.get("parent"),
            settings=dict(data.get("settings") or {}),
            calibration=dict(data["calibration"]) if data.get("calibration") else None,
            versions=dict(data.get("versions") or {}),
            seconds=data.get("seconds"),
            notes=tuple(data.get("notes") or ()),
        )

    def summary(self) -> str:
        """One line for hovers and tables: 'post-training quantization of fp32 on 300 built-in photos'."""
        text = self.method.value
        if self.parent:
            text += f" of {self.parent}"
        if self.calibration:
            text += f" on {self.calibration.get('size', '?')} images of {self.calibration.get('name') or self.calibration.get('ref')}"
            fingerprint = str(self.calibration.get("fingerprint") or "")[:8]
            if fingerprint:
                text += f" ({fingerprint})"
        interesting = {
            k: v
            for k, v in self.settings.items()
            if k
            in (
                "route",
                "preset",
                "subset_size",
                "max_drop",
                "drop_type",
                "ratio",
                "epochs",
                "mode",
                "per_channel",
            )
            and v not in (None, "", [], False)
        }
        if interesting:
            text += "; " + ", ".join(f"{k} {v}" for k, v in interesting.items())
        return text


@dataclass(frozen=True)
class Variant:
    """One runnable version of a model; `folder` is None for the PyTorch reference."""

    model_id: str
    id: str
    backend: Backend
    format: NumberFormat
    recipe: Recipe
    folder: Path | None = None
    manifest: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str:
        return variant_title(self.id, self.backend, self.format)

    @property
    def colour(self) -> str:
        return variant_colour(self.id, self.format)

    @property
    def order(self) -> tuple:
        return variant_order(self.id, self.backend, self.format)

    @property
    def is_reference(self) -> bool:
        return self.backend == Backend.TORCH

    @property
    def backend_title(self) -> str:
        return BACKENDS[self.backend].title

    @property
    def format_title(self) -> str:
        return FORMATS[self.format].title

    @property
    def created(self) -> str | None:
        return self.manifest.get("created")

    @property
    def xml(self) -> Path:
        return self._path("model.xml")

    @property
    def bin(self) -> Path:
        return self._path("model.bin")

    @property
    def onnx(self) -> Path:
        return self._path("model.onnx")

    def _path(self, name: str) -> Path:
        if self.folder is None:
            msg = f"{self.model_id} {self.id} is the PyTorch reference; it has no {name}"
            raise ModelNotFoundError(msg)
        return self.folder / name

    @property
    def file_names(self) -> list[str]:
        return sorted((self.manifest.get("files") or {}).keys())

    @property
    def size_bytes(self) -> int:
        """Bytes of the model files on disk (the manifest excluded); 0 for the reference."""
        if self.folder is None:
            return 0
        total = 0
        for name in self.file_names:
            try:
                total += (self.folder / name).stat().st_size
            except OSError:
                continue
        return total

    @property
    def main_file(self) -> Path | None:
        name = MAIN_FILES.get(self.backend)
        return self.folder / name if self.folder is not None and name else None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the variant is replaced: keys caches of compiled models and sessions."""
        name = MAIN_FILES.get(self.backend)
        return str(((self.manifest.get("files") or {}).get(name) or {}).get("sha256", ""))[:16]

    @property
    def trained(self) -> bool:
        return self.manifest.get("trained", True) is not False

    def describe(self) -> dict:
        """The public description (`models --json`, results, the report)."""
        return {
            "variant": self.id,
            "backend": self.backend.value,
            "format": self.format.value,
            "title": self.title,
            "recipe": self.recipe.to_dict(),
            "created": self.created,
            "size_bytes": self.size_bytes,
            "fingerprint": self.fingerprint or None,
        }


def variant_from_manifest(model_id: str, folder: Path, manifest: dict) -> Variant:
    """A stored variant from its manifest, including manifests written before variants existed."""
    variant_id = folder.name  # the folder names the variant (a rename moves the folder first)
    kind = DEFAULT_VARIANTS.get(variant_id)
    try:
        backend = Backend(manifest.get("backend") or (kind.backend if kind else Backend.OPENVINO))
        fmt = NumberFormat(
            manifest.get("format") or (kind.format if kind else manifest.get("precision") or "fp32")
        )
    except ValueError:
        backend, fmt = Backend.OPENVINO, NumberFormat.FP32
    if isinstance(manifest.get("recipe"), dict):
        recipe = Recipe.from_dict(manifest["recipe"])
    else:
        recipe = _legacy_recipe(manifest)
    return Variant(model_id, variant_id, backend, fmt, recipe, folder, manifest)


def _legacy_recipe(manifest: dict) -> Recipe:
    """The recipe of a manifest from before variants: its settings lived at the top level."""
    versions = dict(manifest.get("versions") or {})
    if manifest.get("quantization") is not None:
        control = manifest.get("accuracy_control")
        return Recipe(
            method=RecipeMethod.PTQ_ACCURACY_CONTROL if control else RecipeMethod.PTQ,
            parent="fp32",
            settings=dict(manifest.get("quantization") or {}),
            calibration=dict(manifest.get("calibration") or {}) or None,
            versions=versions,
        )
    return Recipe(
        method=RecipeMethod.CONVERT,
        settings={
            "route": manifest.get("route"),
            "weights_compression": manifest.get("weights_compression"),
        },
        versions=versions,
    )


def reference_variant(spec: ModelSpec) -> Variant | None:
    """The PyTorch model itself, when the model has one (not for ONNX or IR uploads)."""
    if not spec.has_torch:
        return None
    return Variant(
        spec.id,
        REFERENCE,
        Backend.TORCH,
        NumberFormat.FP32,
        Recipe(RecipeMethod.REFERENCE, settings={"weights": spec.weights}),
        None,
        {"trained": spec.trained},
    )


def model_variants(spec: ModelSpec, workspace: Workspace) -> list[Variant]:
    """Every variant of a model, in display order: the reference (if any), then the stored ones."""
    found = [v for v in (reference_variant(spec),) if v is not None]
    found.extend(workspace.variants(spec.id))
    return sorted(found, key=lambda v: v.order)


def resolve_variants(
    spec: ModelSpec, workspace: Workspace, names: Iterable[str], *, skip_missing_reference: bool = False
) -> tuple[list[Variant], list[dict]]:
    """The variants named, in the order given (duplicates dropped), and the ones skipped with a reason.

    An unknown name fails at once with the names this model has and how to make the missing one; the
    PyTorch reference of a model that has none is skipped (with `skip_missing_reference`) or refused.
    """
    chosen: list[Variant] = []
    skipped: list[dict] = []
    available = {v.id: v for v in model_variants(spec, workspace)}
    for name in dict.fromkeys(str(n).strip() for n in names):
        if not name:
            continue
        if name == REFERENCE and name not in available:
            reason = (
                f"{spec.id} was uploaded as {spec.architecture.upper()}: there is no PyTorch model to run"
            )
            if skip_missing_reference:
                skipped.append({"variant": name, "precision": name, "reason": reason})
                continue
            msg = f"{reason}; leave torch out"
            raise InputError(msg)
        if name not in available:
            raise ModelNotFoundError(missing_variant_message(spec.id, name, list(available)))
        chosen.append(available[name])
    if not chosen and not skipped:
        msg = f"no variant chosen; {spec.id} has {', '.join(available) or 'none yet'}"
        raise InputError(msg)
    return chosen, skipped


def missing_variant_message(model_id: str, name: str, available: Sequence[str]) -> str:
    kind = DEFAULT_VARIANTS.get(name)
    if kind is not None and kind.format == NumberFormat.INT8:
        backend = " --backend onnxruntime" if kind.backend == Backend.ONNXRUNTIME else ""
        how = f"`python -m core quantize --model {model_id}{backend} --calibration REF`, or the Quantize page"
    elif kind is not None:
        how = f"`python -m core convert --model {model_id} --variant {name}`, or the Models page"
    else:
        how = "the Models page lists what there is"
    have = ", ".join(available) or "nothing yet"
    return f"{model_id} has no {name} variant yet (it has {have}); create it first: {how}"


def recipe_name(prefix: str, calibration_ref: str | None, count: int | None, extra: str = "") -> str:
    """A readable variant id from a recipe: int8-photos-300, ort-int8-noise-30, int8-ac-mnist-300."""
    parts = [prefix]
    if extra:
        parts.append(extra)
    if calibration_ref:
        info = dataset_info(calibration_ref)
        if info is not None and info.study_name:
            parts.append(info.study_name)
        else:
            stem = Path(str(calibration_ref)).stem.lower()
            stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:16] or "data"
            parts.append(stem)
    if count:
        parts.append(str(count))
    return "-".join(parts)[:48].rstrip("-._")


def free_variant_id(wanted: str, taken: Iterable[str]) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... whichever is free."""
    used = set(taken) | _RESERVED
    if wanted not in used:
        return wanted
    number = 2
    while True:
        candidate = f"{wanted[: 48 - len(str(number)) - 1]}-{number}"
        if candidate not in used:
            return candidate
        number += 1
