"""The job table in SQLite: the job service's private detail, safe across threads and processes
because every call opens its own connection.

A damaged table never takes the app down: a file that is not a database is moved aside and a fresh
one started (the move is reported as a notice for the pages), and a row that cannot be read shows
as a DAMAGED job that can be removed, instead of stopping every listing.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from core.errors import CoreError, DamagedFileError, DiskFullError, InputError, WorkspaceBusyError
from core.jobs.records import ACTIVE_STATES, JobRecord, JobState
from core.progress import Progress
from core.workspace import ENV_VAR, utc_stamp

__all__ = ["JobStore"]

_UPDATABLE = frozenset(f.name for f in dataclass_fields(JobRecord)) - {"id"}
_ACTIVE_SQL = str(ACTIVE_STATES)  # "('queued', 'running')"
# SQLite's primary result codes: only these two mean the file itself is damaged and must go
_DAMAGED_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_FULL_CODE = 13  # SQLITE_FULL
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

# every column but `after` (added to older tables below); a table without them is not this app's job table
_COLUMNS = frozenset(re.findall(r"^    (\w+) (?:TEXT|REAL|INTEGER)", _SCHEMA, re.M)) - {"after"}


class _ForeignTable(sqlite3.DatabaseError):
    """A readable database whose `jobs` table is not this app's: as unusable as a damaged file."""


def _to_sql(name: str, value: Any) -> Any:
    if name in ("config", "result"):
        return None if value is None else json.dumps(value)
    if isinstance(value, JobState):
        return value.value
    return value


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # extended codes carry the primary one in the low byte


def _json_object(data: dict, key: str, what: str, *, optional: bool = False) -> dict | None:
    text = data.get(key)
    if text is None and optional:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        msg = f"its {what} are not valid JSON ({exc})"
        raise ValueError(msg) from None
    if not isinstance(value, dict):
        msg = f"its {what} are a JSON {type(value).__name__}, not an object"
        raise ValueError(msg)
    return value


def _record(row: sqlite3.Row) -> JobRecord:
    """A row as a record; a row that cannot be read becomes a DAMAGED record saying why."""
    data = dict(row)
    try:
        try:
            data["state"] = JobState(data["state"])
        except ValueError:
            msg = f"its state {data['state']!r} is not one this version knows"
            raise ValueError(msg) from None
        data["config"] = _json_object(data, "config", "settings")
        data["result"] = _json_object(data, "result", "results", optional=True)
        return JobRecord(**data)
    except (ValueError, TypeError, KeyError) as exc:
        return JobRecord(
            id=str(data.get("id") or "?"),
            kind=str(data.get("kind") or "?"),
            title=str(data.get("title") or "a damaged job"),
            state=JobState.DAMAGED,
            config={},
            created=float(data["created"]) if isinstance(data.get("created"), int | float) else 0.0,
            started=None,
            finished=None,
            phase="",
            done=None,
            total=None,
            message="",
            error=f"this job's record in the job table cannot be read: {exc}; delete it from the list",
            result=None,
            pid=None,
        )


class JobStore:
    """The job table. `notices` holds what a page should tell the user about the table itself."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.notices: list[str] = []
        try:
            self._create()
        except sqlite3.Error as exc:
            if _sqlite_code(exc) not in _DAMAGED_CODES and not isinstance(exc, _ForeignTable):
                raise self._error(exc) from exc
            self._move_aside(exc)
            self._create()

    def _create(self) -> None:
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            missing = _COLUMNS - columns if columns else set()  # no table yet: made below
            if missing:
                msg = (
                    f"its jobs table has no column {', '.join(sorted(missing))}: it was not made by this app"
                )
                raise _ForeignTable(msg)
            if columns and "after" not in columns:  # a workspace made before jobs could wait for each other
                db.execute("ALTER TABLE jobs ADD COLUMN after TEXT")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM jobs").fetchone()

    def _move_aside(self, exc: BaseException) -> None:
        """Keep a damaged table for inspection under another name; start a fresh one."""
        aside = self.db_path.with_name(f"{self.db_path.name}.damaged-{utc_stamp()}")
        for suffix in ("", "-wal", "-shm"):
            try:  # another process may have moved it a moment ago
                Path(Path(f"{self.db_path}{suffix}")).replace(Path(f"{aside}{suffix}"))
            except FileNotFoundError:
                pass
        self.notices.append(
            f"The job table was damaged ({type(exc).__name__}: {exc}) and was moved aside to {aside.name}; a fresh "
            "one was started. Models, variants and results are untouched; only the list of past jobs is new."
        )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=10000")
            yield db

    def _error(self, exc: sqlite3.Error) -> CoreError:
        """What a failed call on the table means for the user (a full disk is not a damaged table)."""
        code = _sqlite_code(exc)
        if code in _BUSY_CODES:
            return WorkspaceBusyError(
                "the job table is busy (another process holds it); try again in a moment"
            )
        if code == _FULL_CODE:
            return DiskFullError(
                f"the disk holding the job table ({self.db_path}) is full; free some space, or point {ENV_VAR} "
                "at a larger disk, then try again (the job table is intact)"
            )
        return CoreError(
            f"the job table {self.db_path.name} cannot be used ({type(exc).__name__}: {exc}); check that the "
            "workspace folder is writable and its disk has room"
        )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection; a table found damaged while the app runs is moved aside once and a fresh one started."""
        try:
            with self._connect() as db:
                yield db
        except sqlite3.Error as exc:
            if _sqlite_code(exc) not in _DAMAGED_CODES:
                if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
                    raise  # a bug in a query, not a problem of the table
                raise self._error(exc) from exc
            self._move_aside(exc)
            self._create()
            raise DamagedFileError(self.notices[-1]) from exc

    def log_path(self, job_id: str) -> Path:
        return self.db_path.parent / "jobs" / job_id / "log.txt"

    def create(self, kind: str, config: dict, *, title: str, after: str | None = None) -> JobRecord:
        job_id = uuid.uuid4().hex[:12]
        with self._db() as db:
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
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            msg = f"there is no job {job_id!r}; it may have been deleted; pick one from the list"
            raise InputError(msg)
        return _record(row)

    def list(self, *, limit: int = 200, active_only: bool = False) -> list[JobRecord]:
        """Newest first."""
        where = f"WHERE state IN {_ACTIVE_SQL}" if active_only else ""
        with self._db() as db:
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
            msg = f"unknown job fields: {', '.join(sorted(unknown))}"
            raise TypeError(msg)
        if not fields:
            return True
        sets = ", ".join(f"{name} = ?" for name in fields)
        values = [_to_sql(name, value) for name, value in fields.items()]
        condition = f" AND state IN {_ACTIVE_SQL}" if only_active else ""
        with self._db() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE id = ?{condition}", (*values, job_id))
        return cursor.rowcount > 0

    def finish(self, job_id: str, state: JobState, **fields: Any) -> bool:
        """End an active job once: whoever comes second (worker, reaper, cancel) changes nothing."""
        return self._update(job_id, {"state": state, "finished": time.time(), **fields}, only_active=True)

    def claim(self, job_id: str, pid: int) -> bool:
        """Mark a queued job running in `pid`; the dispatcher and the worker both call it, either may win."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'running', pid = ?, started = ?, message = '' "
                "WHERE id = ? AND (state = 'queued' OR (state = 'running' AND pid = ?))",
                (pid, time.time(), job_id, pid),
            )
        return cursor.rowcount > 0

    def queued(self, limit: int) -> list[JobRecord]:
        """Queued jobs that can start, oldest first; a damaged row never starts (its settings are unknown)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT ?", (limit,)
            ).fetchall()
        return [record for record in map(_record, rows) if record.state == JobState.QUEUED]

    def set_progress(self, job_id: str, progress: Progress) -> bool:
        """Write progress to a running job; False when it is no longer running (cancelled elsewhere)."""
        with self._db() as db:
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
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {line.rstrip()}\n")

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        try:
            with Path(self.log_path(job_id)).open(encoding="utf-8", errors="replace") as handle:
                return "".join(deque(handle, maxlen=max(0, lines)))
        except FileNotFoundError:
            return ""

    def delete(self, job_id: str) -> None:
        """Remove a finished job, or a damaged one whatever state its unreadable row claims."""
        record = self.get(job_id)
        only_finished = "" if record.state == JobState.DAMAGED else f" AND state NOT IN {_ACTIVE_SQL}"
        with self._db() as db:
            cursor = db.execute(f"DELETE FROM jobs WHERE id = ?{only_finished}", (job_id,))
        if cursor.rowcount == 0:
            msg = f"job {record.title!r} is still {self.get(job_id).state.value}; cancel it first"
            raise InputError(msg)
        shutil.rmtree(self.log_path(job_id).parent, ignore_errors=True)
