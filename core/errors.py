"""One exception family for everything the core refuses.

Every message says what was wrong and what to do, so the CLI and the pages can show it as is.
"""

from __future__ import annotations

__all__ = [
    "ArchitectureMismatchError",
    "ArchiveError",
    "CoreError",
    "DamagedFileError",
    "DatasetError",
    "DiskFullError",
    "ImageError",
    "InputError",
    "JobCancelledError",
    "ModelFileError",
    "ModelNotFoundError",
    "UntrainedModelError",
    "WeightsUnavailableError",
    "WorkspaceBusyError",
]


class CoreError(Exception):
    """Base class: a problem the user can act on; the message says how."""


class InputError(CoreError):
    """Something the user gave (a file, an option) cannot be used."""


class ImageError(InputError):
    """An image cannot be read, or is too large, or is not an allowed format."""


class ArchiveError(InputError):
    """A zip archive is empty, corrupt or unsafe (links, absolute or '..' names, bombs)."""


class DatasetError(InputError):
    """A data set holds no usable images, or its labels cannot be read."""


class ModelFileError(InputError):
    """An uploaded model file is of the wrong kind, corrupt or unsafe."""


class ArchitectureMismatchError(ModelFileError):
    """A state dict does not fit the chosen architecture."""


class ModelNotFoundError(CoreError):
    """An unknown model id, or a precision that has not been produced yet."""


class WeightsUnavailableError(CoreError):
    """Pretrained weights are not on this machine (no download at run time)."""


class UntrainedModelError(CoreError):
    """Accuracy was asked of a randomly initialised model: it has none to show."""


class JobCancelledError(CoreError):
    """The user cancelled a running job."""


class DiskFullError(CoreError):
    """The workspace's disk has too little free space for the work asked of it."""


class WorkspaceBusyError(CoreError):
    """Another process holds a lock on what this one wants to change; try again in a moment."""


class DamagedFileError(CoreError):
    """A saved file (result, manifest, job table) cannot be read; it is skipped or moved aside."""
