"""Decode one untrusted image: an explicit list of formats, caps on pixels, sides and aspect ratio
checked from the header before any pixel is decoded, upright, RGB or L."""

from __future__ import annotations

import io
import math
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from core.errors import ImageError
from core.limits import value as limit_value

__all__ = [
    "ALLOWED_FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "open_image",
]

ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
# 50 MP: any phone photo up to 50 MP (8,160 x 6,120); one decode costs at most about 200 MB, as Pillow
# keeps RGB at 4 bytes a pixel.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Twice the long side of a 50 MP phone photo, and panoramas up to 16,384 x 3,051 within the pixel cap;
# also libwebp's limit (16,383) and the usual GPU texture limit, so an accepted image can be shown.
MAX_IMAGE_SIDE = 16_384
# Preprocessing resizes the short side to about 256 px, so the resized copy holds 256 x 256 x ratio
# pixels: at 20:1 about 5 MB, where a 50,000 x 1 PNG of 131 bytes took 13.6 GB. Phone panoramas,
# even full 360-degree ones, are about 4:1 to 9:1.
MAX_ASPECT_RATIO = 20

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_ALLOWED_TEXT = ", ".join(ALLOWED_FORMATS)
_PIXELS_RE = re.compile(r"\((\d+) pixels\)")
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}  # Pillow converts these only to their straight-alpha twin


def open_image(
    source: bytes | str | Path, *, name: str | None = None, short_side: int | None = None
) -> Image.Image:
    """Decode one untrusted image fully, upright, first frame only, as "RGB" or "L".

    With `short_side`, a JPEG is decoded at a reduced scale (1/2, 1/4, 1/8) as long as its short
    side stays at least that long: a model that resizes to 256 px loses nothing, and decoding is
    several times faster (JPEG draft mode).

    The size is checked from the header before any pixel is decoded: the pixel cap bounds the decode,
    the side and aspect-ratio caps bound what preprocessing makes of it. Every failure becomes an
    ImageError whose message names the file and says what to do.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the uploaded image"
        data = bytes(source)
        if not data:
            msg = f"{label} is empty (0 bytes); upload the image file again"
            raise ImageError(msg)
        stream: io.BytesIO | Path = io.BytesIO(data)
    else:
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            msg = f"{label} does not exist or is not a file; check the path"
            raise ImageError(msg)
        if path.stat().st_size == 0:
            msg = f"{label} is empty (0 bytes); upload the image file again"
            raise ImageError(msg)
        stream = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=ALLOWED_FORMATS) as opened:
                opened.seek(0)
                _check_size(opened.size, label)  # from the header: nothing decoded yet
                if short_side and opened.format == "JPEG":
                    width, height = opened.size
                    scale = short_side / max(1, min(width, height))
                    if scale < 1:
                        opened.draft(opened.mode, (math.ceil(width * scale), math.ceil(height * scale)))
                opened.load()
                image = _upright(opened)
        return _to_rgb_or_l(image, label)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _PIXELS_RE.search(str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        msg = f"{label} has {size}, more than the {_pixel_limit():,} allowed; downscale it first"
        raise ImageError(msg) from exc
    except Image.UnidentifiedImageError as exc:
        msg = (
            f"{label} is not an image in an accepted format (accepted: {_ALLOWED_TEXT}); "
            "upload a photo in one of those formats"
        )
        raise ImageError(msg) from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        msg = f"{label} is damaged or truncated ({exc}); export it again as JPEG or PNG"
        raise ImageError(msg) from exc


def _side_limit() -> int:
    return int(limit_value("image_side"))


def _ratio_limit() -> float:
    return limit_value("aspect_ratio")


def _pixel_limit() -> int:
    """The tool's own cap (OVDASH_MAX_IMAGE_PIXELS), or Pillow's if someone set it lower (tests do);
    never "no limit" if a library cleared Pillow's."""
    ours = int(limit_value("image_pixels"))
    return min(ours, Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else ours


def _check_size(size: tuple[int, int], label: str) -> None:
    """Refuse by the header's size alone: Pillow's own bomb check is a warning that a thread may not
    have turned into an error, and it knows nothing about sides or aspect ratio."""
    width, height = size
    if width < 1 or height < 1:
        msg = f"{label} is {width:,} × {height:,} pixels, which is no image; export it again"
        raise ImageError(msg)
    if width * height > _pixel_limit():
        msg = f"{label} has {width * height:,} pixels, more than the {_pixel_limit():,} allowed; downscale it first"
        raise ImageError(msg)
    ratio = max(width, height) / min(width, height)
    if ratio > _ratio_limit():
        number = f"{ratio:,.0f}" if ratio >= 100 or ratio.is_integer() else f"{ratio:,.1f}"
        shape = f"{number}:1" if width >= height else f"1:{number}"
        msg = (
            f"{label} is {width:,} × {height:,} pixels, an aspect ratio of {shape}; the tool accepts up to "
            f"{_ratio_limit():g}:1 (and sides up to {_side_limit():,} px): crop or resize it first"
        )
        raise ImageError(msg)
    if max(width, height) > _side_limit():
        msg = (
            f"{label} is {width:,} × {height:,} pixels; the tool accepts sides up to {_side_limit():,} px "
            f"(and aspect ratios up to {_ratio_limit():g}:1): resize it first"
        )
        raise ImageError(msg)


def _upright(image: Image.Image) -> Image.Image:
    """A detached copy with EXIF orientation applied; a broken EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # orientation is a nicety, the pixels are already decoded
        return image.copy()


def _to_rgb_or_l(image: Image.Image, label: str) -> Image.Image:
    """Keep grey as "L" (MNIST models take one channel), make the rest "RGB", alpha over white."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # float32 halves the memory of float64; NaN (float TIFFs) would otherwise cast to garbage
        array = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=65535.0, neginf=0.0)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(np.rint(array * np.float32(255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode in _PREMULTIPLIED:
        image = image.convert(_PREMULTIPLIED[image.mode])
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        msg = (
            f"{label} uses the colour mode {image.mode}, which the tool cannot convert to RGB; "
            "export it as an ordinary RGB or greyscale JPEG or PNG"
        )
        raise ImageError(msg) from exc
