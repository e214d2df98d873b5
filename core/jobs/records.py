"""What a job is: its state, its record in the job table, and how its plain settings become a Config."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from enum import StrEnum

from core.errors import InputError

__all__ = ["ACTIVE_STATES", "JobRecord", "JobState", "config_from_dict"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    DAMAGED = "damaged"  # its row in the job table cannot be read; it can only be removed

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING)

    @property
    def finished(self) -> bool:
        return not self.active


ACTIVE_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)


def config_from_dict(cls, data: dict, *, extra: tuple[str, ...] = ()):
    """Build a frozen `...Config` dataclass from a job's plain settings.

    Lists become tuples (settings travel as JSON); a key the config does not know, other than the
    job's own `extra` keys, is refused with the names it accepts.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known) - set(extra))
    if unknown:
        msg = f"unknown setting(s) {', '.join(unknown)} for a {cls.__name__}; accepted: {', '.join(known)}"
        raise InputError(msg)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return cls(**values)


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
        """Remaining seconds of the current phase at its pace so far; None when unknown."""
        if self.state != JobState.RUNNING or self.phase_started is None:
            return None
        if self.done is None or not self.total or self.done <= 0:
            return None
        if self.done >= self.total:
            return 0.0
        elapsed = max(0.0, time.time() - self.phase_started)
        return elapsed * (self.total - self.done) / self.done

    @property
    def model_id(self) -> str | None:
        value = self.config.get("model_id")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["state"] = self.state.value
        data.update(fraction=self.fraction, duration=self.duration, eta_seconds=self.eta_seconds)
        return data
