"""Streamlit helpers shared by every page: workspace, job runner, model picker, job panel, errors.

With `app.py` and `app_pages/`, this is the only code that imports streamlit. Heavy shared objects live
behind `st.cache_resource` (one per server); per-user choices live in `st.session_state` under the
names below.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

import streamlit as st

from core.errors import CoreError, InputError
from core.jobs import JobRecord, JobRunner, JobState
from core.workspace import Workspace, default_workspace

__all__ = [
    "MODEL_KEY",
    "PRECISION_LABELS",
    "device_info",
    "MIB",
    "fmt_mib",
    "fmt_time",
    "format_duration",
    "joined",
    "job_panel",
    "latest_job",
    "md_escape",
    "model_picker",
    "pick_converted_model",
    "precisions_present",
    "run_safely",
    "runner",
    "save_upload",
    "show_error",
    "sidebar",
    "state_icon",
    "workspace",
]

log = logging.getLogger("ovdash")

MODEL_KEY = "model_id"  # the model chosen on any page, shared by all pages of a session
PRECISION_LABELS = {"torch": "PyTorch", "fp32": "FP32", "fp16": "FP16", "int8": "INT8"}
MAX_UPLOAD_MB = 200  # matches server.maxUploadSize in .streamlit/config.toml


@st.cache_resource(show_spinner=False)
def workspace() -> Workspace:
    return default_workspace()


@st.cache_resource(show_spinner=False)
def runner() -> JobRunner:
    """One job runner per server: jobs run one at a time in worker processes."""
    return JobRunner(workspace())


@st.cache_resource(show_spinner=False)
def device_info() -> dict:
    from core.runtime import available_devices, device_name

    devices = available_devices()
    return {"devices": devices, "names": {d: device_name(d) for d in devices}}


def model_specs():
    from core.registry import list_models

    return list_models(workspace())


def precisions_present(model_id: str) -> list[str]:
    return [a.precision.value for a in workspace().artifacts(model_id)]


def model_picker(*, label: str = "Model", only_converted: bool = False, key: str = MODEL_KEY) -> str | None:
    """A select box over all models; the choice is shared across pages through session state."""
    from core.registry import DEFAULT_MODEL

    specs = model_specs()
    if only_converted:
        specs = [s for s in specs if precisions_present(s.id)]
        if not specs:
            st.info(
                "No model is converted yet. Open **Models** and convert one (EfficientNet-Lite0 takes ~10 s)."
            )
            return None
    ids = [s.id for s in specs]
    titles = {s.id: s.title for s in specs}
    current = st.session_state.get(MODEL_KEY)
    if current not in ids:
        current = DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0]
    choice = st.selectbox(
        label,
        ids,
        index=ids.index(current),
        format_func=lambda i: (
            f"{titles[i]}  ·  {', '.join(p.upper() for p in precisions_present(i)) or 'not converted'}"
        ),
        key=f"picker-{key}",
    )
    st.session_state[MODEL_KEY] = choice
    return choice


def pick_converted_model(column) -> tuple | None:
    """The model picker (converted models only) in `column`, with the model's spec and class names.

    None when there is nothing to pick or the model cannot be read; the page has then said why.
    """
    from core.registry import class_names, get_model

    with column:
        model_id = model_picker(only_converted=True)
    if model_id is None:
        st.page_link(
            "app_pages/models.py", label="Open Models to convert one", icon=":material/deployed_code:"
        )
        return None
    try:
        spec = get_model(model_id, workspace())
        return model_id, spec, class_names(spec)
    except Exception as exc:
        show_error(exc)
        return None


def show_error(exc: BaseException) -> None:
    """CoreError: the clear message; anything else: the exception, and a log line."""
    if isinstance(exc, CoreError):
        st.error(str(exc), icon=":material/error:")
    else:
        log.exception("unexpected error in a page")
        st.exception(exc)


def run_safely(func, *args, **kwargs):
    """Call into core; show a failure and return None instead of taking the page down."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        show_error(exc)
        return None


def save_upload(uploaded, *, suffixes: tuple[str, ...]) -> Path:
    """Write an uploaded file under a generated name in the workspace; the user's name is never a path."""
    name = uploaded.name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise InputError(f"{name} is not a {' / '.join(suffixes)} file; upload one of those")
    size = uploaded.size if hasattr(uploaded, "size") else len(uploaded.getvalue())
    if size > MAX_UPLOAD_MB * 2**20:
        raise InputError(f"{name} is {size / 2**20:.0f} MB, more than the {MAX_UPLOAD_MB} MB allowed")
    if size == 0:
        raise InputError(f"{name} is empty; upload the file again")
    folder = workspace().uploads_dir / "files"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(uploaded.getvalue())
    return path


MIB = 2**20


def fmt_mib(size_bytes: float) -> str:
    return f"{size_bytes / MIB:.1f} MiB"


def fmt_time(value) -> str:
    """One way to show a time on every page: 'YYYY-MM-DD HH:MM UTC', from an ISO string or epoch seconds."""
    from datetime import UTC, datetime

    try:
        if isinstance(value, int | float):
            stamp = datetime.fromtimestamp(value, UTC)
        else:
            stamp = datetime.fromisoformat(str(value))
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def joined(values) -> str:
    """Distinct values of a measurement condition across runs, e.g. 'latency / throughput'."""
    from core.tradeoffs import distinct_values

    return " / ".join(distinct_values(values)) or "—"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def latest_job(kind: str, *, model_id: str | None = None) -> JobRecord | None:
    """The newest job of a kind (for a model): pages show it after a reload or in a second tab."""
    for record in runner().store.list(limit=100):
        if record.kind == kind and (model_id is None or record.config.get("model_id") == model_id):
            return record
    return None


_STATE_ICONS = {
    JobState.QUEUED: ":material/schedule:",
    JobState.RUNNING: ":material/progress_activity:",
    JobState.SUCCEEDED: ":material/check_circle:",
    JobState.FAILED: ":material/error:",
    JobState.CANCELLED: ":material/cancel:",
    JobState.INTERRUPTED: ":material/warning:",
}


def state_icon(state: JobState) -> str:
    """The Material icon of a job state, the same on every page."""
    return _STATE_ICONS[state]


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|:])")  # the characters that act inside a line


def md_escape(text: str) -> str:
    """User-derived text (file names in job titles) shown as itself, not as markdown, LaTeX or a link."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def job_status_line(record: JobRecord) -> str:
    return f"{_STATE_ICONS[record.state]} **{md_escape(record.title)}** · {record.state.value}"


def job_panel(job_id: str, *, key: str) -> None:
    """Live progress of one job, polled every second without blocking the page.

    When the job ends, the whole page reruns once so it can render the result.
    """

    active = runner().store.get(job_id).state.active

    @st.fragment(run_every=1.0 if active else None)  # a finished job needs no polling
    def panel() -> None:
        record = runner().store.get(job_id)
        seen_key = f"job-ended-{key}-{job_id}"
        st.markdown(job_status_line(record))
        if record.state.active:
            fraction = record.fraction
            label = record.phase or "waiting for the worker"
            if record.total:
                label += f" · {record.done}/{record.total}"
            if record.eta_seconds is not None:
                label += f" · about {format_duration(record.eta_seconds)} left"
            st.progress(fraction if fraction is not None else 0.0, text=label)
            st.caption(f"running for {format_duration(record.duration)}")
            if st.button(
                "Cancel", key=f"cancel-{key}-{job_id}", icon=":material/stop_circle:", width="content"
            ):
                runner().cancel(job_id)
                st.rerun()
            st.session_state[seen_key] = False
        else:
            if record.state == JobState.FAILED:
                st.error(record.error or "the job failed", icon=":material/error:")
            elif record.state in (JobState.CANCELLED, JobState.INTERRUPTED):
                st.warning(record.message or record.state.value, icon=":material/warning:")
            if st.session_state.get(seen_key) is False:
                st.session_state[seen_key] = True
                st.rerun(scope="app")

    panel()


def sidebar() -> None:
    """Current model, device and running jobs, on every page (app.py places it in the sidebar)."""
    model_id = st.session_state.get(MODEL_KEY)
    present = run_safely(precisions_present, model_id) if model_id else None
    if present is not None:
        st.caption("Current model")
        st.markdown(f"**{model_id}**  \n{', '.join(p.upper() for p in present) or 'not converted yet'}")
    try:
        info = device_info()
        st.caption("Device")
        st.markdown("  \n".join(f"**{d}** · {info['names'][d]}" for d in info["devices"]))
    except Exception as exc:  # the sidebar must never take a page down
        st.caption(f"Device unknown: {exc}")
    _sidebar_jobs()


@st.fragment(run_every=2.0)
def _sidebar_jobs() -> None:
    """Running jobs, refreshed every 2 s on every page."""
    active = runner().store.list(active_only=True)
    st.caption("Jobs")
    if not active:
        st.markdown("No job running")
    for record in active[:5]:
        text = f"{md_escape(record.title)} · {record.state.value}"
        if record.fraction is not None:
            text += f" · {record.fraction:.0%}"
        st.markdown(f":material/progress_activity: {text}")
