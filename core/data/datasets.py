"""One entry point for every kind of image set a command or a page can name.

Built-in references are described once in `core.catalog.DATASETS` (title, caption, purposes); this
module maps each to its loader. Anything else is a path: a folder, a CSV of `file,label` rows, or a zip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalog import Purpose, dataset_info, parse_option
from core.data.builtin import imagenet_samples, mnist_set, noise_set, photo_set
from core.data.imagesets import ImageSet, Sample, load_csv, load_folder, load_zip
from core.errors import DatasetError
from core.preprocessing import PreprocessSpec
from core.workspace import Workspace, default_workspace

if TYPE_CHECKING:
    from core.registry import ModelSpec

__all__ = ["DISTILL_STEPS", "load_dataset", "ref_forms"]

DISTILL_STEPS = 50  # Adam steps per batch of distilled images (about 0.5-1 s each on 2 cores for Lite0)
DISTILL_BATCH = 16
DEFAULT_GENERATED = 300

Loader = Callable[..., ImageSet]


def ref_forms() -> str:
    from core.catalog import DATASETS

    return ", ".join(DATASETS) + ", a .zip of images, a .csv of file,label rows, or a folder of images"


def _imagenet(purpose: Purpose, count, spec, model, workspace, progress) -> ImageSet:
    if purpose == Purpose.CALIBRATION:
        return photo_set(
            count,
            name="built-in photos, calibration split of the ImageNet samples",
            extra="The 20 ImageNet samples are kept for evaluation, so INT8 accuracy is never measured on its own "
            "calibration images.",
        )
    return ImageSet(
        name="built-in ImageNet samples, evaluation split",
        samples=imagenet_samples(),
        description="the 20 ImageNet images that ship with foolbox 3.3.4 (512x512 JPEG, class index in the file "
        "name). Calibration uses other photos (builtin:photos), never these. With 20 images an accuracy figure "
        "has a wide uncertainty.",
    )


def _photos(purpose, count, spec, model, workspace, progress) -> ImageSet:
    return photo_set(count, name="built-in photos")


def _mnist(purpose: Purpose, count, spec, model, workspace, progress) -> ImageSet:
    return mnist_set(purpose.value)


def _noise(purpose, count, spec, model, workspace, progress) -> ImageSet:
    return noise_set(spec, count)


def _fractal_image(index: int, size: int, color: str):
    from core.data.synthetic import fractal_image

    return fractal_image(index, size, color)


def _fractals(purpose, count, spec: PreprocessSpec | None, model, workspace, progress) -> ImageSet:
    if spec is None:
        msg = "fractal images are made at a model's input size; pick a model"
        raise DatasetError(msg)
    total = DEFAULT_GENERATED if count is None else count
    if total <= 0:
        msg = f"asked for {total} fractal images; choose a positive count"
        raise DatasetError(msg)
    samples = [
        Sample(name=f"fractal_{i:05d}", load=partial(_fractal_image, i, spec.size, spec.color), label=None)
        for i in range(total)
    ]
    return ImageSet(
        name="fractal images",
        samples=samples,
        description=f"{total} iterated-function-system fractals (FractalDB style: 2-4 random contractive affine maps, "
        f"random colours, black background, seed 0), {spec.size} px {spec.color}: synthetic, non-representative "
        "images for comparison with real ones.",
    )


def _distilled(
    purpose, count, spec, model: ModelSpec | None, workspace: Workspace | None, progress
) -> ImageSet:
    """ZeroQ-style images matched to the model's BatchNorm statistics, made once and kept in the workspace."""
    from core.data.images import open_image
    from core.data.synthetic import distill_images, has_batchnorm
    from core.registry import build_torch_model

    if model is None:
        msg = "distilled images are made from a model's BatchNorm statistics; pick a model"
        raise DatasetError(msg)
    if not model.has_torch:
        msg = f"{model.id} has no PyTorch weights here, so no BatchNorm statistics to distil from"
        raise DatasetError(msg)
    workspace = workspace or default_workspace()
    total = DEFAULT_GENERATED if count is None else count
    if total <= 0:
        msg = f"asked for {total} distilled images; choose a positive count"
        raise DatasetError(msg)
    pre = model.preprocess
    key = hashlib.sha256(
        f"{model.id}|{model.weights}|{model.source_file}|{pre.size}|{DISTILL_STEPS}".encode()
    ).hexdigest()[:12]
    folder = workspace.root / "synthetic" / f"distilled-{model.id}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("distilled_*.png"))
    if len(have) < total:
        module = build_torch_model(model, workspace)
        if not has_batchnorm(module):
            msg = (
                f"{model.id} has no BatchNorm layers, so there are no statistics to match; use real images, "
                "fractal images or noise"
            )
            raise DatasetError(msg)
        missing = total - len(have)

        def report(done: int, steps: int, loss: float) -> None:
            if progress is not None:
                progress(done, steps, loss)

        made = distill_images(
            module, count=missing, size=pre.size, channels=pre.channels, mean=tuple(pre.mean[: pre.channels]),
            std=tuple(pre.std[: pre.channels]), steps=DISTILL_STEPS, batch_size=DISTILL_BATCH, seed=len(have),
            progress=report,
        )  # fmt: skip
        for offset, image in enumerate(made.images):
            path = folder / f"distilled_{len(have) + offset:05d}.png"
            partial_path = path.with_suffix(".part.png")
            image.save(partial_path, format="PNG")
            partial_path.replace(path)
        have = sorted(folder.glob("distilled_*.png"))
    chosen = have[:total]
    samples = [
        Sample(name=p.stem, load=partial(open_image, p, name=p.name), label=None, source=p) for p in chosen
    ]
    return ImageSet(
        name="data-free distilled images",
        samples=samples,
        description=f"{len(samples)} images optimised from noise so every BatchNorm layer of {model.id} sees its stored "
        f"mean and variance (ZeroQ; Adam lr 0.2, {DISTILL_STEPS} steps per batch of {DISTILL_BATCH}); made once and kept "
        "in the workspace. No real image was used.",
    )


_LOADERS: dict[str, Loader] = {
    "builtin:imagenet-samples": _imagenet,
    "builtin:photos": _photos,
    "builtin:mnist": _mnist,
    "noise": _noise,
    "builtin:fractal": _fractals,
    "builtin:distilled": _distilled,
}


def load_dataset(
    ref: str | Path,
    *,
    purpose: str | Purpose = Purpose.EVALUATION,
    workspace: Workspace | None = None,
    count: int | None = None,
    spec: PreprocessSpec | None = None,
    model: ModelSpec | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    extract: bool = True,
) -> ImageSet:
    """One entry point for every kind of image set; `purpose` picks the split of a built-in set.

    `count` sizes the generated sets (photos, noise, fractals, distilled) and takes a deterministic
    subset of any other set. `model` (a ModelSpec) is needed by the distilled set; `spec` (a
    PreprocessSpec) by the generated ones (taken from `model` when not given). `extract=False` refuses
    to unpack a zip that no job has unpacked yet (the web server's way).
    """
    purpose = parse_option(Purpose, purpose, "purpose")
    if spec is None and model is not None:
        spec = model.preprocess
    text = str(ref).strip()
    info = dataset_info(text)
    if info is not None:
        if purpose not in info.purposes:
            uses = " and ".join(p.value for p in info.purposes)
            msg = f"{info.title} ({info.ref}) is for {uses} only, not {purpose.value}; pick another set"
            raise DatasetError(msg)
        found = _LOADERS[info.ref](purpose, count, spec, model, workspace, progress)
        if (
            info.generated
            or info.ref == "builtin:photos"
            or (info.ref == "builtin:imagenet-samples" and purpose == Purpose.CALIBRATION)
        ):
            return found  # made to the count asked for
    elif text.startswith("builtin:"):
        msg = f"unknown built-in set {text!r}; accepted: {ref_forms()}"
        raise DatasetError(msg)
    else:
        found = _load_path(Path(text), workspace, extract)
    return found.subset(count) if count is not None and count < len(found) else found


def _load_path(path: Path, workspace: Workspace | None, extract: bool) -> ImageSet:
    if not path.exists():
        msg = f"{path} does not exist; give one of: {ref_forms()}"
        raise DatasetError(msg)
    if path.is_dir():
        return load_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return load_zip(path, workspace=workspace or default_workspace(), extract=extract)
    if suffix == ".csv":
        return load_csv(path)
    msg = f"{path.name} is not a data set this tool reads; give one of: {ref_forms()}"
    raise DatasetError(msg)
