"""Read an untrusted zip entry by entry, under generated names, with caps on count, size and ratio."""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from core.data.images import IMAGE_SUFFIXES
from core.errors import ArchiveError

__all__ = ["ZipMember", "describe_counts", "extract_zip", "is_system_name"]

_TABLE_SUFFIXES = (".csv", ".txt")
_SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
_RATIO_FLOOR = 1 << 20  # entries smaller than this cannot be bombs under the size caps
_CHUNK = 1 << 20
_COMPLETE = ".complete"
_MEMBERS = "members.json"


@dataclass(frozen=True)
class ZipMember:
    """One extracted file: its name inside the archive and where it was written."""

    original: str
    path: Path


def extract_zip(
    zip_path: Path,
    dest: Path,
    *,
    max_entries: int = 20_000,
    max_entry_bytes: int = 50 * 1024**2,
    max_total_bytes: int = 2 * 1024**3,
    max_ratio: float = 200,
    name: str | None = None,
) -> list[ZipMember]:
    """Extract the images, CSV and TXT files of an untrusted zip under generated names.

    The whole archive is checked before anything is written, sizes are counted again while
    streaming (declared sizes can lie), and on any failure the files written so far are removed.
    """
    zip_path = Path(zip_path)
    label = name or zip_path.name
    if not zip_path.is_file():
        raise ArchiveError(f"{label} does not exist; upload the zip again")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"{label} is not a zip archive or is damaged; upload a .zip of images") from exc
    with archive:
        entries = archive.infolist()
        if not entries:
            raise ArchiveError(f"{label} is empty; upload a zip that holds JPEG or PNG images")
        if len(entries) > max_entries:
            raise ArchiveError(
                f"{label} holds {len(entries):,} entries, more than the {max_entries:,} allowed; "
                "split it into smaller archives"
            )
        wanted = _check_entries(entries, label, max_entry_bytes, max_total_bytes, max_ratio)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        members: list[ZipMember] = []
        try:
            total = 0
            for index, info in enumerate(wanted):
                suffix = PurePosixPath(info.filename).suffix.lower()
                target = dest / f"{index:06d}{suffix if suffix in IMAGE_SUFFIXES else ''}"
                members.append(ZipMember(info.filename, target))
                total = _stream_entry(
                    archive, info, target, label, total, max_entry_bytes, max_total_bytes, max_ratio
                )
        except BaseException:
            for member in members:
                member.path.unlink(missing_ok=True)
            raise
    return members


def _check_entries(
    entries: list[zipfile.ZipInfo], label: str, max_entry_bytes: int, max_total_bytes: int, max_ratio: float
) -> list[zipfile.ZipInfo]:
    """Reject an unsafe archive as a whole; return the entries worth extracting."""
    wanted, others = [], Counter()
    declared_total = 0
    for info in entries:
        raw = info.filename
        parts = raw.replace("\\", "/").split("/")
        if raw.startswith(("/", "\\")) or PureWindowsPath(raw).drive or ".." in parts or "\x00" in raw:
            raise ArchiveError(
                f"{label} holds an unsafe entry name {raw!r} (absolute or with '..'); "
                "re-create the archive from the folder itself"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(
                f"{label} holds a symbolic link ({raw}); links are not allowed, zip the files themselves"
            )
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{label} is encrypted ({raw}); upload an archive without a password")
        if info.is_dir() or is_system_name(parts):
            continue
        suffix = PurePosixPath(raw).suffix.lower()
        if suffix not in IMAGE_SUFFIXES + _TABLE_SUFFIXES:
            others[suffix] += 1
            continue
        if suffix in _TABLE_SUFFIXES:
            others[suffix] += 1
        if info.file_size > max_entry_bytes:
            raise ArchiveError(
                f"{label}: {raw} unpacks to {info.file_size:,} bytes, more than the "
                f"{max_entry_bytes:,} allowed per file; downscale or remove it"
            )
        if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise ArchiveError(
                f"{label}: {raw} is compressed more than {max_ratio:g}:1, which only a zip bomb needs; "
                "upload ordinary images"
            )
        declared_total += info.file_size
        if declared_total > max_total_bytes:
            raise ArchiveError(
                f"{label} unpacks to more than the {max_total_bytes:,} bytes allowed; "
                "split it into smaller archives"
            )
        wanted.append(info)
    if not any(PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES for info in wanted):
        if not others:
            raise ArchiveError(
                f"{label} is empty (only folders or system files); upload a zip that holds JPEG or PNG images"
            )
        raise ArchiveError(
            f"{label} holds no images (found {describe_counts(others)}); upload JPEG or PNG images"
        )
    return wanted


def _stream_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    label: str,
    total: int,
    max_entry_bytes: int,
    max_total_bytes: int,
    max_ratio: float,
) -> int:
    """Copy one entry, counting the bytes that really come out; return the new running total."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as sink:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                written += len(chunk)
                total += len(chunk)
                if written > max_entry_bytes or written > max(info.file_size, 0):
                    raise ArchiveError(
                        f"{label}: {info.filename} unpacks to more bytes than it declares or than the "
                        f"{max_entry_bytes:,} allowed; the archive is unsafe, re-create it"
                    )
                if total > max_total_bytes:
                    raise ArchiveError(
                        f"{label} unpacks to more than the {max_total_bytes:,} bytes allowed; "
                        "split it into smaller archives"
                    )
                if written > _RATIO_FLOOR and written > max_ratio * max(info.compress_size, 1):
                    raise ArchiveError(
                        f"{label}: {info.filename} is compressed more than {max_ratio:g}:1, which only a "
                        "zip bomb needs; upload ordinary images"
                    )
                sink.write(chunk)
    except NotImplementedError as exc:
        raise ArchiveError(
            f"{label}: {info.filename} uses a compression method Python cannot read; "
            "re-create the archive with standard Deflate compression"
        ) from exc
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, RuntimeError) as exc:
        raise ArchiveError(f"{label} is damaged ({info.filename}: {exc}); re-create the archive") from exc
    return total


def is_system_name(parts: list[str]) -> bool:
    return (
        any(part == "__MACOSX" or part.startswith(".") for part in parts)
        or parts[-1].lower() in _SYSTEM_FILES
    )


def describe_counts(counts: Counter) -> str:
    """'3 .txt files and 1 .pdf file', for messages about what was found instead of images."""
    pieces = []
    for suffix, number in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        noun = "file" if number == 1 else "files"
        pieces.append(f"{number} {suffix} {noun}" if suffix else f"{number} {noun} without a suffix")
    if not pieces:
        return "nothing"
    return pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " and " + pieces[-1]
