"""What a job function gets: a context to report progress and log lines through a Reporter, without
knowing whether it runs in a local worker, in the CLI's own process, or elsewhere."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from core.errors import JobCancelledError
from core.progress import Progress, ProgressCallback

__all__ = ["JobContext", "Reporter"]

_log = logging.getLogger("core.jobs")
PROGRESS_INTERVAL = 0.2  # at most 5 progress writes per second from one job


class Reporter(Protocol):
    """Where a job's progress and log lines go (the job table, for jobs run by the service)."""

    def progress(self, job_id: str, progress: Progress) -> bool:
        """Record progress; False when the job is no longer running (it was cancelled elsewhere)."""

    def log(self, job_id: str, line: str) -> None:
        """Append one line to the job's log."""


class JobContext:
    """Progress and log lines of one job; progress writes are throttled, phase changes always land."""

    def __init__(
        self,
        job_id: str,
        workspace,
        *,
        reporter: Reporter | None = None,
        on_progress: ProgressCallback | None = None,
    ):
        self.job_id = job_id
        self.workspace = workspace
        self._reporter = reporter
        self._on_progress = on_progress
        self._last_phase: str | None = None
        self._last_write = 0.0
        self._pending: Progress | None = None

    def progress(self, progress: Progress) -> None:
        """Report progress; raises JobCancelledError when the job was cancelled from elsewhere, so a job
        that reports progress stops soon even if no one can kill its process."""
        if self._on_progress is not None:
            self._on_progress(progress)
        if self._reporter is None:
            return
        now = time.monotonic()
        final = progress.total is not None and progress.done is not None and progress.done >= progress.total
        if progress.phase == self._last_phase and not final and now - self._last_write < PROGRESS_INTERVAL:
            self._pending = progress
            return
        self._write(progress, now)

    def _write(self, progress: Progress, now: float) -> None:
        assert self._reporter is not None
        self._pending = None
        self._last_phase, self._last_write = progress.phase, now
        if not self._reporter.progress(self.job_id, progress):
            msg = "the job was cancelled"
            raise JobCancelledError(msg)

    def flush(self) -> None:
        """Write a progress report the throttle held back."""
        if self._pending is not None and self._reporter is not None:
            self._write(self._pending, time.monotonic())

    def log(self, message: str) -> None:
        if self._reporter is None:
            _log.info("%s", message)
        else:
            self._reporter.log(self.job_id, message)
