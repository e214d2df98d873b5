"""Classify images with any precision, or with the PyTorch model itself as the reference."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from core.errors import InputError, ModelFileError
from core.registry import ModelSpec, class_names, get_model
from core.runtime import compile_artifact, get_torch_model, infer
from core.workspace import Precision, Workspace

__all__ = ["ClassifyResult", "Prediction", "classify_images", "predict_logits", "prepare_runner", "softmax"]


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ClassifyResult:
    """Top-k of one image at one precision; `ms` is the model's own time for that image."""

    image: str
    precision: str
    top: tuple[Prediction, ...]
    ms: float

    def to_dict(self) -> dict:
        data = asdict(self)
        data["top"] = [asdict(p) for p in self.top]
        return data

    def __str__(self) -> str:
        best = self.top[0]
        return f"{self.image} [{self.precision}] {best.label} ({best.probability:.1%}) in {self.ms:.1f} ms"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def prepare_runner(
    spec: ModelSpec,
    precision: Precision | str,
    *,
    workspace: Workspace,
    device: str = "CPU",
    batch: int = 1,
) -> Callable[[np.ndarray], np.ndarray]:
    """Load or compile once (cached), and return a function from a (N, C, H, W) batch to logits."""
    precision = Precision.parse(precision)
    if precision == Precision.TORCH:
        if not spec.has_torch:
            raise ModelFileError(
                f"{spec.id} was uploaded as {spec.architecture.upper()}; it has no PyTorch reference"
            )
        import torch

        module = get_torch_model(spec, workspace)

        def run_torch(array: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(np.ascontiguousarray(array))).numpy()

        return run_torch
    artifact = workspace.require_artifact(spec.id, precision)
    entry = compile_artifact(artifact, workspace=workspace, device=device, hint="latency", batch=batch)
    return lambda array: infer(entry, array)


def predict_logits(
    spec: ModelSpec,
    precision: Precision | str,
    batch: np.ndarray,
    *,
    workspace: Workspace,
    device: str = "CPU",
) -> np.ndarray:
    """Logits for a preprocessed (N, C, H, W) batch, by PyTorch or a compiled OpenVINO artifact."""
    return prepare_runner(spec, precision, workspace=workspace, device=device, batch=len(batch))(batch)


def classify_images(
    model_id: str,
    images: Sequence[tuple[str, Image.Image]],
    precisions: Sequence[str],
    *,
    workspace: Workspace,
    top_k: int = 5,
    device: str = "CPU",
) -> list[ClassifyResult]:
    """Top-k of every image at every precision, image by image (batch 1, as a user would).

    Models are loaded and compiled before the clock starts: `ms` is inference time alone.
    """
    if not images:
        raise InputError("no images to classify; give at least one image")
    if not precisions:
        raise InputError("no precision chosen; choose torch, fp32, fp16 or int8")
    spec = get_model(model_id, workspace)
    names = class_names(spec)
    chosen = [Precision.parse(p) for p in precisions]
    runners = {p: prepare_runner(spec, p, workspace=workspace, device=device) for p in chosen}
    results = []
    for name, image in images:
        batch = spec.preprocess.batch([image])
        for precision in chosen:
            start = time.perf_counter()
            logits = runners[precision](batch)
            ms = (time.perf_counter() - start) * 1e3
            probs = softmax(logits[0].astype(np.float64))
            order = np.argsort(-probs)[:top_k]
            top = tuple(
                Prediction(int(i), names[i] if i < len(names) else str(i), float(probs[i])) for i in order
            )
            results.append(ClassifyResult(name, precision.value, top, round(ms, 3)))
    return results
