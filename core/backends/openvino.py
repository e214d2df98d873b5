"""OpenVINO Runtime: compile an IR with a static batch and run it the way benchmark_app does.

`CompiledModel.__call__` reuses one internal infer request, which is not safe for concurrent
callers; this adapter lends each caller its own request from a pool. The throughput phase uses
`AsyncInferQueue` with the optimal number of requests, each with its own input tensor, as
benchmark_app does (sharing one tensor among requests measured higher than benchmark_app); with one
request (the latency hint) it calls `infer()` in a loop, as benchmark_app does then.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.backends.base import Adapter, Prepared, RunOptions, Tick, register_adapter
from core.catalog import Backend, Device, ExecutionPrecision, NumberFormat
from core.runtime import device_name, get_core

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.variants import Variant
    from core.workspace import Workspace

__all__ = ["OpenVINOAdapter", "OpenVINOPrepared", "compile_config"]


def compile_config(variant_format: NumberFormat, options: RunOptions, cache_dir: str | None) -> dict:
    """PERFORMANCE_HINT, and an honest FP32: INFERENCE_PRECISION_HINT=f32 unless the user chose otherwise."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": options.hint.value.upper()}
    if options.execution != ExecutionPrecision.AUTO:
        config["INFERENCE_PRECISION_HINT"] = options.execution.value
    elif variant_format == NumberFormat.FP32:
        config["INFERENCE_PRECISION_HINT"] = "f32"  # true FP32 even on CPUs that would pick bf16
    if options.streams is not None:
        config["NUM_STREAMS"] = options.streams
    elif variant_format == NumberFormat.INT8_WEIGHTS:
        # OpenVINO 2026.4 sometimes computes wrong outputs for weight-compressed models on several CPU
        # streams (EfficientNet-Lite0: 0-12 % top-1 instead of 90 %, one run in three); one stream is right
        config["NUM_STREAMS"] = 1
    if options.threads is not None:
        config["INFERENCE_NUM_THREADS"] = options.threads
    if options.pinning is not None:
        config["ENABLE_CPU_PINNING"] = options.pinning
    if cache_dir:
        config["CACHE_DIR"] = cache_dir
    if options.device == Device.AUTO:
        # AUTO takes the performance hint itself and hands the rest to the device it picks
        inner = {k: v for k, v in config.items() if k not in ("PERFORMANCE_HINT", "CACHE_DIR")}
        config = {k: v for k, v in config.items() if k in ("PERFORMANCE_HINT", "CACHE_DIR")}
        if inner:
            config["DEVICE_PROPERTIES"] = {"CPU": inner}
    return config


def _type_name(value) -> str | None:
    if value is None:
        return None
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class OpenVINOPrepared(Prepared):
    compiled: Any = None
    config: dict = field(default_factory=dict)
    _pool: queue.SimpleQueue = field(default_factory=queue.SimpleQueue, repr=False)
    _async: Any = field(default=None, repr=False)
    _eval_queue: Any = field(default=None, repr=False)

    @property
    def takes_pixels(self) -> bool:
        return self.options.pixels

    def _borrow(self):
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self.compiled.create_infer_request()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        request = self._borrow()
        try:
            request.infer({0: batch})
            return np.array(request.get_output_tensor(0).data, copy=True)
        finally:
            self._pool.put(request)

    def infer_many(self, batches) -> list[np.ndarray]:
        """All batches through one AsyncInferQueue (the optimal number of requests in flight)."""
        import openvino as ov

        batches = list(batches)
        outputs: list[np.ndarray | None] = [None] * len(batches)

        def done(request, index) -> None:
            outputs[index] = np.array(request.get_output_tensor(0).data, copy=True)

        with self._lock:
            if self._eval_queue is None:
                self._eval_queue = ov.AsyncInferQueue(self.compiled, 0)
            jobs = self._eval_queue
            jobs.set_callback(done)
            for index, batch in enumerate(batches):
                jobs.start_async({0: batch}, userdata=index)
            jobs.wait_all()
        return outputs  # type: ignore[return-value]

    def first_inference(self, batch: np.ndarray) -> float:
        request = self._borrow()
        try:
            request.set_input_tensor(_tensor(batch))
            start = time.perf_counter()
            request.infer()
            return (time.perf_counter() - start) * 1e3
        finally:
            self._pool.put(request)

    def latency_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> list[float]:
        request = self._borrow()
        try:
            request.set_input_tensor(_tensor(batch))
            latencies: list[float] = []
            start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                request.infer()
                t1 = time.perf_counter()
                latencies.append((t1 - t0) * 1e3)
                if len(latencies) >= min_iterations and t1 - start >= seconds:
                    return latencies
                tick()
        finally:
            self._pool.put(request)

    def throughput_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        import openvino as ov

        if self._optimal_requests() == 1:  # benchmark_app's latency hint: synchronous calls, one request
            return self._sync_throughput(batch, seconds=seconds, min_iterations=min_iterations, tick=tick)
        if self._async is None:
            self._async = ov.AsyncInferQueue(self.compiled, 0)
            for request in self._async:  # each request its own input tensor, as benchmark_app does
                request.set_input_tensor(_tensor(batch))
        jobs = self._async
        count, start = 0, time.perf_counter()
        while count < max(min_iterations, len(jobs)) or time.perf_counter() - start < seconds:
            jobs.start_async()
            count += 1
            tick()
        jobs.wait_all()
        return count, time.perf_counter() - start

    def _sync_throughput(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        """Calls one after another on one request, as benchmark_app does with one request (its `-api sync`):
        an AsyncInferQueue of one request adds a callback and a thread switch per call, which for a model
        that runs in 50 µs cost a third of its throughput."""
        request = self._borrow()
        try:
            request.set_input_tensor(_tensor(batch))
            count, start = 0, time.perf_counter()
            while count < min_iterations or time.perf_counter() - start < seconds:
                request.infer()
                count += 1
                tick()
            return count, time.perf_counter() - start
        finally:
            self._pool.put(request)

    def _optimal_requests(self) -> int | None:
        return _int_or_none(self._property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def settings(self) -> dict:
        nireq = self._optimal_requests()
        return {
            "device": self.options.device,
            "device_name": device_name(self.options.device),
            "hint": self.options.hint.value,
            "streams": _int_or_none(self._property("NUM_STREAMS")),
            "threads": _int_or_none(self._property("INFERENCE_NUM_THREADS")),
            "nireq": nireq,
            "batch": self.options.batch,
            "inference_precision": self._inference_precision(),
            "execution_devices": self._property("EXECUTION_DEVICES"),
            "execution_requested": self.options.execution.value,
            "pinning": _bool_or_none(self._property("ENABLE_CPU_PINNING")),
            "throughput_method": "synchronous calls on one infer request, as benchmark_app with one request"
            if nireq == 1
            else f"AsyncInferQueue with {nireq or 'the optimal number of'} infer requests, each with its own input tensor",
            "runtime": "OpenVINO Runtime",
        }

    def _inference_precision(self) -> str | None:
        """What the floating-point layers ran in. AUTO does not report it; when it handed the model to the CPU
        alone, it is the CPU setting AUTO passed on, or else the CPU plugin's own default."""
        found = _type_name(self._property("INFERENCE_PRECISION_HINT"))
        if found is not None or self.options.device != Device.AUTO:
            return found
        devices = self._property("EXECUTION_DEVICES")
        if list(devices or []) != ["CPU"]:
            return None
        passed = (self.config.get("DEVICE_PROPERTIES") or {}).get("CPU", {}).get("INFERENCE_PRECISION_HINT")
        if passed:
            return str(passed)
        try:
            return _type_name(get_core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
        except Exception:
            return None

    def _property(self, name: str):
        try:
            return self.compiled.get_property(name)
        except Exception:
            return None


def _with_pixel_input(model, spec: ModelSpec):
    """The model taking uint8 NHWC pixels: type conversion, mean, scale and layout move into the graph,
    so a caller hands over decoded pixels and nothing is normalised in Python."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    pre = spec.preprocess
    ppp = PrePostProcessor(model)
    entry = ppp.input()
    entry.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    entry.model().set_layout(ov.Layout("NCHW"))
    channels = pre.channels
    entry.preprocess().convert_element_type(ov.Type.f32).mean(list(pre.mean[:channels])).scale(
        list(pre.std[:channels])
    )
    return ppp.build()


def _bool_or_none(value) -> bool | None:
    return None if value is None else bool(value)


def _tensor(batch: np.ndarray):
    import openvino as ov

    return ov.Tensor(np.ascontiguousarray(np.array(batch, dtype=np.float32, copy=True)))


class OpenVINOAdapter(Adapter):
    backend = Backend.OPENVINO

    def load(self, variant: Variant, spec: ModelSpec, workspace: Workspace, options: RunOptions) -> Prepared:
        core = get_core()
        model = core.read_model(variant.xml)
        shape = list(model.inputs[0].partial_shape)
        if shape and (shape[0].is_dynamic or shape[0].get_length() != options.batch):
            shape[0] = options.batch
            model.reshape({model.inputs[0].any_name: shape})
        if options.pixels:
            model = _with_pixel_input(model, spec)
        config = compile_config(variant.format, options, str(workspace.cache_dir))
        start = time.perf_counter()
        compiled = core.compile_model(model, options.device, config)
        compile_ms = (time.perf_counter() - start) * 1e3
        try:
            from_cache = bool(compiled.get_property("LOADED_FROM_CACHE"))
        except Exception:
            from_cache = False
        return OpenVINOPrepared(
            variant=variant,
            options=options,
            compile_ms=round(compile_ms, 2),
            compile_source="disk-cache" if from_cache else "compiled",
            compiled=compiled,
            config=config,
        )


register_adapter(OpenVINOAdapter())
