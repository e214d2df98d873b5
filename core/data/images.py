"""Decode one untrusted image: an explicit list of formats, a pixel cap, upright, RGB or L."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from core.errors import ImageError

__all__ = ["ALLOWED_FORMATS", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "open_image"]

ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_ALLOWED_TEXT = ", ".join(ALLOWED_FORMATS)
_PIXELS_RE = re.compile(r"\((\d+) pixels\)")


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
