"""One self-contained HTML report, and CSV / JSON exports, of what the workspace has measured.

The HTML inlines plotly.js once and loads nothing from the network, so it opens offline, can be
mailed as one file and still shows the same figures years later. Every user-derived string is
escaped: model titles and data set names come from uploads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape

import plotly.graph_objects as go

from core.errors import CoreError
from core.machine import machine_text
from core.plots import accuracy_figure, latency_figure, throughput_figure, tradeoff_figure
from core.registry import short_title
from core.results import BenchmarkResult, EvaluationResult, VariantRun
from core.tradeoffs import (
    TABLE_COLUMNS,
    Recommendation,
    TradeoffPoint,
    TradeoffSet,
    collect,
    distinct_values,
    evaluations_used,
    latest_runs,
    pareto_front,
    points_table,
    recommend,
)
from core.workspace import Workspace

__all__ = ["build_report", "points_csv", "results_json"]

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CSS = """
:root { --ink:#1d2433; --muted:#5b6475; --line:#e3e7ee; --bg:#f6f8fb; --accent:#1f77b4; --ok:#2ca02c;
        --warn:#d62728; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1120px; margin:0 auto; padding:32px 24px 64px; }
header { border-bottom:3px solid var(--accent); margin-bottom:24px; padding-bottom:12px; }
h1 { font-size:28px; margin:0 0 4px; letter-spacing:-0.01em; }
h2 { font-size:20px; margin:36px 0 12px; }
section > h2:first-child { margin-top:14px; }
h3 { font-size:16px; margin:24px 0 8px; }
.meta { color:var(--muted); font-size:13px; margin:2px 0; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:8px 22px 18px;
          margin:18px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.callout { border-left:5px solid var(--ok); background:#f3faf3; padding:12px 16px; border-radius:6px; }
.callout.none { border-left-color:var(--warn); background:#fdf3f3; }
.callout.warn { border-left-color:#e6a700; background:#fff9e6; }
.callout strong { font-size:17px; }
.chart { margin:8px 0 4px; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:8px 0; }
th { text-align:left; font-weight:600; color:var(--muted); border-bottom:2px solid var(--line);
     padding:6px 8px; vertical-align:bottom; }
td { border-bottom:1px solid var(--line); padding:6px 8px; vertical-align:top; }
tr.has-note td { border-bottom:none; }
tr.note td { color:var(--muted); font-size:12px; padding-top:0; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.recommended td { background:#f3faf3; }
tr.recommended:not(.note) td { font-weight:600; }
.table-wrap { overflow-x:auto; }
.notes { color:var(--muted); font-size:12px; }
ul.plain { padding-left:18px; }
footer { color:var(--muted); font-size:12px; margin-top:32px; }
@media print { body { background:#fff; } section { box-shadow:none; } .chart, tr { break-inside:avoid; } }
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _num(value, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _ci(interval) -> str:
    return "–" if not interval else f"{interval[0] * 100:.1f}–{interval[1] * 100:.1f} %"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence],
    *,
    numeric: set[int] = frozenset(),
    classes: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """An HTML table from already formatted cells, every cell escaped here; a row's note spans a line below it."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = classes[i] if i < len(classes) else ""
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if j in numeric else f"<td>{_e(c)}</td>"
            for j, c in enumerate(row)
        )
        note = notes[i] if i < len(notes) else ""
        body.append(f'<tr class="{cls}{" has-note" if note else ""}">{cells}</tr>')
        if note:
            body.append(f'<tr class="note {cls}"><td colspan="{len(headers)}">{_e(note)}</td></tr>')
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


class _Charts:
    """Embeds figures, inlining plotly.js with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        div = fig.to_html(full_html=False, include_plotlyjs=self.first, config=PLOTLY_CONFIG)
        self.first = False
        return f'<div class="chart">{div}</div>'


def _versions(sources: Iterable[Mapping]) -> list[tuple[str, str]]:
    seen: dict[str, list[str]] = {}
    for versions in sources:
        for name, version in (versions or {}).items():
            seen.setdefault(name, [])
            if str(version) not in seen[name]:
                seen[name].append(str(version))
    return [(name, ", ".join(found)) for name, found in seen.items()]


def _recommendation_html(
    rec: Recommendation, *, min_top1: float | None, max_latency_ms: float | None, within: float
) -> str:
    asked = [
        f"top-1 at least {min_top1 * 100:.1f} %"
        if min_top1 is not None
        else f"top-1 within {within:g} point of the best",
        f"median latency at most {max_latency_ms:g} ms"
        if max_latency_ms is not None
        else "no latency budget",
        "stable measurements only",
    ]
    constraints = f'<p class="meta">Asked for: {_e("; ".join(asked))}.</p>'
    reason = _e(rec.reason[:1].upper() + rec.reason[1:])
    if rec.point is None:
        return (
            f'<div class="callout none"><strong>No recommendation</strong><p>{reason}.</p></div>{constraints}'
        )
    return (
        f'<div class="callout"><strong>Use {_e(rec.point.label)}</strong><p>{reason}.</p></div>{constraints}'
    )


def _warnings_html(found: TradeoffSet) -> str:
    """Mixed runs within a model, unstable figures and skipped files, said before any figure."""
    items = []
    for model_id, runs in found.mixed_runs.items():
        names = "; ".join(f"{r['created']} ({', '.join(r['variants'])})" for r in runs)
        items.append(
            f"{model_id}: latencies come from {len(runs)} benchmark runs ({names}); ratios between them compare "
            "different moments of the machine. Measure all variants again in one run to compare them fairly."
        )
    for p in found.unstable:
        items.append(f"{p.label}: unstable ({'; '.join(p.unstable_reasons)}); measure again.")
    for damaged in found.damaged:
        items.append(f"Skipped a damaged result file: {damaged}.")
    if not items:
        return ""
    listed = "".join(f"<li>{_e(item)}</li>" for item in items)
    return f'<div class="callout warn"><strong>Read with care</strong><ul class="plain">{listed}</ul></div>'


def _points_html(points: Sequence[TradeoffPoint], front: Sequence[TradeoffPoint], rec: Recommendation) -> str:
    """The points with their conditions; a CPU shared by every row is named once above the table."""
    table = points_table(points)
    cpus = distinct_values(row["cpu"] or row["device_name"] or row["device"] for row in table)
    per_row_cpu = len(cpus) > 1
    headers = [
        "Model", "Variant", "Recipe", "Median latency (ms)", "IQR (ms)", "Throughput (img/s)", "Top-1", "95 % CI",
        "Size (MiB)", "Pareto", *(["CPU"] if per_row_cpu else []), "Executed as", "Hint", "Batch", "Threads",
        "Data set", "Images",
    ]  # fmt: skip
    rows, classes, notes = [], [], []
    for p, row in zip(points, table, strict=True):
        rows.append(
            [
                row["model"],
                row["precision"],
                row["recipe"] or "–",
                _num(p.latency_ms, 3) + ("" if p.stable or p.latency_ms is None else " (unstable)"),
                _num(p.latency_iqr_ms, 3),
                _num(p.throughput_fps, 1),
                _pct(p.top1),
                _ci(p.top1_ci95),
                _num(p.size_mib, 2),
                "yes" if p in front else "",
                *([row["cpu"] or "–"] if per_row_cpu else []),
                row["executed_as"] or "–",
                row["hint"] or "–",
                row["batch"] if row["batch"] is not None else "–",
                row["threads"] or "auto",
                row["dataset"] or "–",
                row["dataset_size"] if row["dataset_size"] is not None else "–",
            ]
        )
        classes.append("recommended" if rec.point is not None and p == rec.point else "")
        notes.append(f"Note: {row['notes']}" if row["notes"] else "")
    numeric = {3, 4, 5, 6, 7, 8, len(headers) - 3, len(headers) - 1}
    caption = "" if per_row_cpu else f'<p class="meta">All measured on {_e(cpus[0] if cpus else "–")}.</p>'
    return caption + _table(headers, rows, numeric=numeric, classes=classes, notes=notes)


def _comparisons_html(results: Sequence[BenchmarkResult], titles: Mapping) -> str:
    """How many times faster than the reference, from medians of the same run, with the per-round range."""
    rows = []
    for result in results:
        for comp in result.comparisons():
            run = result.run(comp.variant)
            reference = result.run(comp.reference)
            rows.append(
                [
                    short_title(titles.get(result.model_id, result.model_id)),
                    run.title if run else comp.variant,
                    reference.title if reference else comp.reference,
                    f"{comp.ratio:.2f}×",
                    f"{comp.low:.2f}–{comp.high:.2f}×",
                    "yes" if comp.stable else "no: measure again",
                    result.created,
                ]
            )
    if not rows:
        return ""
    headers = ["Model", "Variant", "Against", "Faster by (median)", "Range over rounds", "Stable", "Run"]
    return "<h3>Speed-ups within one run</h3>" + _table(headers, rows, numeric={3, 4})


def _published(workspace: Workspace, model_id: str) -> str:
    from core.registry import get_model

    try:
        spec = get_model(model_id, workspace)
    except CoreError:
        return ""
    if not spec.published_top1:
        return ""
    figures = ", ".join(f"{p.upper()} {v:.1f} %" for p, v in spec.published_top1.items())
    return f"Published top-1: {figures} ({spec.published_source})."


def _accuracy_html(
    workspace: Workspace, evaluations: Mapping[str, list[EvaluationResult]], titles: Mapping, chart
) -> str:
    if not evaluations:
        return "<p>No labelled evaluation yet: accuracy is unknown for every model.</p>"
    parts = []
    for model_id, used in evaluations.items():
        parts.append(f"<h3>{_e(short_title(titles.get(model_id, model_id)))}</h3>")
        for evaluation in used:
            dataset = evaluation.dataset
            where = machine_text(evaluation.machine) if evaluation.machine else evaluation.device_name
            parts.append(
                f'<p class="meta">Data set <b>{_e(evaluation.dataset_name)}</b> ({_e(evaluation.dataset_size)} images) · '
                f"{_e(dataset.get('description') or '')} · {_e(where)} · evaluated {_e(evaluation.created)}</p>"
            )
            parts.append(chart(accuracy_figure(evaluation)))
            rows = [
                [s.title, s.recipe or "–", _pct(s.top1), _ci(s.top1_ci95), _pct(s.top5), _ci(s.top5_ci95), s.count,
                 _num(s.ms_per_image, 2)]
                for s in evaluation.results
            ]  # fmt: skip
            headers = ["Variant", "Recipe", "Top-1", "95 % CI", "Top-5", "95 % CI", "Images", "ms / image"]
            parts.append(_table(headers, rows, numeric={2, 3, 4, 5, 6, 7}))
            if evaluation.agreement_detail:
                pairs = "; ".join(
                    f"{a.a} vs {a.b}: {a.rate * 100:.1f} %"
                    + (f" (top-5 overlap {a.top5_overlap * 100:.0f} %)" if a.top5_overlap is not None else "")
                    for a in evaluation.agreement_detail.values()
                )
                parts.append(f'<p class="meta">Same top-1 class between variants: {_e(pairs)}</p>')
        published = _published(workspace, model_id)
        if published:
            parts.append(f'<p class="meta">{_e(published)}</p>')
    return "".join(parts)


def _runs_table(runs: Sequence[VariantRun], titles: Mapping) -> str:
    headers = [
        "Model", "Variant", "Runtime", "Executed as", "Compile (ms)", "First inference (ms)", "Median (ms)",
        "IQR (ms)", "p90 (ms)", "Latency iterations", "Requests in flight", "Stable", "Measured",
    ]  # fmt: skip
    rows = []
    for run in runs:
        s = run.settings
        rows.append(
            [
                short_title(titles.get(run.model_id, run.model_id)),
                run.title,
                s.get("runtime") or run.backend.value,
                run.execution or "–",
                _num(run.compile_ms, 1),
                _num(run.first_inference_ms, 2),
                _num(run.latency.median, 3),
                _num(run.latency.iqr, 3),
                _num(run.latency.p90, 3),
                run.iterations.get("latency", "–"),
                s.get("nireq") or "–",
                "yes" if run.stable else "no",
                run.created or "–",
            ]
        )
    return _table(headers, rows, numeric={4, 5, 6, 7, 8, 9, 10})


METHOD = """
<ul class="plain">
<li><b>One run per comparison.</b> All variants of a model are measured in one benchmark run, taking turns in
rounds (A B C, B C A, ...), so a disturbance of the machine hits all of them alike. Ratios are medians of the
same run, with the range of the per-round ratios.</li>
<li><b>Stable or not.</b> A variant with fewer than 30 timed iterations, an interquartile range above 25 % of its
median, or rounds whose medians differ more than 1.5× is marked unstable and is never recommended.</li>
<li><b>Compile and first inference apart.</b> Compiling and the first inference are timed and reported on their
own; they never enter the latency or throughput figures.</li>
<li><b>Latency</b> follows OpenVINO's <code>benchmark_app</code>: after warm-up, one synchronous request at a time;
the median, interquartile range and 90th percentile of the per-request times are reported.</li>
<li><b>Throughput</b>: OpenVINO keeps its optimal number of requests in flight (an <code>AsyncInferQueue</code>,
each request with its own input tensor); PyTorch and ONNX Runtime run calls one after another.</li>
<li><b>What executed.</b> FP32 is compiled with <code>INFERENCE_PRECISION_HINT=f32</code>, so a CPU that would run
bf16 does not flatter it. Other variants run as the CPU plugin chooses (bf16 on CPUs with AMX) unless the user
picked; the precision that actually executed is in every table.</li>
<li><b>Accuracy</b> is top-1 / top-5 on the named data set, with Wilson 95 % intervals: on a small set the
interval is wide, and two variants whose intervals overlap are not shown to differ. Agreement with FP32 needs
no labels. Untrained models get no accuracy.</li>
<li><b>Conditions travel with every figure:</b> CPU and its instruction sets, hint, batch, threads, streams, data
set and its size are in the tables and in each chart's subtitle.</li>
</ul>
"""


def build_report(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    min_top1: float | None = None,
    max_latency_ms: float | None = None,
    within_points: float = 1.0,
) -> str:
    """The whole report as one HTML document that needs no network to open."""
    model_ids = list(model_ids) if model_ids is not None else None
    found = collect(workspace, model_ids=model_ids)
    points = list(found.points)
    picked = latest_runs(workspace, model_ids=model_ids)
    runs = [run for run, _ in picked]
    results = list({id(result): result for _, result in picked}.values())
    machines = {machine_text(r.machine) for r in results if r.machine}
    evaluations = evaluations_used(workspace, model_ids=model_ids)
    front = pareto_front(points)
    rec = recommend(points, min_top1=min_top1, max_latency_ms=max_latency_ms, within_points=within_points)
    titles = {p.model_id: p.title for p in points}
    chart = _Charts()

    all_evaluations = [e for used in evaluations.values() for e in used]
    machines |= {machine_text(e.machine) for e in all_evaluations if e.machine}
    devices = sorted(machines) or distinct_values(
        [r.device_name for r in results] + [e.device_name for e in all_evaluations]
    )
    versions = _versions([r.versions for r in runs] + [e.versions for e in all_evaluations])
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    off_chart = [p for p in points if not p.complete]
    machine = (
        results[0].machine if len({machine_text(r.machine) for r in results if r.machine}) == 1 else None
    )

    body = [
        "<header><h1>OpenVINO speed-up report</h1>",
        f'<p class="meta">Generated {_e(generated)} · measured on {_e("; ".join(devices) or "no device yet")}</p>',
        f'<p class="meta">{_e(len({p.model_id for p in points}))} models, {_e(len(points))} model/variant points</p>'
        "</header>",
        "<section><h2>Recommendation</h2>",
        _recommendation_html(rec, min_top1=min_top1, max_latency_ms=max_latency_ms, within=within_points),
        _warnings_html(found),
        "</section>",
        "<section><h2>Speed vs accuracy</h2>",
        chart(
            tradeoff_figure(
                points,
                front=front,
                recommended=rec.point,
                min_top1=min_top1 or rec.floor,
                max_latency_ms=max_latency_ms,
            )
        ),
    ]
    if off_chart:
        items = "".join(
            f"<li>{_e(p.label)}: {_e('; '.join(p.notes) or 'incomplete')}</li>" for p in off_chart
        )
        body.append(
            f'<p class="meta">Not on the chart (latency or accuracy missing):</p><ul class="notes">{items}</ul>'
        )
    body += [
        "<h3>All points and their measurement conditions</h3>",
        _points_html(points, front, rec) if points else "<p>Nothing measured yet.</p>",
        "</section>",
        "<section><h2>Throughput and latency</h2>",
        _comparisons_html(results, titles),
        chart(throughput_figure(runs, titles=titles, machine=machine)),
        chart(latency_figure(runs, titles=titles, machine=machine)),
        "</section>",
        "<section><h2>Accuracy per model</h2>",
        _accuracy_html(workspace, evaluations, titles, chart),
        "</section>",
        *_extra_sections(workspace, model_ids, chart),
        "<section><h2>How these numbers were measured</h2>",
        METHOD,
        "<h3>Benchmark runs used</h3>",
        _runs_table(runs, titles) if runs else "<p>No benchmark runs yet.</p>",
        "<h3>Library versions</h3>",
        _table(["Library", "Version"], versions) if versions else "<p>No versions recorded.</p>",
        "</section>",
        "<footer>Made with the OpenVINO dashboard from results saved in its workspace. Figures are only as "
        "comparable as their conditions: see each table row.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>OpenVINO speed-up report · {_e(generated)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _extra_sections(workspace: Workspace, model_ids, chart) -> list[str]:
    """Sections of the feature modules: calibration studies (and training, when there is any)."""
    from core.study import study_sections

    return study_sections(workspace, model_ids, chart)


def _csv_safe(value):
    """Keep spreadsheets from running a cell as a formula (model names come from uploads)."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def points_csv(points: Iterable[TradeoffPoint]) -> str:
    """The points table as CSV, one row per point, header always present."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in points_table(points):
        writer.writerow({key: _csv_safe(value) for key, value in row.items()})
    return buffer.getvalue()


def _without_local_path(data: Mapping) -> dict:
    """An export to send around should not carry this machine's file paths."""
    return {k: v for k, v in data.items() if k not in ("_path", "path")}


def results_json(workspace: Workspace, model_ids: Iterable[str] | None = None) -> str:
    """Points plus the raw benchmark runs and evaluations they come from, for archiving or other tools."""
    model_ids = list(model_ids) if model_ids is not None else None
    found = collect(workspace, model_ids=model_ids)
    payload = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "points": [
            {**row, "label": p.label} for p, row in zip(found.points, points_table(found.points), strict=True)
        ],
        "runs": [
            {**run.to_dict(), "run": {"created": result.created, "machine": result.machine}}
            for run, result in latest_runs(workspace, model_ids=model_ids)
        ],
        "evaluations": {
            model_id: [_without_local_path(e.to_dict()) for e in used]
            for model_id, used in evaluations_used(workspace, model_ids=model_ids).items()
        },
        "damaged": [str(d) for d in found.damaged],
    }
    return json.dumps(payload, indent=2, default=str)
