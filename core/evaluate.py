"""Accuracy per variant with its uncertainty, and how often variants agree with each other.

Every image is decoded and preprocessed once and run through every chosen variant, so the figures
compare like with like. Decoding runs in a thread pool one chunk ahead of inference, and OpenVINO
keeps its optimal number of requests in flight (throughput hint), so evaluation runs near the
speed benchmark_app reports. Small sets get Wilson intervals (honest at n=20), and label-free
agreement (same top-1, shared top-5) still tells something on unlabelled images.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np

from core.backends import RunOptions, prepare
from core.catalog import Hint
from core.errors import DatasetError, InputError, UntrainedModelError
from core.inference import softmax
from core.machine import cpu_info
from core.progress import ProgressCallback, report
from core.registry import ModelSpec, class_names, get_model
from core.results import Agreement, EvaluationResult, VariantScore, wilson_interval
from core.runtime import device_name
from core.variants import Variant, resolve_variants
from core.workspace import Workspace, library_versions

__all__ = [
    "EvaluateConfig",
    "EvaluationResult",
    "VariantScore",
    "evaluate_job",
    "evaluate_model",
    "wilson_interval",
]

TOP_K = 5
HELDOUT = "heldout"  # a model trained here: its own held-out split, never seen in training
CHUNK = 64  # images decoded ahead of inference at a time
OPENVINO_BATCH = 16  # images per OpenVINO request when evaluating (fewer Python calls per image)
DECODE_WORKERS = 2
PIXEL_CACHE_MAX_BYTES = 512 * 2**20  # sets whose decoded pixels fit here are decoded once per preprocessing


@dataclass(frozen=True)
class EvaluateConfig:
    """`precisions` is the older name of `variants` and is merged into it."""

    model_id: str
    variants: tuple[str, ...] = ()
    dataset: str = "builtin:imagenet-samples"
    limit: int | None = None
    device: str = "CPU"
    precisions: tuple[str, ...] = ()
    pipelined: bool = True  # False: decode and infer one image at a time (the reference for the pipeline)

    def __post_init__(self) -> None:
        merged = tuple(dict.fromkeys((*self.variants, *self.precisions))) or ("fp32", "int8")
        object.__setattr__(self, "variants", merged)
        object.__setattr__(self, "precisions", ())


def _decode_chunks(samples: list, spec: ModelSpec, pipelined: bool) -> Iterator[np.ndarray]:
    """uint8 (n, H, W, C) pixels of CHUNK images at a time; with `pipelined`, the next chunk decodes meanwhile."""
    groups = [samples[i : i + CHUNK] for i in range(0, len(samples), CHUNK)]

    def decode(group) -> np.ndarray:
        return np.stack([spec.preprocess.to_pixels(sample.image()) for sample in group])

    if not pipelined:
        for group in groups:
            yield decode(group)
        return
    with ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="ovdash-decode") as pool:
        pending = pool.submit(decode, groups[0]) if groups else None
        for index in range(len(groups)):
            current = pending.result()
            pending = pool.submit(decode, groups[index + 1]) if index + 1 < len(groups) else None
            yield current


def _pixel_cache(workspace: Workspace, images, spec: ModelSpec) -> Path | None:
    """Where the decoded pixels of this set under this preprocessing are kept, if the set is small enough."""
    pre = spec.preprocess
    if len(images) * pre.size * pre.size * pre.channels > PIXEL_CACHE_MAX_BYTES:
        return None
    key = hashlib.sha256(json.dumps(pre.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return workspace.root / "cache" / "pixels" / f"{images.fingerprint()[:16]}-{key}.npy"


def _chunks(
    images, spec: ModelSpec, pipelined: bool, workspace: Workspace | None = None
) -> Iterator[np.ndarray]:
    """The set's pixels, CHUNK images at a time. Decoding is the slow part of evaluating a small model (a
    JPEG takes longer than an inference), so a pipelined evaluation keeps the decoded pixels in the
    workspace, keyed by the set's fingerprint and the preprocessing, and the next evaluation of the same
    set reads them back instead of decoding again."""
    samples = list(images)
    cache = _pixel_cache(workspace, images, spec) if pipelined and workspace is not None else None
    if cache is not None and cache.is_file():
        try:
            stored = np.load(cache, mmap_mode="r")
        except (OSError, ValueError):
            stored = None
        if stored is not None and len(stored) == len(samples):
            for i in range(0, len(samples), CHUNK):
                yield np.ascontiguousarray(stored[i : i + CHUNK])
            return
    kept = []
    for chunk in _decode_chunks(samples, spec, pipelined):
        if cache is not None:
            kept.append(chunk)
        yield chunk
    if cache is not None and kept:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npy")
        try:
            np.save(partial, np.concatenate(kept))
            partial.replace(cache)
        except OSError:  # a cache is an optimisation: a full disk only costs the decode next time
            partial.unlink(missing_ok=True)


class _Scorer:
    """One variant: its logits in order and the seconds spent inferring them (warm-up excluded).

    Pipelined, OpenVINO runs batches of OPENVINO_BATCH with the throughput hint and the normalisation
    inside the graph (uint8 pixels in); PyTorch and ONNX Runtime take normalised batches of 32.
    Serial, every variant runs one image at a time with the latency hint (the reference path).
    """

    def __init__(self, variant: Variant, spec: ModelSpec, workspace: Workspace, device: str, pipelined: bool):
        self.variant = variant
        self.pipelined = pipelined
        if pipelined and variant.backend.value == "openvino":
            options = RunOptions(device=device, hint=Hint.THROUGHPUT, batch=OPENVINO_BATCH, pixels=True)
            try:
                self.prepared = prepare(variant, spec, workspace, options)
            except RuntimeError:  # a model whose batch cannot change: one image per request instead
                self.prepared = prepare(
                    variant, spec, workspace, RunOptions(device=device, hint=Hint.THROUGHPUT, pixels=True)
                )
        else:
            hint = Hint.THROUGHPUT if pipelined else Hint.LATENCY
            self.prepared = prepare(variant, spec, workspace, RunOptions(device=device, hint=hint))
        self.logits: list[np.ndarray] = []
        self.seconds = 0.0
        self._warm = False

    @property
    def batch(self) -> int:
        return self.prepared.eval_batch if self.pipelined else 1

    def add(self, pixels: np.ndarray) -> None:
        size = self.batch
        fixed = self.prepared.options.batch if self.variant.backend.value == "openvino" else None
        batches, counts = [], []
        for i in range(0, len(pixels), size):
            part = pixels[i : i + size]
            counts.append(len(part))
            if (
                fixed and len(part) < fixed
            ):  # a compiled batch is static: pad the last one, drop its extra outputs
                part = np.concatenate([part, np.repeat(part[-1:], fixed - len(part), axis=0)])
            batches.append(self.prepared.pixel_input(part))
        if not self._warm:
            self.prepared.infer(batches[0])
            self._warm = True
        start = time.perf_counter()
        if self.pipelined:
            outputs = self.prepared.infer_many(batches)
        else:
            outputs = [self.prepared.infer(b) for b in batches]
        self.seconds += time.perf_counter() - start
        for out, count in zip(outputs, counts, strict=True):
            self.logits.extend(np.asarray(out)[:count])


def evaluate_model(
    config: EvaluateConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> EvaluationResult:
    """Top-1/top-5 per variant (labelled sets), agreement between variants, per-image predictions."""
    from core.data import load_dataset

    spec = get_model(config.model_id, workspace)
    if not spec.trained:
        msg = (
            f"{spec.id} is randomly initialised; its accuracy means nothing, so none is measured; "
            "benchmark it for latency instead"
        )
        raise UntrainedModelError(msg)
    variants, _ = resolve_variants(spec, workspace, config.variants)
    if str(config.dataset) == HELDOUT:
        own = spec.heldout_ref(workspace)
        if own is None:
            msg = f"{spec.id} was not trained here, so it has no held-out set; choose a data set"
            raise InputError(msg)
        config = replace(config, dataset=own)
    if config.limit is not None and config.limit <= 0:
        msg = f"limit must be a positive number of images, not {config.limit}"
        raise InputError(msg)
    images = load_dataset(
        config.dataset, purpose="evaluation", workspace=workspace, count=config.limit, spec=spec.preprocess
    )
    total = len(images)
    if total == 0:
        msg = f"{images.name} holds no images; choose a set with at least one image"
        raise DatasetError(msg)
    if not images.labelled and len(variants) < 2:
        msg = (
            f"{images.name} has no labels, so there is no accuracy to measure, and one variant has nothing to "
            "agree with: give a labelled set (a folder per class, or a CSV of file,label rows) or choose two or "
            "more variants to measure how often they agree"
        )
        raise DatasetError(msg)
    names = class_names(spec)
    labels = images.label_indices(names) if images.labelled else None
    report(progress, "loading the models", 0, len(variants))
    scorers = []
    for index, variant in enumerate(variants):
        scorers.append(_Scorer(variant, spec, workspace, config.device, config.pipelined))
        report(progress, "loading the models", index + 1, len(variants))
    report(progress, "evaluating", 0, total)
    done = 0
    for chunk in _chunks(images, spec, config.pipelined, workspace):
        for scorer in scorers:
            scorer.add(chunk)
        done += len(chunk)
        report(progress, "evaluating", done, total)

    k = min(TOP_K, spec.num_classes or TOP_K)
    top1, prob, topk, scores = {}, {}, {}, []
    for scorer in scorers:
        logits = np.stack(scorer.logits).astype(np.float64)
        order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        probs = softmax(logits)
        key = scorer.variant.id
        top1[key], topk[key] = order[:, 0], order
        prob[key] = probs[np.arange(len(order)), order[:, 0]]
        scores.append(_score(scorer, order, labels))

    keys = [v.id for v in variants]
    agreement = {}
    for a, b in combinations(keys, 2):
        same = int(np.sum(top1[a] == top1[b]))
        overlap = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(topk[a], topk[b], strict=True)]))
        found = Agreement(a, b, same / total, same, total, wilson_interval(same, total), round(overlap, 6))
        agreement[found.key] = found

    result = EvaluationResult(
        model_id=spec.id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        device=config.device,
        device_name=device_name(config.device),
        trained=spec.trained,
        dataset={
            "ref": str(config.dataset),
            "name": images.name,
            "description": images.description,
            "size": total,
            "labelled": labels is not None,
            "fingerprint": images.fingerprint(),
        },
        results=tuple(scores),
        agreement_detail=agreement,
        predictions={
            "names": [s.name for s in images],
            "labels": list(labels) if labels is not None else [None] * total,
            "top1": {key: [int(i) for i in top1[key]] for key in keys},
            "prob": {key: [round(float(p), 6) for p in prob[key]] for key in keys},
            "top5": {key: [[int(i) for i in row] for row in topk[key]] for key in keys},
        },
        versions=library_versions(),
        machine=cpu_info(),
        settings={
            "method": f"pipelined: decoding one chunk ahead; OpenVINO in batches of {OPENVINO_BATCH}, THROUGHPUT hint, "
            "its optimal number of requests, normalisation inside the graph; PyTorch and ONNX Runtime in batches of 32"
            if config.pipelined
            else "serial: one image at a time, LATENCY hint",
            "variants": {s.variant.id: s.prepared.settings() for s in scorers},
        },
    )
    path = workspace.save_result("evaluation", spec.id, result.to_dict())
    return replace(result, path=str(path))


def _score(scorer: _Scorer, order: np.ndarray, labels: Sequence[int] | None) -> VariantScore:
    variant = scorer.variant
    n = len(order)
    ms = round(scorer.seconds * 1e3 / n, 4) if n else 0.0
    common = dict(
        variant=variant.id,
        backend=variant.backend,
        format=variant.format,
        count=n,
        ms_per_image=ms,
        batch=scorer.batch,
        recipe=variant.recipe.summary(),
        fingerprint=variant.fingerprint,
    )
    if labels is None:
        return VariantScore(
            top1=None, top5=None, correct1=None, correct5=None, top1_ci95=None, top5_ci95=None, **common
        )
    truth = np.asarray(labels)
    correct1 = int(np.sum(order[:, 0] == truth))
    correct5 = int(np.sum((order == truth[:, None]).any(axis=1)))
    return VariantScore(
        top1=correct1 / n,
        top5=correct5 / n,
        correct1=correct1,
        correct5=correct5,
        top1_ci95=wilson_interval(correct1, n),
        top5_ci95=wilson_interval(correct5, n),
        **common,
    )


def evaluate_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain dict in, plain dict out."""
    from core.jobs import config_from_dict

    evaluate = config_from_dict(EvaluateConfig, config)
    return evaluate_model(evaluate, workspace=workspace, progress=ctx.progress).to_dict()
