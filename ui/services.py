"""The heavy objects every session shares, one per server (`st.cache_resource`)."""

from __future__ import annotations

import streamlit as st

from core.jobs import JobService
from core.workspace import Workspace, default_workspace

__all__ = ["device_info", "jobs", "model_specs", "workspace"]


@st.cache_resource(show_spinner=False)
def workspace() -> Workspace:
    from core.backends.pytorch import run_in_helper_process

    run_in_helper_process()  # the web server never imports torch: PyTorch runs in a helper process
    return default_workspace()


@st.cache_resource(show_spinner=False)
def jobs() -> JobService:
    """One job service per server: jobs run one at a time in worker processes."""
    return JobService(workspace())


@st.cache_resource(show_spinner=False)
def device_info() -> dict:
    """Devices OpenVINO reports here (plus AUTO), their names, and what the CPU can execute."""
    from core.machine import cpu_info
    from core.runtime import device_capabilities, device_choices, device_name

    devices = device_choices()
    return {
        "devices": devices,
        "names": {d: device_name(d) for d in devices},
        "capabilities": device_capabilities("CPU"),
        "cpu": cpu_info(),
    }


def model_specs():
    from core.registry import list_models

    return list_models(workspace())
