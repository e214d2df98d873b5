"""The one way pages and the CLI deal with jobs: submit, list, get, cancel, remove, read logs.

Behind it, a dispatcher thread starts queued jobs on an Executor (local worker processes by default)
at most `max_parallel` at a time, oldest first, and notices workers that vanished. Records live in
SQLite in the workspace, so a reload, a second tab or a server restart shows the same jobs. Jobs run
one at a time by default so that benchmark timings are not disturbed by other work.

This module is imported by the web server: it must not import streamlit, torch, openvino or nncf.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from core.errors import InputError
from core.jobs.context import JobContext
from core.jobs.executors import (
    CANCELLED_MESSAGE,
    INTERRUPTED_MESSAGE,
    Executor,
    LocalProcessExecutor,
    check_result,
    exit_state,
)
from core.jobs.kinds import job_target, load_target
from core.jobs.records import JobRecord, JobState
from core.jobs.store import JobStore
from core.progress import ProgressCallback
from core.workspace import JOB_SPACE_MB, Workspace

__all__ = ["JobService", "run_job_here"]

_log = logging.getLogger("core.jobs")
_LOOKAHEAD = 50  # queued jobs looked at past the free slots, so one waiting job never blocks the rest


def worker_alive(pid: int | None, started: float | None) -> bool:
    """True if `pid` runs and, where /proc tells, is not a newer process that reused the number."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, ValueError, StopIteration):
        return True
    if fields[0] in ("Z", "X"):
        return False
    process_started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started is None or process_started <= started + 2.0


def upload_ttl_seconds() -> float:
    from core.limits import value

    return value("upload_hours") * 3600


def job_time_limit_seconds() -> float:
    from core.limits import value

    return value("job_minutes") * 60


def _paths_in(value) -> Iterable[str]:
    """Strings in a job's settings that look like paths (uploads a queued job still needs)."""
    if isinstance(value, str):
        if "/" in value:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _paths_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _paths_in(item)


class JobService:
    """Submit and follow jobs; `executor` runs them (local worker processes unless given another)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        executor: Executor | None = None,
        max_parallel: int = 1,
        poll_seconds: float = 0.5,
        clean: bool = True,
    ):
        if max_parallel < 1:
            msg = f"max_parallel must be at least 1, not {max_parallel}"
            raise InputError(msg)
        self.workspace = workspace
        self._store = JobStore(workspace.jobs_db)
        self.executor = executor or LocalProcessExecutor()
        self.max_parallel = max_parallel
        self.poll_seconds = poll_seconds
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        interrupted = self._mark_interrupted()
        if interrupted:
            _log.warning("%d job(s) were running when the server stopped: marked interrupted", interrupted)
        if clean:
            self.clean_stale_files()
        self._thread = threading.Thread(target=self._dispatch_loop, name="ovdash-job-dispatcher", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    # reading -----------------------------------------------------------------------------------------

    @property
    def notices(self) -> list[str]:
        """What the pages should say about the job table itself (e.g. it was damaged and replaced)."""
        return list(self._store.notices)

    def get(self, job_id: str) -> JobRecord:
        return self._store.get(job_id)

    def list(
        self, *, limit: int = 200, active_only: bool = False, kind: str | None = None
    ) -> list[JobRecord]:
        """Newest first."""
        records = self._store.list(limit=limit, active_only=active_only)
        return [r for r in records if kind is None or r.kind == kind]

    def latest(
        self, kind: str, *, model_id: str | None = None, where: Callable[[JobRecord], bool] | None = None
    ) -> JobRecord | None:
        """The newest job of a kind (for a model): pages show it after a reload or in a second tab."""
        for record in self._store.list(limit=200):
            if record.kind != kind or (model_id is not None and record.model_id != model_id):
                continue
            if where is None or where(record):
                return record
        return None

    def active(self) -> list[JobRecord]:
        return self._store.list(active_only=True)

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        return self._store.log_tail(job_id, lines)

    def log_path(self, job_id: str) -> Path:
        return self._store.log_path(job_id)

    # acting --------------------------------------------------------------------------------------------

    def submit(self, kind: str, config: dict, *, title: str, after: str | None = None) -> JobRecord:
        """Queue a job; with `after`, it runs only once that job succeeded and is skipped otherwise.

        The disk is checked first: a job is refused when it would leave less than the reserve free.
        """
        job_target(kind)
        if after is not None:
            self._store.get(after)  # the clear "no such job" error
        if not isinstance(config, dict):
            msg = f"a job config must be a dict, not {type(config).__name__}"
            raise InputError(msg)
        try:
            json.dumps(config)
        except (TypeError, ValueError) as exc:
            msg = f"the settings of this job cannot be saved ({exc}); pass plain values"
            raise InputError(msg) from exc
        self.workspace.check_free_space(JOB_SPACE_MB, f"a {kind} job")
        record = self._store.create(kind, config, title=title, after=after)
        self._wake.set()
        return record

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job; a running worker is stopped (its job shows CANCELLED)."""
        with self._lock:
            record = self._store.get(job_id)
            if record.state.finished:
                return record
            if self._store.finish(job_id, JobState.CANCELLED, message=CANCELLED_MESSAGE):
                self._store.append_log(job_id, CANCELLED_MESSAGE)
        # stopped after it is marked, so the worker's own "interrupted" record changes nothing
        if not self.executor.stop(job_id) and record.state == JobState.RUNNING:
            _stop_orphan(record)
        self._wake.set()
        return self._store.get(job_id)

    def delete(self, job_id: str) -> None:
        """Remove a finished job's record and log; results and variants it made stay."""
        self._store.delete(job_id)

    def wait(self, job_id: str, timeout: float = 60.0, *, poll: float = 0.05) -> JobRecord:
        """Poll until the job ends; TimeoutError (with its state) if it does not within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            record = self._store.get(job_id)
            if record.state.finished:
                return record
            if time.monotonic() > deadline:
                msg = f"job {job_id} still {record.state.value} after {timeout} s"
                raise TimeoutError(msg)
            time.sleep(poll)

    def shutdown(self) -> None:
        """Stop dispatching; running workers are stopped, their jobs INTERRUPTED; queued jobs stay queued."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.poll_seconds + 5.0)
        for job_id in self.executor.shutdown():
            if self._store.finish(job_id, JobState.INTERRUPTED, message=INTERRUPTED_MESSAGE):
                self._store.append_log(job_id, INTERRUPTED_MESSAGE)
        atexit.unregister(self.shutdown)

    def clean_stale_files(self) -> dict:
        """Staging folders of dead processes, and uploads past their age that no active job needs."""
        keep = {path for record in self.active() for path in _paths_in(record.config)}
        try:
            return self.workspace.clean_stale(upload_max_age_s=upload_ttl_seconds(), keep=keep)
        except OSError as exc:  # housekeeping must never stop the app
            _log.warning("could not clean stale files: %s", exc)
            return {}

    # dispatching ---------------------------------------------------------------------------------------

    def _mark_interrupted(self) -> int:
        """Running jobs whose worker is gone (a restart, a crash) become INTERRUPTED; returns how many."""
        count = 0
        mine = self.executor.running()
        for record in self._store.list(limit=1_000_000, active_only=True):
            if (
                record.state != JobState.RUNNING
                or record.id in mine
                or worker_alive(record.pid, record.started)
            ):
                continue
            if self._store.finish(record.id, JobState.INTERRUPTED, message=INTERRUPTED_MESSAGE):
                self._store.append_log(record.id, INTERRUPTED_MESSAGE)
                count += 1
        return count

    def _busy(self) -> int:
        """Jobs running now: this service's, and live workers of an earlier server (from the job table)."""
        mine = self.executor.running()
        others = [
            r
            for r in self._store.list(limit=1000, active_only=True)
            if r.state == JobState.RUNNING and r.id not in mine and worker_alive(r.pid, r.started)
        ]
        return len(mine) + len(others)

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._start_queued()
            except Exception:
                _log.exception("the job dispatcher hit an error; it keeps running")
            if self.executor.running():
                self.executor.wait(self.poll_seconds)
            else:
                self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _reap(self) -> None:
        for job_id, code in self.executor.ended():
            state, message = exit_state(code)
            fields = {"message": message} if state == JobState.INTERRUPTED else {"error": message}
            if self._store.finish(job_id, state, **fields):
                self._store.append_log(job_id, message)
        self._mark_interrupted()  # orphans of an earlier server that died meanwhile
        self._stop_overdue()

    def _stop_overdue(self) -> None:
        """Stop jobs of this service that ran longer than the job time limit (OVDASH_JOB_TIMEOUT_MIN)."""
        limit = job_time_limit_seconds()
        now = time.time()
        for job_id in self.executor.running():
            try:
                record = self._store.get(job_id)
            except InputError:
                continue
            if record.state == JobState.RUNNING and record.started and now - record.started > limit:
                message = (
                    f"ran longer than the {limit / 60:.0f}-minute limit and was stopped (OVDASH_JOB_TIMEOUT_MIN "
                    "changes the limit); submit it again with less work, or raise the limit"
                )
                if self._store.finish(job_id, JobState.FAILED, error=message):
                    self._store.append_log(job_id, message)
                self.executor.stop(job_id)

    @contextlib.contextmanager
    def _dispatch_turn(self) -> Iterator[bool]:
        """True while this service alone may start jobs: two servers on one workspace (a restart that
        overlaps the old one) take turns, so that together they keep to `max_parallel`."""
        with Path(self.workspace.root / "jobs" / ".dispatch.lock").open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _start_queued(self) -> None:
        with self._lock, self._dispatch_turn() as mine:
            if self._stop.is_set() or not mine:
                return
            free = self.max_parallel - self._busy()
            if free <= 0:
                return
            for record in self._store.queued(free + _LOOKAHEAD):
                if free <= 0:
                    break
                if self._ready(record):
                    self._launch(record)
                    free -= 1

    def _ready(self, record: JobRecord) -> bool:
        """True when nothing holds the job back; a job whose predecessor did not succeed is skipped."""
        if record.after is None:
            return True
        try:
            before = self._store.get(record.after)
        except InputError:
            return True  # removed from the list, which only finished jobs can be
        if before.state.active:
            return False
        if before.state == JobState.SUCCEEDED:
            return True
        message = f"skipped: it follows “{before.title}”, which ended {before.state.value}"
        if self._store.finish(record.id, JobState.CANCELLED, message=message):
            self._store.append_log(record.id, message)
        return False

    def _launch(self, record: JobRecord) -> None:
        try:
            pid = self.executor.start(record, job_target(record.kind), self._store, self.workspace.root)
        except Exception as exc:
            message = f"the job could not be started ({type(exc).__name__}: {exc})"
            if self._store.finish(record.id, JobState.FAILED, error=message):
                self._store.append_log(record.id, message)
            return
        if pid is not None and not self._store.claim(record.id, pid):
            self.executor.stop(record.id)  # cancelled meanwhile, or another server took it


def _stop_orphan(record: JobRecord) -> None:
    """Stop the worker of a job that an earlier server started (it reports no progress to notice a cancel)."""
    if record.pid in (None, os.getpid()) or not worker_alive(record.pid, record.started):
        return
    try:
        os.kill(record.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def run_job_here(
    kind: str, config: dict, workspace: Workspace, *, progress: ProgressCallback | None = None
) -> dict:
    """Run a job function in this process, without the job table (the CLI's path)."""
    target = job_target(kind)
    ctx = JobContext(f"local-{uuid.uuid4().hex[:8]}", workspace, on_progress=progress)
    return check_result(load_target(target)(config, workspace, ctx), target)
