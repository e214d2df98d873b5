"""The progress events long operations report, so a CLI, a job or a page can show them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "report"]


@dataclass(frozen=True)
class Progress:
    """`phase` names the step; `done` of `total` counts items (images, iterations) when known."""

    phase: str
    done: int | None = None
    total: int | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, phase: str, done=None, total=None, message="") -> None:
    if callback is not None:
        callback(Progress(phase, done, total, message))
