"""One OpenVINO Core per process and a bounded cache of compiled models.

Compiling is the slow step, so compiled models are kept per (artifact, device, hint, batch) and
shared by every caller. `CompiledModel.__call__` reuses one internal infer request, which is not
safe for concurrent callers; `infer` instead borrows a request from a small pool per compiled
model, so concurrent users of the dashboard never share one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.workspace import Artifact, Precision, Workspace

if TYPE_CHECKING:
    import openvino as ov
    import torch

    from core.registry import ModelSpec

__all__ = [
    "CompiledEntry",
    "compile_artifact",
    "device_name",
    "disable_telemetry",
    "get_core",
    "get_torch_model",
    "infer",
    "runtime_cache_info",
]

_LOCK = threading.RLock()
_CORE: ov.Core | None = None
_MAX_COMPILED = 12
_COMPILED: OrderedDict[tuple, CompiledEntry] = OrderedDict()
_TORCH: OrderedDict[tuple, Any] = OrderedDict()
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_MAX_TORCH = 3


def disable_telemetry() -> None:
    """OpenVINO and NNCF send anonymous usage data by default; a local tool should not."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

        OptInChecker().update_result(ConsentCheckResult.DECLINED)
    except Exception:  # telemetry is optional; never fail a run over it
        pass


def get_core() -> ov.Core:
    global _CORE
    with _LOCK:
        if _CORE is None:
            disable_telemetry()
            import openvino as ov

            _CORE = ov.Core()
        return _CORE


def device_name(device: str = "CPU") -> str:
    try:
        return str(get_core().get_property(device, "FULL_DEVICE_NAME"))
    except Exception:
        return device


def available_devices() -> list[str]:
    return list(get_core().available_devices)


@dataclass
class CompiledEntry:
    """A compiled model with its own pool of infer requests and how it was compiled."""

    compiled: Any
    device: str
    hint: str
    batch: int
    compile_ms: float
    config: dict
    _pool: queue.SimpleQueue = field(default_factory=queue.SimpleQueue, repr=False)

    def borrow(self):
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self.compiled.create_infer_request()

    def give_back(self, request) -> None:
        self._pool.put(request)

    def property(self, name: str):
        try:
            return self.compiled.get_property(name)
        except Exception:
            return None


def compile_config(precision: Precision, hint: str, extra: dict | None = None) -> dict:
    config = {"PERFORMANCE_HINT": hint.upper()}
    if precision == Precision.FP32:
        config["INFERENCE_PRECISION_HINT"] = "f32"  # honest FP32 baseline even where bf16 exists
    config.update(extra or {})
    return config


def compile_artifact(
    artifact: Artifact,
    *,
    workspace: Workspace | None = None,
    device: str = "CPU",
    hint: str = "latency",
    batch: int = 1,
    extra: dict | None = None,
) -> CompiledEntry:
    """Compile (or fetch from the cache) an artifact with a static batch."""
    extra = dict(extra or {})
    key = (str(artifact.xml), artifact.fingerprint, device, hint.upper(), batch, tuple(sorted(extra.items())))

    def build() -> CompiledEntry:
        core = get_core()
        model = core.read_model(artifact.xml)
        shape = list(model.inputs[0].partial_shape)
        if shape and (shape[0].is_dynamic or shape[0].get_length() != batch):
            shape[0] = batch
            model.reshape({model.inputs[0].any_name: shape})
        config = compile_config(artifact.precision, hint, extra)
        if workspace is not None:
            config["CACHE_DIR"] = str(workspace.cache_dir)
        start = time.perf_counter()
        compiled = core.compile_model(model, device, config)
        return CompiledEntry(
            compiled, device, hint.upper(), batch, (time.perf_counter() - start) * 1e3, config
        )

    return _get_or_build(_COMPILED, key, build, _MAX_COMPILED)


def _get_or_build(cache: OrderedDict, key: tuple, build, limit: int):
    """Look up under the shared lock; build under a lock of this key alone, so one slow compile
    or model load never holds up other sessions using models that are ready."""
    with _LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        key_lock = _KEY_LOCKS.setdefault((id(cache), key), threading.Lock())
    with key_lock:
        with _LOCK:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = build()
        with _LOCK:
            cache[key] = value
            while len(cache) > limit:
                cache.popitem(last=False)
            _KEY_LOCKS.pop((id(cache), key), None)
        return value


def infer(entry: CompiledEntry, batch: np.ndarray) -> np.ndarray:
    """Run one batch on a borrowed infer request; safe for concurrent callers."""
    request = entry.borrow()
    try:
        request.infer({0: batch})
        return np.array(request.get_output_tensor(0).data, copy=True)
    finally:
        entry.give_back(request)


def get_torch_model(spec: ModelSpec, workspace: Workspace | None = None) -> torch.nn.Module:
    """The PyTorch reference module, built once per process (a few are kept)."""
    from core.registry import build_torch_model

    key = (spec.id, spec.weights, spec.source_file)
    return _get_or_build(_TORCH, key, lambda: build_torch_model(spec, workspace), _MAX_TORCH)


def runtime_cache_info() -> dict:
    with _LOCK:
        return {
            "compiled": [
                {
                    "xml": k[0],
                    "device": k[2],
                    "hint": k[3],
                    "batch": k[4],
                    "compile_ms": round(v.compile_ms, 1),
                }
                for k, v in _COMPILED.items()
            ],
            "torch": [k[0] for k in _TORCH],
        }


def clear_caches() -> None:
    with _LOCK:
        _COMPILED.clear()
        _TORCH.clear()
