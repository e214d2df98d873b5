"""Where two variants part ways: the images whose top-1 differs, with both answers and the truth."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from core.results import EvaluationResult

__all__ = ["Disagreement", "class_name", "disagreement_csv", "disagreements"]


@dataclass(frozen=True)
class Disagreement:
    """One image on which `a` and `b` give a different top-1."""

    index: int
    name: str
    truth: int | None
    a: tuple[int, float | None]  # (class index, confidence)
    b: tuple[int, float | None]


def class_name(names: Sequence[str], index: int | None) -> str:
    if index is None:
        return "—"
    return names[index] if 0 <= index < len(names) else str(index)


def disagreements(evaluation: EvaluationResult, a: str, b: str) -> list[Disagreement]:
    """Every image whose top-1 differs between variants `a` and `b`, in the set's order."""
    predictions = evaluation.predictions
    top1, prob = predictions.get("top1") or {}, predictions.get("prob") or {}
    if a not in top1 or b not in top1:
        return []
    names = predictions.get("names") or []
    labels = predictions.get("labels") or []
    total = len(top1[a])
    prob_a, prob_b = prob.get(a) or [None] * total, prob.get(b) or [None] * total
    found = []
    for i, (x, y) in enumerate(zip(top1[a], top1[b], strict=True)):
        if x != y:
            found.append(
                Disagreement(
                    i,
                    names[i] if i < len(names) else f"image {i}",
                    labels[i] if i < len(labels) else None,
                    (x, prob_a[i]),
                    (y, prob_b[i]),
                )
            )
    return found


def disagreement_csv(rows: Sequence[Disagreement], a: str, b: str, names: Sequence[str]) -> str:
    """The disagreements as CSV: image, true label, each variant's top-1 and confidence."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image", "true label", f"{a} top-1", f"{a} confidence", f"{b} top-1", f"{b} confidence"])
    for row in rows:
        writer.writerow(
            [
                _csv_safe(row.name),
                class_name(names, row.truth) if row.truth is not None else "",
                class_name(names, row.a[0]),
                row.a[1],
                class_name(names, row.b[0]),
                row.b[1],
            ]
        )
    return buffer.getvalue()


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from running an image name as a formula."""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
