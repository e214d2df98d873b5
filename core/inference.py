"""Classify images with any set of variants side by side: PyTorch, ONNX Runtime, OpenVINO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from core.backends import RunOptions, prepare
from core.catalog import Backend, NumberFormat
from core.errors import InputError
from core.registry import class_names, get_model
from core.results import precision_key
from core.variants import resolve_variants
from core.workspace import Workspace

__all__ = ["ClassifyResult", "Prediction", "classify_images", "softmax", "top_predictions"]


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ClassifyResult:
    """Top-k of one image with one variant; `ms` is the model's own time for that image."""

    image: str
    variant: str
    backend: str
    format: str
    top: tuple[Prediction, ...]
    ms: float

    @property
    def precision(self) -> str:
        return precision_key(self.variant, Backend(self.backend), NumberFormat(self.format))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["precision"] = self.precision
        data["top"] = [asdict(p) for p in self.top]
        return data

    def __str__(self) -> str:
        best = self.top[0]
        return f"{self.image} [{self.variant}] {best.label} ({best.probability:.1%}) in {self.ms:.1f} ms"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_predictions(logits: np.ndarray, names: Sequence[str], k: int) -> tuple[Prediction, ...]:
    probs = softmax(np.asarray(logits, dtype=np.float64))
    order = np.argsort(-probs)[:k]
    return tuple(Prediction(int(i), names[i] if i < len(names) else str(i), float(probs[i])) for i in order)


def classify_images(
    model_id: str,
    images: Sequence[tuple[str, Image.Image]],
    variants: Sequence[str],
    *,
    workspace: Workspace,
    top_k: int = 5,
    device: str = "CPU",
    warm: bool = True,
    exact: bool = False,
) -> list[ClassifyResult]:
    """Top-k of every image with every variant, image by image (batch 1, as a user would).

    Models are loaded and compiled before the clock starts, and with `warm` each newly prepared model
    runs once untimed, so `ms` is steady inference time alone. OpenVINO variants take uint8 pixels and normalise inside
    the graph. Large images are first shrunk by a whole factor and resized bilinearly, unless `exact`
    asks for the model's own resize filter from the full image (the evaluation's reference path);
    top-1 agrees on the labelled sets either way (tested), logits differ slightly.
    """
    if not images:
        msg = "no images to classify; give at least one image"
        raise InputError(msg)
    if not variants:
        msg = "no variant chosen; choose torch, fp32, fp16, int8 or another variant of the model"
        raise InputError(msg)
    if top_k < 1:
        msg = f"top must be 1 or more classes, not {top_k}"
        raise InputError(msg)
    spec = get_model(model_id, workspace)
    names = class_names(spec)
    chosen, _ = resolve_variants(spec, workspace, variants)
    # interactive: no CPU pinning, so the web server's threads share the cores with a running job
    options = RunOptions(device=device, pixels=True, pinning=False)
    ready = [(variant, prepare(variant, spec, workspace, options)) for variant in chosen]
    pixels = [(name, spec.preprocess.to_pixels(image, fast=not exact)[None]) for name, image in images]
    if warm:
        for _, prepared in ready:
            prepared.warm_up(prepared.pixel_input(pixels[0][1]))
    results = []
    for name, batch in pixels:
        for variant, prepared in ready:
            logits, ms = prepared.infer_timed(prepared.pixel_input(batch))
            results.append(
                ClassifyResult(
                    name,
                    variant.id,
                    variant.backend.value,
                    variant.format.value,
                    top_predictions(logits[0], names, top_k),
                    round(ms, 3),
                )
            )
    return results
