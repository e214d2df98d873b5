"""Interactive work comes first: jobs run below the web server, and the server's models share the cores."""

from __future__ import annotations

import time
from pathlib import Path

from core.jobs import JobService, JobState
from core.workspace import Workspace
from tests.core.job_fixtures import register_test_kinds

register_test_kinds()


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_a_job_worker_runs_at_the_lower_priority_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("OVDASH_JOB_NICE", "7")
    ws = Workspace(tmp_path / "ws")
    service = JobService(ws, poll_seconds=0.1)
    gate = tmp_path / "gate"
    try:
        record = service.submit("test-gate", {"gate": str(gate)}, title="wait")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = service.get(record.id)
            if (
                running.state == JobState.RUNNING
                and running.pid
                and "waiting for the gate" in service.log_tail(record.id)
            ):
                break
            time.sleep(0.05)
        assert running.state == JobState.RUNNING
        assert _niceness(running.pid) == 7  # below the server (0): a click on Classify wins the cores
        assert "(nice 7)" in service.log_tail(record.id)
        gate.touch()
        assert service.wait(record.id, timeout=30).state == JobState.SUCCEEDED
    finally:
        gate.touch()
        service.shutdown()


def test_classify_compiles_its_models_without_cpu_pinning(workspace, lenet_fp):
    from core.backends import cache_info, prepare
    from core.backends.base import RunOptions
    from core.data import load_dataset
    from core.inference import classify_images
    from core.registry import get_model

    images = [(s.name, s.image()) for s in list(load_dataset("builtin:mnist"))[:2]]
    classify_images("lenet5-mnist", images, ["fp32"], workspace=workspace)
    spec = get_model("lenet5-mnist")
    prepared = prepare(
        workspace.require_variant(spec.id, "fp32"), spec, workspace, RunOptions(pixels=True, pinning=False)
    )
    assert (
        prepared.config["ENABLE_CPU_PINNING"] is False
    )  # the one classify used: from the cache, not a new compile
    assert prepared.settings()["pinning"] is False
    assert any(entry["variant"] == "fp32" for entry in cache_info())
