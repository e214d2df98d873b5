"""Runtimes behind one interface: OpenVINO, ONNX Runtime and PyTorch eager.

`prepare(variant, spec, workspace, RunOptions(...))` gives a `Prepared` that classifies batches and
runs the two benchmark phases; no caller asks which runtime it holds. Adding a runtime is one
module with an `Adapter` subclass registered through `register_adapter`.
"""

from core.backends import onnxruntime as _onnxruntime  # noqa: F401 - registers the adapter
from core.backends import openvino as _openvino  # noqa: F401 - registers the adapter
from core.backends import pytorch as _pytorch  # noqa: F401 - registers the adapter
from core.backends.base import (
    Adapter,
    Prepared,
    RunOptions,
    cache_info,
    clear_cache,
    is_prepared,
    prepare,
    register_adapter,
)

__all__ = [
    "Adapter",
    "Prepared",
    "RunOptions",
    "cache_info",
    "clear_cache",
    "is_prepared",
    "prepare",
    "register_adapter",
]
