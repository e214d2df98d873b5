"""The outline every page shares: `page_setup` first (title, caption, notices), then widgets and one
call into core, and the same way of showing an error."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from core.errors import CoreError
from ui import state
from ui.format import safe
from ui.jobs import sidebar_jobs
from ui.services import device_info, jobs, workspace

__all__ = ["page_setup", "run_safely", "show_damaged", "show_error", "sidebar"]

log = logging.getLogger("ovdash")


def page_setup(title: str, caption: str) -> None:
    """Every page starts here: its title, what it answers, and anything the user must know first."""
    st.title(title, anchor=False)
    st.caption(caption)
    try:
        for notice in jobs().notices:
            st.warning(safe(notice), icon=":material/build:")
    except Exception as exc:  # a page must render even when the job table cannot be opened
        st.error(f"The job list cannot be read: {safe(exc)}", icon=":material/error:")


def show_error(exc: BaseException) -> None:
    """CoreError: the clear message (user names in it escaped); anything else: the exception, and a log line."""
    if isinstance(exc, CoreError):
        st.error(safe(exc), icon=":material/error:")
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


def show_damaged(damaged) -> None:
    """Result files that could not be read: one line, never a crash."""
    if damaged:
        names = ", ".join(Path(str(d.path)).name for d in list(damaged)[:5])
        more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
        st.caption(
            f":material/broken_image: Skipped {len(damaged)} damaged result file(s): {safe(names)}{more}. "
            "They are left in results/ for inspection."
        )


SIDEBAR_VARIANTS = 5


def sidebar() -> None:
    """Current model, CPU and device, and running jobs, on every page (app.py places it in the sidebar)."""
    model_id = st.session_state.get(state.MODEL)
    if model_id:
        try:
            names = [v.id for v in workspace().variants(model_id)]
        except Exception:
            names = None
        if names is not None:
            st.caption("Current model")
            listed = ", ".join(names[:SIDEBAR_VARIANTS]) + (
                f" and {len(names) - SIDEBAR_VARIANTS} more" if len(names) > SIDEBAR_VARIANTS else ""
            )  # a study adds a dozen variants: the sidebar names the first few
            st.markdown(f"**{safe(model_id)}**  \n{safe(listed) or 'not converted yet'}")
    try:
        info = device_info()
        from core.machine import isa_text

        st.caption("This machine")
        st.markdown(
            f"**{safe(info['cpu']['brand'])}**  \n{info['cpu']['cores']} cores · {safe(isa_text(info['cpu']))}"
        )
    except Exception as exc:  # the sidebar must never take a page down
        st.caption(f"Device unknown: {safe(exc)}")
    sidebar_jobs()
