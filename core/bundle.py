"""One saved model as a downloadable zip: the IR pair and the manifest that says how it was made."""

from __future__ import annotations

import io
import zipfile

from core.errors import ModelNotFoundError
from core.workspace import MANIFEST, Artifact

__all__ = ["BUNDLE_FILES", "artifact_zip", "bundle_name"]

BUNDLE_FILES = ("model.xml", "model.bin", MANIFEST)


def bundle_name(artifact: Artifact) -> str:
    return f"{artifact.model_id}-{artifact.precision.value}.zip"


def artifact_zip(artifact: Artifact) -> bytes:
    """model.xml, model.bin and manifest.json in a zip; weights are stored, not deflated (they barely shrink)."""
    missing = [name for name in BUNDLE_FILES if not (artifact.folder / name).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{artifact.model_id} {artifact.precision.value.upper()} lacks {', '.join(missing)}; "
            "it was removed or replaced meanwhile: reload the page"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in BUNDLE_FILES:
            method = zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED
            archive.write(artifact.folder / name, arcname=name, compress_type=method)
    return buffer.getvalue()
