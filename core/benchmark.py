"""Latency and throughput measured the way OpenVINO's benchmark_app measures them, for every
variant of a model in one run, interleaved so that a disturbance hits all of them alike.

Per variant: load or compile (timed, and whether it came from a cache), one first inference
reported apart, a few uncounted warm-up runs. Then the variants take turns in rounds (A B C, B C A,
C A B, ...): in each round every variant runs a slice of its latency phase (synchronous inference
on one request, every call timed), then a slice of its throughput phase (OpenVINO keeps its optimal
number of requests in flight; PyTorch and ONNX Runtime run calls one after another). A variant
whose spread is too wide, or that ran too few iterations, is marked unstable; ratios come from
medians of the same run, with the range of the per-round ratios.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import numpy as np

from core.backends import Prepared, RunOptions, prepare
from core.catalog import ExecutionPrecision, Hint, parse_option
from core.errors import InputError
from core.machine import cpu_info
from core.progress import Progress, ProgressCallback
from core.registry import ModelSpec, get_model
from core.results import BenchmarkResult, LatencyStats, VariantRun, judge_stability, precision_key
from core.runtime import check_device, device_name
from core.variants import Variant, resolve_variants
from core.workspace import Workspace, library_versions

__all__ = [
    "BenchmarkConfig",
    "BenchmarkResult",
    "benchmark_job",
    "run_benchmark",
    "run_grid",
    "measure",
    "sample_input",
]

MIN_ITERATIONS = 30  # per variant over the whole run, PyTorch included
MAX_SAMPLES = 2000
PROGRESS_INTERVAL = 0.25
DEFAULT_ROUNDS = 5
MAX_BATCH = 256  # a larger batch of a real model needs many GB for its activations alone
MAX_SECONDS = 3600.0  # per variant
MAX_STREAMS = 64


@dataclass(frozen=True)
class BenchmarkConfig:
    """`precisions` is the older name of `variants` and is merged into it."""

    model_id: str
    variants: tuple[str, ...] = ()
    device: str = "CPU"
    hint: str = "latency"
    batch: int = 1
    seconds: float = 10.0  # per variant: half latency phase, half throughput phase, spread over the rounds
    streams: int | None = None  # NUM_STREAMS when given
    threads: int | None = None  # INFERENCE_NUM_THREADS; torch.set_num_threads; ORT intra-op threads
    warmup: int = 5
    rounds: int = DEFAULT_ROUNDS
    execution: str = "auto"  # INFERENCE_PRECISION_HINT of non-FP32 OpenVINO variants (FP32 stays f32)
    precisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        merged = tuple(dict.fromkeys((*self.variants, *self.precisions))) or ("torch", "fp32", "int8")
        object.__setattr__(self, "variants", merged)
        object.__setattr__(self, "precisions", ())

    def check(self) -> None:
        """Refuse options that cannot give a meaningful measurement, before anything runs."""
        parse_option(Hint, self.hint, "hint")
        parse_option(ExecutionPrecision, self.execution, "execution precision")
        if not 1 <= self.batch <= MAX_BATCH:
            msg = f"batch must be between 1 and {MAX_BATCH}, not {self.batch}; 1 measures latency, 4-32 throughput"
            raise InputError(msg)
        if not 0 < self.seconds <= MAX_SECONDS:  # also refuses nan and inf
            msg = f"seconds must be more than 0 and at most {MAX_SECONDS}, not {self.seconds}; 10 s per variant is usual"
            raise InputError(msg)
        if self.streams is not None and not 1 <= self.streams <= MAX_STREAMS:
            msg = f"streams must be between 1 and {MAX_STREAMS}, not {self.streams}; leave it empty for the hint's choice"
            raise InputError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"threads must be at least 1, not {self.threads}; leave it empty for all cores"
            raise InputError(msg)
        if self.warmup < 0:
            msg = f"warm-up iterations cannot be negative ({self.warmup})"
            raise InputError(msg)
        if not 1 <= self.rounds <= 50:
            msg = f"rounds must be between 1 and 50, not {self.rounds}; 5 is usual"
            raise InputError(msg)

    def options(self) -> RunOptions:
        return RunOptions(
            device=self.device,
            hint=parse_option(Hint, self.hint, "hint"),
            batch=self.batch,
            threads=self.threads,
            streams=self.streams,
            execution=parse_option(ExecutionPrecision, self.execution, "execution precision"),
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["variants"] = list(self.variants)
        data["precisions"] = list(self.variants)  # the name older readers know
        return data


def sample_input(spec: ModelSpec, batch: int) -> np.ndarray:
    """A real preprocessed image repeated to the batch: a digit for 1-channel models, else a photo."""
    from core.data import load_dataset

    ref = "builtin:mnist" if spec.preprocess.channels == 1 else "builtin:imagenet-samples"
    first = next(iter(load_dataset(ref, purpose="evaluation")))
    array = spec.preprocess.to_array(first.image())
    return np.ascontiguousarray(np.repeat(array[None], batch, axis=0))


class _Clock:
    """Reports progress in seconds of measuring, at most about four times a second."""

    def __init__(self, progress: ProgressCallback | None, total: float):
        self._progress = progress
        self._total = round(total, 1)
        self._start: float | None = None
        self._last = 0.0
        self.phase = "preparing"

    def start(self) -> None:
        self._start = time.perf_counter()

    def tick(self, *, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.perf_counter()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            done = 0.0 if self._start is None else min(self._total, round(now - self._start, 1))
            self._progress(Progress(self.phase, done, self._total))


def _subsample(latencies: list[float]) -> tuple[float, ...]:
    if len(latencies) > MAX_SAMPLES:
        picks = np.linspace(0, len(latencies) - 1, MAX_SAMPLES).round().astype(int)
        latencies = [latencies[i] for i in picks]
    return tuple(round(v, 4) for v in latencies)


@dataclass
class _Measure:
    """What one variant collects over the rounds."""

    variant: Variant
    prepared: Prepared
    compile_source: str
    first_ms: float
    latencies: list[float]
    round_medians: list[float]
    calls: int = 0
    throughput_s: float = 0.0
    latency_s: float = 0.0
    spec: ModelSpec | None = None
    batch: np.ndarray | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _options_for(variant: Variant, options: RunOptions) -> RunOptions:
    """PyTorch and ONNX Runtime take threads and batch; OpenVINO hints and execution precision do not apply."""
    if variant.backend.value == "openvino":
        return options
    return replace(options, device="CPU", streams=None, execution=ExecutionPrecision.AUTO, hint=Hint.LATENCY)


def run_benchmark(
    config: BenchmarkConfig,
    *,
    workspace: Workspace,
    progress: ProgressCallback | None = None,
    save: bool = True,
    prepare_fn: Callable[..., Prepared] = prepare,
) -> BenchmarkResult:
    """Measure every chosen variant in interleaved rounds; saved under results/benchmark unless `save` is False.

    `prepare_fn` is the seam a test uses to disturb one variant on purpose.
    """
    config.check()
    device = check_device(config.device)
    config = replace(config, device=device)
    spec = get_model(config.model_id, workspace)
    variants, skipped = resolve_variants(spec, workspace, config.variants, skip_missing_reference=True)
    if not variants:
        msg = f"nothing to benchmark for {spec.id}: {skipped[0]['reason']}; choose fp32, fp16 or int8"
        raise InputError(msg)
    runs = measure(
        [(spec, variant) for variant in variants],
        config,
        workspace=workspace,
        progress=progress,
        prepare_fn=prepare_fn,
    )
    created = runs[0].created if runs else _now()
    result = BenchmarkResult(
        model_id=spec.id,
        created=created,
        config=config.to_dict(),
        device_name=device_name(device),
        runs=tuple(runs),
        skipped=tuple(skipped),
        machine=cpu_info(),
        rounds=config.rounds,
    )
    if save:
        result = replace(result, path=str(workspace.save_result("benchmark", spec.id, result.to_dict())))
    return result


def measure(
    entries: list[tuple[ModelSpec, Variant]],
    config: BenchmarkConfig,
    *,
    workspace: Workspace,
    progress: ProgressCallback | None = None,
    prepare_fn: Callable[..., Prepared] = prepare,
) -> list[VariantRun]:
    """Measure (model, variant) pairs in interleaved rounds: the engine of `run_benchmark`, also used to
    compare different models in one run (a network against its pruned version)."""
    batches = {s.id: sample_input(s, config.batch) for s in {e[0].id: e[0] for e in entries}.values()}
    options = config.options()
    clock = _Clock(progress, config.seconds * len(entries))
    measures = []
    for spec, variant in entries:
        batch = batches[spec.id]
        clock.phase = f"{variant.id}: loading"
        clock.tick(force=True)
        start = time.perf_counter()
        prepared = prepare_fn(variant, spec, workspace, _options_for(variant, options))
        call_ms = (time.perf_counter() - start) * 1e3
        if prepared.compile_ms is None:
            source = "none"
        elif call_ms < prepared.compile_ms:  # a reused object returns faster than its own compile took
            source = "memory"
        else:
            source = prepared.compile_source
        first_ms = prepared.first_inference(batch)
        for _ in range(config.warmup):
            prepared.infer(batch)
        measures.append(_Measure(variant, prepared, source, first_ms, [], [], spec=spec, batch=batch))

    rounds = config.rounds
    slice_s = config.seconds / 2 / rounds
    per_round = max(1, math.ceil(MIN_ITERATIONS / rounds))
    clock.start()
    for r in range(rounds):
        order = measures[r % len(measures) :] + measures[: r % len(measures)]
        for m in order:
            clock.phase = f"round {r + 1}/{rounds} · {m.variant.id}: latency"
            clock.tick(force=True)  # name every phase, even one shorter than the throttle interval
            start = time.perf_counter()
            slice_ms = m.prepared.latency_loop(
                m.batch, seconds=slice_s, min_iterations=per_round, tick=clock.tick
            )
            m.latency_s += time.perf_counter() - start
            m.latencies.extend(slice_ms)
            m.round_medians.append(round(float(np.median(slice_ms)), 4))
        for m in order:
            clock.phase = f"round {r + 1}/{rounds} · {m.variant.id}: throughput"
            clock.tick(force=True)
            calls, seconds = m.prepared.throughput_loop(
                m.batch, seconds=slice_s, min_iterations=per_round, tick=clock.tick
            )
            m.calls += calls
            m.throughput_s += seconds
    clock.phase = "done"
    clock.tick(force=True)

    created = _now()
    runs = []
    for m in measures:
        stats = LatencyStats.of(m.latencies)
        runs.append(
            VariantRun(
                model_id=m.spec.id,
                variant=m.variant.id,
                backend=m.variant.backend,
                format=m.variant.format,
                latency=stats,
                throughput_fps=round(m.calls * config.batch / m.throughput_s, 3) if m.throughput_s else 0.0,
                first_inference_ms=round(m.first_ms, 4),
                compile_ms=m.prepared.compile_ms,
                compile_source=m.compile_source,
                iterations={"latency": len(m.latencies), "throughput": m.calls},
                duration_s={"latency": round(m.latency_s, 4), "throughput": round(m.throughput_s, 4)},
                latencies_ms=_subsample(m.latencies),
                settings={
                    **m.prepared.settings(),
                    "precision": precision_key(m.variant.id, m.variant.backend, m.variant.format),
                    "input_shape": list(m.batch.shape),
                },
                versions=library_versions(),
                created=created,
                recipe=m.variant.recipe.summary(),
                fingerprint=m.variant.fingerprint,
                round_medians=tuple(m.round_medians),
                unstable_reasons=judge_stability(stats, len(m.latencies), m.round_medians),
            )
        )
    return runs


def run_grid(
    config: BenchmarkConfig,
    *,
    batches: list[int],
    streams: list[int | None],
    workspace: Workspace,
    progress: ProgressCallback | None = None,
) -> BenchmarkResult:
    """Every (batch, streams) cell for the OpenVINO variants, saved as one result.

    PyTorch and ONNX Runtime, if chosen, run once per batch size (streams mean nothing to them), so
    every batch of the grid has its references at the same batch.
    """
    if not batches or not streams:
        msg = "a grid needs at least one batch size and one streams value"
        raise InputError(msg)
    for b in batches:
        replace(config, batch=b).check()
    for s in streams:
        replace(config, streams=s).check()
    config.check()
    spec = get_model(config.model_id, workspace)
    variants, skipped = resolve_variants(spec, workspace, config.variants, skip_missing_reference=True)
    openvino = tuple(v.id for v in variants if v.backend.value == "openvino")
    others = tuple(v.id for v in variants if v.backend.value != "openvino")
    runs: list[VariantRun] = []
    for b in batches:
        if others:
            runs += _grid_cell(
                replace(config, variants=others, batch=b, streams=None), workspace, progress, f"batch {b}"
            )
        for s in streams:
            if openvino:
                cell = replace(config, variants=openvino, batch=b, streams=s)
                runs += _grid_cell(cell, workspace, progress, f"batch {b}, streams {s or 'auto'}")
    grid = {"batches": list(batches), "streams": list(streams)}
    result = BenchmarkResult(
        model_id=spec.id,
        created=_now(),
        config={**config.to_dict(), "grid": grid},
        device_name=device_name(config.device),
        runs=tuple(runs),
        skipped=tuple(skipped),
        machine=cpu_info(),
        rounds=config.rounds,
        grid=grid,
    )
    return replace(result, path=str(workspace.save_result("benchmark", spec.id, result.to_dict())))


def _grid_cell(config: BenchmarkConfig, workspace: Workspace, progress, label: str) -> list[VariantRun]:
    def relabel(event: Progress) -> None:
        progress(replace(event, phase=f"{label} · {event.phase}"))

    result = run_benchmark(config, workspace=workspace, progress=relabel if progress else None, save=False)
    return list(result.runs)


def benchmark_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: a plain dict in (optionally with "grid": {"batches": [...], "streams": [...]})."""
    from core.jobs import config_from_dict

    bench = config_from_dict(BenchmarkConfig, config, extra=("grid",))
    grid = config.get("grid")
    if grid:
        return run_grid(
            bench,
            batches=[int(b) for b in grid.get("batches") or [bench.batch]],
            streams=[None if s is None else int(s) for s in grid.get("streams") or [bench.streams]],
            workspace=workspace,
            progress=ctx.progress,
        ).to_dict()
    return run_benchmark(bench, workspace=workspace, progress=ctx.progress).to_dict()
