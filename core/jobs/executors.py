"""Where jobs execute. The service hands a job to an Executor and asks it which jobs ended; today's
one implementation starts a spawned worker process per job on this machine.

Adding another engine (a Dask cluster, say) is one more Executor subclass: `start` sends the job
off so that something runs `run_in_worker(...)` for it, `ended` says which jobs finished without
recording it themselves, `stop` kills one. Workers record their own progress and end in the job
table, so an executor never needs to carry results back.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from abc import ABC, abstractmethod
from multiprocessing import connection as mp_connection
from pathlib import Path

from core.errors import CoreError, JobCancelledError
from core.jobs.context import JobContext
from core.jobs.kinds import load_target
from core.jobs.records import JobRecord, JobState
from core.jobs.store import JobStore
from core.progress import Progress
from core.spawn import plain_main, spawn_context

__all__ = [
    "CANCELLED_MESSAGE",
    "INTERRUPTED_MESSAGE",
    "Executor",
    "LocalProcessExecutor",
    "StoreReporter",
    "check_result",
    "run_in_worker",
]

INTERRUPTED_MESSAGE = "the server stopped while this job was running; submit it again"
CANCELLED_MESSAGE = "cancelled by the user"
NICE_ENV = "OVDASH_JOB_NICE"
DEFAULT_NICE = 10  # interactive work in the web server comes first; a job may get slower, not the page
STOP_TIMEOUT = 5.0
_STOP_SIGNALS = {-signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP}


class StoreReporter:
    """Progress and log lines into the job table."""

    def __init__(self, store: JobStore):
        self.store = store

    def progress(self, job_id: str, progress: Progress) -> bool:
        return self.store.set_progress(job_id, progress)

    def log(self, job_id: str, line: str) -> None:
        self.store.append_log(job_id, line)


def check_result(result, target: str) -> dict:
    import json

    if result is None:
        return {}
    if not isinstance(result, dict):
        msg = f"the job function {target} returned {type(result).__name__}, not a dict; fix it"
        raise CoreError(msg)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        msg = (
            f"the job function {target} returned a result that cannot be saved as JSON ({exc}); "
            "it must return plain dicts, lists, strings and numbers"
        )
        raise CoreError(msg) from exc
    return result


class _Stopped(BaseException):
    """SIGTERM reached the worker (the server is stopping): the job ends INTERRUPTED, not FAILED."""


def _on_term(signum, frame) -> None:
    raise _Stopped()


def _lower_priority() -> int:
    """Run below the web server: interactive use first. Returns the niceness now in effect."""
    try:
        wanted = int(os.environ.get(NICE_ENV, DEFAULT_NICE))
    except ValueError:
        wanted = DEFAULT_NICE
    try:
        current = os.nice(0)
        return os.nice(max(0, wanted - current)) if wanted > current else current
    except OSError:
        return os.nice(0)


def run_in_worker(db_path: Path, workspace_root: Path, job_id: str, target: str) -> None:
    """Run one job to its end inside a worker (any executor's), recording how it ended."""
    from core.workspace import Workspace

    signal.signal(signal.SIGTERM, _on_term)
    store = JobStore(Path(db_path))
    try:
        niceness = _lower_priority()
        if not store.claim(job_id, os.getpid()):
            return  # cancelled (or taken by another runner) before this process got going
    except _Stopped:  # stopped while starting: end by the signal, as if caught before the handler was set
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    began = time.monotonic()
    ctx = None
    try:
        record = store.get(job_id)
        if record.state == JobState.DAMAGED:  # its settings cannot be read: never run it with none
            raise CoreError(record.error or "this job's record in the job table cannot be read")
        store.append_log(job_id, f"started {target} in process {os.getpid()} (nice {niceness})")
        ctx = JobContext(job_id, Workspace(workspace_root), reporter=StoreReporter(store))
        fn = load_target(target)
        result = check_result(fn(record.config, ctx.workspace, ctx), target)
        ctx.flush()
    except JobCancelledError as exc:
        _record_end(
            store, job_id, JobState.CANCELLED, f"cancelled: {exc}", message=str(exc) or CANCELLED_MESSAGE
        )
    except CoreError as exc:
        _record_end(store, job_id, JobState.FAILED, f"failed: {exc}", ctx=ctx, error=str(exc))
    except (KeyboardInterrupt, _Stopped):
        log = "interrupted: the worker was asked to stop"
        _record_end(store, job_id, JobState.INTERRUPTED, log, message=INTERRUPTED_MESSAGE)
    except Exception as exc:
        log = f"failed with an unexpected error:\n{traceback.format_exc()}"
        _record_end(store, job_id, JobState.FAILED, log, ctx=ctx, error=f"{type(exc).__name__}: {exc}")
    else:
        log = f"succeeded in {time.monotonic() - began:.1f} s"
        _record_end(store, job_id, JobState.SUCCEEDED, log, result=result)


def _record_end(
    store: JobStore, job_id: str, state: JobState, log: str, *, ctx: JobContext | None = None, **fields
) -> None:
    """Record how the job ended; a stop signal arriving now is ignored so that it cannot cut the record short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if ctx is not None:
        try:
            ctx.flush()  # the last progress the throttle held back, beside the error
        except JobCancelledError:
            pass
    store.finish(job_id, state, **fields)
    store.append_log(job_id, log)


def exit_state(code: int | None) -> tuple[JobState, str]:
    """How a job whose worker vanished without recording an end is shown."""
    if code in _STOP_SIGNALS:
        return JobState.INTERRUPTED, INTERRUPTED_MESSAGE
    how = f"code {code}"
    if code is not None and code < 0:
        try:
            how += f" ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return (
        JobState.FAILED,
        f"the worker process exited with {how} before the job ended; see the job log, then submit it again",
    )


class Executor(ABC):
    """Runs jobs somewhere; the service decides when, the executor decides where."""

    name = "executor"

    @abstractmethod
    def start(self, record: JobRecord, target: str, store: JobStore, workspace_root: Path) -> int | None:
        """Send the job off; returns a local pid when there is one (the worker claims the job itself)."""

    @abstractmethod
    def running(self) -> set[str]:
        """Ids of the jobs this executor started that have not ended."""

    @abstractmethod
    def ended(self) -> list[tuple[str, int | None]]:
        """Jobs whose execution ended since the last call, with the exit code where there is one."""

    @abstractmethod
    def stop(self, job_id: str) -> bool:
        """Stop one job's execution; False if this executor does not run it."""

    @abstractmethod
    def wait(self, timeout: float) -> None:
        """Sleep until some job may have ended, or `timeout` seconds."""

    def shutdown(self) -> list[str]:
        """Stop everything still running; returns the ids stopped."""
        stopped = []
        for job_id in list(self.running()):
            if self.stop(job_id):
                stopped.append(job_id)
        return stopped


class LocalProcessExecutor(Executor):
    """One spawned worker process per job, on this machine."""

    name = "local processes"

    def __init__(self) -> None:
        self._mp = spawn_context()
        self._procs: dict[str, multiprocessing.process.BaseProcess] = {}
        self._lock = threading.Lock()

    def start(self, record: JobRecord, target: str, store: JobStore, workspace_root: Path) -> int | None:
        process = self._mp.Process(
            target=run_in_worker,
            args=(store.db_path, workspace_root, record.id, target),
            name=f"ovdash-job-{record.id}",
            daemon=False,
        )
        with plain_main():
            process.start()
        with self._lock:
            self._procs[record.id] = process
        return process.pid

    def running(self) -> set[str]:
        with self._lock:
            return {job_id for job_id, p in self._procs.items() if p.is_alive()}

    def ended(self) -> list[tuple[str, int | None]]:
        with self._lock:
            done = {job_id: p for job_id, p in self._procs.items() if not p.is_alive()}
            for job_id in done:
                del self._procs[job_id]
        found = []
        for job_id, process in done.items():
            process.join()
            found.append((job_id, process.exitcode))
            process.close()
        return found

    def stop(self, job_id: str) -> bool:
        with self._lock:
            process = self._procs.pop(job_id, None)
        if process is None:
            return False
        process.terminate()
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join(STOP_TIMEOUT)
        return True

    def wait(self, timeout: float) -> None:
        with self._lock:
            sentinels = [p.sentinel for p in self._procs.values()]
        if sentinels:
            mp_connection.wait(sentinels, timeout=timeout)
        else:
            time.sleep(timeout)
