"""How a job looks on every page: its status line, a live progress panel, the sidebar's list."""

from __future__ import annotations

import streamlit as st

from core.jobs import JobRecord, JobState
from ui import state
from ui.format import format_duration, safe
from ui.services import jobs

__all__ = ["job_panel", "job_status_line", "progress_label", "sidebar_jobs", "state_icon"]

_STATE_ICONS = {
    JobState.QUEUED: ":material/schedule:",
    JobState.RUNNING: ":material/progress_activity:",
    JobState.SUCCEEDED: ":material/check_circle:",
    JobState.FAILED: ":material/error:",
    JobState.CANCELLED: ":material/cancel:",
    JobState.INTERRUPTED: ":material/warning:",
    JobState.DAMAGED: ":material/broken_image:",
}


def state_icon(job_state: JobState) -> str:
    """The Material icon of a job state, the same on every page."""
    return _STATE_ICONS[job_state]


def job_status_line(record: JobRecord) -> str:
    return f"{_STATE_ICONS[record.state]} **{safe(record.title)}** · {record.state.value}"


def progress_label(record: JobRecord) -> str:
    """'phase · 12/300 (step) · about 40 s left': the bar shows this step's progress, said so in words."""
    label = safe(record.phase or record.message or "waiting for the worker")
    if record.total:
        done = f"{record.done:g}" if isinstance(record.done, float) else record.done
        total = f"{record.total:g}" if isinstance(record.total, float) else record.total
        label += f" · {done}/{total} of this step"
    if record.phase and record.message and record.state.value == "running":
        label += f" · {safe(record.message)}"
    if record.eta_seconds is not None:
        label += f" · about {format_duration(record.eta_seconds)} left in this step"
    return label


def job_panel(job_id: str, *, key: str) -> None:
    """Live progress of one job, polled every second without blocking the page.

    When the job ends, the whole page reruns once so it can render the result.
    """
    active = jobs().get(job_id).state.active

    @st.fragment(run_every=1.0 if active else None)  # a finished job needs no polling
    def panel() -> None:
        record = jobs().get(job_id)
        seen_key = state.JOB_ENDED.format(key=key, job=job_id)
        st.markdown(job_status_line(record))
        if record.state.active:
            st.progress(record.fraction if record.fraction is not None else 0.0, text=progress_label(record))
            st.caption(f"running for {format_duration(record.duration)}")
            if st.button(
                "Cancel", key=f"cancel-{key}-{job_id}", icon=":material/stop_circle:", width="content"
            ):
                jobs().cancel(job_id)
                st.rerun()
            st.session_state[seen_key] = False
        else:
            if record.state in (JobState.FAILED, JobState.DAMAGED):
                st.error(safe(record.error or "the job failed"), icon=":material/error:")
            elif record.state in (JobState.CANCELLED, JobState.INTERRUPTED):
                st.warning(safe(record.message or record.state.value), icon=":material/warning:")
            if st.session_state.get(seen_key) is False:
                st.session_state[seen_key] = True
                st.rerun(scope="app")

    panel()


@st.fragment(run_every=2.0)
def sidebar_jobs() -> None:
    """Running jobs, refreshed every 2 s on every page; the percentage is the current step's."""
    try:
        active = jobs().active()
    except Exception as exc:  # the sidebar must never take a page down
        st.caption(f"Jobs unknown: {safe(exc)}")
        return
    st.caption("Jobs")
    if not active:
        st.markdown("No job running")
    for record in active[:5]:
        text = f"{safe(record.title)} · {record.state.value}"
        if record.fraction is not None:
            text += f" · step {record.fraction:.0%}"
        st.markdown(f":material/progress_activity: {text}")
