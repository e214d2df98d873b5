"""Jobs: every background job, newest first, with its progress, settings, log and result or error."""

from __future__ import annotations

import streamlit as st

from core.errors import CoreError
from core.jobs import JobRecord, JobState
from core.jobs.kinds import JOB_KINDS
from ui import state
from ui.format import fmt_time, format_duration, safe
from ui.jobs import progress_label, state_icon
from ui.page import page_setup
from ui.services import jobs

LIMIT = 200
POLL_SECONDS = 2.0
KINDS = {
    "convert": "Convert",
    "quantize": "Quantize",
    "benchmark": "Benchmark",
    "evaluate": "Evaluate",
    "demo": "Demo",
    "study": "Calibration study",
    "train": "Train",
    "qat": "Quantization-aware training",
    "prune": "Prune",
    "compress": "Compress weights",
}


def _progress_text(record: JobRecord) -> str:
    if record.state.active:
        if record.fraction is not None:
            return f"step {record.fraction:.0%}"
        return record.phase or ("waiting" if record.state == JobState.QUEUED else "starting")
    return record.state.value


def _label(record: JobRecord) -> str:
    parts = [
        f"**{safe(record.title)}**",
        KINDS.get(record.kind, safe(record.kind)),
        safe(_progress_text(record)),
    ]
    if record.duration is not None:
        parts.append(format_duration(record.duration))
    parts.append(fmt_time(record.created))
    return " · ".join(parts)


@st.cache_data(max_entries=500, show_spinner=False)
def _finished_log(job_id: str, finished: float | None) -> str:
    """A finished job's log no longer changes: read it once, not on every 2 s refresh of the list."""
    return jobs().log_tail(job_id, lines=60)


def _act(action, job_id: str) -> None:
    """Button callback: runs before the rerun, so the list below already shows the change."""
    try:
        action(job_id)
    except CoreError as exc:
        st.session_state[state.JOBS_ERROR] = str(exc)


def _job_row(record: JobRecord) -> None:
    with st.expander(_label(record), icon=state_icon(record.state), key=f"job-{record.id}"):
        if record.state.active:
            st.progress(record.fraction or 0.0, text=progress_label(record))
        elif record.state in (JobState.FAILED, JobState.DAMAGED):
            st.error(safe(record.error or "the job failed; see its log"), icon=":material/error:")
        elif record.state in (JobState.CANCELLED, JobState.INTERRUPTED):
            st.warning(safe(record.message or record.state.value), icon=":material/warning:")
        times = [f"created {fmt_time(record.created)}"]
        if record.started:
            times.append(f"started {fmt_time(record.started)}")
        if record.finished:
            times.append(f"finished {fmt_time(record.finished)}")
        cols = st.columns([4, 1], vertical_alignment="center")
        cols[0].caption(f"`{record.id}` · {safe(record.kind)} · {' · '.join(times)}")
        if record.state.active:
            cols[1].button(
                "Cancel",
                icon=":material/stop_circle:",
                key=f"cancel-{record.id}",
                on_click=_act,
                args=(jobs().cancel, record.id),
            )
        else:
            cols[1].button("Remove", icon=":material/delete:", key=f"remove-{record.id}",
                           help="Remove this record and its log; results and variants it made stay",
                           on_click=_act, args=(jobs().delete, record.id))  # fmt: skip
        tabs = st.tabs(["Settings", "Log", "Result" if record.state != JobState.FAILED else "Error"])
        with tabs[0]:
            st.json(record.config, expanded=2)
        with tabs[1]:
            log = (
                jobs().log_tail(record.id, lines=60)
                if record.state.active
                else _finished_log(record.id, record.finished)
            )
            if log:
                st.code(log, language=None)
            else:
                st.caption("No log lines yet.")
        with tabs[2]:
            if record.result is not None:
                st.json(record.result, expanded=1)
            elif record.error:
                st.code(record.error, language=None)
            else:
                st.caption("No result yet." if record.state.active else "This job left no result.")


def _job_list(states: list[str], kinds: list[str], polling: bool) -> None:
    records = jobs().list(limit=LIMIT)
    if polling and not any(r.state.active for r in records):
        st.rerun(scope="app")  # the last active job ended: render once more without polling
    counts = {s: sum(r.state == s for r in records) for s in JobState}
    cols = st.columns(4)
    cols[0].metric("Running", counts[JobState.RUNNING], border=True)
    cols[1].metric("Queued", counts[JobState.QUEUED], border=True)
    cols[2].metric("Succeeded", counts[JobState.SUCCEEDED], border=True)
    stopped = (
        counts[JobState.FAILED]
        + counts[JobState.CANCELLED]
        + counts[JobState.INTERRUPTED]
        + counts[JobState.DAMAGED]
    )
    cols[3].metric("Failed or stopped", stopped, border=True)
    error = st.session_state.pop(state.JOBS_ERROR, None)
    if error:
        st.error(safe(error), icon=":material/error:")
    shown = [r for r in records if (not states or r.state.value in states) and (not kinds or r.kind in kinds)]
    if not shown:
        st.info("No job matches these filters.", icon=":material/filter_alt_off:")
    for record in shown:
        _job_row(record)
    if len(records) == LIMIT:
        st.caption(f"The newest {LIMIT} jobs are shown.")


page_setup(
    "Jobs",
    "Everything that runs in the background (conversions, quantizations, benchmarks, evaluations, studies, training), "
    "one at a time: progress, settings, log and result of each.",
)
records = jobs().list(limit=LIMIT)
if not records:
    st.info("No job yet. Jobs appear here when you convert, quantize, benchmark or evaluate a model. The guided demo on "
            "**Home** runs the whole path in one.", icon=":material/work_history:")  # fmt: skip
    st.page_link("app_pages/home.py", label="Open Home", icon=":material/home:")
    st.stop()
filters = st.columns([3, 2])
chosen_states = filters[0].pills(
    "State", [s.value for s in JobState], selection_mode="multi", key="jobs-states",
    format_func=lambda s: f"{state_icon(JobState(s))} {s}",
)  # fmt: skip
chosen_kinds = filters[1].pills(
    "Kind", sorted({r.kind for r in records} | {k for k in KINDS if k in JOB_KINDS}), selection_mode="multi",
    key="jobs-kinds", format_func=lambda k: KINDS.get(k, k),
)  # fmt: skip
active = any(r.state.active for r in records)
st.caption("Newest first; no filter means all; a percentage is the current step's. "
           + ("Refreshing every 2 s while a job is active." if active else "Jobs run one at a time, oldest first."))  # fmt: skip
st.fragment(run_every=POLL_SECONDS if active else None)(_job_list)(
    list(chosen_states or []), list(chosen_kinds or []), active
)
