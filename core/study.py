"""The calibration study: does my calibration data matter, and how much of it do I need?

For one model and one labelled evaluation set, quantize once per (calibration source × count) and
evaluate every resulting INT8 variant next to FP32: top-1 and top-5 with intervals, and label-free
fidelity (top-1 agreement with FP32, mean top-5 overlap). Every INT8 model made is kept as a variant
named after its recipe (int8-fractal-30), so it also shows on Trade-offs, Accuracy and Benchmark.
The whole study is one job; a failed step is recorded and the study goes on; a cancelled study keeps
the rows it finished. The reading in words is computed from the figures, never canned.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from core.catalog import dataset_info
from core.errors import CoreError, InputError, JobCancelledError
from core.progress import Progress, ProgressCallback, report
from core.results import need
from core.variants import recipe_name
from core.workspace import Workspace, utc_stamp, write_json

__all__ = [
    "DEFAULT_COUNTS",
    "StudyConfig",
    "StudyResult",
    "StudyRow",
    "load_studies",
    "register_cli",
    "run_study",
    "source_label",
    "study_job",
]

DEFAULT_COUNTS = (10, 30, 100)
MAX_STEPS = 60
CLOSE_POINTS = 0.5  # "stays within half a point of FP32"


_DISPLAY = {
    "photos": "built-in photos",
    "mnist": "MNIST digits",
    "fractal": "fractal images",
    "noise": "random noise",
    "distilled": "distilled images",
}


def source_label(ref: str) -> str:
    """'built-in photos', 'fractal images', 'your photos.zip': how a source is named in rows and words."""
    info = dataset_info(ref)
    if info is not None:
        return _DISPLAY.get(info.study_name, info.title)
    return f"your {Path(str(ref)).name}"


@dataclass(frozen=True)
class StudyConfig:
    model_id: str
    sources: tuple[str, ...]
    counts: tuple[int, ...] = DEFAULT_COUNTS
    dataset: str = "builtin:imagenet-samples"
    limit: int | None = None
    backend: str = "openvino"

    def check(self) -> None:
        if not self.sources:
            msg = "a study needs at least one calibration source (e.g. builtin:mnist, builtin:fractal, noise)"
            raise InputError(msg)
        if not self.counts or any(int(c) < 1 for c in self.counts):
            msg = f"counts must be positive numbers of images, not {list(self.counts)}"
            raise InputError(msg)
        steps = len(self.sources) * len(self.counts)
        if steps > MAX_STEPS:
            msg = f"{steps} quantizations is more than the {MAX_STEPS} one study runs; choose fewer sources or counts"
            raise InputError(msg)
        if self.limit is not None and self.limit < 1:
            msg = f"limit must be a positive number of images, not {self.limit}"
            raise InputError(msg)


@dataclass(frozen=True)
class StudyRow:
    """One (source × count): the INT8 variant made and how it compares with FP32 on the same images."""

    source: str
    count: int
    variant: str | None
    status: str  # "done" | "failed" | "skipped"
    top1: float | None = None
    top5: float | None = None
    top1_ci95: tuple[float, float] | None = None
    top5_ci95: tuple[float, float] | None = None
    agreement: float | None = None
    agreement_ci95: tuple[float, float] | None = None
    top5_overlap: float | None = None
    seconds: float | None = None
    calibration_fingerprint: str | None = None
    calibration_size: int | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "label": source_label(self.source),
            "count": self.count,
            "variant": self.variant,
            "status": self.status,
            "top1": self.top1,
            "top5": self.top5,
            "top1_ci95": list(self.top1_ci95) if self.top1_ci95 else None,
            "top5_ci95": list(self.top5_ci95) if self.top5_ci95 else None,
            "agreement": self.agreement,
            "agreement_ci95": list(self.agreement_ci95) if self.agreement_ci95 else None,
            "top5_overlap": self.top5_overlap,
            "seconds": self.seconds,
            "calibration_fingerprint": self.calibration_fingerprint,
            "calibration_size": self.calibration_size,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> StudyRow:
        def pair(key):
            value = data.get(key)
            return (
                (float(value[0]), float(value[1]))
                if isinstance(value, list | tuple) and len(value) == 2
                else None
            )

        return cls(
            source=str(need(data, "source")),
            count=int(need(data, "count")),
            variant=data.get("variant"),
            status=str(data.get("status") or "done"),
            top1=data.get("top1"),
            top5=data.get("top5"),
            top1_ci95=pair("top1_ci95"),
            top5_ci95=pair("top5_ci95"),
            agreement=data.get("agreement"),
            agreement_ci95=pair("agreement_ci95"),
            top5_overlap=data.get("top5_overlap"),
            seconds=data.get("seconds"),
            calibration_fingerprint=data.get("calibration_fingerprint"),
            calibration_size=data.get("calibration_size"),
            reason=str(data.get("reason") or ""),
        )


@dataclass(frozen=True)
class StudyResult:
    model_id: str
    created: str
    config: dict
    dataset: dict
    fp32: dict  # top1, top5, top1_ci95, top5_ci95, count
    rows: tuple[StudyRow, ...]
    complete: bool
    machine: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def done(self) -> list[StudyRow]:
        return [r for r in self.rows if r.status == "done"]

    def to_dict(self) -> dict:
        return {
            "kind": "study",
            "model_id": self.model_id,
            "created": self.created,
            "config": self.config,
            "dataset": self.dataset,
            "fp32": self.fp32,
            "rows": [r.to_dict() for r in self.rows],
            "complete": self.complete,
            "reading": reading(self),
            "machine": self.machine,
            "versions": self.versions,
            "path": self.path,
        }

    def cli_dict(self) -> dict:
        """The `study --json` form."""
        return {
            "model": self.model_id,
            "dataset": self.dataset,
            "fp32": {"top1": self.fp32.get("top1"), "top5": self.fp32.get("top5")},
            "rows": [
                {
                    "source": r.source,
                    "count": r.count,
                    "variant": r.variant,
                    "top1": r.top1,
                    "top5": r.top5,
                    "agreement": r.agreement,
                    "seconds": r.seconds,
                    "status": r.status,
                    "top5_overlap": r.top5_overlap,
                    **({"reason": r.reason} if r.reason else {}),
                }
                for r in self.rows
            ],
            "complete": self.complete,
            "reading": reading(self),
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> StudyResult:
        return cls(
            model_id=str(need(data, "model_id", str)),
            created=str(data.get("created") or ""),
            config=dict(data.get("config") or {}),
            dataset=dict(need(data, "dataset", Mapping)),
            fp32=dict(data.get("fp32") or {}),
            rows=tuple(StudyRow.from_dict(r) for r in need(data, "rows", list)),
            complete=bool(data.get("complete", True)),
            machine=dict(data.get("machine") or {}),
            versions=dict(data.get("versions") or {}),
            path=data.get("_path") or data.get("path"),
        )


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _points(gap: float) -> str:
    """A top-1 gap to FP32 in words: '85.0 points below FP32', '0.5 points above FP32'."""
    if abs(gap) < 0.05:
        return "level with FP32"
    return f"{abs(gap):.1f} points {'below' if gap > 0 else 'above'} FP32"


def reading(result: StudyResult) -> list[str]:
    """What the figures say, in a few sentences computed from them."""
    fp32 = result.fp32.get("top1")
    done = result.done
    if fp32 is None or not done:
        return ["No finished quantization yet: nothing to read."]
    size = result.dataset.get("size") or 0
    sentences = []
    by_source: dict[str, list[StudyRow]] = {}
    for row in done:
        by_source.setdefault(row.source, []).append(row)
    close, far = [], []
    for source, rows in by_source.items():
        rows = sorted(rows, key=lambda r: r.count)
        gaps = [(r.count, (fp32 - r.top1) * 100) for r in rows if r.top1 is not None]
        ok_from = None
        for i, (count, _) in enumerate(gaps):
            if all(abs(g) <= CLOSE_POINTS for _, g in gaps[i:]):
                ok_from = count
                break
        label = source_label(source)
        if ok_from is not None and ok_from == gaps[0][0]:
            close.append(f"{label} (from {_images(ok_from)})")
        elif ok_from is not None:
            sentences.append(
                f"With {ok_from} or more {label} INT8 stays within {CLOSE_POINTS:g} points of FP32."
            )
        elif gaps:
            (first_count, first_gap), (last_count, last_gap) = gaps[0], gaps[-1]
            text = f"{label}: {_points(last_gap)} with {_images(last_count)}"
            if len(gaps) > 1 and abs(first_gap - last_gap) >= 0.05:
                text += f" ({_points(first_gap)} with {_images(first_count)})"
            far.append((last_gap, text))
    if close and not far and len(close) == len(by_source):
        sentences.insert(0, f"Every source keeps INT8 within {CLOSE_POINTS:g} points of FP32 at every count tried: this model "
                         "is insensitive to its calibration data.")  # fmt: skip
    elif close:
        sentences.insert(0, f"Within {CLOSE_POINTS:g} points of FP32 at every count: {', '.join(close)}.")
    for _, text in sorted(far, reverse=True):
        sentences.append(text[0].upper() + text[1:] + ".")
    agreements = [r for r in done if r.agreement is not None]
    if agreements:
        best = max(agreements, key=lambda r: r.agreement)
        worst = min(agreements, key=lambda r: r.agreement)
        if _pct(best.agreement) == _pct(worst.agreement):
            sentences.append(
                f"Label-free fidelity: every INT8 variant gives the same top-1 as FP32 on {_pct(best.agreement)} of the images."
            )
        else:
            sentences.append(
                f"Label-free fidelity: top-1 agreement with FP32 ranges from {_pct(worst.agreement)} "
                f"({source_label(worst.source)}, {worst.count}) to {_pct(best.agreement)} ({source_label(best.source)}, {best.count})."
            )
    if size and size < 100:
        sentences.append(
            f"With {size} evaluation images one image moves top-1 by {100 / size:.0f} points: differences smaller than that "
            "are not evidence; agreement with FP32 says more."
        )
    failed = [r for r in result.rows if r.status != "done"]
    if failed:
        sentences.append(
            f"{len(failed)} step(s) did not run: "
            + "; ".join(f"{source_label(r.source)} × {r.count}: {r.reason}" for r in failed[:3])
            + "."
        )
    if not result.complete:
        sentences.append("The study was stopped before its end: the rows above are the ones it finished.")
    return sentences


def load_studies(workspace: Workspace, model_id: str | None = None):
    from core.results import load_kind

    return load_kind(workspace, "study", StudyResult.from_dict, model_id)


def _check_sources(config: StudyConfig, spec) -> dict[str, str]:
    """Sources that cannot run on this model, with the reason (the others run)."""
    skipped = {}
    for source in config.sources:
        info = dataset_info(source)
        if info is not None and info.needs_batchnorm and spec.batchnorm is False:
            skipped[source] = (
                f"{spec.short_title} has no BatchNorm layers, so there are no statistics to distil images from"
            )
        elif info is not None and info.needs_batchnorm and not spec.has_torch:
            skipped[source] = f"{spec.short_title} has no PyTorch weights here to distil images from"
    return skipped


def run_study(
    config: StudyConfig,
    *,
    workspace: Workspace,
    progress: ProgressCallback | None = None,
    log=None,
) -> StudyResult:
    """Quantize and evaluate every (source × count); the result file is rewritten after every step."""
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.machine import cpu_info
    from core.quantize import QuantizeConfig, quantize_model
    from core.registry import get_model
    from core.workspace import library_versions

    config.check()
    spec = get_model(config.model_id, workspace)
    if not spec.trained:
        msg = f"{spec.id} is untrained: it has no accuracy to keep, so there is nothing to study"
        raise InputError(msg)
    skipped = _check_sources(config, spec)
    steps = [(source, int(count)) for source in config.sources for count in sorted(set(config.counts))]
    path = workspace.root / "results" / "study" / f"{utc_stamp()}-{spec.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    parent = "fp32" if config.backend == "openvino" else "ort-fp32"
    if workspace.variant(spec.id, parent) is None:
        from core.convert import ConvertConfig, convert_model

        report(progress, f"converting to {parent} first")
        convert_model(ConvertConfig(spec.id, variants=(parent,)), workspace=workspace)
    report(progress, "evaluating FP32 on the evaluation set")
    baseline = evaluate_model(
        EvaluateConfig(spec.id, variants=("fp32",), dataset=config.dataset, limit=config.limit),
        workspace=workspace,
    )
    fp32 = baseline.score("fp32")
    result = StudyResult(
        model_id=spec.id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={
            "sources": list(config.sources),
            "counts": sorted(set(config.counts)),
            "dataset": config.dataset,
            "limit": config.limit,
            "backend": config.backend,
        },  # fmt: skip
        dataset=dict(baseline.dataset),
        fp32={
            "top1": fp32.top1,
            "top5": fp32.top5,
            "top1_ci95": list(fp32.top1_ci95 or []) or None,
            "top5_ci95": list(fp32.top5_ci95 or []) or None,
            "count": fp32.count,
        },  # fmt: skip
        rows=(),
        complete=False,
        machine=cpu_info(),
        versions=library_versions(),
        path=str(path),
    )
    if not baseline.labelled:
        msg = f"{baseline.dataset_name} has no labels; a study needs a labelled evaluation set"
        raise InputError(msg)
    write_json(path, result.to_dict())
    rows: list[StudyRow] = []
    step_seconds: list[float] = []
    try:
        for number, (source, count) in enumerate(steps, start=1):
            label = f"step {number}/{len(steps)} · {source_label(source)} × {count}"
            left = ""
            if step_seconds:
                remaining = (sum(step_seconds) / len(step_seconds)) * (len(steps) - number + 1)
                left = (
                    f" · about {remaining / 60:.0f} min left in the study"
                    if remaining >= 90
                    else f" · about {remaining:.0f} s left in the study"
                )

            def forward(event: Progress, label=label, left=left) -> None:
                if progress is not None:
                    progress(replace(event, phase=f"{label}: {event.phase}{left}"))

            if source in skipped:
                rows.append(StudyRow(source, count, None, "skipped", reason=skipped[source]))
                continue
            began = time.perf_counter()
            try:
                quantized = quantize_model(
                    QuantizeConfig(spec.id, calibration=source, subset_size=count, backend=config.backend,
                                   name=recipe_name("int8" if config.backend == "openvino" else "ort-int8", source, count),
                                   replace=True),
                    workspace=workspace,
                    progress=forward,
                )  # fmt: skip
                forward(Progress("evaluating"))
                evaluation = evaluate_model(
                    EvaluateConfig(
                        spec.id,
                        variants=("fp32", quantized.variant),
                        dataset=config.dataset,
                        limit=config.limit,
                    ),
                    workspace=workspace,
                    progress=forward,
                )
            except JobCancelledError:
                raise
            except CoreError as exc:
                rows.append(StudyRow(source, count, None, "failed", reason=str(exc)))
                if log:
                    log(f"{label} failed: {exc}")
                continue
            score = evaluation.score(quantized.variant)
            agree = evaluation.agreement_of("fp32", quantized.variant)
            rows.append(
                StudyRow(
                    source=source,
                    count=count,
                    variant=quantized.variant,
                    status="done",
                    top1=score.top1,
                    top5=score.top5,
                    top1_ci95=score.top1_ci95,
                    top5_ci95=score.top5_ci95,
                    agreement=agree.rate if agree else None,
                    agreement_ci95=agree.ci95 if agree else None,
                    top5_overlap=agree.top5_overlap if agree else None,
                    seconds=quantized.seconds,
                    calibration_fingerprint=quantized.calibration.get("fingerprint"),
                    calibration_size=quantized.calibration.get("size"),
                    reason="; ".join(quantized.notes),
                )
            )
            step_seconds.append(time.perf_counter() - began)
            result = replace(result, rows=tuple(rows))
            write_json(path, result.to_dict())
            if log:
                log(
                    f"{label}: {quantized.variant} top-1 {score.top1:.4f}, agreement {agree.rate if agree else float('nan'):.4f}"
                )
    except (JobCancelledError, KeyboardInterrupt):
        write_json(path, replace(result, rows=tuple(rows), complete=False).to_dict())
        raise
    result = replace(result, rows=tuple(rows), complete=True)
    write_json(path, result.to_dict())
    report(progress, f"done in {time.perf_counter() - started:.0f} s", len(steps), len(steps))
    return result


def study_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in; the study's `--json` form out."""
    from core.jobs import config_from_dict

    study = config_from_dict(StudyConfig, config)
    return run_study(study, workspace=workspace, progress=ctx.progress, log=ctx.log).cli_dict()


def _cmd_study(args, ws: Workspace):
    import sys

    from core.cli import _stderr_progress

    config = StudyConfig(
        model_id=args.model,
        sources=tuple(args.sources),
        counts=tuple(args.counts),
        dataset=args.dataset,
        limit=args.limit,
        backend=args.backend,
    )
    result = run_study(
        config,
        workspace=ws,
        progress=_stderr_progress(args.json),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.json:
        return result.cli_dict()
    print(format_study(result))
    return None


def format_study(result: StudyResult) -> str:
    fp32 = result.fp32
    lines = [
        f"{result.model_id} on {result.dataset.get('name')} ({result.dataset.get('size')} images): FP32 top-1 "
        f"{_pct(fp32['top1'])}, top-5 {_pct(fp32['top5'])}",
        "",
        f"{'source':<16}{'count':>6}  {'variant':<24}{'top-1':>8}{'top-5':>8}{'agree':>8}{'top5 ov':>9}{'s':>7}",
    ]
    for r in result.rows:
        if r.status != "done":
            lines.append(f"{source_label(r.source):<16}{r.count:>6}  {r.status}: {r.reason}")
            continue
        lines.append(
            f"{source_label(r.source):<16}{r.count:>6}  {r.variant:<24}{_pct(r.top1):>8}{_pct(r.top5):>8}"
            f"{_pct(r.agreement) if r.agreement is not None else '-':>8}"
            f"{_pct(r.top5_overlap) if r.top5_overlap is not None else '-':>9}{r.seconds or 0:>7.1f}"
        )
    lines.append("")
    lines.extend(reading(result))
    return "\n".join(lines)


def register_cli(add, variant_options) -> None:
    p = add(
        "study",
        _cmd_study,
        "calibration study: quantize per (source × count) and compare every INT8 variant with FP32",
        "For one model and one labelled evaluation set, quantize once per calibration source and count and evaluate "
        "each INT8 variant next to FP32 (top-1/top-5 with intervals, agreement with FP32, top-5 overlap). Sources: any "
        "calibration reference `quantize` takes (builtin:photos, builtin:mnist, a .zip, a folder, noise), plus "
        "builtin:fractal and builtin:distilled (models with BatchNorm only). Every INT8 model is kept as a variant "
        "named int8-<source>-<count>.",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--sources", nargs="+", required=True, metavar="SRC")
    p.add_argument("--counts", nargs="+", type=int, default=list(DEFAULT_COUNTS), metavar="N")
    p.add_argument(
        "--dataset", required=True, metavar="EVAL", help="labelled evaluation set, e.g. builtin:mnist"
    )
    p.add_argument("--limit", type=int, help="evaluate on at most this many images")
    p.add_argument("--backend", choices=["openvino", "onnxruntime"], default="openvino")


def study_sections(workspace: Workspace, model_ids: Sequence[str] | None, chart) -> list[str]:
    """The latest study of each model, for the HTML report: its table, chart and reading."""
    from html import escape

    from core.plots import study_figure

    latest: dict[str, StudyResult] = {}
    for study in load_studies(workspace):
        if model_ids is None or study.model_id in model_ids:
            latest[study.model_id] = study
    if not latest:
        return []
    parts = ["<section><h2>Calibration studies</h2>"]
    for model_id, study in sorted(latest.items()):
        parts.append(
            f"<h3>{escape(model_id)} · {escape(str(study.dataset.get('name')))} ({study.dataset.get('size')} images)</h3>"
        )
        parts.append(chart(study_figure(study)))
        rows = "".join(
            f"<tr><td>{escape(source_label(r.source))}</td><td class='num'>{r.count}</td><td>{escape(r.variant or r.status)}</td>"
            f"<td class='num'>{_pct(r.top1) if r.top1 is not None else '–'}</td>"
            f"<td class='num'>{_pct(r.agreement) if r.agreement is not None else '–'}</td>"
            f"<td class='num'>{_pct(r.top5_overlap) if r.top5_overlap is not None else '–'}</td>"
            f"<td class='num'>{r.seconds or 0:.1f}</td></tr>"
            for r in study.rows
        )
        parts.append(
            "<div class='table-wrap'><table><thead><tr><th>Source</th><th>Images</th><th>Variant</th><th>Top-1</th>"
            f"<th>Agreement with FP32</th><th>Top-5 overlap</th><th>Quantize (s)</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
        parts.append(
            "<ul class='plain'>" + "".join(f"<li>{escape(s)}</li>" for s in reading(study)) + "</ul>"
        )
        parts.append(
            f"<p class='meta'>FP32 top-1 {_pct(study.fp32['top1'])} on the same images · {escape(study.created)}</p>"
        )
    parts.append("</section>")
    return parts
