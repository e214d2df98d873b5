"""Uploaded files onto disk under generated names; the user's file name is never a path."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.uploads import new_upload_path
from ui.services import workspace

__all__ = ["MAX_UPLOAD_MB", "save_upload"]

MAX_UPLOAD_MB = (
    200  # the default of core.limits "upload_mb"; matches server.maxUploadSize in .streamlit/config.toml
)


def save_upload(uploaded, *, suffixes: tuple[str, ...]) -> Path:
    """Write an uploaded file into the workspace's uploads; refused when of the wrong kind, empty or too big."""
    name = uploaded.name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        msg = f"{name} is not a {' / '.join(suffixes)} file; upload one of those"
        raise InputError(msg)
    size = uploaded.size if hasattr(uploaded, "size") else len(uploaded.getvalue())
    if size > MAX_UPLOAD_MB * 2**20:
        msg = f"{name} is {size / 2**20:.0f} MiB, more than the {MAX_UPLOAD_MB} MiB allowed"
        raise InputError(msg)
    if size == 0:
        msg = f"{name} is empty; upload the file again"
        raise InputError(msg)
    ws = workspace()
    ws.check_free_space(size / 1e6 * 3, f"saving {name}")
    path = new_upload_path(ws, name, suffix)
    path.write_bytes(uploaded.getvalue())
    return path
