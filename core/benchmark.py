"""Latency and throughput measured the way OpenVINO's benchmark_app measures them.

Per precision: compile (timed, and whether it came from a cache), one first inference reported
apart, a few uncounted warm-up runs, then a latency phase (synchronous `infer` on one request,
every iteration timed) and a throughput phase (`AsyncInferQueue` with the optimal number of
requests, images over wall time). PyTorch eager runs the same phases on the same real image; it has
no async queue, so its throughput is sequential, and the result says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from core.errors import InputError
from core.progress import Progress, ProgressCallback
from core.registry import ModelSpec, get_model
from core.runtime import compile_artifact, device_name, get_torch_model
from core.workspace import Precision, Workspace, library_versions

__all__ = [
    "BenchmarkConfig",
    "BenchmarkResult",
    "PrecisionRun",
    "benchmark_job",
    "run_benchmark",
    "run_grid",
    "sample_input",
]

MIN_ITERATIONS = 10
MAX_SAMPLES = 2000
PROGRESS_INTERVAL = 0.25
HINTS = ("latency", "throughput")


@dataclass(frozen=True)
class BenchmarkConfig:
    model_id: str
    precisions: tuple[str, ...] = ("torch", "fp32", "int8")
    device: str = "CPU"
    hint: str = "latency"  # "latency" | "throughput"
    batch: int = 1
    seconds: float = 10.0  # per precision, half latency phase, half throughput phase
    streams: int | None = None  # NUM_STREAMS when given
    threads: int | None = None  # INFERENCE_NUM_THREADS; torch.set_num_threads for torch
    warmup: int = 5

    def check(self) -> None:
        """Refuse options that cannot give a meaningful measurement, before anything runs."""
        if self.hint not in HINTS:
            raise InputError(f"unknown hint {self.hint!r}; choose 'latency' or 'throughput'")
        if self.batch < 1:
            raise InputError(f"batch must be at least 1, not {self.batch}")
        if self.seconds <= 0:
            raise InputError(f"seconds must be positive, not {self.seconds}; 10 s per precision is usual")
        if self.streams is not None and self.streams < 1:
            raise InputError(
                f"streams must be at least 1, not {self.streams}; leave it empty for the hint's choice"
            )
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be at least 1, not {self.threads}; leave it empty for all cores")
        if self.warmup < 0:
            raise InputError(f"warm-up iterations cannot be negative ({self.warmup})")
        if not self.precisions:
            raise InputError("no precision chosen; choose one or more of torch, fp32, fp16, int8")


@dataclass(frozen=True)
class PrecisionRun:
    """One precision's measurement; `to_dict` is the stable public format (`benchmark --json`)."""

    model_id: str
    precision: str
    latency_ms: dict
    throughput_fps: float
    first_inference_ms: float
    compile_ms: float | None  # None for torch: eager PyTorch compiles nothing
    compiled_from_cache: bool
    iterations: dict
    duration_s: dict
    latencies_ms: list[float]
    settings: dict
    versions: dict = field(default_factory=library_versions)
    created: str = ""
    compile_source: str = "compiled"  # "compiled" | "disk-cache" (OpenVINO CACHE_DIR) | "memory" | "none"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkResult:
    model_id: str
    config: BenchmarkConfig
    created: str
    device_name: str
    runs: list[PrecisionRun]
    skipped: list[dict] = field(default_factory=list)
    path: str | None = None

    def run(self, precision: str) -> PrecisionRun:
        for run in self.runs:
            if run.precision == precision:
                return run
        measured = ", ".join(r.precision for r in self.runs)
        raise InputError(f"this benchmark has no {precision!r} run; it measured {measured}")

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "config": asdict(self.config),
            "created": self.created,
            "device_name": self.device_name,
            "runs": [r.to_dict() for r in self.runs],
            "skipped": list(self.skipped),
            "path": self.path,
        }

    def __str__(self) -> str:
        c = self.config
        head = f"{self.model_id} on {self.device_name}: hint {c.hint}, batch {c.batch}, {c.seconds:g} s per precision"
        return head + "\n\n" + format_runs([r.to_dict() for r in self.runs], self.skipped)


def format_runs(runs: list[dict], skipped: list[dict] | None = None) -> str:
    """A benchmark_app-like summary table of run dicts."""
    header = (
        f"{'precision':<10}{'batch':>6}{'streams':>8}{'nireq':>6}{'compile ms':>11}{'first ms':>9}"
        f"{'median':>9}{'mean':>9}{'min':>9}{'max':>9}{'p90':>9}{'FPS':>10}"
    )
    lines = [header]
    for r in runs:
        lat, s = r["latency_ms"], r["settings"]
        compile_ms = (
            "-"
            if r["compile_ms"] is None
            else f"{r['compile_ms']:.0f}" + ("*" if r["compiled_from_cache"] else "")
        )
        lines.append(
            f"{r['precision']:<10}{s['batch']:>6}{s['streams']:>8}{s['nireq']:>6}{compile_ms:>11}"
            f"{r['first_inference_ms']:>9.2f}{lat['median']:>9.3f}{lat['mean']:>9.3f}{lat['min']:>9.3f}"
            f"{lat['max']:>9.3f}{lat['p90']:>9.3f}{r['throughput_fps']:>10.1f}"
        )
    lines.append("latency in ms (synchronous, one request); * compiled model came from a cache")
    for skip in skipped or []:
        lines.append(f"skipped {skip['precision']}: {skip['reason']}")
    return "\n".join(lines)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample_input(spec: ModelSpec, batch: int) -> np.ndarray:
    """A real preprocessed image repeated to the batch: a digit for 1-channel models, else a photo."""
    from core.data import load_dataset

    ref = "builtin:mnist" if spec.preprocess.channels == 1 else "builtin:imagenet-samples"
    first = next(iter(load_dataset(ref, purpose="evaluation")))
    array = spec.preprocess.to_array(first.image())
    return np.ascontiguousarray(np.repeat(array[None], batch, axis=0))


class _Clock:
    """Reports phase progress in seconds, at most about four times a second."""

    def __init__(self, progress: ProgressCallback | None, precision: str, total: float):
        self._progress = progress
        self._precision = precision
        self._total = round(total, 1)
        self._start = time.perf_counter()
        self._last = 0.0

    def tick(self, phase: str, *, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.perf_counter()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            done = min(self._total, round(now - self._start, 1))
            self._progress(Progress(f"{self._precision}: {phase}", done, self._total))


def _timed_loop(
    step: Callable[[], None], budget: float, clock: _Clock, phase: str
) -> tuple[list[float], float]:
    """Run `step` until `budget` seconds and MIN_ITERATIONS have passed; per-step ms and wall seconds."""
    latencies = []
    clock.tick(phase, force=True)
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        latencies.append((t1 - t0) * 1e3)
        if len(latencies) >= MIN_ITERATIONS and t1 - start >= budget:
            return latencies, t1 - start
        clock.tick(phase)


def _summary(latencies: list[float]) -> dict:
    values = np.asarray(latencies)
    return {
        "median": round(float(np.median(values)), 4),
        "mean": round(float(values.mean()), 4),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
        "p90": round(float(np.percentile(values, 90)), 4),
    }


def _subsample(latencies: list[float]) -> list[float]:
    if len(latencies) > MAX_SAMPLES:
        picks = np.linspace(0, len(latencies) - 1, MAX_SAMPLES).round().astype(int)
        latencies = [latencies[i] for i in picks]
    return [round(v, 4) for v in latencies]


def _type_name(value) -> str | None:
    if value is None:
        return None
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _run_openvino(
    spec: ModelSpec,
    precision: Precision,
    config: BenchmarkConfig,
    workspace: Workspace,
    batch: np.ndarray,
    progress: ProgressCallback | None,
) -> PrecisionRun:
    import openvino as ov

    artifact = workspace.require_artifact(spec.id, precision)
    extra = {}
    if config.streams is not None:
        extra["NUM_STREAMS"] = config.streams
    if config.threads is not None:
        extra["INFERENCE_NUM_THREADS"] = config.threads
    clock = _Clock(progress, precision.value, config.seconds)
    clock.tick("compiling", force=True)
    start = time.perf_counter()
    entry = compile_artifact(
        artifact, workspace=workspace, device=config.device, hint=config.hint, batch=config.batch, extra=extra
    )
    call_ms = (time.perf_counter() - start) * 1e3
    # a fresh compile takes at least entry.compile_ms (measured inside the call); a reused entry does not
    if call_ms < entry.compile_ms:
        source = "memory"
    else:
        source = "disk-cache" if entry.property("LOADED_FROM_CACHE") else "compiled"

    tensor = ov.Tensor(batch)
    request = entry.borrow()
    try:
        request.set_input_tensor(tensor)
        t0 = time.perf_counter()
        request.infer()
        first_ms = (time.perf_counter() - t0) * 1e3
        for _ in range(config.warmup):
            request.infer()
        latencies, latency_s = _timed_loop(request.infer, config.seconds / 2, clock, "latency")
    finally:
        entry.give_back(request)

    queue = ov.AsyncInferQueue(entry.compiled, 0)
    for queued in queue:
        queued.set_input_tensor(tensor)
    clock.tick("throughput", force=True)
    count, start = 0, time.perf_counter()
    while count < max(MIN_ITERATIONS, len(queue)) or time.perf_counter() - start < config.seconds / 2:
        queue.start_async()
        count += 1
        clock.tick("throughput")
    queue.wait_all()
    throughput_s = time.perf_counter() - start

    settings = {
        "device": config.device,
        "device_name": device_name(config.device),
        "hint": config.hint,
        "streams": _int_or_none(entry.property("NUM_STREAMS")),
        "threads": _int_or_none(entry.property("INFERENCE_NUM_THREADS")),
        "nireq": _int_or_none(entry.property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
        "batch": config.batch,
        "precision": precision.value,
        "inference_precision": _type_name(entry.property("INFERENCE_PRECISION_HINT")),
        "input_shape": list(batch.shape),
        "throughput_method": f"AsyncInferQueue with {len(queue)} infer requests (jobs=0: the optimal number)",
    }
    clock.tick("throughput", force=True)
    return _run(
        spec,
        precision,
        (latencies, latency_s),
        (count, throughput_s),
        config.batch,
        first_ms=first_ms,
        compile_ms=round(entry.compile_ms, 2),
        source=source,
        settings=settings,
    )


def _run_torch(
    spec: ModelSpec,
    config: BenchmarkConfig,
    workspace: Workspace,
    batch: np.ndarray,
    progress: ProgressCallback | None,
) -> PrecisionRun:
    import torch

    module = get_torch_model(spec, workspace)
    x = torch.from_numpy(batch)
    clock = _Clock(progress, "torch", config.seconds)

    def step() -> None:
        module(x)

    with _torch_threads(config.threads), torch.inference_mode():
        t0 = time.perf_counter()
        step()
        first_ms = (time.perf_counter() - t0) * 1e3
        for _ in range(config.warmup):
            step()
        latencies, latency_s = _timed_loop(step, config.seconds / 2, clock, "latency")
        counted, throughput_s = _timed_loop(step, config.seconds / 2, clock, "throughput")
        threads = torch.get_num_threads()
    settings = {
        "device": "CPU",
        "device_name": device_name("CPU"),
        "hint": config.hint,
        "streams": 1,
        "threads": threads,
        "nireq": 1,
        "batch": config.batch,
        "precision": "torch",
        "inference_precision": "f32",
        "input_shape": list(batch.shape),
        "throughput_method": "sequential: PyTorch eager has no async queue, so calls run one after another",
    }
    clock.tick("throughput", force=True)
    return _run(
        spec,
        Precision.TORCH,
        (latencies, latency_s),
        (len(counted), throughput_s),
        config.batch,
        first_ms=first_ms,
        compile_ms=None,
        source="none",
        settings=settings,
    )


def _run(
    spec: ModelSpec,
    precision: Precision,
    latency_phase: tuple[list[float], float],
    throughput_phase: tuple[int, float],
    batch: int,
    *,
    first_ms: float,
    compile_ms: float | None,
    source: str,
    settings: dict,
) -> PrecisionRun:
    """Figures of one precision from its latency phase (per-call ms, seconds) and throughput phase."""
    latencies, latency_s = latency_phase
    count, throughput_s = throughput_phase
    return PrecisionRun(
        model_id=spec.id,
        precision=precision.value,
        latency_ms=_summary(latencies),
        throughput_fps=round(count * batch / throughput_s, 3),
        first_inference_ms=round(first_ms, 4),
        compile_ms=compile_ms,
        compiled_from_cache=source in ("memory", "disk-cache"),
        iterations={"latency": len(latencies), "throughput": count},
        duration_s={"latency": round(latency_s, 4), "throughput": round(throughput_s, 4)},
        latencies_ms=_subsample(latencies),
        settings=settings,
        created=_now(),
        compile_source=source,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plan(
    spec: ModelSpec, config: BenchmarkConfig, workspace: Workspace
) -> tuple[list[Precision], list[dict]]:
    """Precisions to run and those skipped with a reason; a missing artifact fails here, before any timing."""
    chosen, skipped = [], []
    for precision in dict.fromkeys(Precision.parse(p) for p in config.precisions):
        if precision == Precision.TORCH:
            if not spec.has_torch:
                skipped.append(
                    {
                        "precision": "torch",
                        "reason": f"{spec.id} was uploaded as {spec.architecture.upper()}: "
                        "there is no PyTorch model to time",
                    }
                )
                continue
        else:
            workspace.require_artifact(spec.id, precision)
        chosen.append(precision)
    if not chosen:
        raise InputError(
            f"nothing to benchmark for {spec.id}: {skipped[0]['reason']}; choose fp32, fp16 or int8"
        )
    return chosen, skipped


def run_benchmark(
    config: BenchmarkConfig,
    *,
    workspace: Workspace,
    progress: ProgressCallback | None = None,
    save: bool = True,
) -> BenchmarkResult:
    """Measure every chosen precision in turn; saved under results/benchmark unless `save` is False."""
    config.check()
    spec = get_model(config.model_id, workspace)
    precisions, skipped = _plan(spec, config, workspace)
    batch = sample_input(spec, config.batch)
    runs = []
    for precision in precisions:
        if precision == Precision.TORCH:
            runs.append(_run_torch(spec, config, workspace, batch, progress))
        else:
            runs.append(_run_openvino(spec, precision, config, workspace, batch, progress))
    result = BenchmarkResult(spec.id, config, _now(), device_name(config.device), runs, skipped)
    if save:
        result = replace(result, path=str(_save(workspace, spec.id, result.to_dict())))
    return result


def _save(workspace: Workspace, model_id: str, data: dict):
    return workspace.save_result("benchmark", model_id, data)


def run_grid(
    config: BenchmarkConfig,
    *,
    batches: list[int],
    streams: list[int | None],
    workspace: Workspace,
    progress: ProgressCallback | None = None,
) -> dict:
    """Every (batch, streams) combination for the OpenVINO precisions, saved as one result.

    PyTorch, if chosen, runs once per batch size (streams mean nothing to eager PyTorch), so every
    batch in the grid has its reference at the same batch.
    """
    if not batches or not streams:
        raise InputError("a grid needs at least one batch size and one streams value")
    spec = get_model(config.model_id, workspace)
    _, skipped = _plan(spec, config, workspace)
    ov_precisions = tuple(p for p in config.precisions if Precision.parse(p) != Precision.TORCH)
    with_torch = spec.has_torch and len(ov_precisions) < len(config.precisions)
    runs: list[dict] = []
    for b in batches:
        if with_torch:
            torch_config = replace(config, precisions=("torch",), batch=b, streams=None)
            runs += _grid_runs(torch_config, workspace, progress, f"batch {b}")
        for s in streams:
            if ov_precisions:
                ov_config = replace(config, precisions=ov_precisions, batch=b, streams=s)
                runs += _grid_runs(ov_config, workspace, progress, f"batch {b}, streams {s or 'auto'}")
    data = {
        "model_id": spec.id,
        "config": {**asdict(config), "grid": {"batches": list(batches), "streams": list(streams)}},
        "created": _now(),
        "device_name": device_name(config.device),
        "runs": runs,
        "skipped": skipped,
        "grid": True,
    }
    path = _save(workspace, spec.id, data)
    return {**data, "path": str(path)}


def _grid_runs(config: BenchmarkConfig, workspace: Workspace, progress, label: str) -> list[dict]:
    def relabel(event: Progress) -> None:
        progress(replace(event, phase=f"{label} · {event.phase}"))

    result = run_benchmark(config, workspace=workspace, progress=relabel if progress else None, save=False)
    return [run.to_dict() for run in result.runs]


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
        )
    return run_benchmark(bench, workspace=workspace, progress=ctx.progress).to_dict()
