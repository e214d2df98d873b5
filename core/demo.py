"""The guided demo: EfficientNet-Lite0 taken through the whole path as one job.

Convert (skipped when FP32 and FP16 are already there, as after the start command), quantize to
INT8 on built-in photos (the same recipe reuses its variant), benchmark PyTorch, FP32, FP16 and
INT8 in one interleaved run, and evaluate all four on the 20 labelled ImageNet samples. The demo's
summary on Home is computed from the saved results each time it is shown, never frozen as text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from core.progress import Progress
from core.workspace import Workspace

__all__ = ["DEMO_MODEL", "DEMO_STEPS", "DemoStep", "demo_job", "demo_step_states"]

DEMO_MODEL = "efficientnet-lite0"
DEMO_CALIBRATION = "builtin:imagenet-samples"
DEMO_SUBSET = 300
DEMO_SECONDS = 6.0  # per variant, over 5 interleaved rounds


@dataclass(frozen=True)
class DemoStep:
    key: str
    title: str


DEMO_STEPS = (
    DemoStep("convert", "Convert EfficientNet-Lite0 to OpenVINO FP32 and FP16"),
    DemoStep(
        "quantize",
        f"Quantize it to INT8 with NNCF ({DEMO_SUBSET} calibration images: 47 built-in photos and crops of them)",
    ),
    DemoStep(
        "benchmark",
        f"Benchmark PyTorch, FP32, FP16 and INT8 in one run ({DEMO_SECONDS:g} s each, 5 interleaved rounds)",
    ),
    DemoStep("evaluate", "Measure top-1 of each on the 20 labelled ImageNet samples"),
)


def _step_progress(ctx, number: int):
    """Progress of one step, prefixed so the job's phase says which step it is in."""
    step = DEMO_STEPS[number - 1]

    def forward(event: Progress) -> None:
        ctx.progress(replace(event, phase=f"step {number}/{len(DEMO_STEPS)} · {step.key}: {event.phase}"))

    return forward


def demo_step_states(phase: str, finished: bool, succeeded: bool) -> list[str]:
    """'done' / 'running' / 'waiting' (or 'stopped') per step, from a demo job's current phase."""
    current = 0
    if phase.startswith("step ") and "/" in phase:
        try:
            current = int(phase.split()[1].split("/")[0])
        except ValueError:
            current = 0
    states = []
    for number in range(1, len(DEMO_STEPS) + 1):
        if finished and succeeded or number < current:
            states.append("done")
        elif number == current:
            states.append("stopped" if finished else "running")
        else:
            states.append("waiting" if not finished else "not run")
    return states


def demo_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: the four steps in order; each step's outcome is in the result."""
    from core.benchmark import BenchmarkConfig, run_benchmark
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.quantize import QuantizeConfig, quantize_model

    model_id = config.get("model_id") or DEMO_MODEL
    seconds = float(config.get("seconds") or DEMO_SECONDS)
    steps: list[dict] = []

    start = time.perf_counter()
    missing = [v for v in ("fp32", "fp16") if workspace.variant(model_id, v) is None]
    if missing:
        made = convert_model(
            ConvertConfig(model_id, variants=tuple(missing)),
            workspace=workspace,
            progress=_step_progress(ctx, 1),
        )
        steps.append(
            {
                "step": "convert",
                "seconds": round(time.perf_counter() - start, 2),
                "made": missing,
                "route": made.route,
            }
        )
    else:
        ctx.progress(Progress(f"step 1/{len(DEMO_STEPS)} · convert: FP32 and FP16 are there already"))
        steps.append({"step": "convert", "seconds": 0.0, "skipped": "FP32 and FP16 were there already"})
    ctx.log(f"step 1: {steps[-1]}")

    start = time.perf_counter()
    quantized = quantize_model(
        QuantizeConfig(model_id, calibration=DEMO_CALIBRATION, subset_size=DEMO_SUBSET),
        workspace=workspace,
        progress=_step_progress(ctx, 2),
    )
    int8 = quantized.variant
    steps.append({"step": "quantize", "seconds": round(time.perf_counter() - start, 2), "variant": int8})
    ctx.log(f"step 2: INT8 variant {int8}")

    variants = ("torch", "fp32", "fp16", int8)
    start = time.perf_counter()
    bench = run_benchmark(
        BenchmarkConfig(model_id, variants=variants, hint="latency", batch=1, seconds=seconds),
        workspace=workspace,
        progress=_step_progress(ctx, 3),
    )
    steps.append(
        {
            "step": "benchmark",
            "seconds": round(time.perf_counter() - start, 2),
            "path": bench.path,
            "stable": bench.stable,
        }
    )
    ctx.log(f"step 3: benchmark saved to {bench.path} ({'stable' if bench.stable else 'unstable'})")

    start = time.perf_counter()
    evaluation = evaluate_model(
        EvaluateConfig(model_id, variants=variants, dataset=DEMO_CALIBRATION),
        workspace=workspace,
        progress=_step_progress(ctx, 4),
    )
    steps.append(
        {"step": "evaluate", "seconds": round(time.perf_counter() - start, 2), "path": evaluation.path}
    )
    ctx.progress(Progress(f"step {len(DEMO_STEPS)}/{len(DEMO_STEPS)} · done", 1, 1))
    return {
        "model_id": model_id,
        "variants": list(variants),
        "int8_variant": int8,
        "benchmark_path": bench.path,
        "evaluation_path": evaluation.path,
        "steps": steps,
    }
