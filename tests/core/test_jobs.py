"""The job runner with real spawned worker processes: what a user sees in the job list."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import CoreError, InputError
from core.jobs import (
    JOB_KINDS,
    JobContext,
    JobRecord,
    JobRunner,
    JobState,
    JobStore,
    register_job_kind,
    run_job_here,
)
from core.progress import Progress
from core.workspace import Workspace

for _name in ("count", "gate", "fail", "boom", "crash", "slow", "bad_result"):
    register_job_kind(f"test-{_name.replace('_', '-')}", f"tests.core.job_fixtures:{_name}_job")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def runner(workspace: Workspace):
    job_runner = JobRunner(workspace, poll_seconds=0.1)
    yield job_runner
    job_runner.shutdown()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll until `predicate()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_running(runner: JobRunner, job_id: str) -> JobRecord:
    return wait_for(
        lambda: (r := runner.store.get(job_id)).state == JobState.RUNNING and r.pid and r, what="job running"
    )


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_job_kinds_name_the_real_job_functions():
    assert JOB_KINDS["quantize"] == "core.quantize:quantize_job"
    assert {"convert", "quantize", "benchmark", "evaluate"} <= set(JOB_KINDS)


def test_submitted_job_succeeds_with_result_progress_and_log(runner):
    record = runner.submit("test-count", {"steps": 30, "delay": 0.01}, title="count to 30")
    assert record.state == JobState.QUEUED and record.title == "count to 30"
    done = runner.wait(record.id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result == {"sum": 465, "steps": 30}
    assert (done.phase, done.done, done.total, done.fraction) == ("counting", 30, 30, 1.0)
    assert done.started >= done.created and done.finished >= done.started and done.duration >= 0.3
    assert done.pid and done.error is None
    log = runner.store.log_tail(done.id)
    assert "counted to 30" in log and "succeeded" in log
    assert done.to_dict()["state"] == "succeeded"


def test_jobs_run_one_at_a_time_oldest_first(runner, tmp_path):
    gate = tmp_path / "gate"
    first = runner.submit("test-gate", {"gate": str(gate)}, title="first")
    second = runner.submit("test-count", {"steps": 2}, title="second")
    wait_running(runner, first.id)
    for _ in range(10):  # a few dispatcher cycles: the second must not start while the first runs
        assert runner.store.get(second.id).state == JobState.QUEUED
        time.sleep(0.05)
    assert [r.id for r in runner.store.list(active_only=True)] == [second.id, first.id]
    gate.touch()
    first_done, second_done = runner.wait(first.id), runner.wait(second.id)
    assert first_done.state == second_done.state == JobState.SUCCEEDED
    assert second_done.started >= first_done.finished


def test_failed_job_shows_the_core_error_message(runner):
    record = runner.wait(runner.submit("test-fail", {}, title="fail").id)
    assert record.state == JobState.FAILED
    assert record.error == "bad thing; do X"
    assert (record.phase, record.done, record.total) == ("checking", 1, 4)


def test_unexpected_error_names_its_type_and_logs_the_traceback(runner):
    record = runner.wait(runner.submit("test-boom", {}, title="boom").id)
    assert record.error == "ValueError: nope"
    log = runner.store.log_tail(record.id)
    assert "Traceback" in log and "boom_job" in log


def test_result_that_is_not_json_fails_clearly(runner):
    record = runner.wait(runner.submit("test-bad-result", {}, title="bad").id)
    assert record.state == JobState.FAILED and "JSON" in record.error and record.result is None


def test_crashed_worker_fails_with_exit_code_and_the_runner_keeps_serving(runner):
    crashed = runner.wait(runner.submit("test-crash", {}, title="crash").id)
    assert crashed.state == JobState.FAILED
    assert "the worker process exited with code 3" in crashed.error
    assert "about to crash" in runner.store.log_tail(crashed.id)
    after = runner.wait(runner.submit("test-count", {"steps": 1}, title="after").id)
    assert after.state == JobState.SUCCEEDED


def test_cancel_kills_a_running_worker_and_cancels_a_queued_job(runner):
    running = runner.submit("test-slow", {}, title="slow")
    queued = runner.submit("test-count", {"steps": 1}, title="queued")
    pid = wait_running(runner, running.id).pid

    cancelled_queued = runner.cancel(queued.id)
    assert cancelled_queued.state == JobState.CANCELLED and cancelled_queued.started is None

    cancelled = runner.cancel(running.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.message == "cancelled by the user"
    assert cancelled.finished is not None
    assert pid_gone(pid)
    assert runner.cancel(running.id).state == JobState.CANCELLED  # finished jobs stay as they are
    assert runner.store.get(queued.id).started is None


def test_a_new_runner_marks_jobs_of_a_dead_server_interrupted(workspace):
    store = JobStore(workspace.jobs_db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = store.create("test-count", {"steps": 1}, title="orphan")
    store.update(orphan.id, state=JobState.RUNNING, pid=dead.pid, started=time.time())
    store.append_log(orphan.id, "working")
    alive = store.create("test-count", {}, title="still running elsewhere")
    store.update(alive.id, state=JobState.RUNNING, pid=os.getpid(), started=time.time())
    waiting = store.create("test-count", {"steps": 2}, title="waiting")

    runner = JobRunner(workspace, poll_seconds=0.1)
    try:
        record = runner.store.get(orphan.id)
        assert record.state == JobState.INTERRUPTED
        assert record.message == "the server stopped while this job was running; submit it again"
        assert runner.store.get(alive.id).state == JobState.RUNNING
        assert runner.wait(waiting.id).state == JobState.SUCCEEDED  # queued jobs survive a restart
    finally:
        runner.shutdown()
        store.update(alive.id, state=JobState.FAILED)
    assert "working" in JobStore(workspace.jobs_db).log_tail(orphan.id)


def test_shutdown_interrupts_running_workers(workspace):
    runner = JobRunner(workspace, poll_seconds=0.1)
    job = runner.submit("test-slow", {}, title="slow")
    pid = wait_running(runner, job.id).pid
    runner.shutdown()
    assert runner.store.get(job.id).state == JobState.INTERRUPTED
    assert pid_gone(pid)


def test_records_and_log_survive_in_a_new_store(runner, workspace):
    record = runner.wait(runner.submit("test-count", {"steps": 3}, title="keep me").id)
    reopened = JobStore(workspace.jobs_db)
    assert reopened.get(record.id) == record
    assert "counted to 3" in reopened.log_tail(record.id, lines=5)
    assert [r.id for r in reopened.list()] == [record.id]


def test_delete_refuses_an_active_job_and_removes_a_finished_one(workspace):
    store = JobStore(workspace.jobs_db)
    job = store.create("test-count", {}, title="busy")
    store.append_log(job.id, "hello")
    with pytest.raises(InputError, match="cancel it first"):
        store.delete(job.id)
    store.update(job.id, state=JobState.CANCELLED)
    store.delete(job.id)
    assert not (workspace.root / "jobs" / job.id).exists()
    with pytest.raises(InputError, match="no job"):
        store.get(job.id)


def test_submit_checks_kind_and_config(runner):
    with pytest.raises(InputError, match="unknown job kind 'nope'"):
        runner.submit("nope", {}, title="x")
    with pytest.raises(InputError, match="cannot be saved"):
        runner.submit("test-count", {"when": object()}, title="x")
    assert runner.store.list() == []


def _record(**fields) -> JobRecord:
    base = dict(
        id="j",
        kind="k",
        title="t",
        state=JobState.RUNNING,
        config={},
        created=0.0,
        started=None,
        finished=None,
        phase="p",
        done=None,
        total=None,
        message="",
        error=None,
        result=None,
        pid=None,
    )
    return JobRecord(**{**base, **fields})


def test_fraction_duration_and_eta_math():
    now = time.time()
    record = _record(done=25, total=100, started=now - 20, phase_started=now - 10)
    assert record.fraction == 0.25
    assert record.eta_seconds == pytest.approx(30, abs=1)
    assert record.duration == pytest.approx(20, abs=1)
    assert _record(done=0, total=100, phase_started=now).eta_seconds is None
    assert _record(done=5, total=None, phase_started=now).eta_seconds is None
    assert _record(done=100, total=100, phase_started=now).eta_seconds == 0.0
    assert _record(state=JobState.SUCCEEDED, done=1, total=2, phase_started=now).eta_seconds is None
    assert _record(started=10.0, finished=13.5).duration == 3.5
    assert _record(done=3, total=0).fraction is None and _record().duration is None
    assert JobState.QUEUED.active and JobState.RUNNING.active and JobState.INTERRUPTED.finished


def test_progress_restarts_the_eta_clock_on_a_new_phase(workspace):
    store = JobStore(workspace.jobs_db)
    job = store.create("test-count", {}, title="phases")
    store.update(job.id, state=JobState.RUNNING)
    store.set_progress(job.id, Progress("calibrating", 1, 10))
    first = store.get(job.id).phase_started
    store.set_progress(job.id, Progress("calibrating", 2, 10))
    assert store.get(job.id).phase_started == first
    store.set_progress(job.id, Progress("validating", 0, 5))
    assert store.get(job.id).phase_started >= first and store.get(job.id).phase == "validating"


def test_context_throttles_writes_but_keeps_phase_changes_and_the_last_item(workspace):
    store = JobStore(workspace.jobs_db)
    job = store.create("test-count", {}, title="throttle")
    store.update(job.id, state=JobState.RUNNING)
    writes = []
    original = store._set_progress
    store._set_progress = lambda job_id, p: writes.append(p) or original(job_id, p)
    ctx = JobContext(job.id, workspace, store=store)
    for i in range(1, 1001):
        ctx.progress(Progress("a", i, 1000))
    ctx.progress(Progress("b", 1, 10))
    assert len(writes) < 20
    assert writes[-2] == Progress("a", 1000, 1000) and writes[-1] == Progress("b", 1, 10)


def test_run_job_here_runs_in_process_and_reports_progress(workspace):
    seen: list[Progress] = []
    assert run_job_here("test-count", {"steps": 4, "delay": 0}, workspace, progress=seen.append) == {
        "sum": 10,
        "steps": 4,
    }
    assert [p.done for p in seen] == [1, 2, 3, 4]
    with pytest.raises(CoreError, match="bad thing; do X"):
        run_job_here("test-fail", {}, workspace)
    with pytest.raises(InputError, match="unknown job kind"):
        run_job_here("nope", {}, workspace)


def test_a_chain_runs_in_order_and_skips_what_follows_a_failure(runner):
    """Steps submitted with `after` wait for their predecessor and are skipped when it did not succeed."""
    first = runner.submit("test-count", {"steps": 3}, title="first")
    second = runner.submit("test-fail", {}, title="second", after=first.id)
    third = runner.submit("test-count", {"steps": 2}, title="third", after=second.id)
    fourth = runner.submit("test-count", {"steps": 2}, title="fourth", after=third.id)
    free = runner.submit("test-count", {"steps": 2}, title="independent")
    assert runner.wait(first.id).state == JobState.SUCCEEDED
    assert runner.wait(second.id).state == JobState.FAILED
    skipped = runner.wait(third.id)
    assert skipped.state == JobState.CANCELLED and skipped.started is None  # never ran
    assert "follows “second”, which ended failed" in skipped.message
    assert runner.wait(fourth.id).state == JobState.CANCELLED  # the skip cascades
    assert runner.wait(free.id).state == JobState.SUCCEEDED  # jobs outside the chain still run
    with pytest.raises(InputError, match="no job"):
        runner.submit("test-count", {}, title="orphan", after="nonexistent")
