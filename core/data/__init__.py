"""Images in, from anywhere a user or the project can supply them, without trusting any of it.

`images` decodes one untrusted image; `archives` reads an untrusted zip safely; `imagesets` holds
lazily opened samples and the folder / CSV / zip loaders; `builtin` the sets that ship in packages;
`datasets` is the one entry point by reference (`builtin:mnist`, `noise`, a path).
"""

from core.data.archives import ZipMember, extract_zip
from core.data.datasets import load_dataset
from core.data.images import ALLOWED_FORMATS, IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, open_image
from core.data.imagesets import ImageSet, Sample, load_csv, load_folder, load_zip

__all__ = [
    "ALLOWED_FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageSet",
    "Sample",
    "ZipMember",
    "extract_zip",
    "load_csv",
    "load_dataset",
    "load_folder",
    "load_zip",
    "open_image",
]
