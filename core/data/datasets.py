"""One entry point for every kind of image set a command or a page can name."""

from __future__ import annotations

from pathlib import Path

from core.data.builtin import imagenet_samples, mnist_set, noise_set, photo_set
from core.data.imagesets import ImageSet, load_csv, load_folder, load_zip
from core.errors import DatasetError
from core.preprocessing import PreprocessSpec
from core.workspace import Workspace, default_workspace

__all__ = ["load_dataset"]


PURPOSES = ("evaluation", "calibration")
_REF_FORMS = (
    "builtin:imagenet-samples, builtin:mnist, builtin:photos, noise, "
    "a .zip of images, a .csv of file,label rows, or a folder of images"
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
        return photo_set(count, name="built-in photos")
    if text == "noise":
        return noise_set(spec, count)
    if text == "builtin:imagenet-samples":
        if purpose == "calibration":
            return photo_set(
                count,
                name="built-in photos, calibration split of the ImageNet samples",
                extra="The 20 ImageNet samples are kept for evaluation, so INT8 accuracy is never "
                "measured on its own calibration images.",
            )
        found = ImageSet(
            name="built-in ImageNet samples, evaluation split",
            samples=imagenet_samples(),
            description="the 20 ImageNet images that ship with foolbox 3.3.4 (512x512 JPEG, class index in "
            "the file name). Calibration uses other photos (builtin:photos), never these. "
            "With 20 images an accuracy figure has a wide uncertainty.",
        )
    elif text == "builtin:mnist":
        found = mnist_set(purpose)
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
