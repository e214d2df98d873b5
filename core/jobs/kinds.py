"""The job kinds: a name each, and the `module:function` a worker imports to run it.

Job functions take plain settings, the workspace and a JobContext, and return a plain dict, so the
same function runs from the CLI, a local worker process, or another executor.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from core.errors import CoreError, InputError

__all__ = ["JOB_KINDS", "job_target", "load_target", "register_job_kind"]

JOB_KINDS: dict[str, str] = {}


def register_job_kind(kind: str, target: str, *, replace: bool = False) -> None:
    """Add a job kind; `target` is "module:function", imported inside the worker.

    A name already taken is refused (a second registration is almost always a mistake), unless
    `replace` says it is meant.
    """
    if ":" not in target:
        msg = f"job target {target!r} must look like 'package.module:function'"
        raise InputError(msg)
    if kind in JOB_KINDS and JOB_KINDS[kind] != target and not replace:
        msg = f"a job kind named {kind!r} is already registered ({JOB_KINDS[kind]}); choose another name"
        raise InputError(msg)
    JOB_KINDS[kind] = target


def job_target(kind: str) -> str:
    try:
        return JOB_KINDS[kind]
    except KeyError:
        msg = f"unknown job kind {kind!r}; choose one of {', '.join(sorted(JOB_KINDS))}"
        raise InputError(msg) from None


def load_target(target: str) -> Callable:
    module_name, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        msg = (
            f"the job function {target!r} cannot be loaded ({type(exc).__name__}: {exc}); "
            "check that its module is installed and its kind names it correctly"
        )
        raise CoreError(msg) from exc


def _installed(target: str) -> bool:
    """True when the target's module is present; found without importing it (the web server stays light)."""
    try:
        return importlib.util.find_spec(target.partition(":")[0]) is not None
    except (ImportError, ValueError):
        return False


for _kind, _target in (
    ("convert", "core.convert:convert_job"),
    ("quantize", "core.quantize:quantize_job"),
    ("benchmark", "core.benchmark:benchmark_job"),
    ("evaluate", "core.evaluate:evaluate_job"),
    ("demo", "core.demo:demo_job"),
    # feature modules that may not be in this checkout: a kind without its module would be offered and
    # then fail in every worker, so it is registered only when the module is there
    ("study", "core.study:study_job"),
    ("train", "core.train:train_job"),
    ("qat", "core.qat:qat_job"),
    ("prune", "core.prune:prune_job"),
    ("compress", "core.compress:compress_job"),
):
    if _installed(_target):
        register_job_kind(_kind, _target)
