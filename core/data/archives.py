"""Read an untrusted zip entry by entry, under generated names, with caps on count, size and ratio."""

from __future__ import annotations

import stat
import struct
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from core.data.images import IMAGE_SUFFIXES
from core.errors import ArchiveError
from core.limits import value as limit_value

__all__ = [
    "ALLOWED_COMPRESSION",
    "MAX_COMPRESSION_RATIO",
    "MAX_DIRECTORY_BYTES_PER_ENTRY",
    "MAX_ENTRY_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_ZIP_ENTRIES",
    "ZipMember",
    "describe_counts",
    "extract_zip",
    "is_system_name",
]

# Defaults of extract_zip's limits.
MAX_ZIP_ENTRIES = 20_000  # a calibration or evaluation set needs hundreds, not tens of thousands
MAX_ENTRY_BYTES = 50 * 1024**2  # phone photos are 2-25 MB as JPEG; only huge PNG or TIFF files exceed it
MAX_TOTAL_BYTES = 2 * 1024**3  # what one archive may write to disk, however it is compressed
MAX_COMPRESSION_RATIO = 200  # photos barely compress; only a bomb needs more (entries over 1 MiB)
# The table of contents is parsed into memory before any entry is looked at: a 100 MB zip of empty
# entries would hold two million of them. An entry needs 46 bytes plus its name, so 1 KiB each on
# average is generous; the whole table may take max_entries x this many bytes.
MAX_DIRECTORY_BYTES_PER_ENTRY = 1_024
# Python's zipfile bounds the output of each read only for Deflate: one read of a bzip2 or LZMA entry
# unpacks its whole input at once (79 bytes of bzip2 hold 64 MB of zeros), so only these are read.
ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

_METHOD_NAMES = {
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
    9: "Deflate64",
    93: "Zstandard",
    98: "PPMd",
}
_LOCAL_HEADER_BYTES = 30  # the fixed part of a local file header, before its name
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
    max_entries: int | None = None,
    max_entry_bytes: int | None = None,
    max_total_bytes: int | None = None,
    max_ratio: float | None = None,
    name: str | None = None,
) -> list[ZipMember]:
    """Extract the images, CSV and TXT files of an untrusted zip under generated names.

    The table of contents is sized before it is parsed, the whole archive is checked before anything
    is written, sizes are counted again while streaming (declared sizes can lie), and on any failure
    the files written so far are removed.
    """
    zip_path = Path(zip_path)
    label = name or zip_path.name
    max_entries = int(max_entries or limit_value("zip_entries"))
    max_entry_bytes = int(max_entry_bytes or limit_value("zip_entry_mb") * 2**20)
    max_total_bytes = int(max_total_bytes or limit_value("zip_total_mb") * 2**20)
    max_ratio = float(max_ratio or limit_value("zip_ratio"))
    if not zip_path.is_file():
        msg = f"{label} does not exist; upload the zip again"
        raise ArchiveError(msg)
    _check_directory(zip_path, label, max_entries)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        msg = f"{label} is not a zip archive or is damaged; upload a .zip of images"
        raise ArchiveError(msg) from exc
    with archive:
        entries = archive.infolist()
        if not entries:
            msg = f"{label} is empty; upload a zip that holds JPEG or PNG images"
            raise ArchiveError(msg)
        if len(entries) > max_entries:
            msg = (
                f"{label} holds {len(entries):,} entries, more than the {max_entries:,} allowed; "
                "split it into smaller archives"
            )
            raise ArchiveError(msg)
        wanted = _check_entries(entries, label, max_entry_bytes, max_total_bytes, max_ratio)
        _check_layout(entries, getattr(archive, "start_dir", None), label)
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


def _check_directory(zip_path: Path, label: str, max_entries: int) -> None:
    """Refuse a table of contents too large to parse, from the end record alone (what ZipFile reads
    first); its entry count can lie, so the table's size in bytes is capped too."""
    try:
        with Path(zip_path).open("rb") as handle:
            end = zipfile._EndRecData(handle)  # the very record ZipFile itself trusts
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        msg = f"{label} is not a zip archive or is damaged; upload a .zip of images"
        raise ArchiveError(msg) from exc
    if end is None:
        return  # not a zip: ZipFile says so with the usual message
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if count > max_entries:
        msg = (
            f"{label} holds {count:,} entries, more than the {max_entries:,} allowed; "
            "split it into smaller archives"
        )
        raise ArchiveError(msg)
    if size > max_entries * MAX_DIRECTORY_BYTES_PER_ENTRY:
        msg = (
            f"{label} has a table of contents of {size:,} bytes, more than {max_entries:,} entries need; "
            "split it into smaller archives"
        )
        raise ArchiveError(msg)


def _collision_key(raw: str) -> str:
    """Names that land on one file on Windows or macOS, or in one place in the folder logic."""
    path = PurePosixPath(raw.replace("\\", "/")).as_posix()  # drops "./" and doubled slashes
    return unicodedata.normalize("NFC", path).casefold()


def _check_layout(entries: list[zipfile.ZipInfo], directory_start: int | None, label: str) -> None:
    """Refuse entries whose bytes overlap: the trick of zip bombs that reuse one compressed kernel
    for many entries (Python 3.11's zipfile does not check it)."""
    ordered = sorted(entries, key=lambda info: info.header_offset)
    for index, info in enumerate(ordered):
        try:
            name_bytes = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        except UnicodeEncodeError:
            name_bytes = len(info.orig_filename)
        end = info.header_offset + _LOCAL_HEADER_BYTES + name_bytes + info.compress_size
        if index + 1 < len(ordered):
            following = ordered[index + 1]
            if end > following.header_offset:
                msg = (
                    f"{label}: the entries {info.filename!r} and {following.filename!r} share bytes, "
                    "which only a zip bomb needs; re-create the archive"
                )
                raise ArchiveError(msg)
        elif directory_start is not None and end > directory_start:
            msg = (
                f"{label}: {info.filename!r} runs into the archive's table of contents, so the archive is "
                "damaged or unsafe; re-create it"
            )
            raise ArchiveError(msg)


def _check_entries(
    entries: list[zipfile.ZipInfo], label: str, max_entry_bytes: int, max_total_bytes: int, max_ratio: float
) -> list[zipfile.ZipInfo]:
    """Reject an unsafe archive as a whole; return the entries worth extracting."""
    wanted, others = [], Counter()
    seen: dict[str, str] = {}
    declared_total = 0
    for info in entries:
        raw = info.filename
        parts = raw.replace("\\", "/").split("/")
        if raw.startswith(("/", "\\")) or PureWindowsPath(raw).drive or ".." in parts or "\x00" in raw:
            msg = (
                f"{label} holds an unsafe entry name {raw!r} (absolute or with '..'); "
                "re-create the archive from the folder itself"
            )
            raise ArchiveError(msg)
        if any(unicodedata.category(char) == "Cc" for char in raw):
            msg = (
                f"{label} holds an entry name with control characters ({raw!r}); "
                "rename that file and re-create the archive"
            )
            raise ArchiveError(msg)
        if stat.S_ISLNK(info.external_attr >> 16):
            msg = f"{label} holds a symbolic link ({raw}); links are not allowed, zip the files themselves"
            raise ArchiveError(msg)
        if info.flag_bits & 0x1:
            msg = f"{label} is encrypted ({raw}); upload an archive without a password"
            raise ArchiveError(msg)
        if info.is_dir() or is_system_name(parts):
            continue
        suffix = PurePosixPath(raw).suffix.lower()
        if suffix not in IMAGE_SUFFIXES + _TABLE_SUFFIXES:
            others[suffix] += 1
            continue
        if suffix in _TABLE_SUFFIXES:
            others[suffix] += 1
        if info.compress_type not in ALLOWED_COMPRESSION:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            msg = (
                f"{label}: {raw} uses {method} compression, which the tool does not unpack; "
                "re-create the archive with standard Deflate compression"
            )
            raise ArchiveError(msg)
        key = _collision_key(raw)
        if key in seen:
            if seen[key] == raw:
                msg = f"{label} holds two entries named {raw!r}; re-create the archive"
                raise ArchiveError(msg)
            msg = (
                f"{label} holds two entries named {seen[key]!r} and {raw!r}, which become one file on some "
                "systems; rename one and re-create the archive"
            )
            raise ArchiveError(msg)
        seen[key] = raw
        if info.file_size > max_entry_bytes:
            msg = (
                f"{label}: {raw} unpacks to {info.file_size:,} bytes, more than the "
                f"{max_entry_bytes:,} allowed per file; downscale or remove it"
            )
            raise ArchiveError(msg)
        if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            msg = (
                f"{label}: {raw} is compressed more than {max_ratio:g}:1, which only a zip bomb needs; "
                "upload ordinary images"
            )
            raise ArchiveError(msg)
        declared_total += info.file_size
        if declared_total > max_total_bytes:
            msg = (
                f"{label} unpacks to more than the {max_total_bytes:,} bytes allowed; "
                "split it into smaller archives"
            )
            raise ArchiveError(msg)
        wanted.append(info)
    if not any(PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES for info in wanted):
        if not others:
            msg = (
                f"{label} is empty (only folders or system files); upload a zip that holds JPEG or PNG images"
            )
            raise ArchiveError(msg)
        msg = f"{label} holds no images (found {describe_counts(others)}); upload JPEG or PNG images"
        raise ArchiveError(msg)
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
        with archive.open(info) as source, Path(target).open("wb") as sink:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                written += len(chunk)
                total += len(chunk)
                if written > max_entry_bytes or written > max(info.file_size, 0):
                    msg = (
                        f"{label}: {info.filename} unpacks to more bytes than it declares or than the "
                        f"{max_entry_bytes:,} allowed; the archive is unsafe, re-create it"
                    )
                    raise ArchiveError(msg)
                if total > max_total_bytes:
                    msg = (
                        f"{label} unpacks to more than the {max_total_bytes:,} bytes allowed; "
                        "split it into smaller archives"
                    )
                    raise ArchiveError(msg)
                if written > _RATIO_FLOOR and written > max_ratio * max(info.compress_size, 1):
                    msg = (
                        f"{label}: {info.filename} is compressed more than {max_ratio:g}:1, which only a "
                        "zip bomb needs; upload ordinary images"
                    )
                    raise ArchiveError(msg)
                sink.write(chunk)
    except NotImplementedError as exc:
        msg = (
            f"{label}: {info.filename} uses a compression method Python cannot read; "
            "re-create the archive with standard Deflate compression"
        )
        raise ArchiveError(msg) from exc
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, RuntimeError) as exc:
        msg = f"{label} is damaged ({info.filename}: {exc}); re-create the archive"
        raise ArchiveError(msg) from exc
    return total


def is_system_name(parts: list[str]) -> bool:
    """macOS resource forks, hidden files and folders, Windows thumbnails: never a user's images.

    A "." part ("./cat/1.jpg", as some tools write) is the folder itself, not a hidden name.
    """
    return (
        any(part == "__MACOSX" or (part.startswith(".") and part != ".") for part in parts)
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
