"""One saved variant as a downloadable zip: its model files and the manifest that says how it was made."""

from __future__ import annotations

import io
import zipfile

from core.errors import ModelNotFoundError
from core.variants import Variant
from core.workspace import MANIFEST

__all__ = ["bundle_files", "bundle_name", "variant_zip"]


def bundle_files(variant: Variant) -> list[str]:
    """The model files (model.xml + model.bin, or model.onnx) and manifest.json."""
    return [*variant.file_names, MANIFEST]


def bundle_name(variant: Variant) -> str:
    return f"{variant.model_id}-{variant.id}.zip"


def variant_zip(variant: Variant) -> bytes:
    """The variant's files in a zip; weights are stored, not deflated (they barely shrink)."""
    if variant.folder is None:
        msg = f"{variant.model_id} {variant.id} is the PyTorch reference; there is no file to download"
        raise ModelNotFoundError(msg)
    names = bundle_files(variant)
    missing = [name for name in names if not (variant.folder / name).is_file()]
    if missing:
        msg = (
            f"{variant.model_id} {variant.id} lacks {', '.join(missing)}; it was removed or replaced meanwhile: "
            "reload the page"
        )
        raise ModelNotFoundError(msg)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            method = zipfile.ZIP_STORED if name.endswith((".bin", ".onnx")) else zipfile.ZIP_DEFLATED
            archive.write(variant.folder / name, arcname=name, compress_type=method)
    return buffer.getvalue()
