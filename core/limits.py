"""Every limit the tool enforces, in one table: its default, the setting that changes it, and what a
user sees at it. The README's "Limits" section and the in-app help are written from this table
(a test checks the README against it), so they cannot drift apart.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

__all__ = ["LIMITS", "Limit", "limit_rows", "value"]


@dataclass(frozen=True)
class Limit:
    key: str
    what: str
    default: float
    unit: str
    setting: str
    at_limit: str

    @property
    def default_text(self) -> str:
        number = f"{self.default:,.0f}" if float(self.default).is_integer() else f"{self.default:g}"
        return f"{number} {self.unit}".strip()


LIMITS: dict[str, Limit] = {
    limit.key: limit
    for limit in (
        Limit(
            "upload_mb",
            "size of one uploaded file",
            200,
            "MB",
            "`server.maxUploadSize` in .streamlit/config.toml and OVDASH_MAX_UPLOAD_MB",
            "the uploader refuses the file; the page says how big it is and the limit",
        ),
        Limit(
            "image_pixels",
            "pixels of one image",
            50_000_000,
            "pixels",
            "OVDASH_MAX_IMAGE_PIXELS",
            'the image is refused before it is decoded: "… has N pixels, more than the 50,000,000 allowed; downscale it first"',
        ),
        Limit(
            "image_side",
            "longest side of one image",
            16_384,
            "px",
            "OVDASH_MAX_IMAGE_SIDE",
            "the image is refused before it is decoded, with its size and the limit",
        ),
        Limit(
            "aspect_ratio",
            "aspect ratio of one image",
            20,
            ": 1",
            "OVDASH_MAX_ASPECT_RATIO",
            'the image is refused before it is decoded: "… an aspect ratio of 50,000:1; the tool accepts up to 20:1"',
        ),
        Limit(
            "zip_entries",
            "entries in one zip",
            20_000,
            "entries",
            "OVDASH_MAX_ZIP_ENTRIES",
            "the archive is refused before anything is unpacked; split it",
        ),
        Limit(
            "zip_entry_mb",
            "unpacked size of one zip entry",
            50,
            "MiB",
            "OVDASH_MAX_ZIP_ENTRY_MB",
            "the archive is refused, naming the entry",
        ),
        Limit(
            "zip_total_mb",
            "unpacked size of one zip",
            2048,
            "MiB",
            "OVDASH_MAX_ZIP_TOTAL_MB",
            "the archive is refused; files written so far are removed",
        ),
        Limit(
            "zip_ratio",
            "compression ratio of a zip entry over 1 MiB",
            200,
            ": 1",
            "OVDASH_MAX_ZIP_RATIO",
            "the archive is refused as a zip bomb",
        ),
        Limit(
            "model_mb",
            "size of one uploaded model file",
            1024,
            "MiB",
            "OVDASH_MAX_MODEL_MB",
            "the import job fails with the file's name and the limit; nothing is registered",
        ),
        Limit(
            "disk_reserve_mb",
            "free disk kept in reserve",
            500,
            "MB",
            "OVDASH_DISK_RESERVE_MB",
            'a job is refused before it is queued: "N MB free, M needed plus a reserve of 500 MB"',
        ),
        Limit(
            "job_minutes",
            "run time of one job",
            180,
            "minutes",
            "OVDASH_JOB_TIMEOUT_MIN",
            'the job is stopped and marked failed: "ran longer than the 180-minute limit"',
        ),
        Limit(
            "upload_hours",
            "age of an upload no job needs",
            24,
            "hours",
            "OVDASH_UPLOAD_TTL_HOURS",
            "uploaded files and their unpacked copies are removed when the app starts",
        ),
    )
}


_WARNED: set[str] = set()


def value(key: str) -> float:
    """The limit in effect: its setting when that is a positive finite number, else the default (with a
    warning on stderr, once per process, naming the setting and the value it ignored)."""
    limit = LIMITS[key]
    env = limit.setting.split(" and ")[-1].strip("`")
    raw = os.environ.get(env)
    if raw is None:
        return limit.default
    try:
        parsed = float(raw)
    except ValueError:
        parsed = math.nan
    if math.isfinite(parsed) and parsed > 0:
        return parsed
    if env not in _WARNED:
        _WARNED.add(env)
        print(
            f"warning: {env}={raw!r} is not a positive number; using the default {limit.default_text}",
            file=sys.stderr,
        )
    return limit.default


def limit_rows() -> list[dict]:
    """The table as rows for the help and the README: what, default, setting, what you see."""
    return [
        {
            "limit": item.what,
            "default": item.default_text,
            "setting": item.setting,
            "at the limit": item.at_limit,
        }
        for item in LIMITS.values()
    ]
