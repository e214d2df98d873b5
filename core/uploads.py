"""Where an uploaded file is kept: under a generated folder, with a sanitised copy of the user's name.

The name the user knows (`photos.zip`) then names the data set in every result, while the user's
text never becomes a path of their choosing.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from core.workspace import Workspace

__all__ = ["new_upload_path", "sanitised_name"]


def sanitised_name(original: str, suffix: str) -> str:
    """'my photos (1).ZIP' -> 'my_photos_1.zip': letters, digits, '.', '_' and '-' only, at most 60."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(original or "upload").stem).strip("._") or "upload"
    return stem[:60] + suffix.lower()


def new_upload_path(workspace: Workspace, original: str, suffix: str) -> Path:
    """A fresh path uploads/files/<random>/<sanitised name><suffix> (its folder is created)."""
    folder = workspace.uploads_dir / "files" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    return folder / sanitised_name(original, suffix)
