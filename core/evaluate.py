"""Accuracy per precision with its uncertainty, and how often precisions agree with each other.

Every image is preprocessed once and run through every chosen precision, so the figures compare
like with like. Small sets get Wilson intervals (honest at n=20, unlike the normal approximation),
and label-free agreement between precisions still tells something on unlabelled images.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from itertools import combinations

import numpy as np

from core.errors import DatasetError, InputError, ModelFileError, UntrainedModelError
from core.inference import prepare_runner, softmax
from core.progress import ProgressCallback, report
from core.registry import ModelSpec, class_names, get_model
from core.runtime import device_name
from core.workspace import Precision, Workspace, library_versions

__all__ = [
    "EvaluateConfig",
    "EvaluationResult",
    "PrecisionScore",
    "evaluate_job",
    "evaluate_model",
    "wilson_interval",
]

TORCH_BATCH = 32
TOP_K = 5


@dataclass(frozen=True)
class EvaluateConfig:
    model_id: str
    precisions: tuple[str, ...] = ("fp32", "int8")
    dataset: str = "builtin:imagenet-samples"
    limit: int | None = None
    device: str = "CPU"


@dataclass(frozen=True)
class PrecisionScore:
    """One precision's figures on the set; accuracy fields are None on an unlabelled set."""

    precision: str
    count: int
    top1: float | None
    top5: float | None
    correct1: int | None
    correct5: int | None
    top1_ci95: tuple[float, float] | None
    top5_ci95: tuple[float, float] | None
    ms_per_image: float
    batch: int  # images per call while measuring ms_per_image (torch batches, OpenVINO runs 1)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("top1_ci95", "top5_ci95"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data


@dataclass(frozen=True)
class EvaluationResult:
    model_id: str
    created: str
    device: str
    device_name: str
    trained: bool
    dataset: dict
    results: tuple[PrecisionScore, ...]
    agreement_detail: dict[str, dict]
    predictions: dict
    versions: dict = field(default_factory=library_versions)
    path: str | None = None

    @property
    def agreement(self) -> dict[str, float]:
        return {pair: detail["rate"] for pair, detail in self.agreement_detail.items()}

    def score(self, precision: str) -> PrecisionScore:
        for score in self.results:
            if score.precision == precision:
                return score
        measured = ", ".join(s.precision for s in self.results)
        raise InputError(f"this evaluation has no {precision!r}; it measured {measured}")

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "created": self.created,
            "device": self.device,
            "device_name": self.device_name,
            "versions": self.versions,
            "trained": self.trained,
            "dataset": self.dataset,
            "results": [s.to_dict() for s in self.results],
            "agreement": self.agreement,
            "agreement_detail": self.agreement_detail,
            "predictions": self.predictions,
            "path": self.path,
        }

    def __str__(self) -> str:
        set_line = f"{self.dataset['name']} ({self.dataset['size']} images)"
        lines = [f"{self.model_id} on {set_line}, {self.device_name}", ""]
        lines.append(f"{'precision':<10}{'top-1':>8}{'95% CI':>17}{'top-5':>8}{'ms/img':>9}")
        for s in self.results:
            top1 = f"{s.top1:.1%}" if s.top1 is not None else "-"
            ci = f"{s.top1_ci95[0]:.1%}-{s.top1_ci95[1]:.1%}" if s.top1_ci95 else "-"
            top5 = f"{s.top5:.1%}" if s.top5 is not None else "-"
            lines.append(f"{s.precision:<10}{top1:>8}{ci:>17}{top5:>8}{s.ms_per_image:>9.2f}")
        if self.agreement_detail:
            lines.append("")
            for pair, d in self.agreement_detail.items():
                lines.append(
                    f"agreement {pair}: {d['rate']:.2%} ({d['same']}/{d['count']}, "
                    f"95% CI {d['ci95'][0]:.1%}-{d['ci95'][1]:.1%})"
                )
        return "\n".join(lines)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion: stays inside [0, 1] and is honest for small n."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise InputError(f"{successes} successes out of {n} is impossible; successes must be 0..n")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _check_precisions(spec: ModelSpec, precisions, workspace: Workspace) -> list[Precision]:
    chosen = list(dict.fromkeys(Precision.parse(p) for p in precisions))
    if not chosen:
        raise InputError("no precision chosen; choose one or more of torch, fp32, fp16, int8")
    for precision in chosen:
        if precision == Precision.TORCH:
            if not spec.has_torch:
                raise ModelFileError(
                    f"{spec.id} was uploaded as {spec.architecture.upper()} and has no PyTorch reference; "
                    "leave torch out of the precisions"
                )
        else:
            workspace.require_artifact(spec.id, precision)
    return chosen


class _Runner:
    """Logits of one precision, image by image; torch images are gathered into batches for speed.

    The first call is run once more untimed before it counts, so `seconds` measures steady work
    rather than one-off allocation (on 20 images that first call would dominate the figure).
    """

    def __init__(self, spec: ModelSpec, precision: Precision, workspace: Workspace, device: str):
        self.precision = precision
        self.seconds = 0.0
        self.logits: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []
        self._warm = False
        self.batch = TORCH_BATCH if precision == Precision.TORCH else 1  # OpenVINO compiled at batch 1
        self._run = prepare_runner(spec, precision, workspace=workspace, device=device, batch=1)

    def add(self, array: np.ndarray) -> None:
        self._pending.append(array)
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch = np.stack(self._pending)
        self._pending = []
        self.logits.extend(self._timed(lambda: self._run(batch)))

    def _timed(self, call):
        if not self._warm:
            call()
            self._warm = True
        start = time.perf_counter()
        out = call()
        self.seconds += time.perf_counter() - start
        return out


def evaluate_model(
    config: EvaluateConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> EvaluationResult:
    """Top-1/top-5 per precision (labelled sets), agreement between precisions, per-image predictions."""
    from core.data import load_dataset

    spec = get_model(config.model_id, workspace)
    if not spec.trained:
        raise UntrainedModelError(
            f"{spec.id} is randomly initialised; its accuracy means nothing, so none is measured; "
            "benchmark it for latency instead"
        )
    precisions = _check_precisions(spec, config.precisions, workspace)
    if config.limit is not None and config.limit <= 0:
        raise InputError(f"limit must be a positive number of images, not {config.limit}")
    images = load_dataset(
        config.dataset, purpose="evaluation", workspace=workspace, count=config.limit, spec=spec.preprocess
    )
    names = class_names(spec)
    labels = images.label_indices(names) if images.labelled else None
    runners = [_Runner(spec, p, workspace, config.device) for p in precisions]
    total = len(images)
    if total == 0:
        raise DatasetError(f"{images.name} holds no images; choose a set with at least one image")
    report(progress, "evaluating", 0, total)
    for done, sample in enumerate(images, start=1):
        array = spec.preprocess.to_array(sample.image())
        for runner in runners:
            runner.add(array)
        if done == total:
            for runner in runners:
                runner.flush()
        report(progress, "evaluating", done, total)

    k = min(TOP_K, spec.num_classes or TOP_K)
    top1, prob, topk, scores = {}, {}, {}, []
    for runner in runners:
        logits = np.stack(runner.logits).astype(np.float64)
        order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        probs = softmax(logits)
        key = runner.precision.value
        top1[key] = order[:, 0]
        topk[key] = order
        prob[key] = probs[np.arange(len(order)), order[:, 0]]
        scores.append(_score(key, order, labels, runner.seconds, runner.batch))

    keys = [p.value for p in precisions]
    agreement = {}
    for a, b in combinations(keys, 2):
        same = int(np.sum(top1[a] == top1[b]))
        lo, hi = wilson_interval(same, total)
        agreement[f"{a}-vs-{b}"] = {"rate": same / total, "same": same, "count": total, "ci95": [lo, hi]}

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
    )
    path = workspace.save_result("evaluation", spec.id, result.to_dict())
    return replace(result, path=str(path))


def _score(precision: str, order: np.ndarray, labels, seconds: float, batch: int) -> PrecisionScore:
    n = len(order)
    ms = round(seconds * 1e3 / n, 4) if n else 0.0
    if labels is None:
        return PrecisionScore(precision, n, None, None, None, None, None, None, ms, batch)
    truth = np.asarray(labels)
    correct1 = int(np.sum(order[:, 0] == truth))
    correct5 = int(np.sum((order == truth[:, None]).any(axis=1)))
    return PrecisionScore(
        precision,
        n,
        correct1 / n,
        correct5 / n,
        correct1,
        correct5,
        wilson_interval(correct1, n),
        wilson_interval(correct5, n),
        ms,
        batch,
    )


def evaluate_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain dict in, plain dict out."""
    from core.jobs import config_from_dict

    evaluate = config_from_dict(EvaluateConfig, config)
    return evaluate_model(evaluate, workspace=workspace, progress=ctx.progress).to_dict()
