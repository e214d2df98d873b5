"""Join artifact sizes, the latest benchmarks and the latest evaluations into speed/accuracy points.

Every point carries the conditions it was measured under (device, hint, batch, data set) and notes
on anything that weakens it, so a chart or a table never compares figures it should not compare.
This module reads saved results only: it never runs a model, and imports neither torch nor OpenVINO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import CoreError
from core.workspace import Workspace

__all__ = [
    "distinct_values",
    "latest_evaluation",
    "usable_run",
    "PRECISION_NAMES",
    "PRECISION_ORDER",
    "Recommendation",
    "TABLE_COLUMNS",
    "TradeoffPoint",
    "collect_points",
    "evaluations_used",
    "latest_runs",
    "pareto_front",
    "points_table",
    "precision_name",
    "recommend",
    "short_title",
]

PRECISION_ORDER = ("torch", "fp32", "fp16", "int8")
PRECISION_NAMES = {"torch": "PyTorch", "fp32": "FP32", "fp16": "FP16", "int8": "INT8"}
MB = 1_000_000
PREFERRED_HINT = "LATENCY"
TABLE_COLUMNS = (
    "model",
    "model_id",
    "precision",
    "latency_ms",
    "throughput_fps",
    "top1_pct",
    "top1_ci95_low_pct",
    "top1_ci95_high_pct",
    "size_mb",
    "trained",
    "device",
    "device_name",
    "hint",
    "batch",
    "threads",
    "streams",
    "benchmarked",
    "dataset",
    "dataset_size",
    "notes",
)


def precision_name(precision: str) -> str:
    return PRECISION_NAMES.get(precision, str(precision).upper())


def short_title(title: str) -> str:
    """'EfficientNet-Lite0 (ImageNet)' -> 'EfficientNet-Lite0': the part that names the model."""
    return title.split(" (", 1)[0].strip() or title


@dataclass(frozen=True)
class TradeoffPoint:
    """One model at one precision: how fast, how accurate, how big, and under which conditions."""

    model_id: str
    title: str
    precision: str
    latency_ms: float | None
    throughput_fps: float | None
    top1: float | None
    top1_ci95: tuple[float, float] | None
    size_mb: float | None
    trained: bool
    benchmark: dict
    dataset: dict | None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{short_title(self.title)} {precision_name(self.precision)}"

    @property
    def complete(self) -> bool:
        """Both a latency and an accuracy: the point can sit on a speed/accuracy chart."""
        return self.latency_ms is not None and self.top1 is not None


@dataclass(frozen=True)
class Recommendation:
    """The fastest point meeting the user's accuracy floor and latency budget, or why none does."""

    point: TradeoffPoint | None
    reason: str
    candidates: tuple[TradeoffPoint, ...] = ()


def _precision_rank(precision: str) -> int:
    return PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER else len(PRECISION_ORDER)


def _matches(run: dict, result: dict, *, device: str | None, hint: str | None) -> bool:
    settings = run.get("settings") or {}
    if device is not None:
        names = {str(settings.get("device") or ""), str(settings.get("device_name") or "")}
        names.add(str(result.get("device_name") or ""))
        if device.lower() not in {n.lower() for n in names}:
            return False
    # A run recorded without a hint (PyTorch needs none) stays as the reference whatever hint is chosen.
    run_hint = settings.get("hint")
    return hint is None or not run_hint or str(run_hint).lower() == hint.lower()


def _batch(run: dict) -> int:
    return int((run.get("settings") or {}).get("batch") or 1)


def usable_run(run: Mapping) -> bool:
    """A run that has a numeric median latency: the least every view of a run relies on."""
    median = (run.get("latency_ms") or {}).get("median") if isinstance(run, Mapping) else None
    return isinstance(median, int | float) and median > 0


def latest_runs(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    device: str | None = None,
    hint: str | None = None,
    batch: int | None = 1,
) -> list[dict]:
    """The latest benchmark run per (model, precision) matching the filters, ordered by model and precision.

    A filter left as None still prefers the conditions latency is usually read under: batch 1 and the
    LATENCY hint (or none); a run under other conditions is taken only when no such run exists.
    Each run gains `device_name` and `_source` (its result file's name) when it lacks them.
    """
    wanted = set(model_ids) if model_ids is not None else None
    chosen: dict[tuple[str, str], tuple[tuple[bool, bool], dict]] = {}
    for result in workspace.results("benchmark"):
        for run in result.get("runs") or []:
            model_id = run.get("model_id") or result.get("model_id")
            precision = run.get("precision")
            if not model_id or not precision or (wanted is not None and model_id not in wanted):
                continue
            if not usable_run(run):  # a hand-edited or truncated file must not take a page down
                continue
            if not _matches(run, result, device=device, hint=hint):
                continue
            if batch is not None and _batch(run) != batch:
                continue
            run_hint = str((run.get("settings") or {}).get("hint") or PREFERRED_HINT).upper()
            preference = (
                _batch(run) == 1 or batch is not None,
                run_hint == PREFERRED_HINT or hint is not None,
            )
            key = (model_id, precision)
            if key in chosen and chosen[key][0] > preference:
                continue
            run = dict(run, model_id=model_id)
            run.setdefault(
                "device_name", (run.get("settings") or {}).get("device_name") or result.get("device_name")
            )
            run.setdefault("_source", Path(result.get("_path", "")).name)
            chosen[key] = (preference, run)  # results come oldest first, so the last match is the latest
    return [chosen[key][1] for key in sorted(chosen, key=lambda k: (k[0], _precision_rank(k[1])))]


def _scores(evaluation: dict) -> dict[str, dict]:
    """Precision -> result row, only rows that carry an accuracy (a labelled set)."""
    return {
        row["precision"]: row
        for row in evaluation.get("results") or []
        if row.get("precision") and row.get("top1") is not None
    }


def _primary(evaluations: Sequence[dict], needs: Iterable[str] = ()) -> dict | None:
    """The latest evaluation covering the most precisions (with top-1), among those that cover `needs`."""
    needs = set(needs)
    usable = [
        e
        for e in evaluations
        if e.get("trained", True) is not False and _scores(e) and needs <= set(_scores(e))
    ]
    # max() keeps the first of equals, so scan newest first to prefer the latest on a tie.
    return max(reversed(usable), key=lambda e: len(_scores(e))) if usable else None


def latest_evaluation(workspace: Workspace, model_id: str, *, needs: Iterable[str] = ()) -> dict | None:
    """The evaluation every page quotes for a model: the latest covering the most precisions.

    `needs` narrows it to evaluations that measured those precisions together (FP32 next to INT8
    must come from one run on one data set).
    """
    return _primary(workspace.results("evaluation", model_id), needs)


def _pick_evaluations(evaluations: Sequence[dict]) -> tuple[dict | None, dict[str, dict]]:
    """The primary evaluation (latest covering most precisions) and, per precision, the one to use."""
    usable = [e for e in evaluations if e.get("trained", True) is not False and _scores(e)]
    primary = _primary(usable)
    if primary is None:
        return None, {}
    by_precision = dict.fromkeys(_scores(primary), primary)
    for evaluation in reversed(usable):
        for precision in _scores(evaluation):
            by_precision.setdefault(precision, evaluation)
    return primary, by_precision


def _evaluations_by_model(workspace: Workspace, model_ids: Iterable[str] | None) -> dict[str, list[dict]]:
    wanted = set(model_ids) if model_ids is not None else None
    grouped: dict[str, list[dict]] = {}
    for evaluation in workspace.results("evaluation"):
        model_id = evaluation.get("model_id")
        if model_id and (wanted is None or model_id in wanted):
            grouped.setdefault(model_id, []).append(evaluation)
    return grouped


def evaluations_used(
    workspace: Workspace, *, model_ids: Iterable[str] | None = None
) -> dict[str, list[dict]]:
    """Per trained model, the evaluations whose figures the points use: the primary one first."""
    used = {}
    for model_id, evaluations in sorted(_evaluations_by_model(workspace, model_ids).items()):
        if not _model_info(workspace, model_id, evaluations)[1]:
            continue
        primary, by_precision = _pick_evaluations(evaluations)
        if primary is not None:
            others = {id(e): e for e in by_precision.values() if e is not primary}
            used[model_id] = [primary, *others.values()]
    return used


def _model_info(workspace: Workspace, model_id: str, evaluations: Sequence[dict]) -> tuple[str, bool]:
    """Title and trained flag from the registry; for a model it no longer knows, from its latest evaluation."""
    from core.registry import get_model  # the registry's built-in list pulls torchvision in lazily

    try:
        spec = get_model(model_id, workspace)
    except CoreError:
        return model_id, not evaluations or evaluations[-1].get("trained") is not False
    return spec.title, spec.trained


def _parse_time(value) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _newer(a, b) -> bool:
    """True when time `a` is known to be after time `b`."""
    first, second = _parse_time(a), _parse_time(b)
    return first is not None and second is not None and first > second


def _benchmark_settings(run: dict) -> dict:
    settings = run.get("settings") or {}
    return {
        "device": settings.get("device"),
        "device_name": run.get("device_name") or settings.get("device_name"),
        "hint": settings.get("hint"),
        "batch": settings.get("batch"),
        "threads": settings.get("threads"),
        "streams": settings.get("streams"),
        "nireq": settings.get("nireq"),
        "inference_precision": settings.get("inference_precision"),
        "throughput_method": settings.get("throughput_method"),
        "created": run.get("created"),
        "versions": run.get("versions") or {},
        "source": run.get("_source"),
    }


def _dataset_info(evaluation: dict) -> dict:
    dataset = evaluation.get("dataset") or {}
    return {
        "name": dataset.get("name") or dataset.get("ref") or "unnamed set",
        "size": dataset.get("size"),
        "ref": dataset.get("ref"),
        "created": evaluation.get("created"),
        "source": Path(evaluation.get("_path", "")).name,
    }


def collect_points(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    device: str | None = None,
    hint: str | None = None,
    batch: int | None = 1,
) -> list[TradeoffPoint]:
    """One point per (model, precision) that has a matching benchmark run or a labelled evaluation.

    Accuracy comes from one evaluation per model where possible (the latest covering most
    precisions), so all its precisions are compared on the same images; untrained models get none.
    """
    model_ids = list(model_ids) if model_ids is not None else None
    runs = {
        (r["model_id"], r["precision"]): r
        for r in latest_runs(workspace, model_ids=model_ids, device=device, hint=hint, batch=batch)
    }
    evaluations = _evaluations_by_model(workspace, model_ids)
    points = []
    for model_id in sorted({m for m, _ in runs} | set(evaluations)):
        title, trained = _model_info(workspace, model_id, evaluations.get(model_id, []))
        primary, by_precision = _pick_evaluations(evaluations.get(model_id, [])) if trained else (None, {})
        artifacts = {a.precision.value: a for a in workspace.artifacts(model_id)}
        precisions = {p for m, p in runs if m == model_id} | set(by_precision)
        for precision in sorted(precisions, key=_precision_rank):
            run = runs.get((model_id, precision))
            evaluation = by_precision.get(precision)
            points.append(_point(model_id, title, precision, trained, run, evaluation, primary, artifacts))
    return points


def _point(model_id, title, precision, trained, run, evaluation, primary, artifacts) -> TradeoffPoint:
    notes = []
    latency = throughput = None
    if run is None:
        notes.append("no benchmark run matches the chosen device, hint and batch")
    else:
        latency = (run.get("latency_ms") or {}).get("median")
        throughput = run.get("throughput_fps")
        if _batch(run) != 1:
            notes.append(f"latency measured at batch {_batch(run)}, not per single image")
        run_hint = (run.get("settings") or {}).get("hint")
        if run_hint and str(run_hint).upper() != PREFERRED_HINT:
            notes.append(f"measured with the {run_hint} hint: single-request latency is not its aim")

    top1 = ci = None
    if not trained:
        notes.append("untrained: latency only")
    elif evaluation is None:
        notes.append("no accuracy yet: evaluate this precision on a labelled set")
    else:
        row = _scores(evaluation)[precision]
        top1 = float(row["top1"])
        ci = tuple(float(v) for v in row["top1_ci95"]) if row.get("top1_ci95") else None
        if evaluation is not primary:
            info = _dataset_info(evaluation)
            notes.append(
                f"accuracy from another evaluation ({info['name']}, {info['size']} images, "
                f"{info['created']}) than this model's other precisions"
            )

    size_mb = None
    if precision == "torch":
        fp32 = artifacts.get("fp32")
        if fp32 is not None and fp32.bin.is_file():
            size_mb = fp32.bin.stat().st_size / MB
            notes.append("size approximated by the FP32 weights (model.bin of the FP32 IR)")
    elif precision in artifacts:
        artifact = artifacts[precision]
        size_mb = artifact.size_bytes / MB
        for what, source in (("benchmark", run), ("evaluation", evaluation)):
            if source is not None and _newer(artifact.manifest.get("created"), source.get("created")):
                notes.append(
                    f"the {precision_name(precision)} model was replaced after this {what}; re-run it"
                )
    else:
        notes.append("no artifact on disk any more: size unknown")

    return TradeoffPoint(
        model_id=model_id,
        title=title,
        precision=precision,
        latency_ms=float(latency) if latency is not None else None,
        throughput_fps=float(throughput) if throughput is not None else None,
        top1=top1,
        top1_ci95=ci,
        size_mb=size_mb,
        trained=trained,
        benchmark=_benchmark_settings(run) if run is not None else {},
        dataset=_dataset_info(evaluation) if evaluation is not None else None,
        notes=tuple(notes),
    )


def pareto_front(points: Iterable[TradeoffPoint]) -> list[TradeoffPoint]:
    """Points no other point beats on both latency (lower) and top-1 (higher), fastest first."""
    complete = [p for p in points if p.complete]

    def dominated(p: TradeoffPoint) -> bool:
        return any(
            q.latency_ms <= p.latency_ms
            and q.top1 >= p.top1
            and (q.latency_ms < p.latency_ms or q.top1 > p.top1)
            for q in complete
        )

    return sorted((p for p in complete if not dominated(p)), key=lambda p: (p.latency_ms, -p.top1))


def distinct_values(values: Iterable) -> list[str]:
    """Distinct values in first-seen order, so a mixed set of measurement conditions is shown, never hidden."""
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


def recommend(
    points: Iterable[TradeoffPoint],
    *,
    min_top1: float | None = None,
    max_latency_ms: float | None = None,
) -> Recommendation:
    """The fastest point whose accuracy is known and meets the floor, within the latency budget.

    Points without a measured accuracy are never recommended: their cost is unknown. Ties in
    latency go to the smaller model.
    """
    complete = [p for p in points if p.complete]
    if not complete:
        return Recommendation(
            None, "no point has both a latency and an accuracy yet; run a benchmark and an evaluation"
        )
    accurate = [p for p in complete if min_top1 is None or p.top1 >= min_top1]
    fast = [p for p in complete if max_latency_ms is None or p.latency_ms <= max_latency_ms]
    both = sorted(
        (p for p in accurate if p in fast),
        key=lambda p: (p.latency_ms, p.size_mb if p.size_mb is not None else float("inf"), -p.top1),
    )
    floor = f"{_pct(min_top1)} top-1" if min_top1 is not None else ""
    budget = f"{_ms(max_latency_ms)}" if max_latency_ms is not None else ""
    if both:
        best = both[0]
        limits = " and ".join(
            part for part in (floor and f"at least {floor}", budget and f"within {budget}") if part
        )
        reason = (
            f"{best.label}: the fastest at {_ms(best.latency_ms)} median latency with "
            f"{_pct(best.top1)} top-1"
            + (f" ({limits})" if limits else "")
            + f"; {len(both)} of {len(complete)} measured points qualify"
        )
        return Recommendation(best, reason, tuple(both))

    most_accurate = max(complete, key=lambda p: p.top1)
    fastest = min(complete, key=lambda p: p.latency_ms)
    if not accurate and max_latency_ms is None:
        best = f"{most_accurate.label} at {_pct(most_accurate.top1)}"
        reason = f"no model reaches {floor}; the most accurate is {best}"
    elif not fast and min_top1 is None:
        reason = f"no model runs within {budget}; the fastest is {fastest.label} at {_ms(fastest.latency_ms)}"
    else:
        closest = []
        if accurate:
            p = min(accurate, key=lambda p: p.latency_ms)
            closest.append(f"{p.label} reaches it at {_ms(p.latency_ms)}")
        else:
            closest.append(f"the most accurate, {most_accurate.label}, reaches {_pct(most_accurate.top1)}")
        if fast:
            p = max(fast, key=lambda p: p.top1)
            closest.append(f"within budget the most accurate is {p.label} at {_pct(p.top1)}")
        else:
            closest.append(f"the fastest, {fastest.label}, takes {_ms(fastest.latency_ms)}")
        reason = f"no model reaches {floor} within {budget}; the closest: " + "; ".join(closest)
    return Recommendation(None, reason, ())


def points_table(points: Iterable[TradeoffPoint]) -> list[dict]:
    """Flat rows (percent and MB rounded for reading) with the conditions each figure was measured under."""
    rows = []
    for p in points:
        bench = p.benchmark
        dataset = p.dataset or {}
        rows.append(
            {
                "model": short_title(p.title),
                "model_id": p.model_id,
                "precision": precision_name(p.precision),
                "latency_ms": _round(p.latency_ms, 3),
                "throughput_fps": _round(p.throughput_fps, 1),
                "top1_pct": _round(p.top1 * 100 if p.top1 is not None else None, 2),
                "top1_ci95_low_pct": _round(p.top1_ci95[0] * 100 if p.top1_ci95 else None, 2),
                "top1_ci95_high_pct": _round(p.top1_ci95[1] * 100 if p.top1_ci95 else None, 2),
                "size_mb": _round(p.size_mb, 3),
                "trained": p.trained,
                "device": bench.get("device"),
                "device_name": bench.get("device_name"),
                "hint": bench.get("hint"),
                "batch": bench.get("batch"),
                "threads": bench.get("threads"),
                "streams": bench.get("streams"),
                "benchmarked": bench.get("created"),
                "dataset": dataset.get("name"),
                "dataset_size": dataset.get("size"),
                "notes": "; ".join(p.notes),
            }
        )
    return rows


def _round(value: float | None, digits: int) -> float | None:
    return round(float(value), digits) if value is not None else None
