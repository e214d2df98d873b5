"""What Home shows: one card per model with its variants, and the guided demo's summary, both
computed from the saved results each time (never frozen text that can contradict the cards).

A speed-up is only quoted between variants measured in the same benchmark run, with its per-round
range; an unstable figure is shown as such and never becomes a headline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.catalog import variant_label, variant_order
from core.machine import machine_text
from core.results import BenchmarkResult, Comparison, EvaluationResult, load_benchmarks, load_evaluations
from core.tradeoffs import TradeoffPoint, TradeoffSet, collect
from core.workspace import Workspace

__all__ = [
    "CARD_ROW",
    "CARD_VARIANTS",
    "DemoSummary",
    "ModelCard",
    "VariantCard",
    "demo_summary",
    "model_cards",
]

CARD_VARIANTS = 8  # variants a Home card shows; the rest are on Trade-offs
CARD_ROW = 4  # variants per row: wider rows cut figures short ("0.32 m…")


@dataclass(frozen=True)
class VariantCard:
    variant: str
    title: str
    size_bytes: int | None
    share_of_fp32: float | None
    latency_ms: float | None
    stable: bool
    comparison: Comparison | None
    reference_title: str | None
    top1: float | None
    top1_ci95: tuple[float, float] | None
    executed_as: str | None


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    title: str
    trained: bool
    variants: tuple[VariantCard, ...]
    latency_note: str
    accuracy_note: str
    mixed_runs: bool = False
    unstable: tuple[str, ...] = ()

    def featured(self) -> tuple[VariantCard, ...]:
        """The variants a card shows: measured ones first, in their order, then the others, CARD_VARIANTS at most
        (a calibration study adds a dozen unmeasured variants, which must not push the measured ones off)."""
        ranked = sorted(self.variants, key=lambda r: r.latency_ms is None and r.top1 is None)
        return tuple(ranked[:CARD_VARIANTS])


def model_cards(workspace: Workspace) -> list[ModelCard]:
    """A card per model that has a stored variant or a result."""
    found = collect(workspace)
    by_model: dict[str, list[TradeoffPoint]] = {}
    for point in found.points:
        by_model.setdefault(point.model_id, []).append(point)
    stored = {}
    for model_id in workspace.model_ids():
        try:
            stored[model_id] = workspace.variants(model_id)
        except Exception:  # a model folder that cannot be read is left out, not a crash
            continue
    cards = []
    for model_id in sorted(set(by_model) | {m for m, v in stored.items() if v}):
        cards.append(_card(workspace, model_id, by_model.get(model_id, []), stored.get(model_id, []), found))
    return cards


def _card(
    workspace: Workspace, model_id: str, points: list[TradeoffPoint], stored, found: TradeoffSet
) -> ModelCard:
    from core.registry import model_title

    title = points[0].title if points else model_title(model_id, workspace)
    trained = all(p.trained for p in points) if points else all(v.trained for v in stored)
    by_variant = {p.variant: p for p in points}
    sizes = {v.id: v.size_bytes for v in stored}
    fp32 = sizes.get("fp32")
    names = list(dict.fromkeys([*(p.variant for p in points), *(v.id for v in stored)]))
    reference = "torch" if "torch" in by_variant else ("fp32" if "fp32" in by_variant else None)
    rows = []
    for name in names:
        point = by_variant.get(name)
        size = sizes.get(name)
        comparison = found.comparison(point, reference) if point is not None and name != reference else None
        rows.append(
            VariantCard(
                variant=name,
                title=variant_label(name),
                size_bytes=size,
                share_of_fp32=(size / fp32) if size and fp32 and name != "fp32" else None,
                latency_ms=point.latency_ms if point else None,
                stable=point.stable if point else True,
                comparison=comparison,
                reference_title=variant_label(reference) if reference and comparison else None,
                top1=point.top1 if point else None,
                top1_ci95=point.top1_ci95 if point else None,
                executed_as=(point.benchmark or {}).get("executed_as") if point else None,
            )
        )
    backends = {p.variant: (p.backend, p.format) for p in points} | {
        v.id: (v.backend, v.format) for v in stored
    }
    rows.sort(key=lambda r: variant_order(r.variant, *backends.get(r.variant, (None, None))))
    runs = found.runs_by_model.get(model_id, [])
    if not runs:
        latency_note = "Not benchmarked yet: open Benchmark."
    else:
        result = found.results.get(runs[-1]["source"])
        where = machine_text(result.machine) if result is not None and result.machine else ""
        if len(runs) == 1:
            latency_note = (
                f"Latency: median of one benchmark run ({runs[0]['created']}{', ' + where if where else ''})."
            )
        else:
            listed = "; ".join(f"{r['created']}: {', '.join(r['variants'])}" for r in runs)
            latency_note = (
                f"Latency from {len(runs)} benchmark runs ({listed}): speed-ups are quoted only within one run. "
                "Measure all variants again to compare them."
            )
    with_accuracy = [p for p in points if p.dataset]
    if with_accuracy:
        d = with_accuracy[0].dataset or {}
        accuracy_note = f"Top-1 with 95 % interval on {d.get('name')} ({d.get('size')} images)."
    else:
        accuracy_note = "No accuracy measured yet." if trained else "Untrained: latency only."
    return ModelCard(
        model_id=model_id,
        title=title,
        trained=trained,
        variants=tuple(rows),
        latency_note=latency_note,
        accuracy_note=accuracy_note,
        mixed_runs=len(runs) > 1,
        unstable=tuple(p.variant for p in points if p.latency_ms is not None and not p.stable),
    )


@dataclass(frozen=True)
class DemoSummary:
    """The demo's outcome from its own saved results: sizes, one benchmark run, one evaluation."""

    sizes: dict[str, int] = field(default_factory=dict)
    benchmark: BenchmarkResult | None = None
    evaluation: EvaluationResult | None = None
    int8_variant: str = "int8"
    headline: str | None = None  # None when the speed figures are unstable
    unstable_reasons: tuple[str, ...] = ()

    @property
    def speedup(self) -> Comparison | None:
        if self.benchmark is None:
            return None
        return next((c for c in self.benchmark.comparisons("torch") if c.variant == self.int8_variant), None)


def demo_summary(workspace: Workspace, result: dict) -> DemoSummary:
    """Read the demo job's result files back (typed) and say what they show, stable or not."""
    model_id = result.get("model_id") or "efficientnet-lite0"
    int8 = result.get("int8_variant") or "int8"
    sizes = {}
    for variant in workspace.variants(model_id):
        if variant.id in ("fp32", "fp16", int8):
            sizes[variant.id] = variant.size_bytes
    benchmark = _by_path(load_benchmarks(workspace, model_id).items, result.get("benchmark_path"))
    evaluation = _by_path(load_evaluations(workspace, model_id).items, result.get("evaluation_path"))
    headline, reasons = None, ()
    summary = DemoSummary(sizes, benchmark, evaluation, int8)
    comparison = summary.speedup
    if benchmark is not None:
        reasons = tuple(
            f"{r.variant}: {'; '.join(r.unstable_reasons)}" for r in benchmark.runs if not r.stable
        )
        if comparison is not None and comparison.stable:
            headline = f"INT8 runs {comparison.text()} faster than PyTorch on this CPU"
    return DemoSummary(sizes, benchmark, evaluation, int8, headline, reasons)


def _by_path(items, path: str | None):
    if not path:
        return None
    name = Path(path).name
    return next((item for item in items if Path(item.path or "").name == name), None)
