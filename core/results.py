"""Saved results as typed objects: every class reads its own file back with `from_dict`.

Trade-offs, plots, the report and the pages read these instead of chains of `.get(...) or {}`.
Files written before variants existed (keyed by `precision`) read as the variants of those names.
A file that cannot be read, or has the wrong shape, becomes one `DamagedResult` with the reason:
a view shows it as skipped, never crashes on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from core.catalog import DEFAULT_VARIANTS, Backend, NumberFormat, variant_order, variant_title
from core.errors import InputError
from core.workspace import DamagedResult, Workspace

__all__ = [
    "Agreement",
    "BenchmarkResult",
    "Comparison",
    "EvaluationResult",
    "LatencyStats",
    "Loaded",
    "VariantRun",
    "VariantScore",
    "load_benchmarks",
    "load_evaluations",
    "load_kind",
    "need",
    "precision_key",
    "wilson_interval",
]

UNSTABLE_IQR_RATIO = 0.25  # interquartile range above a quarter of the median: too noisy to headline
MIN_STABLE_ITERATIONS = 30
ROUND_SPREAD_LIMIT = 1.5  # the slowest round's median over the fastest's


class ResultShapeError(ValueError):
    """A result file parses as JSON but is not the kind of result it claims to be."""


def need(data: Mapping, key: str, kind: type | tuple = object) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        msg = f"lacks {key!r}"
        raise ResultShapeError(msg)
    value = data[key]
    if not isinstance(value, kind):
        msg = f"{key!r} is a {type(value).__name__}"
        raise ResultShapeError(msg)
    return value


def _num(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return default


def _variant_of(data: Mapping) -> tuple[str, Backend, NumberFormat]:
    """(variant id, backend, format) of a run or score, from new keys or a pre-variant `precision`."""
    variant = str(data.get("variant") or data.get("precision") or "")
    if not variant:
        msg = "names no variant or precision"
        raise ResultShapeError(msg)
    kind = DEFAULT_VARIANTS.get(variant)
    try:
        backend = Backend(data.get("backend") or (kind.backend if kind else Backend.OPENVINO))
        fmt_text = data.get("format") or (kind.format if kind else data.get("precision"))
        fmt = NumberFormat(fmt_text) if fmt_text in {f.value for f in NumberFormat} else NumberFormat.FP32
    except ValueError as exc:
        raise ResultShapeError(str(exc)) from exc
    return variant, backend, fmt


def precision_key(variant: str, backend: Backend, fmt: NumberFormat) -> str:
    """The `precision` key kept in every output: the number format, or 'torch' for the reference."""
    return "torch" if backend == Backend.TORCH else fmt.value


def executed_as(inference_precision: str | None, fmt: NumberFormat) -> str | None:
    """What ran: 'f32'; 'bf16' for an FP16 model on an AMX CPU; 'int8 + bf16' for INT8, whose quantized
    layers run in 8-bit and the rest in the floating-point precision the CPU plugin chose."""
    if not inference_precision:
        return None
    if fmt == NumberFormat.INT8:
        return f"int8 + {inference_precision}"
    if fmt == NumberFormat.INT8_WEIGHTS:
        return f"{inference_precision} (int8 weights)"
    return str(inference_precision)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion: stays inside [0, 1] and is honest for small n."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        msg = f"{successes} successes out of {n} is impossible; successes must be 0..n"
        raise InputError(msg)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


# benchmark ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-call latencies in ms; q1/q3 are None in results made before they were kept."""

    median: float
    mean: float
    min: float
    max: float
    p90: float
    q1: float | None = None
    q3: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> LatencyStats:
        array = np.asarray(list(values), dtype=np.float64)
        q1, median, q3, p90 = np.percentile(array, [25, 50, 75, 90])
        return cls(
            median=round(float(median), 4),
            mean=round(float(array.mean()), 4),
            min=round(float(array.min()), 4),
            max=round(float(array.max()), 4),
            p90=round(float(p90), 4),
            q1=round(float(q1), 4),
            q3=round(float(q3), 4),
        )

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None or self.q3 is None else self.q3 - self.q1

    @property
    def iqr_ratio(self) -> float | None:
        return None if self.iqr is None or self.median <= 0 else self.iqr / self.median

    def to_dict(self) -> dict:
        data = {"median": self.median, "mean": self.mean, "min": self.min, "max": self.max, "p90": self.p90}
        if self.q1 is not None:
            data.update(q1=self.q1, q3=self.q3, iqr=round(self.iqr or 0.0, 4))
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> LatencyStats:
        median = _num(need(data, "median"))
        if median is None or median <= 0:
            msg = "has no positive median latency"
            raise ResultShapeError(msg)
        return cls(
            median=median,
            mean=_num(data.get("mean"), median),
            min=_num(data.get("min"), median),
            max=_num(data.get("max"), median),
            p90=_num(data.get("p90"), median),
            q1=_num(data.get("q1")),
            q3=_num(data.get("q3")),
        )


@dataclass(frozen=True)
class VariantRun:
    """One variant's measurement in one benchmark run; `to_dict` is the stable `benchmark --json` form."""

    model_id: str
    variant: str
    backend: Backend
    format: NumberFormat
    latency: LatencyStats
    throughput_fps: float
    first_inference_ms: float | None
    compile_ms: float | None
    compile_source: str
    iterations: dict
    duration_s: dict
    latencies_ms: tuple[float, ...]
    settings: dict
    versions: dict
    created: str
    recipe: str = ""
    round_medians: tuple[float, ...] = ()
    unstable_reasons: tuple[str, ...] = ()
    fingerprint: str = (
        ""  # of the variant's files when measured: tells a renamed variant from a newer namesake
    )

    @property
    def precision(self) -> str:
        return precision_key(self.variant, self.backend, self.format)

    @property
    def title(self) -> str:
        return variant_title(self.variant, self.backend, self.format)

    @property
    def median_ms(self) -> float:
        return self.latency.median

    @property
    def stable(self) -> bool:
        return not self.unstable_reasons

    @property
    def batch(self) -> int:
        return int(self.settings.get("batch") or 1)

    @property
    def hint(self) -> str | None:
        return self.settings.get("hint")

    @property
    def execution(self) -> str | None:
        return executed_as(self.settings.get("inference_precision"), self.format)

    @property
    def compiled_from_cache(self) -> bool:
        return self.compile_source in ("memory", "disk-cache")

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "precision": self.precision,
            "variant": self.variant,
            "backend": self.backend.value,
            "format": self.format.value,
            "recipe": self.recipe,
            "fingerprint": self.fingerprint or None,
            "latency_ms": self.latency.to_dict(),
            "throughput_fps": self.throughput_fps,
            "first_inference_ms": self.first_inference_ms,
            "compile_ms": self.compile_ms,
            "compiled_from_cache": self.compiled_from_cache,
            "iterations": self.iterations,
            "duration_s": self.duration_s,
            "latencies_ms": list(self.latencies_ms),
            "round_medians_ms": list(self.round_medians),
            "stable": self.stable,
            "unstable_reasons": list(self.unstable_reasons),
            "settings": self.settings,
            "versions": self.versions,
            "created": self.created,
            "compile_source": self.compile_source,
        }

    @classmethod
    def from_dict(cls, data: Mapping, *, model_id: str = "") -> VariantRun:
        variant, backend, fmt = _variant_of(data)
        settings = data.get("settings") if isinstance(data.get("settings"), Mapping) else {}
        iterations = data.get("iterations") if isinstance(data.get("iterations"), Mapping) else {}
        reasons = data.get("unstable_reasons")
        return cls(
            model_id=str(data.get("model_id") or model_id),
            variant=variant,
            backend=backend,
            format=fmt,
            latency=LatencyStats.from_dict(need(data, "latency_ms", Mapping)),
            throughput_fps=_num(data.get("throughput_fps"), 0.0) or 0.0,
            first_inference_ms=_num(data.get("first_inference_ms")),
            compile_ms=_num(data.get("compile_ms")),
            compile_source=str(
                data.get("compile_source") or ("memory" if data.get("compiled_from_cache") else "compiled")
            ),
            iterations=dict(iterations),
            duration_s=dict(data.get("duration_s") or {}),
            latencies_ms=tuple(float(v) for v in data.get("latencies_ms") or () if _num(v) is not None),
            settings=dict(settings),
            versions=dict(data.get("versions") or {}),
            created=str(data.get("created") or ""),
            recipe=str(data.get("recipe") or ""),
            round_medians=tuple(float(v) for v in data.get("round_medians_ms") or () if _num(v) is not None),
            fingerprint=str(data.get("fingerprint") or ""),
            # a run saved before stability was judged carries no verdict: judge it by what it has
            unstable_reasons=tuple(reasons)
            if isinstance(reasons, list)
            else _legacy_reasons(data, iterations),
        )


def _legacy_reasons(data: Mapping, iterations: Mapping) -> tuple[str, ...]:
    count = iterations.get("latency")
    reasons = []
    if isinstance(count, int) and count < MIN_STABLE_ITERATIONS:
        reasons.append(f"only {count} timed iterations (fewer than {MIN_STABLE_ITERATIONS})")
    latency = data.get("latency_ms") or {}
    median, low, high = _num(latency.get("median")), _num(latency.get("min")), _num(latency.get("max"))
    if median and low and high and high / max(low, 1e-9) > 3:
        reasons.append(f"latency ranged from {low:.3g} to {high:.3g} ms (measured before rounds were kept)")
    return tuple(reasons)


def judge_stability(stats: LatencyStats, iterations: int, round_medians: Iterable[float]) -> tuple[str, ...]:
    """Why a variant's figures are too noisy to be a headline (empty when they are fine)."""
    reasons = []
    if iterations < MIN_STABLE_ITERATIONS:
        reasons.append(f"only {iterations} timed iterations (fewer than {MIN_STABLE_ITERATIONS})")
    ratio = stats.iqr_ratio
    if ratio is not None and ratio > UNSTABLE_IQR_RATIO:
        reasons.append(
            f"interquartile range {ratio * 100:.1f} % of the median (more than {UNSTABLE_IQR_RATIO * 100:.0f} %): "
            "the machine was busy"
        )
    medians = [m for m in round_medians if m > 0]
    if len(medians) >= 2 and max(medians) / min(medians) > ROUND_SPREAD_LIMIT:
        reasons.append(
            f"round medians ranged from {min(medians):.3g} to {max(medians):.3g} ms (more than "
            f"{ROUND_SPREAD_LIMIT:g}×): the load changed during the run"
        )
    return tuple(reasons)


@dataclass(frozen=True)
class Comparison:
    """How many times faster `variant` is than `reference`, from the same run: median and the range of
    the per-round ratios."""

    variant: str
    reference: str
    ratio: float
    low: float
    high: float
    stable: bool

    def text(self) -> str:
        if self.low != self.high:
            return f"{self.ratio:.1f}× ({self.low:.1f}–{self.high:.1f}×)"
        return f"{self.ratio:.1f}×"

    def to_dict(self) -> dict:
        return {
            "variant": self.variant,
            "reference": self.reference,
            "ratio": round(self.ratio, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "stable": self.stable,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Comparison:
        ratio = _num(need(data, "ratio"))
        if ratio is None:
            msg = "comparison without a ratio"
            raise ResultShapeError(msg)
        return cls(
            str(need(data, "variant")),
            str(need(data, "reference")),
            ratio,
            _num(data.get("low"), ratio) or ratio,
            _num(data.get("high"), ratio) or ratio,
            bool(data.get("stable", True)),
        )


def compare(run: VariantRun, reference: VariantRun) -> Comparison:
    """`reference` median over `run` median, with the range of the same ratio per round."""
    ratio = reference.median_ms / run.median_ms
    pairs = [
        (r, v) for r, v in zip(reference.round_medians, run.round_medians, strict=False) if r > 0 and v > 0
    ]
    per_round = [r / v for r, v in pairs] or [ratio]
    return Comparison(
        run.variant, reference.variant, ratio, min(per_round), max(per_round), run.stable and reference.stable
    )


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark run: every variant measured in interleaved rounds under one set of conditions."""

    model_id: str
    created: str
    config: dict
    device_name: str
    runs: tuple[VariantRun, ...]
    skipped: tuple[dict, ...] = ()
    machine: dict = field(default_factory=dict)
    rounds: int = 1
    grid: dict | None = None
    path: str | None = None

    @property
    def stable(self) -> bool:
        return all(run.stable for run in self.runs)

    @property
    def interleaved(self) -> bool:
        return self.rounds > 1

    @property
    def variants(self) -> list[str]:
        return [run.variant for run in self.runs]

    def run(self, variant: str) -> VariantRun | None:
        return next((r for r in self.runs if r.variant == variant), None)

    def reference(self) -> VariantRun | None:
        """The run ratios are quoted against: PyTorch if measured, else OpenVINO FP32, else the first."""
        for name in ("torch", "fp32"):
            found = self.run(name)
            if found is not None:
                return found
        return self.runs[0] if self.runs else None

    def comparisons(self, reference: str | None = None) -> list[Comparison]:
        base = self.run(reference) if reference else self.reference()
        if base is None or self.grid:
            return []
        return [compare(run, base) for run in self.runs if run is not base and run.batch == base.batch]

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "config": self.config,
            "created": self.created,
            "device_name": self.device_name,
            "machine": self.machine,
            "rounds": self.rounds,
            "runs": [run.to_dict() for run in self.runs],
            "skipped": list(self.skipped),
            "comparisons": [c.to_dict() for c in self.comparisons()],
            "stable": self.stable,
            **({"grid": True} if self.grid else {}),
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> BenchmarkResult:
        model_id = str(need(data, "model_id", str))
        runs = tuple(VariantRun.from_dict(r, model_id=model_id) for r in need(data, "runs", list))
        config = data.get("config") if isinstance(data.get("config"), Mapping) else {}
        grid = config.get("grid") if data.get("grid") else None
        return cls(
            model_id=model_id,
            created=str(data.get("created") or ""),
            config=dict(config),
            device_name=str(
                data.get("device_name") or (runs[0].settings.get("device_name") if runs else "") or ""
            ),
            runs=runs,
            skipped=tuple(s for s in data.get("skipped") or () if isinstance(s, Mapping)),
            machine=dict(data.get("machine") or {}),
            rounds=int(data.get("rounds") or 1),
            grid=dict(grid)
            if isinstance(grid, Mapping)
            else ({"batches": [], "streams": []} if data.get("grid") else None),
            path=data.get("_path") or data.get("path"),
        )

    def __str__(self) -> str:
        from core.machine import machine_text

        c = self.config
        head = (
            f"{self.model_id} on {machine_text(self.machine) if self.machine else self.device_name}: "
            f"hint {c.get('hint')}, batch {c.get('batch')}, {c.get('seconds', 0):g} s per variant"
            + (f" in {self.rounds} interleaved rounds" if self.rounds > 1 else "")
        )
        lines = [head, "", format_runs(self.runs, self.skipped)]
        comparisons = self.comparisons()
        if comparisons:
            lines.append("")
            for comp in comparisons:
                flag = "" if comp.stable else "  [unstable]"
                lines.append(f"{comp.variant} vs {comp.reference}: {comp.text()} faster{flag}")
        unstable = [run for run in self.runs if not run.stable]
        for run in unstable:
            lines.append(f"unstable {run.variant}: {'; '.join(run.unstable_reasons)}; measure again")
        return "\n".join(lines)


def format_runs(runs: Iterable[VariantRun], skipped: Iterable[dict] = ()) -> str:
    """A benchmark_app-like summary table."""
    header = (
        f"{'variant':<18}{'backend':<12}{'executed as':>12}{'batch':>6}{'streams':>8}{'nireq':>6}{'compile ms':>11}"
        f"{'median':>9}{'IQR':>8}{'min':>9}{'max':>9}{'p90':>9}{'FPS':>10}"
    )
    lines = [header]
    for r in runs:
        s, lat = r.settings, r.latency
        compile_ms = (
            "-" if r.compile_ms is None else f"{r.compile_ms:.0f}" + ("*" if r.compiled_from_cache else "")
        )
        iqr = "-" if lat.iqr is None else f"{lat.iqr:.3f}"
        lines.append(
            f"{r.variant:<18}{r.backend.value:<12}{str(r.execution or '-'):>12}{r.batch:>6}"
            f"{str(s.get('streams') or '-'):>8}{str(s.get('nireq') or '-'):>6}{compile_ms:>11}{lat.median:>9.3f}"
            f"{iqr:>8}{lat.min:>9.3f}{lat.max:>9.3f}{lat.p90:>9.3f}{r.throughput_fps:>10.1f}"
            + ("" if r.stable else "  unstable")
        )
    lines.append(
        "latency in ms (synchronous, one request); exec: the precision that executed; * compiled model came from a cache"
    )
    for skip in skipped:
        lines.append(f"skipped {skip.get('variant') or skip.get('precision')}: {skip.get('reason')}")
    return "\n".join(lines)


# evaluation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantScore:
    """One variant's figures on one set; accuracy fields are None on an unlabelled set."""

    variant: str
    backend: Backend
    format: NumberFormat
    count: int
    top1: float | None
    top5: float | None
    correct1: int | None
    correct5: int | None
    top1_ci95: tuple[float, float] | None
    top5_ci95: tuple[float, float] | None
    ms_per_image: float
    batch: int
    recipe: str = ""
    fingerprint: str = ""

    @property
    def precision(self) -> str:
        return precision_key(self.variant, self.backend, self.format)

    @property
    def title(self) -> str:
        return variant_title(self.variant, self.backend, self.format)

    def to_dict(self) -> dict:
        return {
            "precision": self.precision,
            "variant": self.variant,
            "backend": self.backend.value,
            "format": self.format.value,
            "recipe": self.recipe,
            "fingerprint": self.fingerprint or None,
            "count": self.count,
            "top1": self.top1,
            "top5": self.top5,
            "correct1": self.correct1,
            "correct5": self.correct5,
            "top1_ci95": list(self.top1_ci95) if self.top1_ci95 else None,
            "top5_ci95": list(self.top5_ci95) if self.top5_ci95 else None,
            "ms_per_image": self.ms_per_image,
            "batch": self.batch,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> VariantScore:
        variant, backend, fmt = _variant_of(data)
        count = int(need(data, "count", int))

        def interval(key: str) -> tuple[float, float] | None:
            value = data.get(key)
            if (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(_num(v) is not None for v in value)
            ):
                return (float(value[0]), float(value[1]))
            return None

        return cls(
            variant=variant,
            backend=backend,
            format=fmt,
            count=count,
            top1=_num(data.get("top1")),
            top5=_num(data.get("top5")),
            correct1=data.get("correct1") if isinstance(data.get("correct1"), int) else None,
            correct5=data.get("correct5") if isinstance(data.get("correct5"), int) else None,
            top1_ci95=interval("top1_ci95"),
            top5_ci95=interval("top5_ci95"),
            ms_per_image=_num(data.get("ms_per_image"), 0.0) or 0.0,
            batch=int(data.get("batch") or 1),
            recipe=str(data.get("recipe") or ""),
            fingerprint=str(data.get("fingerprint") or ""),
        )


@dataclass(frozen=True)
class Agreement:
    """How often two variants give the same top-1 on the same images (needs no labels)."""

    a: str
    b: str
    rate: float
    same: int
    count: int
    ci95: tuple[float, float]
    top5_overlap: float | None = None  # mean share of top-5 classes the two have in common

    @property
    def key(self) -> str:
        return f"{self.a}-vs-{self.b}"

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "rate": self.rate,
            "same": self.same,
            "count": self.count,
            "ci95": list(self.ci95),
            "top5_overlap": self.top5_overlap,
        }

    @classmethod
    def from_dict(cls, key: str, data: Mapping) -> Agreement:
        a, b = data.get("a"), data.get("b")
        if not a or not b:
            a, _, b = key.partition("-vs-")
        ci = data.get("ci95") or (data.get("rate"), data.get("rate"))
        return cls(
            str(a),
            str(b),
            float(need(data, "rate", int | float)),
            int(data.get("same") or 0),
            int(data.get("count") or 0),
            (float(ci[0]), float(ci[1])),
            _num(data.get("top5_overlap")),
        )


@dataclass(frozen=True)
class EvaluationResult:
    """Accuracy per variant on one data set, agreement between them, and every image's predictions."""

    model_id: str
    created: str
    device: str
    device_name: str
    trained: bool
    dataset: dict
    results: tuple[VariantScore, ...]
    agreement_detail: dict[str, Agreement]
    predictions: dict
    versions: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def agreement(self) -> dict[str, float]:
        return {key: a.rate for key, a in self.agreement_detail.items()}

    @property
    def variants(self) -> list[str]:
        return [s.variant for s in self.results]

    @property
    def labelled(self) -> bool:
        return bool(self.dataset.get("labelled"))

    @property
    def dataset_name(self) -> str:
        return str(self.dataset.get("name") or self.dataset.get("ref") or "unnamed set")

    @property
    def dataset_size(self) -> int | None:
        size = self.dataset.get("size")
        return size if isinstance(size, int) else None

    def scored(self) -> dict[str, VariantScore]:
        """Variant -> score, only the ones with an accuracy (a labelled set)."""
        return {s.variant: s for s in self.results if s.top1 is not None}

    def score(self, variant: str) -> VariantScore:
        for score in self.results:
            if score.variant == variant:
                return score
        msg = f"this evaluation has no {variant!r}; it measured {', '.join(self.variants)}"
        raise InputError(msg)

    def agreement_of(self, a: str, b: str) -> Agreement | None:
        for found in self.agreement_detail.values():
            if {found.a, found.b} == {a, b}:
                return found
        return None

    def top1_of(self, variant: str) -> list[int]:
        return list((self.predictions.get("top1") or {}).get(variant) or [])

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "created": self.created,
            "device": self.device,
            "device_name": self.device_name,
            "machine": self.machine,
            "settings": self.settings,
            "versions": self.versions,
            "trained": self.trained,
            "dataset": self.dataset,
            "results": [s.to_dict() for s in self.results],
            "agreement": self.agreement,
            "agreement_detail": {key: a.to_dict() for key, a in self.agreement_detail.items()},
            "predictions": self.predictions,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> EvaluationResult:
        dataset = need(data, "dataset", Mapping)
        results = tuple(VariantScore.from_dict(r) for r in need(data, "results", list))
        detail = data.get("agreement_detail") if isinstance(data.get("agreement_detail"), Mapping) else {}
        predictions = data.get("predictions") if isinstance(data.get("predictions"), Mapping) else {}
        return cls(
            model_id=str(need(data, "model_id", str)),
            created=str(data.get("created") or ""),
            device=str(data.get("device") or "CPU"),
            device_name=str(data.get("device_name") or data.get("device") or "CPU"),
            trained=data.get("trained", True) is not False,
            dataset=dict(dataset),
            results=results,
            agreement_detail={
                str(k): Agreement.from_dict(str(k), v) for k, v in detail.items() if isinstance(v, Mapping)
            },
            predictions=dict(predictions),
            versions=dict(data.get("versions") or {}),
            machine=dict(data.get("machine") or {}),
            settings=dict(data.get("settings") or {}),
            path=data.get("_path") or data.get("path"),
        )

    def __str__(self) -> str:
        set_line = f"{self.dataset_name} ({self.dataset_size} images)"
        lines = [f"{self.model_id} on {set_line}, {self.device_name}", ""]
        lines.append(f"{'variant':<18}{'top-1':>8}{'95% CI':>17}{'top-5':>8}{'ms/img':>9}")
        for s in self.results:
            top1 = f"{s.top1:.1%}" if s.top1 is not None else "-"
            ci = f"{s.top1_ci95[0]:.1%}-{s.top1_ci95[1]:.1%}" if s.top1_ci95 else "-"
            top5 = f"{s.top5:.1%}" if s.top5 is not None else "-"
            lines.append(f"{s.variant:<18}{top1:>8}{ci:>17}{top5:>8}{s.ms_per_image:>9.2f}")
        if not self.labelled:
            lines.append(
                "(no labels in this set: top-1 and top-5 need them; agreement between variants does not)"
            )
        if self.agreement_detail:
            lines.append("")
            for a in self.agreement_detail.values():
                overlap = f", top-5 overlap {a.top5_overlap:.1%}" if a.top5_overlap is not None else ""
                lines.append(
                    f"agreement {a.a} vs {a.b}: {a.rate:.2%} ({a.same}/{a.count}, "
                    f"95% CI {a.ci95[0]:.1%}-{a.ci95[1]:.1%}){overlap}"
                )
        return "\n".join(lines)


# loading ----------------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """Results that parsed, oldest first, and the files skipped with the reason."""

    items: tuple[T, ...]
    damaged: tuple[DamagedResult, ...] = ()

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def load_kind(workspace: Workspace, kind: str, parse, model_id: str | None) -> Loaded:
    raw, damaged = workspace.read_results(kind, model_id)
    items, bad = [], list(damaged)
    for data in raw:
        try:
            items.append(parse(data))
        except (ResultShapeError, TypeError, ValueError, KeyError, AttributeError) as exc:
            bad.append(
                DamagedResult(
                    Path(data.get("_path", "")),
                    f"is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} result ({exc})",
                )
            )
    return Loaded(tuple(items), tuple(bad))


def load_benchmarks(workspace: Workspace, model_id: str | None = None) -> Loaded[BenchmarkResult]:
    return load_kind(workspace, "benchmark", BenchmarkResult.from_dict, model_id)


def load_evaluations(workspace: Workspace, model_id: str | None = None) -> Loaded[EvaluationResult]:
    return load_kind(workspace, "evaluation", EvaluationResult.from_dict, model_id)


def sort_variants(
    names: Iterable[str], kinds: Mapping[str, tuple[Backend, NumberFormat]] | None = None
) -> list[str]:
    """Variant ids in display order (reference first, then by backend and format)."""
    kinds = kinds or {}

    def key(name: str) -> tuple:
        backend, fmt = kinds.get(name, (None, None))
        return variant_order(name, backend, fmt)

    return sorted(dict.fromkeys(names), key=key)
