"""Plotly figures for the dashboard and the report, with one look and one colour per precision.

Figures take saved results (benchmark runs, evaluations, trade-off points) and never run anything.
Every title names what was measured and on what, so a screenshot cannot lose its conditions.
User-derived strings are HTML-escaped because Plotly renders a subset of HTML in its text.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.tradeoffs import PRECISION_ORDER, TradeoffPoint, distinct_values, precision_name, short_title

__all__ = [
    "PRECISION_COLORS",
    "accuracy_figure",
    "confusion_figure",
    "grid_figure",
    "latency_figure",
    "throughput_figure",
    "topk_figure",
    "tradeoff_figure",
]

PRECISION_COLORS = {"torch": "#7f7f7f", "fp32": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728"}
MODEL_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "pentagon", "hexagon", "star", "triangle-down")
TEMPLATE = "plotly_white"
MAX_BUBBLE_PX = 44
MIN_BUBBLE_PX = 9
LOG_SPREAD = 10.0


def _esc(value) -> str:
    return html.escape(str(value), quote=False)


def _color(precision: str) -> str:
    return PRECISION_COLORS.get(precision, "#9467bd")


def _series_name(precision: str) -> str:
    return "PyTorch (reference)" if precision == "torch" else precision_name(precision)


def _by_precision(items: Iterable, key) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    order = {p: i for i, p in enumerate(PRECISION_ORDER)}
    return dict(sorted(grouped.items(), key=lambda kv: order.get(kv[0], len(order))))


def _style(
    fig: go.Figure, *, title: str, subtitle: str | Sequence[str] = "", height: int = 420, panels: bool = False
) -> go.Figure:
    """The shared look; `panels` leaves room for subplot titles under the subtitle."""
    lines = [subtitle] if isinstance(subtitle, str) else list(subtitle)
    lines = [line for line in lines if line]
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left", "subtitle": {"text": "<br>".join(lines)}},
        height=height,
        margin={"l": 60, "r": 20, "t": 56 + 18 * len(lines) + (24 if panels else 0), "b": 50},
        font={"size": 13},
        hoverlabel={"align": "left"},
    )
    return fig


def _empty(title: str, message: str, *, height: int = 360) -> go.Figure:
    """A figure that says why there is nothing to draw, rather than blank axes."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title=title, height=height)


def _joined(values: Iterable) -> str:
    return " / ".join(distinct_values(values))


def _conditions(benchmarks: Sequence[Mapping], *, datasets: Sequence[Mapping] = ()) -> str:
    device = _joined(b.get("device_name") or b.get("device") for b in benchmarks)
    hint = _joined(b.get("hint") for b in benchmarks)
    batch = _joined(b.get("batch") for b in benchmarks)
    sets = _joined(f"{d.get('name')} ({d.get('size')} images)" for d in datasets if d)
    parts = [
        device,
        f"hint {hint}" if hint else "",
        f"batch {batch}" if batch else "",
        f"top-1 on {sets}" if sets else "",
    ]
    return _esc(" · ".join(p for p in parts if p))


def _point_hover(p: TradeoffPoint) -> str:
    b, d = p.benchmark, p.dataset or {}
    lines = [f"<b>{_esc(p.label)}</b>", f"median latency {p.latency_ms:.3g} ms"]
    if p.throughput_fps is not None:
        lines[-1] += f" · throughput {p.throughput_fps:.4g} img/s"
    ci = f" (95 % CI {p.top1_ci95[0]:.1%}–{p.top1_ci95[1]:.1%})" if p.top1_ci95 else ""
    lines.append(f"top-1 {p.top1:.1%}{ci} on {_esc(d.get('name'))} ({d.get('size')} images)")
    lines.append(f"size {p.size_mb:.2f} MB" if p.size_mb is not None else "size unknown")
    lines.append(
        _esc(
            f"{b.get('device_name') or b.get('device')} · hint {b.get('hint') or 'n/a'} · batch {b.get('batch')}"
            f" · threads {b.get('threads') or 'auto'} · streams {b.get('streams') or 'n/a'}"
        )
    )
    if b.get("created"):
        lines.append(f"benchmarked {_esc(b['created'])}")
    lines.extend(f"note: {_esc(n)}" for n in p.notes)
    return "<br>".join(lines)


def tradeoff_figure(
    points: Sequence[TradeoffPoint],
    *,
    front: Sequence[TradeoffPoint] | None = None,
    recommended: TradeoffPoint | None = None,
    min_top1: float | None = None,
    max_latency_ms: float | None = None,
) -> go.Figure:
    """Latency against top-1, one marker per (model, precision); only points with both figures.

    Bubble area follows model size; the shaded box is what meets the floor and the budget.
    """
    title = "Speed vs accuracy"
    plotted = [p for p in points if p.complete]
    if not plotted:
        return _empty(title, "No model has both a benchmark and an accuracy yet.")

    latencies = [p.latency_ms for p in plotted] + ([max_latency_ms] if max_latency_ms else [])
    log_x = min(latencies) > 0 and max(latencies) / min(latencies) > LOG_SPREAD
    sizes = [p.size_mb for p in plotted if p.size_mb]
    sizeref = 2.0 * max(sizes) / MAX_BUBBLE_PX**2 if sizes else None
    symbols = {
        m: MODEL_SYMBOLS[i % len(MODEL_SYMBOLS)]
        for i, m in enumerate(dict.fromkeys(p.model_id for p in plotted))
    }

    def bubble_px(p: TradeoffPoint) -> float:
        if sizeref is None or not p.size_mb:
            return 14.0
        return max(math.sqrt(2 * p.size_mb / sizeref), MIN_BUBBLE_PX)

    fig = go.Figure()
    for p in plotted:
        ci = p.top1_ci95 or (p.top1, p.top1)
        fig.add_trace(
            go.Scatter(
                x=[p.latency_ms],
                y=[p.top1 * 100],
                mode="markers",
                name=_esc(p.label),
                legendgroup=p.precision,
                marker={
                    "color": _color(p.precision),
                    "symbol": symbols[p.model_id],
                    "size": [bubble_px(p)],
                    "opacity": 0.8,
                    "line": {"color": "white", "width": 1},
                },
                error_y={
                    "type": "data",
                    "array": [(ci[1] - p.top1) * 100],
                    "arrayminus": [(p.top1 - ci[0]) * 100],
                    "color": _color(p.precision),
                    "thickness": 1,
                    "width": 0,
                },
                hovertext=[_point_hover(p)],
                hoverinfo="text",
            )
        )
    if front:
        fig.add_trace(
            go.Scatter(
                x=[p.latency_ms for p in front],
                y=[p.top1 * 100 for p in front],
                mode="lines",
                name="Pareto front",
                line={"color": "#444", "dash": "dash", "width": 1.5, "shape": "hv"},
                hoverinfo="skip",
            )
        )
    if recommended is not None and recommended.complete:
        fig.add_trace(
            go.Scatter(
                x=[recommended.latency_ms],
                y=[recommended.top1 * 100],
                mode="markers+text",
                name="Recommended",
                text=["recommended"],
                textposition="top center",
                marker={
                    "symbol": "circle-open",
                    "size": bubble_px(recommended) + 14,
                    "color": "#111",
                    "line": {"width": 2.5},
                },
                hoverinfo="skip",
            )
        )

    lows = [(p.top1_ci95 or (p.top1,))[0] * 100 for p in plotted] + ([min_top1 * 100] if min_top1 else [])
    highs = [(p.top1_ci95 or (0, p.top1))[1] * 100 for p in plotted]
    y_range = [max(0.0, min(lows) - 3), min(100.5, max(highs) + 3)]
    x_lo, x_hi = (min(latencies) / 1.4, max(latencies) * 1.4) if log_x else (0.0, max(latencies) * 1.12)
    if min_top1 is not None or max_latency_ms is not None:
        fig.add_shape(
            type="rect",
            xref="x",
            yref="y",
            x0=x_lo,
            x1=max_latency_ms if max_latency_ms is not None else x_hi,
            y0=min_top1 * 100 if min_top1 is not None else y_range[0],
            y1=y_range[1],
            fillcolor="rgba(44, 160, 44, 0.09)",
            line={"width": 1, "color": "rgba(44, 160, 44, 0.5)", "dash": "dot"},
            layer="below",
        )
    fig.update_xaxes(
        title="Median latency per request (ms, lower is better)",
        type="log" if log_x else "linear",
        range=[math.log10(x_lo), math.log10(x_hi)] if log_x else [x_lo, x_hi],
    )
    fig.update_yaxes(title="Top-1 accuracy (%, higher is better)", range=y_range)

    conditions = _conditions([p.benchmark for p in plotted], datasets=[p.dataset for p in plotted])
    limits = [
        f"≥ {min_top1:.1%} top-1" if min_top1 is not None else "",
        f"≤ {max_latency_ms:g} ms" if max_latency_ms else "",
    ]
    limits = [part for part in limits if part]
    legend = "bubble area: model size · bars: 95 % CI" + (
        f" · shaded: {' and '.join(limits)}" if limits else ""
    )
    return _style(fig, title=title, subtitle=[conditions, legend], height=450)


def _run_settings(run: Mapping) -> Mapping:
    return run.get("settings") or {}


def _run_labels(runs: Sequence[Mapping], titles: Mapping[str, str] | None) -> list[str]:
    """x-axis label per run: the model, plus whichever settings differ between the runs shown."""
    titles = titles or {}
    openvino = [r for r in runs if r.get("precision") != "torch"]
    varies = {
        key: len({str(_run_settings(r).get(key)) for r in (runs if key == "batch" else openvino)}) > 1
        for key in ("batch", "hint", "streams")
    }
    labels = []
    for run in runs:
        settings = _run_settings(run)
        parts = [short_title(titles.get(run.get("model_id"), run.get("model_id") or "model"))]
        if varies["batch"]:
            parts.append(f"batch {settings.get('batch')}")
        if run.get("precision") != "torch":
            if varies["hint"]:
                parts.append(str(settings.get("hint")))
            if varies["streams"]:
                parts.append(f"{settings.get('streams')} streams")
        labels.append(_esc(" · ".join(parts)))
    return labels


def _runs_subtitle(runs: Sequence[Mapping], extra: str = "") -> str:
    benchmarks = [
        dict(_run_settings(r), device_name=r.get("device_name") or _run_settings(r).get("device_name"))
        for r in runs
    ]
    text = _conditions(benchmarks)
    return f"{text} · {extra}" if extra else text


def latency_figure(runs: Sequence[Mapping], *, titles: Mapping[str, str] | None = None) -> go.Figure:
    """Distribution of single-request latencies per (model, precision), PyTorch in grey as the reference."""
    title = "Latency distribution"
    runs = [r for r in runs if r.get("latencies_ms")]
    if not runs:
        return _empty(title, "No benchmark with per-request latencies yet.")
    labels = dict(zip(map(id, runs), _run_labels(runs, titles), strict=True))
    medians = [(r.get("latency_ms") or {}).get("median") or min(r["latencies_ms"]) for r in runs]
    log_y = min(medians) > 0 and max(medians) / min(medians) > LOG_SPREAD

    fig = go.Figure()
    for precision, group in _by_precision(runs, lambda r: r.get("precision")).items():
        xs, ys = [], []
        for run in group:
            xs.extend([labels[id(run)]] * len(run["latencies_ms"]))
            ys.extend(run["latencies_ms"])
        fig.add_trace(
            go.Box(
                x=xs,
                y=ys,
                name=_series_name(precision),
                marker_color=_color(precision),
                boxpoints=False,
                line={"width": 1.5},
                fillcolor="rgba(127,127,127,0.25)" if precision == "torch" else None,
            )
        )
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title="Latency per request (ms)", type="log" if log_y else "linear")
    fig.update_xaxes(title=None)
    return _style(fig, title=title, subtitle=_runs_subtitle(runs, "synchronous requests after warm-up"))


def _speedup_text(run: Mapping, reference: Mapping | None) -> str:
    if reference is None or not reference.get("throughput_fps") or not run.get("throughput_fps"):
        return ""
    ratio = run["throughput_fps"] / reference["throughput_fps"]
    return f"×{ratio:.1f} faster than PyTorch" if ratio >= 1 else f"×{1 / ratio:.1f} slower than PyTorch"


def throughput_figure(runs: Sequence[Mapping], *, titles: Mapping[str, str] | None = None) -> go.Figure:
    """Images per second per run; OpenVINO bars say how many times faster than PyTorch at the same batch."""
    title = "Throughput"
    runs = [r for r in runs if r.get("throughput_fps") is not None]
    if not runs:
        return _empty(title, "No benchmark with a throughput yet.")
    labels = dict(zip(map(id, runs), _run_labels(runs, titles), strict=True))
    torch_runs = {
        (r.get("model_id"), _run_settings(r).get("batch")): r for r in runs if r.get("precision") == "torch"
    }
    fig = go.Figure()
    for precision, group in _by_precision(runs, lambda r: r.get("precision")).items():
        texts = [
            ""
            if precision == "torch"
            else _speedup_text(r, torch_runs.get((r.get("model_id"), _run_settings(r).get("batch"))))
            for r in group
        ]
        fig.add_trace(
            go.Bar(
                y=[labels[id(r)] for r in group],
                x=[r["throughput_fps"] for r in group],
                orientation="h",
                name=_series_name(precision),
                marker_color=_color(precision),
                text=texts,
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}<br>%{x:.4g} images/s<extra>" + _series_name(precision) + "</extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(
        title="Throughput (images/s, higher is better)",
        range=[0, max(r["throughput_fps"] for r in runs) * 1.3],
    )
    fig.update_yaxes(title=None, autorange="reversed", automargin=True)  # first model and PyTorch on top
    height = max(350, min(450, 130 + 22 * len(runs)))
    return _style(
        fig, title=title, subtitle=_runs_subtitle(runs, "asynchronous requests in flight"), height=height
    )


def _sort_key(value) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def grid_figure(runs: Sequence[Mapping], *, titles: Mapping[str, str] | None = None) -> go.Figure:
    """Throughput over batch × streams, one panel per (model, OpenVINO precision), one shared colour scale."""
    title = "Throughput over batch × streams"
    runs = [r for r in runs if r.get("precision") != "torch" and r.get("throughput_fps") is not None]
    if not runs:
        return _empty(title, "No OpenVINO benchmark runs to place on a grid yet.")
    titles = titles or {}
    panels: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for run in runs:  # a later run of the same cell replaces an earlier one
        settings = _run_settings(run)
        cell = (str(settings.get("batch")), str(settings.get("streams") or "auto"))
        panels.setdefault((run.get("model_id"), run.get("precision")), {})[cell] = run["throughput_fps"]
    panels = dict(
        sorted(
            panels.items(),
            key=lambda kv: (kv[0][0], PRECISION_ORDER.index(kv[0][1]) if kv[0][1] in PRECISION_ORDER else 9),
        )
    )
    names = [
        _esc(f"{short_title(titles.get(model, model))} {precision_name(precision)}")
        for model, precision in panels
    ]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=names, horizontal_spacing=0.08)
    for col, cells in enumerate(panels.values(), start=1):
        batches = sorted({b for b, _ in cells}, key=_sort_key)
        streams = sorted({s for _, s in cells}, key=_sort_key)
        z = [[cells.get((b, s)) for s in streams] for b in batches]
        fig.add_trace(
            go.Heatmap(
                x=streams,
                y=batches,
                z=z,
                coloraxis="coloraxis",
                text=[[f"{v:.0f}" if v is not None else "" for v in row] for row in z],
                texttemplate="%{text}",
                hovertemplate="batch %{y}, %{x} streams<br>%{z:.4g} images/s<extra></extra>",
                xgap=2,
                ygap=2,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title="Streams", type="category", row=1, col=col)
        fig.update_yaxes(title="Batch" if col == 1 else None, type="category", row=1, col=col)
    fig.update_layout(coloraxis={"colorscale": "Blues", "colorbar": {"title": {"text": "images/s"}}})
    return _style(fig, title=title, subtitle=_runs_subtitle(runs), panels=True)


def topk_figure(results: Sequence[Mapping]) -> go.Figure:
    """Top-k classes of one image, one panel per precision side by side, each titled with its time."""
    title = "Top predictions"
    results = [r for r in results if r.get("top")]
    if not results:
        return _empty(title, "No predictions to show.")
    names = [
        f"{_series_name(r['precision'])} · {r['ms']:.1f} ms"
        if r.get("ms") is not None
        else _series_name(r["precision"])
        for r in results
    ]
    fig = make_subplots(rows=1, cols=len(results), subplot_titles=names, horizontal_spacing=0.12)
    for col, result in enumerate(results, start=1):
        top = result["top"]
        fig.add_trace(
            go.Bar(
                x=[t["probability"] * 100 for t in top],
                y=[_esc(t["label"]) for t in top],
                orientation="h",
                marker_color=_color(result["precision"]),
                text=[f"{t['probability']:.1%}" for t in top],
                textposition="auto",
                name=_series_name(result["precision"]),
                showlegend=False,
                hovertemplate="%{y}: %{x:.2f} %<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title="Probability (%)", range=[0, 100], row=1, col=col)
        fig.update_yaxes(autorange="reversed", automargin=True, row=1, col=col)
    return _style(fig, title=title, height=350, panels=True)


def _evaluation_subtitle(evaluation: Mapping, extra: str = "") -> str:
    parts = [
        evaluation.get("device_name") or evaluation.get("device"),
        f"evaluated {evaluation['created']}" if evaluation.get("created") else "",
        extra,
    ]
    return _esc(" · ".join(p for p in parts if p))


def _dataset_line(evaluation: Mapping) -> str:
    dataset = evaluation.get("dataset") or {}
    return _esc(
        f"{dataset.get('name') or dataset.get('ref') or 'unnamed set'} ({dataset.get('size')} images)"
    )


def accuracy_figure(evaluation: Mapping) -> go.Figure:
    """Top-1 and top-5 per precision with their Wilson 95 % intervals, on a 0-100 % axis."""
    title = f"Accuracy on {_dataset_line(evaluation)}"
    if evaluation.get("trained") is False:
        return _empty(title, "Untrained model: it has no accuracy to show.")
    rows = [r for r in evaluation.get("results") or [] if r.get("top1") is not None]
    if not rows:
        return _empty(title, "This set has no labels, so no accuracy can be measured on it.")
    rows = list(_by_precision(rows, lambda r: r["precision"]).values())
    rows = [group[-1] for group in rows]
    fig = go.Figure()
    for metric, pattern, opacity in (("top1", "", 1.0), ("top5", "/", 0.55)):
        present = [r for r in rows if r.get(metric) is not None]
        if not present:
            continue
        cis = [r.get(f"{metric}_ci95") or (r[metric], r[metric]) for r in present]
        fig.add_trace(
            go.Bar(
                x=[precision_name(r["precision"]) for r in present],
                y=[r[metric] * 100 for r in present],
                name="Top-1" if metric == "top1" else "Top-5",
                marker={"color": [_color(r["precision"]) for r in present], "opacity": opacity},
                marker_pattern_shape=pattern,
                error_y={
                    "type": "data",
                    "array": [(hi - r[metric]) * 100 for r, (_, hi) in zip(present, cis, strict=True)],
                    "arrayminus": [(r[metric] - lo) * 100 for r, (lo, _) in zip(present, cis, strict=True)],
                    "color": "#333",
                    "thickness": 1.2,
                    "width": 4,
                },
                customdata=[
                    [lo * 100, hi * 100, r.get("count")] for r, (lo, hi) in zip(present, cis, strict=True)
                ],
                hovertemplate=(
                    "%{x} %{fullData.name}: %{y:.1f} %<br>95 % CI %{customdata[0]:.1f}–%{customdata[1]:.1f} %"
                    "<br>%{customdata[2]} images<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(title="Accuracy (%)", range=[0, 100])
    fig.update_xaxes(title=None)
    return _style(fig, title=title, subtitle=_evaluation_subtitle(evaluation, "bars: Wilson 95 % intervals"))


def confusion_figure(
    evaluation: Mapping,
    precision: str,
    *,
    class_names: Sequence[str] | None = None,
    max_classes: int = 20,
) -> go.Figure:
    """True against predicted class; with many classes only the most frequent labelled ones, rest as 'other'."""
    title = f"Confusion matrix · {precision_name(precision)} · {_dataset_line(evaluation)}"
    predictions = evaluation.get("predictions") or {}
    predicted = (predictions.get("top1") or {}).get(precision)
    labels = predictions.get("labels") or []
    if not predicted:
        return _empty(title, f"This evaluation has no {precision_name(precision)} predictions.")
    pairs = [(t, p) for t, p in zip(labels, predicted, strict=False) if t is not None]
    if not pairs:
        return _empty(title, "This set has no labels, so there is nothing to compare predictions with.")

    if class_names and len(class_names) <= max_classes:
        classes = list(range(len(class_names)))
    else:
        frequent = Counter(t for t, _ in pairs).most_common(max_classes)
        classes = sorted(t for t, _ in frequent)
    index = {c: i for i, c in enumerate(classes)}
    other = any(t not in index or p not in index for t, p in pairs)
    size = len(classes) + int(other)
    z = [[0] * size for _ in range(size)]
    for t, p in pairs:
        z[index.get(t, size - 1)][index.get(p, size - 1)] += 1

    def name(c) -> str:
        if class_names and isinstance(c, int) and 0 <= c < len(class_names):
            return _esc(class_names[c])
        return _esc(c)

    axis = [name(c) for c in classes] + (["other"] if other else [])
    correct = sum(z[i][i] for i in range(len(classes)))
    fig = go.Figure(
        go.Heatmap(
            x=axis,
            y=axis,
            z=z,
            colorscale="Blues",
            text=[[str(v) if v else "" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
            colorbar={"title": {"text": "images"}},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(title="Predicted class", type="category", tickangle=-45 if size > 10 else 0)
    fig.update_yaxes(title="True class", type="category", autorange="reversed")
    shown = "" if not other else f"{len(classes)} most frequent classes, the rest as 'other' · "
    extra = f"{shown}diagonal: {correct} of {len(pairs)} correct"
    return _style(fig, title=title, subtitle=_evaluation_subtitle(evaluation, extra), height=450)
