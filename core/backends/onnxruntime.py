"""ONNX Runtime with the CPU execution provider: the same variant interface, session options recorded.

Sessions use as many intra-op threads as OpenVINO would (all cores unless the user sets threads),
so the comparison is like for like. The CPU provider has no asynchronous queue worth the name for
one session, so the throughput phase runs calls one after another, and the result says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.backends.base import Adapter, Prepared, RunOptions, Tick, register_adapter
from core.catalog import Backend
from core.errors import InputError

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.variants import Variant
    from core.workspace import Workspace

__all__ = ["OnnxRuntimeAdapter", "OnnxRuntimePrepared"]

EVAL_BATCH = 32


@dataclass
class OnnxRuntimePrepared(Prepared):
    session: Any = None
    session_options: dict = field(default_factory=dict)

    @property
    def eval_batch(self) -> int:
        """32 where the exported batch axis is dynamic; an uploaded file's fixed batch otherwise."""
        dim = self.session.get_inputs()[0].shape[0]
        return dim if isinstance(dim, int) and dim > 0 else EVAL_BATCH

    def infer(self, batch: np.ndarray) -> np.ndarray:
        from core.ort import run_session

        return np.asarray(run_session(self.session, np.ascontiguousarray(batch, dtype=np.float32)))

    def first_inference(self, batch: np.ndarray) -> float:
        start = time.perf_counter()
        self.infer(batch)
        return (time.perf_counter() - start) * 1e3

    def latency_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> list[float]:
        session = self.session
        name = session.get_inputs()[0].name
        feed = {name: np.ascontiguousarray(batch, dtype=np.float32)}
        latencies: list[float] = []
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            session.run(None, feed)
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1e3)
            if len(latencies) >= min_iterations and t1 - start >= seconds:
                return latencies
            tick()

    def throughput_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        latencies = self.latency_loop(batch, seconds=seconds, min_iterations=min_iterations, tick=tick)
        return len(latencies), sum(latencies) / 1e3

    def settings(self) -> dict:
        options = self.session_options
        return {
            "device": "CPU",
            "device_name": _cpu_name(),
            "hint": None,
            "streams": 1,
            "threads": options.get("intra_op_num_threads"),
            "nireq": 1,
            "batch": self.options.batch,
            "inference_precision": "int8" if self.variant.format.value == "int8" else "f32",
            "execution_requested": "f32",
            "throughput_method": "sequential: one ONNX Runtime session runs calls one after another",
            "runtime": f"ONNX Runtime {options.get('onnxruntime', '')}".strip(),
            "session_options": options,
        }


def _cpu_name() -> str:
    from core.runtime import device_name

    return device_name("CPU")


class OnnxRuntimeAdapter(Adapter):
    backend = Backend.ONNXRUNTIME

    def cache_key(self, variant: Variant, options: RunOptions) -> tuple:
        # one session per variant and thread count: hints, batch and pixel input change nothing here
        return (self.backend.value, variant.model_id, variant.id, variant.fingerprint, options.threads)

    def load(self, variant: Variant, spec: ModelSpec, workspace: Workspace, options: RunOptions) -> Prepared:
        from core.ort import create_session

        if options.device not in ("CPU", "AUTO"):
            msg = (
                f"ONNX Runtime runs with its CPU execution provider here, not on {options.device}; "
                "leave the ONNX Runtime variants out"
            )
            raise InputError(msg)
        start = time.perf_counter()
        session, session_options = create_session(variant.onnx, threads=options.threads)
        return OnnxRuntimePrepared(
            variant=variant,
            options=options,
            compile_ms=round((time.perf_counter() - start) * 1e3, 2),
            compile_source="compiled",
            session=session,
            session_options=session_options,
        )


register_adapter(OnnxRuntimeAdapter())
