"""Turn a decoded image into the exact tensor one model expects.

Everything a model needs (resize, crop, scaling, channel order) lives in one frozen spec, so the
same numbers drive PyTorch, OpenVINO, calibration and evaluation. The work is split in two: the
geometric part (`to_pixels`: resize and crop, uint8) and the arithmetic part (`normalize`: mean,
scale, layout), which OpenVINO variants do inside the graph instead (see core.backends.openvino).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

__all__ = ["PreprocessSpec", "IMAGENET_TORCHVISION", "tf_efficientnet_lite", "MNIST"]

_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize the short side to `resize`, center-crop `size`, then (x - mean) / std on 0..255."""

    size: int
    resize: int
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    color: str = "RGB"  # "RGB" or "L" (one channel)
    name: str = ""

    @property
    def channels(self) -> int:
        return 1 if self.color == "L" else 3

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.channels, self.size, self.size)

    def to_pixels(self, image: Image.Image, *, fast: bool = False) -> np.ndarray:
        """Resize (short side to `resize`) and center-crop `size`: uint8 (H, W, C), not normalised yet.

        `fast` first shrinks large images by a whole factor (box filter) and then resizes bilinearly;
        the reference (`fast=False`) resizes from the full image with the model's own filter.
        """
        image = image.convert(self.color)
        width, height = image.size
        if fast:
            factor = min(width, height) // self.resize
            if factor >= 2:
                image = image.reduce(factor)
                width, height = image.size
        scale = self.resize / min(width, height)
        new_w, new_h = max(self.size, round(width * scale)), max(self.size, round(height * scale))
        if (new_w, new_h) != (width, height):
            method = Image.Resampling.BILINEAR if fast else _RESAMPLE[self.interpolation]
            image = image.resize((new_w, new_h), method)
        left, top = (new_w - self.size) // 2, (new_h - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        array = np.asarray(image, dtype=np.uint8)
        return array[:, :, None] if array.ndim == 2 else array

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) pixels to the model's float32 (N, C, H, W) input: (x - mean) / std."""
        mean = np.asarray(self.mean[: self.channels], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std[: self.channels], dtype=np.float32).reshape(1, -1, 1, 1)
        array = np.asarray(pixels, dtype=np.float32).transpose(0, 3, 1, 2)
        return np.ascontiguousarray((array - mean) / std)

    def to_array(self, image: Image.Image) -> np.ndarray:
        """One image to a float32 (C, H, W) array: the reference preprocessing."""
        return self.normalize(self.to_pixels(image)[None])[0]

    def batch(self, images: Iterable[Image.Image]) -> np.ndarray:
        """Images to a float32 (N, C, H, W) batch."""
        return np.stack([self.to_array(image) for image in images])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PreprocessSpec:
        data = dict(data)
        data["mean"], data["std"] = tuple(data["mean"]), tuple(data["std"])
        return cls(**data)


IMAGENET_TORCHVISION = PreprocessSpec(
    size=224,
    resize=256,
    interpolation="bilinear",
    mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
    std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
    name="imagenet-torchvision",
)


def tf_efficientnet_lite(size: int) -> PreprocessSpec:
    """TF-style preprocessing of the EfficientNet-Lite checkpoints: bicubic, (x - 127) / 128."""
    return PreprocessSpec(
        size=size,
        resize=round(size / 0.875),
        interpolation="bicubic",
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        name="imagenet-tf-lite",
    )


MNIST = PreprocessSpec(size=28, resize=28, mean=(0.0,), std=(255.0,), color="L", name="mnist")
