"""The job service with real spawned worker processes: what a user sees in the job list."""

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
    JobService,
    JobState,
    StoreReporter,
    register_job_kind,
    run_job_here,
)
from core.jobs.kinds import load_target
from core.jobs.store import JobStore
from core.progress import Progress
from core.workspace import Workspace
from tests.core.job_fixtures import register_test_kinds, wait_for

register_test_kinds()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def service(workspace: Workspace):
    job_service = JobService(workspace, poll_seconds=0.1)
    yield job_service
    job_service.shutdown()


def wait_running(service: JobService, job_id: str) -> JobRecord:
    return wait_for(
        lambda: (r := service.get(job_id)).state == JobState.RUNNING and r.pid and r, what="job running"
    )


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_every_job_kind_names_a_function_a_worker_can_load():
    """A kind whose module or function is missing would fail every job of it in the worker."""
    assert {"convert", "quantize", "benchmark", "evaluate", "demo"} <= set(JOB_KINDS)
    for kind, target in JOB_KINDS.items():
        assert callable(load_target(target)), f"job kind {kind!r} names {target}, which is not a function"
    assert load_target(JOB_KINDS["quantize"]).__name__ == "quantize_job"


def test_a_taken_job_kind_name_is_refused_for_another_target():
    with pytest.raises(InputError) as refused:
        register_job_kind("quantize", "tests.core.job_fixtures:count_job")
    assert str(refused.value) == (
        "a job kind named 'quantize' is already registered (core.quantize:quantize_job); choose another name"
    )
    assert JOB_KINDS["quantize"] == "core.quantize:quantize_job"
    register_job_kind("test-count", "tests.core.job_fixtures:count_job")  # the same again is harmless
    with pytest.raises(CoreError, match="cannot be loaded .*check that its module is installed"):
        load_target("tests.core.job_fixtures:no_such_job")


def test_submitted_job_succeeds_with_result_progress_and_log(service):
    record = service.submit("test-count", {"steps": 30, "delay": 0.01}, title="count to 30")
    assert record.state == JobState.QUEUED
    assert record.title == "count to 30"
    done = service.wait(record.id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result == {"sum": 465, "steps": 30}
    assert (done.phase, done.done, done.total, done.fraction) == ("counting", 30, 30, 1.0)
    assert done.started >= done.created
    assert done.finished >= done.started
    assert done.duration >= 0.3
    assert done.pid
    assert done.error is None
    log = service.log_tail(done.id)
    assert "counted to 30" in log
    assert "succeeded" in log
    assert done.to_dict()["state"] == "succeeded"


def test_jobs_run_one_at_a_time_oldest_first(service, tmp_path):
    gate = tmp_path / "gate"
    first = service.submit("test-gate", {"gate": str(gate)}, title="first")
    second = service.submit("test-count", {"steps": 2}, title="second")
    wait_running(service, first.id)
    for _ in range(10):  # a few dispatcher cycles: the second must not start while the first runs
        assert service.get(second.id).state == JobState.QUEUED
        time.sleep(0.05)
    assert [r.id for r in service.list(active_only=True)] == [second.id, first.id]
    gate.touch()
    first_done, second_done = service.wait(first.id), service.wait(second.id)
    assert first_done.state == second_done.state == JobState.SUCCEEDED
    assert second_done.started >= first_done.finished


def test_failed_job_shows_the_core_error_message(service):
    record = service.wait(service.submit("test-fail", {}, title="fail").id)
    assert record.state == JobState.FAILED
    assert record.error == "bad thing; do X"
    assert (record.phase, record.done, record.total) == ("checking", 1, 4)


def test_unexpected_error_names_its_type_and_logs_the_traceback(service):
    record = service.wait(service.submit("test-boom", {}, title="boom").id)
    assert record.error == "ValueError: nope"
    log = service.log_tail(record.id)
    assert "Traceback" in log
    assert "boom_job" in log


def test_result_that_is_not_json_fails_clearly(service):
    record = service.wait(service.submit("test-bad-result", {}, title="bad").id)
    assert record.state == JobState.FAILED
    assert "JSON" in record.error
    assert record.result is None


def test_crashed_worker_fails_with_exit_code_and_the_service_keeps_serving(service):
    crashed = service.wait(service.submit("test-crash", {}, title="crash").id)
    assert crashed.state == JobState.FAILED
    assert "the worker process exited with code 3" in crashed.error
    assert "about to crash" in service.log_tail(crashed.id)
    after = service.wait(service.submit("test-count", {"steps": 1}, title="after").id)
    assert after.state == JobState.SUCCEEDED


def test_cancel_kills_a_running_worker_and_cancels_a_queued_job(service):
    running = service.submit("test-slow", {}, title="slow")
    queued = service.submit("test-count", {"steps": 1}, title="queued")
    pid = wait_running(service, running.id).pid

    cancelled_queued = service.cancel(queued.id)
    assert cancelled_queued.state == JobState.CANCELLED
    assert cancelled_queued.started is None

    cancelled = service.cancel(running.id)
    assert cancelled.state == JobState.CANCELLED
    assert cancelled.message == "cancelled by the user"
    assert cancelled.finished is not None
    assert pid_gone(pid)
    assert service.cancel(running.id).state == JobState.CANCELLED  # finished jobs stay as they are
    assert service.get(queued.id).started is None


def test_a_new_service_marks_jobs_of_a_dead_server_interrupted(workspace):
    store = JobStore(workspace.jobs_db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = store.create("test-count", {"steps": 1}, title="orphan")
    store.update(orphan.id, state=JobState.RUNNING, pid=dead.pid, started=time.time())
    store.append_log(orphan.id, "working")
    alive = store.create("test-count", {}, title="still running elsewhere")
    store.update(alive.id, state=JobState.RUNNING, pid=os.getpid(), started=time.time())
    waiting = store.create("test-count", {"steps": 2}, title="waiting")

    # two slots: the job still running elsewhere takes one (an earlier server's worker counts)
    service = JobService(workspace, poll_seconds=0.1, max_parallel=2)
    try:
        record = service.get(orphan.id)
        assert record.state == JobState.INTERRUPTED
        assert record.message == "the server stopped while this job was running; submit it again"
        assert service.get(alive.id).state == JobState.RUNNING
        assert service.wait(waiting.id).state == JobState.SUCCEEDED  # queued jobs survive a restart
    finally:
        service.shutdown()
        store.update(alive.id, state=JobState.FAILED)
    assert "working" in JobStore(workspace.jobs_db).log_tail(orphan.id)


def test_shutdown_interrupts_running_workers(workspace):
    service = JobService(workspace, poll_seconds=0.1)
    job = service.submit("test-slow", {}, title="slow")
    pid = wait_running(service, job.id).pid
    service.shutdown()
    assert service.get(job.id).state == JobState.INTERRUPTED
    assert pid_gone(pid)


def test_records_and_log_survive_in_a_new_store(service, workspace):
    record = service.wait(service.submit("test-count", {"steps": 3}, title="keep me").id)
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


def test_submit_checks_kind_and_config(service):
    with pytest.raises(InputError, match="unknown job kind 'nope'"):
        service.submit("nope", {}, title="x")
    with pytest.raises(InputError, match="cannot be saved"):
        service.submit("test-count", {"when": object()}, title="x")
    assert service.list() == []


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
    assert _record(done=3, total=0).fraction is None
    assert _record().duration is None
    assert JobState.QUEUED.active
    assert JobState.RUNNING.active
    assert JobState.INTERRUPTED.finished


def test_progress_restarts_the_eta_clock_on_a_new_phase(workspace):
    store = JobStore(workspace.jobs_db)
    job = store.create("test-count", {}, title="phases")
    store.update(job.id, state=JobState.RUNNING)
    store.set_progress(job.id, Progress("calibrating", 1, 10))
    first = store.get(job.id).phase_started
    store.set_progress(job.id, Progress("calibrating", 2, 10))
    assert store.get(job.id).phase_started == first
    store.set_progress(job.id, Progress("validating", 0, 5))
    assert store.get(job.id).phase_started >= first
    assert store.get(job.id).phase == "validating"


def test_context_throttles_writes_but_keeps_phase_changes_and_the_last_item(workspace):
    store = JobStore(workspace.jobs_db)
    job = store.create("test-count", {}, title="throttle")
    store.update(job.id, state=JobState.RUNNING)
    writes = []

    class Recording(StoreReporter):
        def progress(self, job_id, progress):
            writes.append(progress)
            return super().progress(job_id, progress)

    ctx = JobContext(job.id, workspace, reporter=Recording(store))
    for i in range(1, 1001):
        ctx.progress(Progress("a", i, 1000))
    ctx.progress(Progress("b", 1, 10))
    assert len(writes) < 20
    assert writes[-2] == Progress("a", 1000, 1000)
    assert writes[-1] == Progress("b", 1, 10)


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


def test_a_chain_runs_in_order_and_skips_what_follows_a_failure(service):
    """Steps submitted with `after` wait for their predecessor and are skipped when it did not succeed."""
    first = service.submit("test-count", {"steps": 3}, title="first")
    second = service.submit("test-fail", {}, title="second", after=first.id)
    third = service.submit("test-count", {"steps": 2}, title="third", after=second.id)
    fourth = service.submit("test-count", {"steps": 2}, title="fourth", after=third.id)
    free = service.submit("test-count", {"steps": 2}, title="independent")
    assert service.wait(first.id).state == JobState.SUCCEEDED
    assert service.wait(second.id).state == JobState.FAILED
    skipped = service.wait(third.id)
    assert skipped.state == JobState.CANCELLED
    assert skipped.started is None
    assert "follows “second”, which ended failed" in skipped.message
    assert service.wait(fourth.id).state == JobState.CANCELLED  # the skip cascades
    assert service.wait(free.id).state == JobState.SUCCEEDED  # jobs outside the chain still run
    with pytest.raises(InputError, match="no job"):
        service.submit("test-count", {}, title="orphan", after="nonexistent")
