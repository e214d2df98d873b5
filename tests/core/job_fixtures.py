"""Job functions for the job-runner tests; they import nothing heavy so spawned workers start fast."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.errors import CoreError
from core.progress import Progress

__all__ = [
    "bad_result_job",
    "boom_job",
    "count_job",
    "crash_job",
    "fail_job",
    "gate_job",
    "register_test_kinds",
    "slow_job",
    "wait_for",
]

_KINDS = ("count", "gate", "fail", "boom", "crash", "slow", "bad_result")


def register_test_kinds() -> None:
    """Register every job function here as `test-<name>` (registering the same target again is harmless)."""
    from core.jobs import register_job_kind

    for name in _KINDS:
        register_job_kind(f"test-{name.replace('_', '-')}", f"tests.core.job_fixtures:{name}_job")


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll until `predicate()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    msg = f"timed out waiting for {what}"
    raise AssertionError(msg)


def count_job(config: dict, workspace, ctx) -> dict:
    """Counts to `steps`, reporting every step, so progress and throttling are exercised."""
    steps = int(config.get("steps", 5))
    total = 0
    for i in range(1, steps + 1):
        time.sleep(float(config.get("delay", 0.01)))
        total += i
        ctx.progress(Progress("counting", i, steps, f"step {i}"))
    ctx.log(f"counted to {steps}")
    return {"sum": total, "steps": steps}


def gate_job(config: dict, workspace, ctx) -> dict:
    """Runs until the file `gate` appears, so a test decides when it ends."""
    gate = Path(config["gate"])
    ctx.log("waiting for the gate")  # tests wait for this line: the job function itself is running
    deadline = time.monotonic() + 30
    while not gate.exists():
        if time.monotonic() > deadline:
            msg = "the gate file never appeared; the test did not open it"
            raise CoreError(msg)
        time.sleep(0.02)
    return {"opened": True}


def fail_job(config: dict, workspace, ctx) -> dict:
    ctx.progress(Progress("checking", 1, 4))
    msg = "bad thing; do X"
    raise CoreError(msg)


def boom_job(config: dict, workspace, ctx) -> dict:
    msg = "nope"
    raise ValueError(msg)


def crash_job(config: dict, workspace, ctx) -> dict:
    ctx.log("about to crash")
    os._exit(3)


def slow_job(config: dict, workspace, ctx) -> dict:
    """Busy for up to 60 s without reporting anything: only killing the process stops it."""
    ctx.log("slow job started")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pass
    return {}


def bad_result_job(config: dict, workspace, ctx) -> dict:
    return {"labels": {1, 2, 3}}
