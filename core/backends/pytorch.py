"""PyTorch eager, the reference every other variant is compared with.

Eager PyTorch has no asynchronous queue, so its throughput phase runs calls one after another, and
the result says so. Threads follow `RunOptions.threads` (torch.set_num_threads) for the duration of
a call, and are restored afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.backends.base import Adapter, Prepared, RunOptions, Tick, register_adapter
from core.catalog import Backend
from core.errors import InputError

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.variants import Variant
    from core.workspace import Workspace

__all__ = ["TorchAdapter", "TorchPrepared", "run_in_helper_process"]

_IN_HELPER = False


def run_in_helper_process(enabled: bool = True) -> None:
    """Run PyTorch in a helper process from now on (the web server's choice: it never imports torch)."""
    global _IN_HELPER
    _IN_HELPER = enabled


EVAL_BATCH = 32  # eager PyTorch is much faster per image in batches; evaluation uses them


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@dataclass
class TorchPrepared(Prepared):
    module: Any = None
    _threads_used: int | None = None

    @property
    def eval_batch(self) -> int:
        return EVAL_BATCH

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch_threads(self.options.threads), torch.inference_mode():
            return self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    def _step(self, batch: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        module = self.module

        def step() -> None:
            module(x)

        return step

    def first_inference(self, batch: np.ndarray) -> float:
        import torch

        step = self._step(batch)
        with self._lock, torch_threads(self.options.threads), torch.inference_mode():
            start = time.perf_counter()
            step()
            return (time.perf_counter() - start) * 1e3

    def _loop(self, batch: np.ndarray, seconds: float, min_iterations: int, tick: Tick) -> list[float]:
        import torch

        step = self._step(batch)
        latencies: list[float] = []
        with self._lock, torch_threads(self.options.threads) as used, torch.inference_mode():
            self._threads_used = used
            start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                step()
                t1 = time.perf_counter()
                latencies.append((t1 - t0) * 1e3)
                if len(latencies) >= min_iterations and t1 - start >= seconds:
                    return latencies
                tick()

    def latency_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> list[float]:
        return self._loop(batch, seconds, min_iterations, tick)

    def throughput_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        latencies = self._loop(batch, seconds, min_iterations, tick)
        return len(latencies), sum(latencies) / 1e3

    def settings(self) -> dict:
        import torch

        threads = self._threads_used or self.options.threads or torch.get_num_threads()
        return {
            "device": "CPU",
            "device_name": _cpu_name(),
            "hint": None,
            "streams": 1,
            "threads": threads,
            "nireq": 1,
            "batch": self.options.batch,
            "inference_precision": "f32",
            "execution_requested": "f32",
            "throughput_method": "sequential: PyTorch eager has no async queue, so calls run one after another",
            "runtime": f"PyTorch {torch.__version__} eager",
        }


def _cpu_name() -> str:
    from core.runtime import device_name

    return device_name("CPU")


class TorchAdapter(Adapter):
    backend = Backend.TORCH

    def cache_key(self, variant: Variant, options: RunOptions) -> tuple:
        # one module per model whatever the options: they only change threads and batch at call time
        return (self.backend.value, variant.model_id, variant.id, "module", options.threads, options.batch)

    def load(self, variant: Variant, spec: ModelSpec, workspace: Workspace, options: RunOptions) -> Prepared:
        from core.registry import build_torch_model

        if options.device not in ("CPU", "AUTO"):
            msg = f"PyTorch runs on the CPU here, not on {options.device}; leave torch out"
            raise InputError(msg)
        if _IN_HELPER:
            from core.backends.torch_service import remote_prepare

            return remote_prepare(variant, spec, workspace, options)
        return TorchPrepared(variant=variant, options=options, module=build_torch_model(spec, workspace))


register_adapter(TorchAdapter())
