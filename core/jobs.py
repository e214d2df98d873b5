"""Long work (conversion, quantization, benchmarks, evaluations) as queued jobs in worker processes.

Records live in SQLite in the workspace, so a reload, a second tab or a server restart shows the same
jobs. Jobs run one at a time by default so that benchmark timings are not disturbed by other work.
A job function takes plain settings and returns a plain dict, which keeps it usable from the CLI
(`run_job_here`) and, later, from a cluster backend behind the same runner interface.

This module is imported by the web server: it must not import streamlit, torch, openvino or nncf.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
import traceback
import types
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import Any

from core.errors import CoreError, InputError, JobCancelledError
from core.progress import Progress, ProgressCallback
from core.workspace import Workspace

__all__ = [
    "config_from_dict",
    "JOB_KINDS",
    "JobContext",
    "JobRecord",
    "JobRunner",
    "JobState",
    "JobStore",
    "register_job_kind",
    "run_job_here",
]

_log = logging.getLogger(__name__)

JOB_KINDS: dict[str, str] = {
    "convert": "core.convert:convert_job",
    "quantize": "core.quantize:quantize_job",
    "benchmark": "core.benchmark:benchmark_job",
    "evaluate": "core.evaluate:evaluate_job",
}

INTERRUPTED_MESSAGE = "the server stopped while this job was running; submit it again"
CANCELLED_MESSAGE = "cancelled by the user"
_PROGRESS_INTERVAL = 0.2  # at most 5 progress writes per second from one job
_STOP_TIMEOUT = 5.0


def config_from_dict(cls, data: dict, *, extra: tuple[str, ...] = ()):
    """Build a frozen `...Config` dataclass from a job's plain settings.

    Lists become tuples (settings travel as JSON); a key the config does not know, other than the
    job's own `extra` keys, is refused with the names it accepts.
    """
    import dataclasses

    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known) - set(extra))
    if unknown:
        raise InputError(
            f"unknown setting(s) {', '.join(unknown)} for a {cls.__name__}; accepted: {', '.join(known)}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return cls(**values)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING)

    @property
    def finished(self) -> bool:
        return not self.active


_ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


@dataclass(frozen=True)
class JobRecord:
    """One row of the job table; `phase_started` dates the current phase for the ETA."""

    id: str
    kind: str
    title: str
    state: JobState
    config: dict
    created: float
    started: float | None
    finished: float | None
    phase: str
    done: int | None
    total: int | None
    message: str
    error: str | None
    result: dict | None
    pid: int | None
    phase_started: float | None = None
    after: str | None = None  # id of the job this one waits for; it is skipped unless that one succeeds

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; a running job counts up to now."""
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else time.time()
        return max(0.0, end - self.started)

    @property
    def eta_seconds(self) -> float | None:
        """Remaining seconds, assuming the current phase keeps its pace so far; None when unknown."""
        if self.state != JobState.RUNNING or self.phase_started is None:
            return None
        if self.done is None or not self.total or self.done <= 0:
            return None
        if self.done >= self.total:
            return 0.0
        elapsed = max(0.0, time.time() - self.phase_started)
        return elapsed * (self.total - self.done) / self.done

    def to_dict(self) -> dict:
        data = asdict(self)
        data["state"] = self.state.value
        data.update(fraction=self.fraction, duration=self.duration, eta_seconds=self.eta_seconds)
        return data


_LOOKAHEAD = 50  # queued jobs looked at past the free slots, so one waiting job never blocks the rest
_UPDATABLE = frozenset(f.name for f in dataclass_fields(JobRecord)) - {"id"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    phase TEXT NOT NULL DEFAULT '',
    done INTEGER,
    total INTEGER,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    result TEXT,
    pid INTEGER,
    phase_started REAL,
    after TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""


def _to_sql(name: str, value: Any) -> Any:
    if name in ("config", "result"):
        return None if value is None else json.dumps(value)
    if isinstance(value, JobState):
        return value.value
    return value


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["state"] = JobState(data["state"])
    data["config"] = json.loads(data["config"])
    data["result"] = None if data["result"] is None else json.loads(data["result"])
    return JobRecord(**data)


class JobStore:
    """The job table; safe across threads and processes because every call opens its own connection."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "after" not in columns:  # a workspace made before jobs could wait for each other
                db.execute("ALTER TABLE jobs ADD COLUMN after TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=10000")
            yield db

    def log_path(self, job_id: str) -> Path:
        return self.db_path.parent / "jobs" / job_id / "log.txt"

    def create(self, kind: str, config: dict, *, title: str, after: str | None = None) -> JobRecord:
        job_id = uuid.uuid4().hex[:12]
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, title, state, config, created, message, after) "
                "VALUES (:id, :kind, :title, 'queued', :config, :created, 'waiting in the queue', :after)",
                dict(
                    id=job_id,
                    kind=kind,
                    title=title,
                    config=json.dumps(config),
                    created=time.time(),
                    after=after,
                ),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise InputError(f"there is no job {job_id!r}; it may have been deleted; pick one from the list")
        return _record(row)

    def list(self, *, limit: int = 200, active_only: bool = False) -> list[JobRecord]:
        """Newest first."""
        where = f"WHERE state IN {_ACTIVE}" if active_only else ""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs {where} ORDER BY created DESC, rowid DESC LIMIT ?", (int(limit),)
            ).fetchall()
        return [_record(row) for row in rows]

    def update(self, job_id: str, **fields: Any) -> None:
        if not self._update(job_id, fields):
            self.get(job_id)  # raises the clear "no such job" error

    def _update(self, job_id: str, fields: dict, *, only_active: bool = False) -> bool:
        """One short UPDATE; with `only_active` it leaves finished jobs alone (races with cancel/reap)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if not fields:
            return True
        sets = ", ".join(f"{name} = ?" for name in fields)
        values = [_to_sql(name, value) for name, value in fields.items()]
        condition = f" AND state IN {_ACTIVE}" if only_active else ""
        with self._connect() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE id = ?{condition}", (*values, job_id))
        return cursor.rowcount > 0

    def _finish(self, job_id: str, state: JobState, **fields: Any) -> bool:
        """End an active job once: whoever comes second (worker, reaper, cancel) changes nothing."""
        return self._update(job_id, {"state": state, "finished": time.time(), **fields}, only_active=True)

    def _claim(self, job_id: str, pid: int) -> bool:
        """Mark a queued job running in `pid`; the dispatcher and the worker both call it, either may win."""
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'running', pid = ?, started = ?, message = '' "
                "WHERE id = ? AND (state = 'queued' OR (state = 'running' AND pid = ?))",
                (pid, time.time(), job_id, pid),
            )
        return cursor.rowcount > 0

    def _queued(self, limit: int) -> list[JobRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT ?", (limit,)
            ).fetchall()
        return [_record(row) for row in rows]

    def set_progress(self, job_id: str, progress: Progress) -> None:
        self._set_progress(job_id, progress)

    def _set_progress(self, job_id: str, progress: Progress) -> bool:
        """Write progress to a running job; False when it is no longer running (cancelled elsewhere)."""
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE jobs SET phase_started = CASE WHEN phase = :phase AND phase_started IS NOT NULL "
                "THEN phase_started ELSE :now END, phase = :phase, done = :done, total = :total, "
                "message = :message WHERE id = :id AND state = 'running'",
                {**asdict(progress), "now": time.time(), "id": job_id},
            )
        return cursor.rowcount > 0

    def append_log(self, job_id: str, line: str) -> None:
        path = self.log_path(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {line.rstrip()}\n")

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        try:
            with open(self.log_path(job_id), encoding="utf-8", errors="replace") as handle:
                return "".join(deque(handle, maxlen=max(0, lines)))
        except FileNotFoundError:
            return ""

    def delete(self, job_id: str) -> None:
        record = self.get(job_id)
        with self._connect() as db:
            cursor = db.execute(f"DELETE FROM jobs WHERE id = ? AND state NOT IN {_ACTIVE}", (job_id,))
        if cursor.rowcount == 0:
            raise InputError(f"job {record.title!r} is still {self.get(job_id).state.value}; cancel it first")
        shutil.rmtree(self.log_path(job_id).parent, ignore_errors=True)

    def mark_interrupted(self) -> int:
        """Running jobs whose worker is gone (a restart, a crash) become INTERRUPTED; returns how many."""
        count = 0
        for record in self.list(limit=1_000_000, active_only=True):
            if record.state != JobState.RUNNING or _worker_alive(record.pid, record.started):
                continue
            if self._finish(record.id, JobState.INTERRUPTED, message=INTERRUPTED_MESSAGE):
                self.append_log(record.id, INTERRUPTED_MESSAGE)
                count += 1
        return count


def _worker_alive(pid: int | None, started: float | None) -> bool:
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


def register_job_kind(kind: str, target: str) -> None:
    """Add a job kind; `target` is "module:function", imported inside the worker."""
    if ":" not in target:
        raise InputError(f"job target {target!r} must look like 'package.module:function'")
    JOB_KINDS[kind] = target


def _target_of(kind: str) -> str:
    try:
        return JOB_KINDS[kind]
    except KeyError:
        raise InputError(f"unknown job kind {kind!r}; choose one of {', '.join(sorted(JOB_KINDS))}") from None


def _load_target(target: str) -> Callable[[dict, Workspace, JobContext], dict]:
    module_name, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise CoreError(
            f"the job function {target!r} cannot be loaded ({type(exc).__name__}: {exc}); "
            "check that its module is installed and JOB_KINDS names it correctly"
        ) from exc


def _check_result(result: Any, target: str) -> dict:
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise CoreError(f"the job function {target} returned {type(result).__name__}, not a dict; fix it")
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise CoreError(
            f"the job function {target} returned a result that cannot be saved as JSON ({exc}); "
            "it must return plain dicts, lists, strings and numbers"
        ) from exc
    return result


class JobContext:
    """What a job function gets to report progress and log lines, inside a worker or in-process."""

    def __init__(
        self,
        job_id: str,
        workspace: Workspace,
        *,
        store: JobStore | None = None,
        on_progress: ProgressCallback | None = None,
    ):
        self.job_id = job_id
        self.workspace = workspace
        self._store = store
        self._on_progress = on_progress
        self._last_phase: str | None = None
        self._last_write = 0.0
        self._pending: Progress | None = None

    def progress(self, progress: Progress) -> None:
        """Report progress; store writes are throttled, but phase changes and the final item always land.

        Raises JobCancelledError when the job was cancelled from elsewhere, so a job that reports
        progress stops soon even if no one can kill its process.
        """
        if self._on_progress is not None:
            self._on_progress(progress)
        if self._store is None:
            return
        now = time.monotonic()
        final = progress.total is not None and progress.done is not None and progress.done >= progress.total
        if progress.phase == self._last_phase and not final and now - self._last_write < _PROGRESS_INTERVAL:
            self._pending = progress
            return
        self._write(progress, now)

    def _write(self, progress: Progress, now: float) -> None:
        assert self._store is not None
        self._pending = None
        self._last_phase, self._last_write = progress.phase, now
        if not self._store._set_progress(self.job_id, progress):
            raise JobCancelledError("the job was cancelled")

    def flush(self) -> None:
        """Write a progress report the throttle held back."""
        if self._pending is not None and self._store is not None:
            self._write(self._pending, time.monotonic())

    def log(self, message: str) -> None:
        if self._store is None:
            _log.info("%s", message)
        else:
            self._store.append_log(self.job_id, message)


def _worker_main(db_path: Path, workspace_root: Path, job_id: str, target: str) -> None:
    """Entry point of a spawned worker: run one job and record how it ended."""
    store = JobStore(Path(db_path))
    if not store._claim(job_id, os.getpid()):
        return  # cancelled (or taken by another runner) before this process got going
    store.append_log(job_id, f"started {target} in process {os.getpid()}")
    ctx = JobContext(job_id, Workspace(workspace_root), store=store)
    began = time.monotonic()
    try:
        fn = _load_target(target)
        result = _check_result(fn(store.get(job_id).config, ctx.workspace, ctx), target)
        ctx.flush()
    except JobCancelledError as exc:
        store._finish(job_id, JobState.CANCELLED, message=str(exc) or CANCELLED_MESSAGE)
        store.append_log(job_id, f"cancelled: {exc}")
    except CoreError as exc:
        _flush_quietly(ctx)
        store._finish(job_id, JobState.FAILED, error=str(exc))
        store.append_log(job_id, f"failed: {exc}")
    except KeyboardInterrupt:
        store._finish(job_id, JobState.INTERRUPTED, message=INTERRUPTED_MESSAGE)
        store.append_log(job_id, "interrupted (Ctrl+C)")
    except Exception as exc:
        _flush_quietly(ctx)
        store._finish(job_id, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
        store.append_log(job_id, f"failed with an unexpected error:\n{traceback.format_exc()}")
    else:
        store._finish(job_id, JobState.SUCCEEDED, result=result)
        store.append_log(job_id, f"succeeded in {time.monotonic() - began:.1f} s")


def _flush_quietly(ctx: JobContext) -> None:
    try:
        ctx.flush()
    except JobCancelledError:
        pass


@contextmanager
def _plain_main() -> Iterator[None]:
    """Hide a script run as `__main__` (Streamlit's app) from a spawned worker while it starts.

    Spawn re-runs the parent's `__main__` file in the child; under Streamlit that is app.py, which would
    run the whole app, and a second job runner, inside every worker.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _stop_process(process: multiprocessing.process.BaseProcess) -> None:
    process.terminate()
    process.join(_STOP_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(_STOP_TIMEOUT)


def _exit_message(code: int | None) -> str:
    how = f"code {code}"
    if code is not None and code < 0:
        try:
            how += f" ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"the worker process exited with {how} before the job ended; see the job log, then submit it again"


class JobRunner:
    """Starts queued jobs in spawned worker processes, at most `max_parallel` at once, oldest first.

    One daemon dispatcher thread starts jobs and reaps workers; a worker that dies without recording
    an end (segfault, os._exit, OOM kill) turns its job FAILED while the app keeps serving.
    """

    def __init__(self, workspace: Workspace, *, max_parallel: int = 1, poll_seconds: float = 0.5):
        if max_parallel < 1:
            raise InputError(f"max_parallel must be at least 1, not {max_parallel}")
        self.workspace = workspace
        self.store = JobStore(workspace.jobs_db)
        self.max_parallel = max_parallel
        self.poll_seconds = poll_seconds
        self._mp = multiprocessing.get_context("spawn")
        self._procs: dict[str, multiprocessing.process.BaseProcess] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        interrupted = self.store.mark_interrupted()
        if interrupted:
            _log.warning("%d job(s) were running when the server stopped: marked interrupted", interrupted)
        self._thread = threading.Thread(target=self._dispatch_loop, name="ovdash-job-dispatcher", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    def submit(self, kind: str, config: dict, *, title: str, after: str | None = None) -> JobRecord:
        """Queue a job; with `after`, it runs only once that job succeeded and is skipped otherwise."""
        _target_of(kind)
        if after is not None:
            self.store.get(after)  # the clear "no such job" error
        if not isinstance(config, dict):
            raise InputError(f"a job config must be a dict, not {type(config).__name__}")
        try:
            json.dumps(config)
        except (TypeError, ValueError) as exc:
            raise InputError(f"the settings of this job cannot be saved ({exc}); pass plain values") from exc
        record = self.store.create(kind, config, title=title, after=after)
        self._wake.set()
        return record

    def cancel(self, job_id: str) -> JobRecord:
        with self._lock:
            record = self.store.get(job_id)
            if record.state.finished:
                return record
            process = self._procs.pop(job_id, None)
            if process is None:
                # Queued here, or running under another server: that worker stops at its next progress report.
                self._cancelled(job_id)
                return self.store.get(job_id)
        _stop_process(process)
        self._cancelled(job_id)
        self._wake.set()
        return self.store.get(job_id)

    def _cancelled(self, job_id: str) -> None:
        if self.store._finish(job_id, JobState.CANCELLED, message=CANCELLED_MESSAGE):
            self.store.append_log(job_id, CANCELLED_MESSAGE)

    def wait(self, job_id: str, timeout: float = 60.0, *, poll: float = 0.05) -> JobRecord:
        """Poll until the job ends; TimeoutError (with its state) if it does not within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.store.get(job_id)
            if record.state.finished:
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {record.state.value} after {timeout} s")
            time.sleep(poll)

    def shutdown(self) -> None:
        """Stop dispatching; running workers are stopped, their jobs INTERRUPTED; queued jobs stay queued."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.poll_seconds + _STOP_TIMEOUT)
        with self._lock:
            procs, self._procs = self._procs, {}
        for job_id, process in procs.items():
            _stop_process(process)
            if self.store._finish(job_id, JobState.INTERRUPTED, message=INTERRUPTED_MESSAGE):
                self.store.append_log(job_id, INTERRUPTED_MESSAGE)
        atexit.unregister(self.shutdown)

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._start_queued()
            except Exception:
                _log.exception("the job dispatcher hit an error; it keeps running")
            with self._lock:
                sentinels = [process.sentinel for process in self._procs.values()]
            if sentinels:
                mp_connection.wait(sentinels, timeout=self.poll_seconds)
            else:
                self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _reap(self) -> None:
        with self._lock:
            ended = {job_id: p for job_id, p in self._procs.items() if not p.is_alive()}
            for job_id in ended:
                del self._procs[job_id]
        for job_id, process in ended.items():
            process.join()
            message = _exit_message(process.exitcode)
            process.close()
            if self.store._finish(job_id, JobState.FAILED, error=message):
                self.store.append_log(job_id, message)

    def _start_queued(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            free = self.max_parallel - len(self._procs)
            if free <= 0:
                return
            for record in self.store._queued(free + _LOOKAHEAD):
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
            before = self.store.get(record.after)
        except InputError:
            return True  # removed from the list, which only finished jobs can be
        if before.state.active:
            return False
        if before.state == JobState.SUCCEEDED:
            return True
        message = f"skipped: it follows “{before.title}”, which ended {before.state.value}"
        if self.store._finish(record.id, JobState.CANCELLED, message=message):
            self.store.append_log(record.id, message)
        return False

    def _launch(self, record: JobRecord) -> None:
        try:
            target = _target_of(record.kind)
            process = self._mp.Process(
                target=_worker_main,
                args=(self.store.db_path, self.workspace.root, record.id, target),
                name=f"ovdash-job-{record.id}",
                daemon=False,
            )
            with _plain_main():
                process.start()
        except Exception as exc:
            message = f"the job could not be started ({type(exc).__name__}: {exc})"
            if self.store._finish(record.id, JobState.FAILED, error=message):
                self.store.append_log(record.id, message)
            return
        if self.store._claim(record.id, process.pid):
            self._procs[record.id] = process
        else:
            _stop_process(process)  # cancelled meanwhile, or another runner took it


def run_job_here(
    kind: str, config: dict, workspace: Workspace, *, progress: ProgressCallback | None = None
) -> dict:
    """Run a job function in this process, without the job table (the CLI's path)."""
    target = _target_of(kind)
    ctx = JobContext(f"local-{uuid.uuid4().hex[:8]}", workspace, on_progress=progress)
    return _check_result(_load_target(target)(config, workspace, ctx), target)
