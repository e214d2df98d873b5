"""Join variant sizes, benchmark runs and evaluations into speed/accuracy points, and choose among them.

Every point carries the conditions it was measured under (CPU, hint, batch, what executed, data
set) and the benchmark run it came from. Latencies of one model are taken from one run wherever
possible (the latest run covering the most of its variants), so ratios compare like with like;
a figure from another run says so. Unstable figures are marked and never recommended.
This module reads saved results only: it never runs a model, and imports neither torch nor OpenVINO.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from core.catalog import Backend, NumberFormat, variant_colour, variant_order, variant_title
from core.errors import CoreError
from core.registry import short_title
from core.results import BenchmarkResult, EvaluationResult, VariantRun, load_benchmarks, load_evaluations
from core.workspace import DamagedResult, Workspace

__all__ = [
    "DEFAULT_WITHIN_POINTS",
    "MIB",
    "PREFERRED_HINT",
    "TABLE_COLUMNS",
    "Recommendation",
    "TradeoffPoint",
    "TradeoffSet",
    "collect",
    "collect_points",
    "distinct_values",
    "evaluations_used",
    "latest_evaluation",
    "latest_run_with",
    "latest_runs",
    "pareto_front",
    "points_table",
    "recommend",
]

MIB = 2**20
PREFERRED_HINT = "latency"
DEFAULT_WITHIN_POINTS = 1.0  # the default accuracy floor: within 1 point of the most accurate variant
TABLE_COLUMNS = (
    "model",
    "model_id",
    "variant",
    "precision",
    "backend",
    "recipe",
    "latency_ms",
    "latency_iqr_ms",
    "stable",
    "throughput_fps",
    "top1_pct",
    "top1_ci95_low_pct",
    "top1_ci95_high_pct",
    "size_mib",
    "trained",
    "cpu",
    "isa",
    "device",
    "device_name",
    "executed_as",
    "hint",
    "batch",
    "threads",
    "streams",
    "benchmarked",
    "benchmark_run",
    "dataset",
    "dataset_size",
    "notes",
)


def distinct_values(values: Iterable) -> list[str]:
    """Distinct values in first-seen order, so a mixed set of measurement conditions is shown, never hidden."""
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


@dataclass(frozen=True)
class TradeoffPoint:
    """One variant of one model: how fast, how accurate, how big, and under which conditions."""

    model_id: str
    title: str
    variant: str
    backend: Backend
    format: NumberFormat
    latency_ms: float | None
    throughput_fps: float | None
    top1: float | None
    top1_ci95: tuple[float, float] | None
    size_mib: float | None
    trained: bool
    benchmark: dict = field(default_factory=dict)
    dataset: dict | None = None
    recipe: str = ""
    latency_iqr_ms: float | None = None
    stable: bool = True
    unstable_reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def precision(self) -> str:
        return "torch" if self.backend == Backend.TORCH else self.format.value

    @property
    def variant_title(self) -> str:
        return variant_title(self.variant, self.backend, self.format)

    @property
    def label(self) -> str:
        return f"{short_title(self.title)} {self.variant_title}"

    @property
    def colour(self) -> str:
        return variant_colour(self.variant, self.format)

    @property
    def complete(self) -> bool:
        """Both a latency and an accuracy: the point can sit on a speed/accuracy chart."""
        return self.latency_ms is not None and self.top1 is not None

    @property
    def run_id(self) -> str | None:
        return self.benchmark.get("source")


@dataclass(frozen=True)
class Recommendation:
    """The fastest stable point meeting the accuracy floor and latency budget, or why none does."""

    point: TradeoffPoint | None
    reason: str
    candidates: tuple[TradeoffPoint, ...] = ()
    floor: float | None = None


@dataclass(frozen=True)
class TradeoffSet:
    """Points plus what a view must say about them: runs mixed within a model, files skipped."""

    points: tuple[TradeoffPoint, ...]
    runs_by_model: dict[str, list[dict]]  # model -> [{source, created, variants}] of the runs its points use
    damaged: tuple[DamagedResult, ...] = ()
    results: dict[str, BenchmarkResult] = field(default_factory=dict)  # by file name (a point's run_id)

    def comparison(self, point: TradeoffPoint, reference: str | None = None):
        """`point`'s speed-up over the reference variant measured in the same run, or None."""
        result = self.results.get(point.run_id or "")
        if result is None:
            return None
        return next((c for c in result.comparisons(reference) if c.variant == point.variant), None)

    @property
    def mixed_runs(self) -> dict[str, list[dict]]:
        """Models whose latencies come from more than one benchmark run."""
        return {m: runs for m, runs in self.runs_by_model.items() if len(runs) > 1}

    @property
    def unstable(self) -> list[TradeoffPoint]:
        return [p for p in self.points if p.latency_ms is not None and not p.stable]


@dataclass(frozen=True)
class _Naming:
    """How names in saved results map to the variants on disk now: by file fingerprint first (a renamed
    variant keeps its results; a newer variant under a reused name does not inherit them), then by
    the old names a rename left behind."""

    current: dict[str, str]  # variant id -> fingerprint of its files now
    by_fingerprint: dict[str, str]  # fingerprint -> variant id now
    aliases: dict[str, str]  # old name -> new name

    def name(self, saved: str, fingerprint: str) -> str | None:
        """The current name of what a result measured, or None if that version is gone."""
        renamed = self.aliases.get(saved)
        for name in (saved, renamed):  # under its name, or the one a rename gave it (twins may share files)
            if fingerprint and name and self.current.get(name) == fingerprint:
                return name
        if fingerprint and fingerprint in self.by_fingerprint:
            return self.by_fingerprint[fingerprint]
        if (
            fingerprint
            and saved in self.current
            and self.current[saved]
            and self.current[saved] != fingerprint
        ):
            return None  # an earlier variant under a name now taken by another
        return self.aliases.get(saved, saved)


def _naming(workspace: Workspace, model_id: str) -> _Naming:
    try:
        stored = workspace.variants(model_id)
        aliases = workspace.variant_aliases(model_id)
    except (CoreError, OSError):
        return _Naming({}, {}, {})
    current = {v.id: v.fingerprint for v in stored}
    return _Naming(current, {fp: vid for vid, fp in current.items() if fp}, aliases)


def _renamed_benchmark(result: BenchmarkResult, naming: _Naming) -> BenchmarkResult:
    runs = []
    for run in result.runs:
        name = naming.name(run.variant, run.fingerprint)
        if name is not None:
            runs.append(run if name == run.variant else replace(run, variant=name))
    return replace(result, runs=tuple(runs))


def _renamed_evaluation(evaluation: EvaluationResult, naming: _Naming) -> EvaluationResult:
    names = {s.variant: naming.name(s.variant, s.fingerprint) for s in evaluation.results}
    if all(old == new for old, new in names.items()):
        return evaluation
    results = tuple(
        replace(s, variant=names[s.variant]) for s in evaluation.results if names[s.variant] is not None
    )
    detail = {}
    for agreement in evaluation.agreement_detail.values():
        a, b = names.get(agreement.a), names.get(agreement.b)
        if a and b:
            moved = replace(agreement, a=a, b=b)
            detail[moved.key] = moved
    predictions = dict(evaluation.predictions)
    for key in ("top1", "prob", "top5"):
        table = predictions.get(key) or {}
        predictions[key] = {names[v]: values for v, values in table.items() if names.get(v)}
    return replace(evaluation, results=results, agreement_detail=detail, predictions=predictions)


def _matches(run: VariantRun, result: BenchmarkResult, *, device: str | None, hint: str | None) -> bool:
    if device is not None:
        names = {
            str(run.settings.get("device") or ""),
            str(run.settings.get("device_name") or ""),
            result.device_name,
        }
        if device.lower() not in {n.lower() for n in names}:
            return False
    # A run recorded without a hint (PyTorch, ONNX Runtime) stays as the reference whatever hint is chosen.
    return hint is None or not run.hint or str(run.hint).lower() == hint.lower()


def _run_info(result: BenchmarkResult) -> dict:
    return {
        "source": Path(result.path or "").name,
        "created": result.created,
        "variants": result.variants,
        "stable": result.stable,
        "interleaved": result.interleaved,
    }


def _pick_runs(
    results: Sequence[BenchmarkResult], model_id: str, *, device, hint, batch, naming: _Naming
) -> dict[str, tuple[VariantRun, BenchmarkResult]]:
    """Variant -> (run, its result): from the latest run covering the most variants, then the newest others."""
    candidates: list[tuple[BenchmarkResult, dict[str, VariantRun]]] = []
    for result in results:
        if result.model_id != model_id or result.grid:
            continue
        result = _renamed_benchmark(result, naming)
        usable = {}
        for run in result.runs:
            if not _matches(run, result, device=device, hint=hint):
                continue
            if batch is not None and run.batch != batch:
                continue
            usable[run.variant] = run
        if usable:
            candidates.append((result, usable))
    if not candidates:
        return {}

    # prefer batch 1 and the latency hint when unfiltered, then coverage, then recency
    def rank(item) -> tuple:
        result, usable = item
        runs = list(usable.values())
        preferred = all(r.batch == 1 for r in runs) and all(
            str(r.hint or PREFERRED_HINT).lower() == PREFERRED_HINT for r in runs
        )
        return (preferred, len(usable), result.created)

    ordered = sorted(candidates, key=rank, reverse=True)
    primary_result, primary = ordered[0]
    chosen = {variant: (run, primary_result) for variant, run in primary.items()}
    newest_first = sorted(candidates, key=lambda item: item[0].created, reverse=True)
    for result, usable in newest_first:
        for variant, run in usable.items():
            chosen.setdefault(variant, (run, result))
    return chosen


def latest_runs(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    device: str | None = None,
    hint: str | None = None,
    batch: int | None = 1,
) -> list[tuple[VariantRun, BenchmarkResult]]:
    """The run each (model, variant) takes its latency from, in model and display order."""
    loaded = load_benchmarks(workspace)
    wanted = set(model_ids) if model_ids is not None else {r.model_id for r in loaded}
    found = []
    for model_id in sorted(wanted):
        picked = _pick_runs(
            loaded.items, model_id, device=device, hint=hint, batch=batch, naming=_naming(workspace, model_id)
        )
        for variant in sorted(
            picked, key=lambda v: variant_order(v, picked[v][0].backend, picked[v][0].format)
        ):
            found.append(picked[variant])
    return found


def _usable_evaluations(evaluations: Sequence[EvaluationResult]) -> list[EvaluationResult]:
    return [e for e in evaluations if e.trained and e.scored()]


def _primary(evaluations: Sequence[EvaluationResult], needs: Iterable[str] = ()) -> EvaluationResult | None:
    """The latest evaluation covering the most variants (with top-1), among those that cover `needs`."""
    needs = set(needs)
    usable = [e for e in _usable_evaluations(evaluations) if needs <= set(e.scored())]
    # max() keeps the first of equals, so scan newest first to prefer the latest on a tie.
    return max(reversed(usable), key=lambda e: len(e.scored())) if usable else None


def latest_evaluation(
    workspace: Workspace, model_id: str, *, needs: Iterable[str] = ()
) -> EvaluationResult | None:
    """The evaluation every page quotes for a model: the latest covering the most variants.

    `needs` narrows it to evaluations that measured those variants together (FP32 next to INT8 must
    come from one run on one data set).
    """
    naming = _naming(workspace, model_id)
    return _primary(
        [_renamed_evaluation(e, naming) for e in load_evaluations(workspace, model_id).items], needs
    )


def _pick_evaluations(
    evaluations: Sequence[EvaluationResult],
) -> tuple[EvaluationResult | None, dict[str, EvaluationResult]]:
    usable = _usable_evaluations(evaluations)
    primary = _primary(usable)
    if primary is None:
        return None, {}
    by_variant = dict.fromkeys(primary.scored(), primary)
    for evaluation in reversed(usable):
        for variant in evaluation.scored():
            by_variant.setdefault(variant, evaluation)
    return primary, by_variant


def evaluations_used(
    workspace: Workspace, *, model_ids: Iterable[str] | None = None
) -> dict[str, list[EvaluationResult]]:
    """Per trained model, the evaluations whose figures the points use: the primary one first."""
    grouped = _evaluations_by_model(workspace, model_ids)
    used = {}
    for model_id, evaluations in sorted(grouped.items()):
        if not _model_info(workspace, model_id, evaluations)[1]:
            continue
        primary, by_variant = _pick_evaluations(evaluations)
        if primary is not None:
            others = {id(e): e for e in by_variant.values() if e is not primary}
            used[model_id] = [primary, *others.values()]
    return used


def _evaluations_by_model(
    workspace: Workspace, model_ids: Iterable[str] | None
) -> dict[str, list[EvaluationResult]]:
    wanted = set(model_ids) if model_ids is not None else None
    grouped: dict[str, list[EvaluationResult]] = {}
    for evaluation in load_evaluations(workspace):
        if wanted is None or evaluation.model_id in wanted:
            grouped.setdefault(evaluation.model_id, []).append(evaluation)
    for model_id, evaluations in grouped.items():
        naming = _naming(workspace, model_id)
        grouped[model_id] = [_renamed_evaluation(e, naming) for e in evaluations]
    return grouped


def _model_info(
    workspace: Workspace, model_id: str, evaluations: Sequence[EvaluationResult]
) -> tuple[str, bool]:
    """Title and trained flag from the registry; for a model it no longer knows, from its latest evaluation."""
    from core.registry import get_model

    try:
        spec = get_model(model_id, workspace)
    except CoreError:
        return model_id, not evaluations or evaluations[-1].trained
    return spec.title, spec.trained


def _parse_time(value) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _newer(a, b) -> bool:
    first, second = _parse_time(a), _parse_time(b)
    return first is not None and second is not None and first > second


def _benchmark_settings(run: VariantRun, result: BenchmarkResult) -> dict:
    s = run.settings
    machine = result.machine or {}
    return {
        "device": s.get("device"),
        "device_name": s.get("device_name") or result.device_name,
        "cpu": machine.get("brand") or s.get("device_name") or result.device_name,
        "isa": machine.get("isa"),
        "hint": s.get("hint"),
        "batch": run.batch,
        "threads": s.get("threads"),
        "streams": s.get("streams"),
        "nireq": s.get("nireq"),
        "inference_precision": s.get("inference_precision"),
        "executed_as": run.execution,
        "throughput_method": s.get("throughput_method"),
        "runtime": s.get("runtime"),
        "created": run.created or result.created,
        "versions": run.versions,
        "source": Path(result.path or "").name,
        "rounds": result.rounds,
        "iterations": run.iterations.get("latency"),
    }


def _dataset_info(evaluation: EvaluationResult) -> dict:
    return {
        "name": evaluation.dataset_name,
        "size": evaluation.dataset_size,
        "ref": evaluation.dataset.get("ref"),
        "created": evaluation.created,
        "source": Path(evaluation.path or "").name,
    }


def collect(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    device: str | None = None,
    hint: str | None = None,
    batch: int | None = 1,
) -> TradeoffSet:
    """One point per (model, variant) that has a matching benchmark run or a labelled evaluation."""
    benchmarks = load_benchmarks(workspace)
    evaluations_loaded = load_evaluations(workspace)
    wanted = set(model_ids) if model_ids is not None else None
    grouped: dict[str, list[EvaluationResult]] = {}
    for evaluation in evaluations_loaded:
        if wanted is None or evaluation.model_id in wanted:
            grouped.setdefault(evaluation.model_id, []).append(evaluation)
    namings = {
        model_id: _naming(workspace, model_id) for model_id in set(grouped) | {r.model_id for r in benchmarks}
    }
    grouped = {m: [_renamed_evaluation(e, namings[m]) for e in evs] for m, evs in grouped.items()}
    bench_models = {r.model_id for r in benchmarks if wanted is None or r.model_id in wanted}
    points: list[TradeoffPoint] = []
    runs_by_model: dict[str, list[dict]] = {}
    results_by_source: dict[str, BenchmarkResult] = {}
    for model_id in sorted(bench_models | set(grouped)):
        runs = _pick_runs(
            benchmarks.items, model_id, device=device, hint=hint, batch=batch, naming=namings[model_id]
        )
        title, trained = _model_info(workspace, model_id, grouped.get(model_id, []))
        primary, by_variant = _pick_evaluations(grouped.get(model_id, [])) if trained else (None, {})
        try:
            stored = {v.id: v for v in workspace.variants(model_id)}
        except (CoreError, OSError):
            stored = {}
        used_runs = {}
        for _, result in runs.values():
            used_runs.setdefault(Path(result.path or "").name, _run_info(result))
            results_by_source[Path(result.path or "").name] = result
        if used_runs:
            runs_by_model[model_id] = sorted(used_runs.values(), key=lambda r: r["created"])
        names = set(runs) | set(by_variant)
        kinds = {}
        for name in names:
            if name in runs:
                kinds[name] = (runs[name][0].backend, runs[name][0].format)
            elif name in stored:
                kinds[name] = (stored[name].backend, stored[name].format)
            else:
                score = by_variant[name].score(name)
                kinds[name] = (score.backend, score.format)
        for name in sorted(names, key=lambda n: variant_order(n, *kinds[n])):
            points.append(
                _point(
                    model_id,
                    title,
                    name,
                    kinds[name],
                    trained,
                    runs.get(name),
                    by_variant.get(name),
                    primary,
                    stored,
                    multiple_runs=len(used_runs) > 1,
                )
            )
    damaged = (*benchmarks.damaged, *evaluations_loaded.damaged)
    return TradeoffSet(tuple(points), runs_by_model, tuple(damaged), results_by_source)


def collect_points(workspace: Workspace, **filters) -> list[TradeoffPoint]:
    return list(collect(workspace, **filters).points)


def _point(
    model_id, title, variant, kind, trained, picked, evaluation, primary, stored, *, multiple_runs: bool
) -> TradeoffPoint:
    backend, fmt = kind
    notes = []
    latency = throughput = iqr = None
    bench: dict = {}
    stable, reasons = True, ()
    if picked is None:
        notes.append("no benchmark run matches the chosen device, hint and batch")
    else:
        run, result = picked
        latency, throughput, iqr = run.median_ms, run.throughput_fps, run.latency.iqr
        bench = _benchmark_settings(run, result)
        stable, reasons = run.stable, run.unstable_reasons
        if run.batch != 1:
            notes.append(f"latency measured at batch {run.batch}, not per single image")
        if run.hint and str(run.hint).lower() != PREFERRED_HINT:
            notes.append(f"measured with the {run.hint} hint: single-request latency is not its aim")
        if multiple_runs:
            notes.append(f"latency from the benchmark run of {result.created} ({bench['source']})")
        if not stable:
            notes.append("unstable: " + "; ".join(reasons) + "; measure again")

    top1 = ci = None
    dataset = None
    if not trained:
        notes.append("untrained: latency only")
    elif evaluation is None:
        notes.append("no accuracy yet: evaluate this variant on a labelled set")
    else:
        score = evaluation.score(variant)
        top1, ci = score.top1, score.top1_ci95
        dataset = _dataset_info(evaluation)
        if evaluation is not primary:
            notes.append(
                f"accuracy from another evaluation ({dataset['name']}, {dataset['size']} images, "
                f"{dataset['created']}) than this model's other variants"
            )

    size = None
    recipe = ""
    if backend == Backend.TORCH:
        fp32 = stored.get("fp32")
        if fp32 is not None:
            weights = (fp32.manifest.get("files") or {}).get("model.bin") or {}
            size = (weights.get("bytes") or fp32.size_bytes) / MIB
            notes.append("size approximated by the FP32 IR's weights")
        recipe = "the PyTorch model itself (eager)"
    elif variant in stored:
        found = stored[variant]
        size = found.size_bytes / MIB
        recipe = found.recipe.summary()
        for what, when in (
            ("benchmark", bench.get("created")),
            ("evaluation", (dataset or {}).get("created")),
        ):
            if when and _newer(found.created, when):
                notes.append(f"{found.title} was replaced after this {what}; measure it again")
    else:
        notes.append("no such variant on disk any more: size unknown")

    return TradeoffPoint(
        model_id=model_id,
        title=title,
        variant=variant,
        backend=backend,
        format=fmt,
        latency_ms=latency,
        throughput_fps=throughput,
        top1=top1,
        top1_ci95=ci,
        size_mib=size,
        trained=trained,
        benchmark=bench,
        dataset=dataset,
        recipe=recipe,
        latency_iqr_ms=iqr,
        stable=stable,
        unstable_reasons=tuple(reasons),
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


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


def recommend(
    points: Iterable[TradeoffPoint],
    *,
    min_top1: float | None = None,
    max_latency_ms: float | None = None,
    within_points: float = DEFAULT_WITHIN_POINTS,
) -> Recommendation:
    """The fastest stable point whose accuracy is known and meets the floor, within the latency budget.

    Without an explicit floor the floor is "within `within_points` of the most accurate variant", so the
    default never trades real accuracy for speed. Points without a measured accuracy are never
    recommended (their cost is unknown), nor are unstable figures. Ties in latency go to the smaller model.
    """
    complete = [p for p in points if p.complete]
    if not complete:
        return Recommendation(
            None, "no point has both a latency and an accuracy yet; run a benchmark and an evaluation"
        )
    best_top1 = max(p.top1 for p in complete)
    floor = min_top1 if min_top1 is not None else best_top1 - within_points / 100
    floor_text = (
        f"at least {_pct(min_top1)} top-1"
        if min_top1 is not None
        else f"within {within_points:g} point{'s' if within_points != 1 else ''} of the best top-1 ({_pct(best_top1)})"
    )
    accurate = [p for p in complete if p.top1 >= floor - 1e-12]
    fast = [p for p in complete if max_latency_ms is None or p.latency_ms <= max_latency_ms]
    qualifying = sorted(
        (p for p in accurate if p in fast),
        key=lambda p: (p.latency_ms, p.size_mib if p.size_mib is not None else float("inf"), -p.top1),
    )
    stable = [p for p in qualifying if p.stable]
    budget = _ms(max_latency_ms) if max_latency_ms is not None else ""
    if stable:
        best = stable[0]
        limits = floor_text + (f" and within {budget}" if budget else "")
        reason = (
            f"{best.label}: the fastest at {_ms(best.latency_ms)} median latency with {_pct(best.top1)} top-1 "
            f"({limits}); {len(stable)} of {len(complete)} measured points qualify"
        )
        skipped = [p for p in qualifying if not p.stable and p.latency_ms < best.latency_ms]
        if skipped:
            reason += f"; {', '.join(p.label for p in skipped)} measured faster but unstable: measure again to compare"
        return Recommendation(best, reason, tuple(stable), floor)
    if qualifying:
        names = ", ".join(p.label for p in qualifying)
        return Recommendation(
            None,
            f"the points that qualify ({names}) come from unstable measurements (the machine was busy); "
            "measure them again before choosing",
            (),
            floor,
        )
    most_accurate = max(complete, key=lambda p: p.top1)
    fastest = min(complete, key=lambda p: p.latency_ms)
    if not accurate and max_latency_ms is None:
        reason = f"no model reaches {floor_text}; the most accurate is {most_accurate.label} at {_pct(most_accurate.top1)}"
    elif not fast and not accurate:
        reason = f"no model reaches {floor_text} within {budget}"
    elif not fast:
        reason = f"no model runs within {budget}; the fastest is {fastest.label} at {_ms(fastest.latency_ms)}"
    else:
        closest = []
        p = min(accurate, key=lambda p: p.latency_ms)
        closest.append(f"{p.label} reaches it at {_ms(p.latency_ms)}")
        q = max(fast, key=lambda p: p.top1)
        closest.append(f"within budget the most accurate is {q.label} at {_pct(q.top1)}")
        reason = f"no model reaches {floor_text} within {budget}; the closest: " + "; ".join(closest)
    return Recommendation(None, reason, (), floor)


def points_table(points: Iterable[TradeoffPoint]) -> list[dict]:
    """Flat rows (percent and MiB rounded for reading) with the conditions each figure was measured under."""
    rows = []
    for p in points:
        bench = p.benchmark
        dataset = p.dataset or {}
        rows.append(
            {
                "model": short_title(p.title),
                "model_id": p.model_id,
                "variant": p.variant,
                "precision": p.variant_title,
                "backend": p.backend.value,
                "recipe": p.recipe,
                "latency_ms": _round(p.latency_ms, 3),
                "latency_iqr_ms": _round(p.latency_iqr_ms, 3),
                "stable": p.stable if p.latency_ms is not None else None,
                "throughput_fps": _round(p.throughput_fps, 1),
                "top1_pct": _round(p.top1 * 100 if p.top1 is not None else None, 2),
                "top1_ci95_low_pct": _round(p.top1_ci95[0] * 100 if p.top1_ci95 else None, 2),
                "top1_ci95_high_pct": _round(p.top1_ci95[1] * 100 if p.top1_ci95 else None, 2),
                "size_mib": _round(p.size_mib, 3),
                "trained": p.trained,
                "cpu": bench.get("cpu"),
                "isa": ", ".join(bench.get("isa") or []) or None,
                "device": bench.get("device"),
                "device_name": bench.get("device_name"),
                "executed_as": bench.get("executed_as") or bench.get("inference_precision"),
                "hint": bench.get("hint"),
                "batch": bench.get("batch"),
                "threads": bench.get("threads"),
                "streams": bench.get("streams"),
                "benchmarked": bench.get("created"),
                "benchmark_run": bench.get("source"),
                "dataset": dataset.get("name"),
                "dataset_size": dataset.get("size"),
                "notes": "; ".join(p.notes),
            }
        )
    return rows


def _round(value: float | None, digits: int) -> float | None:
    return round(float(value), digits) if value is not None else None


def latest_run_with(
    workspace: Workspace, model_id: str, variants: Iterable[str], *, batch: int = 1
) -> BenchmarkResult | None:
    """The newest benchmark run that measured all of `variants` together (at `batch`): the only fair source
    of a ratio between them."""
    wanted = set(variants)
    newest = None
    naming = _naming(workspace, model_id)
    for result in load_benchmarks(workspace, model_id):
        if result.grid:
            continue
        result = _renamed_benchmark(result, naming)
        measured = {run.variant for run in result.runs if run.batch == batch}
        if wanted <= measured and (newest is None or result.created >= newest.created):
            newest = result
    return newest
