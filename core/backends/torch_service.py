"""PyTorch for the web server, in a helper process: the server itself never imports torch.

The Classify page still shows the PyTorch reference next to OpenVINO and ONNX Runtime; its calls go
over a pipe to one helper process, started on first use and reused (about 1 GB of torch stays out of
the server). Job workers and the CLI run PyTorch in their own process instead.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.backends.base import Prepared, RunOptions, Tick
from core.errors import CoreError

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.variants import Variant
    from core.workspace import Workspace

__all__ = ["RemoteTorchPrepared", "TorchService", "torch_service"]

_SERVICE: TorchService | None = None
_SERVICE_LOCK = threading.Lock()


def _serve(conn) -> None:
    """The helper's loop: build modules once per model, answer inference requests until the pipe closes."""
    from core.backends.pytorch import TorchPrepared
    from core.registry import ModelSpec, build_torch_model
    from core.variants import reference_variant
    from core.workspace import Workspace

    prepared: dict[tuple, TorchPrepared] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            spec = ModelSpec.from_dict(request["spec"])
            options = RunOptions(batch=request.get("batch_size", 1), threads=request.get("threads"))
            key = (spec.id, spec.weights, spec.source_file, options.threads)
            if key not in prepared:
                module = build_torch_model(spec, Workspace(request["root"]))
                prepared[key] = TorchPrepared(variant=reference_variant(spec), options=options, module=module)
            target = prepared[key]
            op = request["op"]
            if op == "infer":
                value: Any = target.infer_timed(request["batch"])
            elif op == "first":
                value = target.first_inference(request["batch"])
            elif op == "latency":
                value = target.latency_loop(
                    request["batch"],
                    seconds=request["seconds"],
                    min_iterations=request["min"],
                    tick=lambda: None,
                )
            elif op == "throughput":
                value = target.throughput_loop(
                    request["batch"],
                    seconds=request["seconds"],
                    min_iterations=request["min"],
                    tick=lambda: None,
                )
            elif op == "settings":
                value = target.settings()
            else:
                value = None
            conn.send({"ok": True, "value": value})
        except Exception as exc:  # sent back and raised in the server as a CoreError with the same words
            conn.send(
                {
                    "ok": False,
                    "type": type(exc).__name__,
                    "core": isinstance(exc, CoreError),
                    "message": str(exc),
                }
            )


class TorchService:
    """One helper process running PyTorch; started on first use, restarted once if it died."""

    def __init__(self) -> None:
        self._process = None
        self._conn = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        from core.spawn import plain_main, spawn_context

        context = spawn_context()
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="ovdash-torch", daemon=True)
        with plain_main():
            process.start()
        child.close()
        self._process, self._conn = process, parent

    def call(self, request: dict) -> Any:
        with self._lock:
            for attempt in (1, 2):
                if self._process is None or not self._process.is_alive():
                    self._start()
                try:
                    self._conn.send(request)
                    reply = self._conn.recv()
                    break
                except (EOFError, BrokenPipeError, OSError):
                    self._stop()
                    if attempt == 2:
                        msg = "the PyTorch helper process stopped twice; reload the page and try again"
                        raise CoreError(msg) from None
        if reply["ok"]:
            return reply["value"]
        import core.errors as errors

        kind = getattr(errors, reply["type"], None) if reply["core"] else None
        raise (kind if isinstance(kind, type) and issubclass(kind, CoreError) else CoreError)(
            reply["message"]
        )

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._process = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._stop()


def torch_service() -> TorchService:
    global _SERVICE
    with _SERVICE_LOCK:
        if _SERVICE is None:
            _SERVICE = TorchService()
            atexit.register(_SERVICE.close)
        return _SERVICE


@dataclass
class RemoteTorchPrepared(Prepared):
    """The PyTorch reference of a model, run by the helper process."""

    spec_dict: dict = field(default_factory=dict)
    root: str = ""

    def _call(self, op: str, batch: np.ndarray | None = None, **extra) -> Any:
        request = {"op": op, "spec": self.spec_dict, "root": self.root, "threads": self.options.threads,
                   "batch_size": self.options.batch, **extra}  # fmt: skip
        if batch is not None:
            request["batch"] = np.ascontiguousarray(batch, dtype=np.float32)
        return torch_service().call(request)

    @property
    def eval_batch(self) -> int:
        return 32

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.infer_timed(batch)[0]

    def infer_timed(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        logits, ms = self._call("infer", batch)
        return np.asarray(logits), float(ms)

    def first_inference(self, batch: np.ndarray) -> float:
        return float(self._call("first", batch))

    def latency_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> list[float]:
        return list(self._call("latency", batch, seconds=seconds, min=min_iterations))

    def throughput_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        calls, wall = self._call("throughput", batch, seconds=seconds, min=min_iterations)
        return int(calls), float(wall)

    def settings(self) -> dict:
        found = dict(self._call("settings"))
        found["runtime"] = f"{found.get('runtime', 'PyTorch')} (in a helper process)"
        return found


def remote_prepare(variant: Variant, spec: ModelSpec, workspace: Workspace, options: RunOptions) -> Prepared:
    prepared = RemoteTorchPrepared(
        variant=variant, options=options, spec_dict=spec.to_dict(), root=str(workspace.root)
    )
    prepared._call("settings")  # builds the module in the helper now, not on the first timed call
    prepared.compile_ms = None
    prepared.compile_source = "none"
    return prepared
