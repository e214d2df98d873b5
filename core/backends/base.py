"""The one interface every runtime is used through: prepare a variant once, classify batches, and
run the two benchmark phases (synchronous latency, then throughput) the way benchmark_app does.

Callers hold a `Prepared` and never ask which backend it is; number format and recipe live in the
variant. Prepared objects are cached per (variant, its files, device, hint, batch, threads,
streams, execution precision), shared by every caller of a process and safe for concurrent use.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from core.catalog import Backend, ExecutionPrecision, Hint, parse_option
from core.errors import InputError
from core.preprocessing import PreprocessSpec

if TYPE_CHECKING:
    from core.registry import ModelSpec
    from core.variants import Variant
    from core.workspace import Workspace

__all__ = [
    "Adapter",
    "Prepared",
    "RunOptions",
    "Tick",
    "cache_info",
    "clear_cache",
    "is_prepared",
    "prepare",
    "register_adapter",
]

Tick = Callable[[], None]  # called between iterations so a caller can report progress or stop
MAX_PREPARED = 12


@dataclass(frozen=True)
class RunOptions:
    """How to run a variant; None leaves the choice to the runtime (and the result records it)."""

    device: str = "CPU"
    hint: Hint = Hint.LATENCY
    batch: int = 1
    threads: int | None = None
    streams: int | None = None
    execution: ExecutionPrecision = ExecutionPrecision.AUTO
    pixels: bool = False  # OpenVINO: take uint8 (N, H, W, C) pixels and normalise inside the graph
    pinning: bool | None = None  # OpenVINO ENABLE_CPU_PINNING; False for the web server's interactive models

    def __post_init__(self) -> None:
        object.__setattr__(self, "hint", parse_option(Hint, self.hint, "hint"))
        object.__setattr__(
            self, "execution", parse_option(ExecutionPrecision, self.execution, "execution precision")
        )
        if self.batch < 1:
            msg = f"batch must be at least 1, not {self.batch}"
            raise InputError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"threads must be at least 1, not {self.threads}; leave it empty for all cores"
            raise InputError(msg)
        if self.streams is not None and self.streams < 1:
            msg = f"streams must be at least 1, not {self.streams}; leave it empty for the hint's choice"
            raise InputError(msg)

    def with_batch(self, batch: int) -> RunOptions:
        return replace(self, batch=batch)


@dataclass
class Prepared(ABC):
    """A variant loaded or compiled for one set of options; `compile_ms` None where nothing compiles."""

    variant: Variant
    options: RunOptions
    compile_ms: float | None = None
    compile_source: str = "none"  # "compiled" | "disk-cache" | "memory" | "none"
    preprocess: PreprocessSpec | None = None  # the model's, set by prepare(): normalises pixels
    warmed: bool = False  # one untimed inference has run (first-call allocations are not timed later)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pixel_input(self, pixels: np.ndarray) -> np.ndarray:
        """What `infer` takes, from uint8 (N, H, W, C) pixels: the pixels themselves where the graph
        normalises them, else the normalised float (N, C, H, W) batch."""
        if self.options.pixels and self.takes_pixels:
            return np.ascontiguousarray(pixels, dtype=np.uint8)
        return self.preprocess.normalize(pixels)

    @property
    def takes_pixels(self) -> bool:
        """True when `infer` takes uint8 pixels (an OpenVINO graph with the normalisation inside)."""
        return False

    def infer_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Logits for uint8 (N, H, W, C) images already resized and cropped."""
        return self.infer(self.pixel_input(pixels))

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 (N, C, H, W) batch; safe for concurrent callers."""

    def warm_up(self, batch: np.ndarray) -> None:
        """One untimed inference, once per prepared object (not on every call of an interactive page)."""
        if not self.warmed:
            self.infer(batch)
            self.warmed = True

    def infer_timed(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Logits and the milliseconds of the inference itself (a helper process times it on its side)."""
        start = time.perf_counter()
        logits = self.infer(batch)
        return logits, (time.perf_counter() - start) * 1e3

    def infer_many(self, batches: Iterable[np.ndarray]) -> list[np.ndarray]:
        """Logits of many batches, in order; runtimes with an async queue override this to overlap them."""
        return [self.infer(batch) for batch in batches]

    @property
    def eval_batch(self) -> int:
        """Images per call when evaluating many: the compiled batch here, more where the runtime allows."""
        return self.options.batch

    @abstractmethod
    def first_inference(self, batch: np.ndarray) -> float:
        """Run once (untimed by the loops) and return its milliseconds: benchmark_app reports it apart."""

    @abstractmethod
    def latency_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> list[float]:
        """Synchronous inference on one request until `seconds` and `min_iterations` passed; ms per call."""

    @abstractmethod
    def throughput_loop(
        self, batch: np.ndarray, *, seconds: float, min_iterations: int, tick: Tick
    ) -> tuple[int, float]:
        """As many inferences as the runtime can keep in flight for `seconds`: (calls completed, wall s)."""

    @abstractmethod
    def settings(self) -> dict:
        """What actually executed: device, hint, streams, threads, requests, execution precision, ..."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the runtime holds beyond the Python object."""


class Adapter(ABC):
    """One per runtime: turns a variant and options into a Prepared."""

    backend: Backend

    @abstractmethod
    def load(self, variant: Variant, spec: ModelSpec, workspace: Workspace, options: RunOptions) -> Prepared:
        """Load or compile the variant (uncached; `prepare` caches)."""

    def cache_key(self, variant: Variant, options: RunOptions) -> tuple:
        return (self.backend.value, variant.model_id, variant.id, variant.fingerprint, options)


_ADAPTERS: dict[Backend, Adapter] = {}
_LOCK = threading.RLock()
_CACHE: OrderedDict[tuple, Prepared] = OrderedDict()
_KEY_LOCKS: dict[tuple, threading.Lock] = {}


def register_adapter(adapter: Adapter) -> Adapter:
    """Add a runtime; a second adapter for the same backend is refused, not silently swapped in."""
    with _LOCK:
        if adapter.backend in _ADAPTERS:
            msg = f"an adapter for {adapter.backend.value} is already registered"
            raise InputError(msg)
        _ADAPTERS[adapter.backend] = adapter
    return adapter


def _adapter(backend: Backend) -> Adapter:
    if not _ADAPTERS:
        import core.backends  # noqa: F401 - registers the built-in adapters

    try:
        return _ADAPTERS[backend]
    except KeyError:
        msg = f"no runtime is registered for {backend.value}"
        raise InputError(msg) from None


def prepare(
    variant: Variant,
    spec: ModelSpec,
    workspace: Workspace,
    options: RunOptions | None = None,
    *,
    cache: bool = True,
) -> Prepared:
    """The variant ready to run (cached per process); a slow load blocks only callers of that key."""
    options = options or RunOptions()
    adapter = _adapter(variant.backend)
    if not cache:
        value = adapter.load(variant, spec, workspace, options)
        value.preprocess = spec.preprocess
        return value
    key = adapter.cache_key(variant, options)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        value = adapter.load(variant, spec, workspace, options)
        value.preprocess = spec.preprocess
        with _LOCK:
            _CACHE[key] = value
            while len(_CACHE) > MAX_PREPARED:
                _, old = _CACHE.popitem(last=False)
                old.close()
            _KEY_LOCKS.pop(key, None)
        return value


def cache_info() -> list[dict]:
    """What this process holds ready: for pages that say whether a first call will compile."""
    with _LOCK:
        return [
            {
                "backend": key[0],
                "model_id": key[1],
                "variant": key[2],
                "fingerprint": key[3],
                "hint": prepared.options.hint.value,
                "batch": prepared.options.batch,
                "compile_ms": prepared.compile_ms,
            }
            for key, prepared in _CACHE.items()
        ]


def is_prepared(variant: Variant, options: RunOptions) -> bool:
    adapter = _adapter(variant.backend)
    with _LOCK:
        return adapter.cache_key(variant, options) in _CACHE


def clear_cache() -> None:
    with _LOCK:
        for prepared in _CACHE.values():
            prepared.close()
        _CACHE.clear()
