"""The one folder where every artifact, result and job lives, and how it is written safely.

An artifact is written into a temporary folder beside its final place, its manifest last, then
renamed into place; an artifact it replaces moves to `.history/`. A crash therefore never leaves a
half model that looks whole, and nothing saved is lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path

from core.errors import InputError, ModelNotFoundError

__all__ = [
    "Artifact",
    "Precision",
    "Workspace",
    "default_workspace",
    "library_versions",
    "utc_stamp",
]

ENV_VAR = "OVDASH_WORKSPACE"
MANIFEST = "manifest.json"
HISTORY_KEEP = 3
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class Precision(StrEnum):
    TORCH = "torch"
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: str) -> Precision:
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise InputError(f"unknown precision {value!r}; choose one of {choices}") from None


IR_PRECISIONS = (Precision.FP32, Precision.FP16, Precision.INT8)


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes a result, for manifests and benchmarks."""
    versions = {"python": platform.python_version()}
    for name in ("openvino", "nncf", "torch", "torchvision", "onnx", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_id(model_id: str) -> str:
    if not _ID_RE.match(model_id or ""):
        raise InputError(
            f"model id {model_id!r} is not allowed; use 1-64 lowercase letters, digits, '.', '_' or '-'"
        )
    return model_id


@dataclass(frozen=True)
class Artifact:
    """One saved IR of one model at one precision."""

    model_id: str
    precision: Precision
    folder: Path
    manifest: dict = field(compare=False, repr=False)

    @property
    def xml(self) -> Path:
        return self.folder / "model.xml"

    @property
    def bin(self) -> Path:
        return self.folder / "model.bin"

    @property
    def size_bytes(self) -> int:
        return self.xml.stat().st_size + self.bin.stat().st_size

    @property
    def fingerprint(self) -> str:
        """Changes whenever the artifact is replaced: keys caches of compiled models."""
        return self.manifest.get("files", {}).get("model.bin", {}).get("sha256", "")[:16]


class Workspace:
    """Paths and safe writes under one root folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        for sub in ("models", "results", "jobs", "uploads", "ov_cache", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def cache_dir(self) -> Path:
        return self.root / "ov_cache"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    @property
    def jobs_db(self) -> Path:
        return self.root / "jobs.sqlite"

    def model_dir(self, model_id: str) -> Path:
        return self.models_dir / check_model_id(model_id)

    def tmp_dir(self) -> Path:
        """A fresh private folder on the same file system, for atomic renames."""
        path = self.root / "tmp" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    # artifacts -------------------------------------------------------------------------------

    def artifact(self, model_id: str, precision: Precision | str) -> Artifact | None:
        precision = Precision.parse(precision)
        folder = self.model_dir(model_id) / precision.value
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return Artifact(model_id, precision, folder, manifest)

    def require_artifact(self, model_id: str, precision: Precision | str) -> Artifact:
        found = self.artifact(model_id, precision)
        if found is None:
            precision = Precision.parse(precision)
            how = (
                f"python -m core quantize --model {model_id}"
                if precision == Precision.INT8
                else f"python -m core convert --model {model_id}"
            )
            raise ModelNotFoundError(
                f"{model_id} has no {precision.value.upper()} model yet; create it first "
                f"(Models page, or `{how}`)"
            )
        return found

    def artifacts(self, model_id: str | None = None) -> list[Artifact]:
        ids = [model_id] if model_id else self.model_ids()
        found = []
        for mid in ids:
            for precision in IR_PRECISIONS:
                artifact = self.artifact(mid, precision)
                if artifact:
                    found.append(artifact)
        return found

    def model_ids(self) -> list[str]:
        return sorted(p.name for p in self.models_dir.iterdir() if p.is_dir() and _ID_RE.match(p.name))

    @contextmanager
    def write_artifact(self, model_id: str, precision: Precision | str, manifest: dict) -> Iterator[Path]:
        """Yield a temporary folder; on success hash its files, write the manifest last, swap it in.

        On an exception nothing in the workspace changes.
        """
        precision = Precision.parse(precision)
        final = self.model_dir(model_id) / precision.value
        staging = self.tmp_dir()
        try:
            yield staging
            files = {
                p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                for p in sorted(staging.iterdir())
                if p.is_file()
            }
            full = {
                "model_id": model_id,
                "precision": precision.value,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "versions": library_versions(),
                **manifest,
                "files": files,
            }
            write_json(staging / MANIFEST, full)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                self._retire(final, precision)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def remove_artifact(self, model_id: str, precision: Precision | str) -> None:
        """Move an artifact to history (never deleted outright)."""
        precision = Precision.parse(precision)
        final = self.model_dir(model_id) / precision.value
        if final.exists():
            self._retire(final, precision)

    def _retire(self, folder: Path, precision: Precision) -> None:
        """Move a replaced artifact to .history, keeping the newest HISTORY_KEEP per precision."""
        history = folder.parent / ".history"
        history.mkdir(exist_ok=True)
        os.replace(folder, history / f"{precision.value}-{utc_stamp()}")
        old = sorted(history.glob(f"{precision.value}-*"))
        for stale in old[:-HISTORY_KEEP]:
            shutil.rmtree(stale, ignore_errors=True)

    # results ---------------------------------------------------------------------------------

    def save_result(self, kind: str, model_id: str, data: dict) -> Path:
        """Write a result once, naming its own file under `path` for whoever reads it later."""
        folder = self.root / "results" / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{utc_stamp()}-{check_model_id(model_id)}.json"
        write_json(path, {**data, "path": str(path)})
        return path

    def results(self, kind: str, model_id: str | None = None) -> list[dict]:
        """Saved results of one kind, oldest first; each gains a `_path` key.

        Pages ask for these on every rerun; a file is parsed again only when it changed.
        """
        folder = self.root / "results" / kind
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.json")):
            data = _read_result(path)
            if data is not None and (model_id is None or data.get("model_id") == model_id):
                found.append({**data, "_path": str(path)})
        return found


_RESULT_CACHE: dict[str, tuple[tuple[int, int], dict]] = {}
_RESULT_CACHE_LOCK = threading.Lock()
_RESULT_CACHE_MAX = 512


def _read_result(path: Path) -> dict | None:
    """Parsed JSON of a result file, cached by (mtime, size); callers get a shallow copy."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key, stamp = str(path), (stat.st_mtime_ns, stat.st_size)
    with _RESULT_CACHE_LOCK:
        cached = _RESULT_CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    with _RESULT_CACHE_LOCK:
        if len(_RESULT_CACHE) >= _RESULT_CACHE_MAX:
            _RESULT_CACHE.clear()
        _RESULT_CACHE[key] = (stamp, data)
    return data


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)


def default_workspace() -> Workspace:
    """The workspace named by OVDASH_WORKSPACE, else ./workspace."""
    return Workspace(os.environ.get(ENV_VAR) or Path.cwd() / "workspace")
