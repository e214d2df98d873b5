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
from dataclasses import asdict
from datetime import UTC, datetime
from html import escape

import plotly.graph_objects as go

from core.errors import CoreError
from core.plots import accuracy_figure, latency_figure, throughput_figure, tradeoff_figure
from core.tradeoffs import (
    TABLE_COLUMNS,
    Recommendation,
    TradeoffPoint,
    collect_points,
    distinct_values,
    evaluations_used,
    latest_runs,
    pareto_front,
    points_table,
    precision_name,
    recommend,
    short_title,
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
    for source in sources:
        for name, version in (source.get("versions") or {}).items():
            seen.setdefault(name, [])
            if str(version) not in seen[name]:
                seen[name].append(str(version))
    return [(name, ", ".join(found)) for name, found in seen.items()]


def _recommendation_html(rec: Recommendation, *, min_top1: float | None, max_latency_ms: float | None) -> str:
    asked = [
        f"top-1 at least {min_top1 * 100:.1f} %" if min_top1 is not None else "no accuracy floor",
        f"median latency at most {max_latency_ms:g} ms"
        if max_latency_ms is not None
        else "no latency budget",
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


def _points_html(points: Sequence[TradeoffPoint], front: Sequence[TradeoffPoint], rec: Recommendation) -> str:
    """The points with their conditions; a device shared by every row is named once above the table."""
    table = points_table(points)
    devices = distinct_values(row["device_name"] or row["device"] for row in table)
    per_row_device = len(devices) > 1
    headers = [
        "Model", "Precision", "Median latency (ms)", "Throughput (img/s)", "Top-1", "95 % CI", "Size (MB)",
        "Pareto", *(["Device"] if per_row_device else []), "Hint", "Batch", "Threads", "Streams", "Data set",
        "Images",
    ]  # fmt: skip
    rows, classes, notes = [], [], []
    for p, row in zip(points, table, strict=True):
        rows.append(
            [
                row["model"],
                row["precision"],
                _num(p.latency_ms, 3),
                _num(p.throughput_fps, 1),
                _pct(p.top1),
                _ci(p.top1_ci95),
                _num(p.size_mb, 2),
                "yes" if p in front else "",
                *([row["device_name"] or row["device"] or "–"] if per_row_device else []),
                row["hint"] or "–",
                row["batch"] if row["batch"] is not None else "–",
                row["threads"] or "auto",
                row["streams"] or "–",
                row["dataset"] or "–",
                row["dataset_size"] if row["dataset_size"] is not None else "–",
            ]
        )
        classes.append("recommended" if rec.point is not None and p == rec.point else "")
        notes.append(f"Note: {row['notes']}" if row["notes"] else "")
    numeric = {2, 3, 4, 5, 6, len(headers) - 5, len(headers) - 1}
    caption = (
        "" if per_row_device else f'<p class="meta">All measured on {_e(devices[0] if devices else "–")}.</p>'
    )
    return caption + _table(headers, rows, numeric=numeric, classes=classes, notes=notes)


def _published(workspace: Workspace, model_id: str) -> str:
    from core.registry import get_model  # lazily: the registry's list pulls torchvision in

    try:
        spec = get_model(model_id, workspace)
    except CoreError:
        return ""
    if not spec.published_top1:
        return ""
    figures = ", ".join(f"{precision_name(p)} {v:.1f} %" for p, v in spec.published_top1.items())
    return f"Published top-1: {figures} ({spec.published_source})."


def _accuracy_html(
    workspace: Workspace, evaluations: Mapping[str, list[dict]], titles: Mapping, chart
) -> str:
    if not evaluations:
        return "<p>No labelled evaluation yet: accuracy is unknown for every model.</p>"
    parts = []
    for model_id, used in evaluations.items():
        parts.append(f"<h3>{_e(short_title(titles.get(model_id, model_id)))}</h3>")
        for evaluation in used:
            dataset = evaluation.get("dataset") or {}
            parts.append(
                f'<p class="meta">Data set <b>{_e(dataset.get("name") or dataset.get("ref"))}</b> '
                f"({_e(dataset.get('size'))} images) · {_e(dataset.get('description') or '')} · "
                f"{_e(evaluation.get('device_name') or evaluation.get('device'))} · "
                f"evaluated {_e(evaluation.get('created'))}</p>"
            )
            parts.append(chart(accuracy_figure(evaluation)))
            rows = [
                [
                    precision_name(r.get("precision")),
                    _pct(r.get("top1")),
                    _ci(r.get("top1_ci95")),
                    _pct(r.get("top5")),
                    _ci(r.get("top5_ci95")),
                    r.get("count"),
                    _num(r.get("ms_per_image"), 2),
                ]
                for r in evaluation.get("results") or []
            ]
            headers = ["Precision", "Top-1", "95 % CI", "Top-5", "95 % CI", "Images", "ms / image"]
            parts.append(_table(headers, rows, numeric={1, 2, 3, 4, 5, 6}))
            agreement = evaluation.get("agreement") or {}
            if agreement:
                pairs = "; ".join(f"{pair}: {rate * 100:.1f} %" for pair, rate in agreement.items())
                parts.append(f'<p class="meta">Same top-1 class between precisions: {_e(pairs)}</p>')
        published = _published(workspace, model_id)
        if published:
            parts.append(f'<p class="meta">{_e(published)}</p>')
    return "".join(parts)


def _runs_table(runs: Sequence[Mapping], titles: Mapping) -> str:
    headers = [
        "Model", "Precision", "Compile (ms)", "First inference (ms)", "Median (ms)", "p90 (ms)",
        "Latency iterations", "Throughput iterations", "Requests in flight", "Inference precision", "Measured",
    ]  # fmt: skip
    rows = []
    for run in runs:
        settings = run.get("settings") or {}
        latency = run.get("latency_ms") or {}
        iterations = run.get("iterations") or {}
        rows.append(
            [
                short_title(titles.get(run.get("model_id"), run.get("model_id"))),
                precision_name(run.get("precision")),
                _num(run.get("compile_ms"), 1),
                _num(run.get("first_inference_ms"), 2),
                _num(latency.get("median"), 3),
                _num(latency.get("p90"), 3),
                iterations.get("latency", "–"),
                iterations.get("throughput", "–"),
                settings.get("nireq") or "–",
                settings.get("inference_precision") or "–",
                run.get("created") or "–",
            ]
        )
    return _table(headers, rows, numeric={2, 3, 4, 5, 6, 7, 8})


METHOD = """
<ul class="plain">
<li><b>Compile and first inference apart.</b> Compiling the model and the first inference are timed and
reported on their own; they never enter the latency or throughput figures.</li>
<li><b>Latency</b> follows OpenVINO's <code>benchmark_app</code>: after warm-up, one synchronous request at a time;
the median and the 90th percentile of the per-request times are reported, with their full distribution above.</li>
<li><b>Throughput</b> runs several asynchronous requests in flight (an <code>AsyncInferQueue</code>) for a fixed
time and counts images per second; the PyTorch reference runs eagerly in the same process on the same CPU.</li>
<li><b>FP32 is an honest baseline:</b> FP32 models are compiled with <code>INFERENCE_PRECISION_HINT=f32</code>, so a
CPU that would silently run bf16 does not flatter it. FP16 and INT8 run as the device chooses.</li>
<li><b>Accuracy</b> is top-1 / top-5 on the named data set, with Wilson 95 % intervals: on a small set the
interval is wide, and two precisions whose intervals overlap are not shown to differ. All precisions of a
model are compared on the same images unless a note says otherwise. Untrained models get no accuracy.</li>
<li><b>Conditions travel with every figure:</b> device, performance hint, batch, threads, streams, data set
and its size are in the table and in each chart's subtitle; do not compare figures measured under different
conditions.</li>
</ul>
"""


def build_report(
    workspace: Workspace,
    *,
    model_ids: Iterable[str] | None = None,
    min_top1: float | None = None,
    max_latency_ms: float | None = None,
) -> str:
    """The whole report as one HTML document that needs no network to open."""
    model_ids = list(model_ids) if model_ids is not None else None
    points = collect_points(workspace, model_ids=model_ids)
    runs = latest_runs(workspace, model_ids=model_ids)
    evaluations = evaluations_used(workspace, model_ids=model_ids)
    front = pareto_front(points)
    rec = recommend(points, min_top1=min_top1, max_latency_ms=max_latency_ms)
    titles = {p.model_id: p.title for p in points}
    chart = _Charts()

    all_evaluations = [e for used in evaluations.values() for e in used]
    devices = distinct_values(
        [r.get("device_name") for r in runs] + [e.get("device_name") for e in all_evaluations]
    )
    versions = _versions([*runs, *all_evaluations])
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    off_chart = [p for p in points if not p.complete]

    body = [
        "<header><h1>OpenVINO speed-up report</h1>",
        f'<p class="meta">Generated {_e(generated)} · measured on {_e(", ".join(devices) or "no device yet")}</p>',
        f'<p class="meta">{_e(len({p.model_id for p in points}))} models, {_e(len(points))} model/precision '
        "points</p></header>",
        "<section><h2>Recommendation</h2>",
        _recommendation_html(rec, min_top1=min_top1, max_latency_ms=max_latency_ms),
        "</section>",
        "<section><h2>Speed vs accuracy</h2>",
        chart(
            tradeoff_figure(
                points, front=front, recommended=rec.point, min_top1=min_top1, max_latency_ms=max_latency_ms
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
        chart(throughput_figure(runs, titles=titles)),
        chart(latency_figure(runs, titles=titles)),
        "</section>",
        "<section><h2>Accuracy per model</h2>",
        _accuracy_html(workspace, evaluations, titles, chart),
        "</section>",
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
    points = collect_points(workspace, model_ids=model_ids)
    payload = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "points": [dict(asdict(p), label=p.label) for p in points],
        "runs": [_without_local_path(r) for r in latest_runs(workspace, model_ids=model_ids)],
        "evaluations": {
            model_id: [_without_local_path(e) for e in used]
            for model_id, used in evaluations_used(workspace, model_ids=model_ids).items()
        },
    }
    return json.dumps(payload, indent=2, default=str)
