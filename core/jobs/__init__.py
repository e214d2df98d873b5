"""Long work (conversion, quantization, benchmarks, evaluations, studies, training) as jobs.

`JobService` is the one front door (submit, list, get, cancel, remove, logs); the SQLite store is
its private detail; an `Executor` decides where jobs run (local worker processes today). Job
functions take plain settings and return plain dicts; they report through a `JobContext`.
"""

from core.jobs.context import JobContext, Reporter
from core.jobs.executors import Executor, LocalProcessExecutor, StoreReporter, run_in_worker
from core.jobs.kinds import JOB_KINDS, register_job_kind
from core.jobs.records import JobRecord, JobState, config_from_dict
from core.jobs.service import JobService, run_job_here

__all__ = [
    "JOB_KINDS",
    "Executor",
    "JobContext",
    "JobRecord",
    "JobService",
    "JobState",
    "LocalProcessExecutor",
    "Reporter",
    "StoreReporter",
    "config_from_dict",
    "register_job_kind",
    "run_in_worker",
    "run_job_here",
]
