"""The one folder where every variant, result and job lives, and how it is written safely.

A variant is written into a private staging folder, its files flushed to disk, its manifest
last, then swapped into place under a per-model lock; a variant it replaces moves to `.history/`.
The swap is journalled, so a crash between its two renames is rolled forward (or back) the next
time the model is read: a model never loses its FP32 to a badly timed kill. A full disk is said in
plain words with the numbers, and every temporary file of a failed write is removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from core.errors import DiskFullError, InputError, ModelNotFoundError, WorkspaceBusyError
from core.variants import (
    REFERENCE,
    Variant,
    check_name_fits,
    check_new_variant_id,
    check_variant_id,
    free_variant_id,
    missing_variant_message,
    variant_from_manifest,
)

__all__ = [
    "DISK_RESERVE_ENV",
    "ENV_VAR",
    "JOB_SPACE_MB",
    "MANIFEST",
    "DamagedResult",
    "Workspace",
    "check_model_id",
    "default_workspace",
    "disk_full_guard",
    "file_sha256",
    "library_versions",
    "utc_stamp",
    "write_json",
]

ENV_VAR = "OVDASH_WORKSPACE"
DISK_RESERVE_ENV = "OVDASH_DISK_RESERVE_MB"
DEFAULT_DISK_RESERVE_MB = 500
JOB_SPACE_MB = 200  # what a job is assumed to write at most, checked with the reserve before it starts
MANIFEST = "manifest.json"
HISTORY = ".history"
HISTORY_KEEP = 3
LOCK_TIMEOUT_S = 30.0
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_STAMP_RE = re.compile(r"^(?P<variant>.+)-(?P<stamp>\d{8}T\d{12}Z)$")
_NOT_VARIANTS = {"source", HISTORY}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes a result, for manifests and benchmarks."""
    versions = {"python": platform.python_version()}
    for name in ("openvino", "nncf", "torch", "torchvision", "onnx", "onnxruntime", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_id(model_id: str) -> str:
    """A model id is 1-64 lowercase letters, digits, '.', '_' or '-', the whole string (no newline)."""
    if not isinstance(model_id, str) or not _ID_RE.fullmatch(model_id):
        msg = (
            f"model id {model_id!r} is not allowed; use 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
        raise InputError(msg)
    return model_id


# durable writes ---------------------------------------------------------------------------------


def _fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (a rename is durable only once its folder is).

    A file that cannot be flushed is an error (its bytes may never reach the disk, a full disk may show
    only here); a folder that cannot be is not (some file systems refuse to flush folders).
    """
    folder = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not folder and exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """Create a folder and any missing parents, durably: each new entry is flushed in its parent."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        _fsync_path(folder.parent)


def _free_mb(path: Path) -> float:
    try:
        return shutil.disk_usage(path).free / 1e6
    except OSError:
        return float("nan")


def disk_reserve_mb() -> float:
    from core.limits import value

    return value("disk_reserve_mb")


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("no space left" in text or "iostream error" in text)


def _disk_full_message(root: Path, what: str, needed_mb: float | None = None) -> str:
    free = _free_mb(root)
    need = f", {needed_mb:,.0f} MB needed" if needed_mb is not None else ""
    return (
        f"the disk is full while {what}: {free:,.0f} MB free in {root}{need}; free some space, or point "
        f"{ENV_VAR} at a larger disk, then try again (nothing was saved, earlier work is intact)"
    )


@contextlib.contextmanager
def disk_full_guard(root: Path, what: str, *, needed_mb: float | None = None) -> Iterator[None]:
    """Turn the many faces of a full disk (ENOSPC, a quota, OpenVINO's 'iostream error') into one message."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if _is_disk_full(exc):
            raise DiskFullError(_disk_full_message(Path(root), what, needed_mb)) from exc
        raise


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically and durably: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with disk_full_guard(path.parent, f"saving {path.name}"):
            with Path(tmp).open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(data, indent=2, sort_keys=False, default=str))
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_path(path.parent)


@dataclass(frozen=True)
class DamagedResult:
    """A result file that cannot be used, and why: shown as one 'skipped' line, never a crash."""

    path: Path
    reason: str

    def __str__(self) -> str:  # the folder says which kind of result it was (benchmark, evaluation)
        return f"{self.path.parent.name}/{self.path.name}: {self.reason}"


class Workspace:
    """Paths, locks and safe writes under one root folder."""

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
        """A fresh private folder on the same file system (for atomic renames), tagged with this
        process, so a start-up clean-up can tell a dead process's leftovers from live work."""
        path = self.root / "tmp" / f"{os.getpid()}-{_process_start(os.getpid())}-{uuid.uuid4().hex[:12]}"
        path.mkdir(parents=True)
        return path

    def model_ids(self) -> list[str]:
        return sorted(p.name for p in self.models_dir.iterdir() if p.is_dir() and _ID_RE.fullmatch(p.name))

    # disk ----------------------------------------------------------------------------------------

    def free_mb(self) -> float:
        return _free_mb(self.root)

    def check_free_space(self, needed_mb: float, what: str) -> None:
        """Refuse to start work that would leave less than the reserve free (`OVDASH_DISK_RESERVE_MB`)."""
        free, reserve = self.free_mb(), disk_reserve_mb()
        if free == free and free - needed_mb < reserve:  # NaN (unknown) never refuses
            msg = (
                f"not enough free disk for {what}: {free:,.0f} MB free in {self.root}, about {needed_mb:,.0f} MB "
                f"needed plus a reserve of {reserve:,.0f} MB; free some space or point {ENV_VAR} at a larger "
                f"disk ({DISK_RESERVE_ENV} sets the reserve)"
            )
            raise DiskFullError(msg)

    # locks ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def model_lock(self, model_id: str, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Serialise writers of one model across threads and processes (an flock on models/<id>/.lock)."""
        folder = self.model_dir(model_id)
        _make_dirs(folder)
        handle = Path(folder / ".lock").open("a+")  # noqa: SIM115 - held for the lock's lifetime
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        msg = (
                            f"another job is saving a variant of {model_id} and has not finished within "
                            f"{timeout:.0f} s; try again when it is done"
                        )
                        raise WorkspaceBusyError(msg) from None
                    time.sleep(0.05)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # variants ------------------------------------------------------------------------------------

    def variants(self, model_id: str) -> list[Variant]:
        """The stored variants of a model (not the PyTorch reference), in display order."""
        folder = self.model_dir(model_id)
        if not folder.is_dir():
            return []
        self._recover(model_id)
        found = []
        for entry in sorted(folder.iterdir()):
            if not entry.is_dir() or entry.name in _NOT_VARIANTS or entry.name.startswith("."):
                continue
            variant = self._read_variant(model_id, entry)
            if variant is not None:
                found.append(variant)
        return sorted(found, key=lambda v: v.order)

    def all_variants(self) -> list[Variant]:
        return [v for model_id in self.model_ids() for v in self.variants(model_id)]

    def variant(self, model_id: str, variant_id: str) -> Variant | None:
        check_variant_id(variant_id)
        if variant_id == REFERENCE:
            return None
        self._recover(model_id)
        return self._read_variant(model_id, self.model_dir(model_id) / variant_id)

    def require_variant(self, model_id: str, variant_id: str) -> Variant:
        found = self.variant(model_id, variant_id)
        if found is None:
            folder = self.model_dir(model_id) / variant_id
            damaged = self.damaged_manifest(folder)
            if damaged is not None:
                msg = (
                    f"the {variant_id} variant of {model_id} cannot be used: its {folder / MANIFEST} {damaged}; "
                    f"make it again (convert or quantize with the same name; the damaged folder moves to history)"
                )
                raise ModelNotFoundError(msg)
            raise ModelNotFoundError(
                missing_variant_message(model_id, variant_id, [v.id for v in self.variants(model_id)])
            )
        return found

    def damaged_variants(self, model_id: str) -> list[tuple[str, str]]:
        """(folder name, why) of each variant folder whose manifest cannot be read: listed, never hidden."""
        folder = self.model_dir(model_id)
        if not folder.is_dir():
            return []
        found = []
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name not in _NOT_VARIANTS and not entry.name.startswith("."):
                why = self.damaged_manifest(entry)
                if why is not None:
                    found.append((entry.name, f"{MANIFEST} {why}"))
        return found

    def _read_variant(self, model_id: str, folder: Path) -> Variant | None:
        path = folder / MANIFEST
        if not path.is_file():
            return None
        manifest = _json_object(path, "a manifest object")
        return None if isinstance(manifest, str) else variant_from_manifest(model_id, folder, manifest)

    @staticmethod
    def damaged_manifest(folder: Path) -> str | None:
        """Why a variant folder's manifest cannot be used (None when it can, or when there is none)."""
        path = folder / MANIFEST
        if not path.is_file():
            return None
        found = _json_object(path, "a manifest object")
        return found if isinstance(found, str) else None

    def variant_aliases(self, model_id: str) -> dict[str, str]:
        """Old names of renamed variants -> their current names, so older results still find them."""
        aliases = {}
        for variant in self.variants(model_id):
            for old in variant.manifest.get("aliases") or []:
                aliases[str(old)] = variant.id
        return aliases

    @contextlib.contextmanager
    def write_variant(
        self,
        model_id: str,
        variant_id: str,
        manifest: dict,
        *,
        on_conflict: str = "replace",
        result: list | None = None,
    ) -> Iterator[Path]:
        """Yield a staging folder; on success flush its files, write the manifest last and swap it in.

        `on_conflict` decides what happens when the variant already exists: "replace" (the old one
        moves to history), "rename" (this one lands as `<id>-2`, ...), or "fail". The final Variant is
        appended to `result` when given. On an exception nothing in the workspace changes.
        """
        check_new_variant_id(variant_id)
        check_name_fits(variant_id, manifest.get("backend"), manifest.get("format"))
        if on_conflict not in ("replace", "rename", "fail"):
            msg = f"unknown on_conflict {on_conflict!r}; use replace, rename or fail"
            raise InputError(msg)
        staging = self.tmp_dir()
        try:
            with disk_full_guard(self.root, f"saving the {variant_id} variant of {model_id}"):
                yield staging
                files = {}
                for path in sorted(staging.iterdir()):
                    if path.is_file():
                        _fsync_path(path)
                        files[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
                with self.model_lock(model_id):
                    final_id = variant_id
                    if (self.model_dir(model_id) / variant_id).exists():
                        if on_conflict == "fail":
                            msg = (
                                f"{model_id} already has a variant named {variant_id!r}; choose another name, "
                                "or replace it"
                            )
                            raise InputError(msg)
                        if on_conflict == "rename":
                            final_id = free_variant_id(variant_id, self._folder_names(model_id))
                    full = {
                        "schema": 2,
                        "model_id": model_id,
                        "variant": final_id,
                        "created": datetime.now(UTC).isoformat(timespec="seconds"),
                        "versions": library_versions(),
                        **manifest,
                        "files": files,
                    }
                    full["variant"] = final_id
                    write_json(staging / MANIFEST, full)
                    _fsync_path(staging)
                    self._swap_in(model_id, final_id, staging)
                    # read under the lock: a writer waiting for it may replace this variant a moment later
                    landed = self._read_variant(model_id, self.model_dir(model_id) / final_id)
            if result is not None:
                result.append(landed or self.require_variant(model_id, final_id))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _folder_names(self, model_id: str) -> set[str]:
        folder = self.model_dir(model_id)
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def _swap_in(self, model_id: str, variant_id: str, staging: Path) -> None:
        """Replace (or create) a variant folder with a journal, so a crash between renames is repaired."""
        folder = self.model_dir(model_id)
        final = folder / variant_id
        retired = folder / HISTORY / f"{variant_id}-{utc_stamp()}" if final.exists() else None
        journal = folder / f".swap-{variant_id}.json"
        write_json(journal, {"staging": str(staging), "retired": str(retired) if retired else None})
        if retired is not None:
            _make_dirs(retired.parent)
            Path(final).replace(retired)
        Path(staging).replace(final)
        _fsync_path(folder)
        journal.unlink(missing_ok=True)
        if retired is not None:
            self._trim_history(model_id, variant_id)

    def _recover(self, model_id: str) -> None:
        """Finish or undo a swap a crash cut short: roll the staged variant in, or the retired one back."""
        folder = self.model_dir(model_id)
        journals = list(folder.glob(".swap-*.json")) if folder.is_dir() else []
        if not journals:
            return
        try:
            with self.model_lock(model_id, timeout=0.5):
                for journal in folder.glob(".swap-*.json"):
                    variant_id = journal.name[len(".swap-") : -len(".json")]
                    try:
                        plan = json.loads(journal.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        plan = {}
                    final = folder / variant_id
                    # by name too: the journal holds absolute paths, and the workspace may have moved since
                    staging = self._journal_path(plan.get("staging"), self.root / "tmp")
                    retired = self._journal_path(plan.get("retired"), folder / HISTORY)
                    if not final.exists():
                        if staging is not None and (staging / MANIFEST).is_file():
                            Path(staging).replace(final)
                        elif retired is not None and retired.exists():
                            Path(retired).replace(final)
                    _fsync_path(folder)
                    journal.unlink(missing_ok=True)
        except WorkspaceBusyError:
            return  # a writer holds the lock: it is mid-swap and will finish itself

    @staticmethod
    def _journal_path(value, home: Path) -> Path | None:
        if not isinstance(value, str) or not value:
            return None
        path = Path(value)
        return path if path.exists() else home / path.name

    def _journal_stagings(self) -> set[Path]:
        """Staging folders that a swap journal still names (their swap is not finished or undone yet)."""
        named = set()
        for journal in self.models_dir.glob("*/.swap-*.json"):
            try:
                staging = json.loads(journal.read_text(encoding="utf-8")).get("staging")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(staging, str) and staging:
                named.add(self.root / "tmp" / Path(staging).name)
        return named

    def remove_variant(self, model_id: str, variant_id: str) -> None:
        """Move one variant to history (never deleted outright); no other variant is touched."""
        check_variant_id(variant_id)
        with self.model_lock(model_id):
            final = self.model_dir(model_id) / variant_id
            if not (final / MANIFEST).is_file():
                msg = f"{model_id} has no stored variant {variant_id!r}; nothing to remove"
                raise ModelNotFoundError(msg)
            history = final.parent / HISTORY
            _make_dirs(history)
            Path(final).replace(history / f"{variant_id}-{utc_stamp()}")
            _fsync_path(final.parent)
            self._trim_history(model_id, variant_id)

    def rename_variant(self, model_id: str, old: str, new: str) -> Variant:
        """Give a stored variant another name; results saved under the old name still find it."""
        check_variant_id(old)
        check_new_variant_id(new)
        with self.model_lock(model_id):
            folder = self.model_dir(model_id)
            source, target = folder / old, folder / new
            if not (source / MANIFEST).is_file():
                msg = f"{model_id} has no stored variant {old!r}; nothing to rename"
                raise ModelNotFoundError(msg)
            if target.exists():
                msg = f"{model_id} already has a variant named {new!r}; choose another name"
                raise InputError(msg)
            manifest = _json_object(source / MANIFEST, "a manifest object")
            if isinstance(manifest, str):
                msg = f"the {old} variant of {model_id} cannot be renamed: its {MANIFEST} {manifest}; delete it or make it again"
                raise InputError(msg)
            found = variant_from_manifest(model_id, source, manifest)
            check_name_fits(new, found.backend, found.format)
            aliases = [a for a in manifest.get("aliases") or [] if a != new]
            manifest.update(variant=new, aliases=[*aliases, old])
            # the folder names the variant: move it first, so a crash leaves the new name (at worst
            # without the alias), never a manifest that disagrees with its folder
            Path(source).replace(target)
            _fsync_path(folder)
            write_json(target / MANIFEST, manifest)
        return self.require_variant(model_id, new)

    def history(self, model_id: str) -> list[tuple[str, str, Path]]:
        """Retired variants: (variant id, UTC stamp, folder), newest first."""
        folder = self.model_dir(model_id) / HISTORY
        found = []
        for entry in folder.iterdir() if folder.is_dir() else ():
            match = _STAMP_RE.match(entry.name)
            if match and (entry / MANIFEST).is_file():
                found.append((match["variant"], match["stamp"], entry))
        return sorted(found, key=lambda item: item[1], reverse=True)

    def _trim_history(self, model_id: str, variant_id: str) -> None:
        mine = [entry for vid, _, entry in self.history(model_id) if vid == variant_id]
        for stale in mine[HISTORY_KEEP:]:
            shutil.rmtree(stale, ignore_errors=True)

    # results -------------------------------------------------------------------------------------

    def save_result(self, kind: str, model_id: str, data: dict) -> Path:
        """Write a result once, naming its own file under `path` for whoever reads it later."""
        folder = self.root / "results" / kind
        _make_dirs(folder)
        path = folder / f"{utc_stamp()}-{check_model_id(model_id)}.json"
        write_json(path, {**data, "path": str(path)})
        return path

    def results(self, kind: str, model_id: str | None = None) -> list[dict]:
        """Saved results of one kind, oldest first, each with a `_path` key; damaged files are left out."""
        return self.read_results(kind, model_id)[0]

    def read_results(self, kind: str, model_id: str | None = None) -> tuple[list[dict], list[DamagedResult]]:
        """Saved results of one kind (oldest first) and the files that could not be read, with why.

        Pages ask for these on every rerun; a file is parsed again only when it changed.
        """
        folder = self.root / "results" / kind
        if not folder.is_dir():
            return [], []
        found, damaged = [], []
        for path in sorted(folder.glob("*.json")):
            data = _read_result(path)
            if isinstance(data, str):
                damaged.append(DamagedResult(path, data))
            elif model_id is None or data.get("model_id") == model_id:
                found.append({**data, "_path": str(path)})
        return found, damaged

    # housekeeping --------------------------------------------------------------------------------

    def unpacked_dir(self, archive: Path) -> Path:
        """Where an uploaded archive is unpacked: named after its content, so it is unpacked once."""
        return self.uploads_dir / file_sha256(archive)[:16]

    def clean_stale(self, *, upload_max_age_s: float, keep: set[str] = frozenset()) -> dict:
        """Remove staging folders of processes that are gone, and uploads older than the limit that no
        queued or running job needs (`keep` holds the paths in their settings). Returns what was removed.

        A swap that a crash cut short is finished first: its staging folder may hold the newest variant.
        """
        for model_id in {journal.parent.name for journal in self.models_dir.glob("*/.swap-*.json")}:
            if _ID_RE.fullmatch(model_id):
                self._recover(model_id)
        removed = {"staging": 0, "uploads": 0}
        journalled = self._journal_stagings()
        for entry in (self.root / "tmp").iterdir():
            if _process_alive(entry.name) or entry in journalled:
                continue
            _remove(entry)
            removed["staging"] += 1
        now = time.time()
        needed = self._needed_uploads(keep)
        for entry in _upload_entries(self.uploads_dir):
            try:
                age = now - entry.stat().st_mtime
            except OSError:
                continue
            resolved = entry.resolve()
            if age < upload_max_age_s or any(resolved == p or resolved in p.parents for p in needed):
                continue
            _remove(entry)
            removed["uploads"] += 1
        return removed

    def _needed_uploads(self, keep) -> set[Path]:
        """The paths jobs need, resolved (relative ones from the root), with the unpacked folders of archives."""
        needed = set()
        for text in keep:
            path = Path(text)
            path = (path if path.is_absolute() else self.root / path).resolve()
            needed.add(path)
            if (
                path.suffix.lower() == ".zip"
                and path.is_file()
                and self.uploads_dir.resolve() in path.parents
            ):
                try:
                    needed.add(self.unpacked_dir(path).resolve())
                except OSError:
                    pass
        return needed


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _process_alive(name: str) -> bool:
    """True if a tmp/ entry named `<pid>-<start>-<id>` belongs to a process that still runs."""
    pid, _, rest = name.partition("-")
    started, _, _ = rest.partition("-")
    if not pid.isdigit():
        return False
    if started:
        return _process_start(int(pid)) == started
    try:  # made where the start time was unknown: the pid alone must do
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _upload_entries(uploads: Path) -> list[Path]:
    """Uploaded files (uploads/files/*) and unpacked archives (uploads/<hash>/)."""
    entries = []
    for entry in uploads.iterdir() if uploads.is_dir() else ():
        if entry.name == "files" and entry.is_dir():
            entries.extend(entry.iterdir())
        else:
            entries.append(entry)
    return entries


def _process_start(pid: int) -> str:
    """A process's start time in clock ticks since boot ('' if unknown): with the pid, it names one process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


_RESULT_CACHE: dict[str, tuple[tuple[int, int], dict | str]] = {}
_RESULT_CACHE_LOCK = threading.Lock()
_RESULT_CACHE_MAX = 512


def _json_object(path: Path, what: str) -> dict | str:
    """The JSON object in a file, or why it cannot be used (said as "<file> ..."): one rule for results
    and manifests, so a damaged file of either kind is named the same way and never crashes a reader."""
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"is not valid JSON (line {exc.lineno}: {exc.msg})"
    except RecursionError:
        return "is nested too deeply to read"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return parsed if isinstance(parsed, dict) else f"holds a JSON {type(parsed).__name__}, not {what}"


def _read_result(path: Path) -> dict | str:
    """Parsed JSON of a result file (cached by mtime and size), or the reason it cannot be used."""
    try:
        stat = path.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    key, stamp = str(path), (stat.st_mtime_ns, stat.st_size)
    with _RESULT_CACHE_LOCK:
        cached = _RESULT_CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    data = _json_object(path, "a result object")
    with _RESULT_CACHE_LOCK:
        if len(_RESULT_CACHE) >= _RESULT_CACHE_MAX:
            _RESULT_CACHE.clear()
        _RESULT_CACHE[key] = (stamp, data)
    return data


def default_workspace() -> Workspace:
    """The workspace named by OVDASH_WORKSPACE, else ./workspace."""
    return Workspace(os.environ.get(ENV_VAR) or Path.cwd() / "workspace")
