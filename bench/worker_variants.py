"""Job targets the load figure submits to a real JobService to try alternatives in the worker:
OpenVINO threads bounded for every model the worker compiles (NNCF's included), or the worker confined
to some cores. Bench-only: the product would read such a setting in core/jobs/executors.py."""

from __future__ import annotations

import os


def _bound_threads(threads: int) -> None:
    import openvino

    original = openvino.Core.compile_model

    def compile_model(self, model, device_name=None, config=None, **kwargs):
        config = dict(config or {})
        if device_name in (None, "CPU"):
            config.setdefault("INFERENCE_NUM_THREADS", threads)
        return original(self, model, device_name, config, **kwargs)

    openvino.Core.compile_model = compile_model


def quantize_variant_job(config: dict, workspace, ctx) -> dict:
    """core.quantize's job with `bench_threads` / `bench_cpus` applied to this worker first."""
    config = dict(config)
    threads = config.pop("bench_threads", None)
    cpus = config.pop("bench_cpus", None)
    if cpus:
        os.sched_setaffinity(0, set(cpus))
    if threads:
        _bound_threads(int(threads))
    from core.quantize import quantize_job

    result = quantize_job(config, workspace, ctx)
    ctx.log(f"bench: threads={threads} cpus={cpus} affinity={sorted(os.sched_getaffinity(0))}")
    return result
