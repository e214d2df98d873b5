"""The sample images the Classify page offers: a few real photos, the 20 ImageNet samples, and four
held-out MNIST digits, all from packages (no download)."""

from __future__ import annotations

from functools import partial

from core.data.builtin import imagenet_samples, mnist_evaluation_sample, photos
from core.data.imagesets import Sample

__all__ = ["gallery"]

PHOTO_CAPTIONS = {
    "astronaut": "astronaut (Eileen Collins)",
    "chelsea": "chelsea (cat)",
    "coffee": "coffee (cup)",
    "rocket": "rocket (launch)",
}
GALLERY_DIGITS = (0, 3, 7, 9)


def _photo_copy(images: dict, name: str):
    return images[name].copy()


def gallery() -> list[Sample]:
    """Photos first, then the labelled ImageNet samples, then one evaluation digit each of 0, 3, 7, 9."""
    found = dict(photos())
    samples = [
        Sample(name=caption, load=partial(_photo_copy, found, photo), label=None)
        for photo, caption in PHOTO_CAPTIONS.items()
        if photo in found
    ]
    samples.extend(imagenet_samples())
    for digit in GALLERY_DIGITS:
        index, sample = mnist_evaluation_sample(digit)
        samples.append(Sample(name=f"mnist digit {digit} (#{index})", load=sample.load, label=sample.label))
    return samples
