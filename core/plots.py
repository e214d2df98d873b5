"""Plotly figures for the dashboard and the report, with one look and one colour per variant.

Figures take typed results (benchmark runs, evaluations, trade-off points) and never run anything.
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

from core.catalog import variant_colour, variant_order, variant_title
from core.machine import machine_text
from core.registry import short_title
from core.results import EvaluationResult, VariantRun
from core.tradeoffs import TradeoffPoint, distinct_values

__all__ = [
    "accuracy_figure",
    "confusion_figure",
    "grid_figure",
    "study_figure",
    "latency_figure",
    "throughput_figure",
    "topk_figure",
    "tradeoff_figure",
]

MODEL_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "pentagon", "hexagon", "star", "triangle-down")
TEMPLATE = "plotly_white"
MAX_BUBBLE_PX = 44
MIN_BUBBLE_PX = 9
LOG_SPREAD = 10.0


def _esc(value) -> str:
    return html.escape(str(value), quote=False)


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
        margin={"l": 60, "r": 30, "t": 56 + 18 * len(lines) + (24 if panels else 0), "b": 50},
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


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks at 1, 2, 5 × 10^k inside [low, high], each labelled in full (no bare '2 5' minor labels)."""
    values = []
    k = math.floor(math.log10(max(low, 1e-9)))
    while 10**k <= high * 10:
        for m in (1, 2, 5):
            v = m * 10**k
            if low <= v <= high:
                values.append(v)
        k += 1
    return values, [f"{v:g}" for v in values]


def _conditions(benchmarks: Sequence[Mapping], *, datasets: Sequence[Mapping] = ()) -> str:
    cpu = _joined(b.get("cpu") or b.get("device_name") or b.get("device") for b in benchmarks)
    hint = _joined(b.get("hint") for b in benchmarks)
    batch = _joined(b.get("batch") for b in benchmarks)
    executed = _joined(b.get("executed_as") or b.get("inference_precision") for b in benchmarks)
    sets = _joined(f"{d.get('name')} ({d.get('size')} images)" for d in datasets if d)
    parts = [
        cpu,
        f"hint {hint}" if hint else "",
        f"batch {batch}" if batch else "",
        f"executed as {executed}" if executed else "",
        f"top-1 on {sets}" if sets else "",
    ]
    return _esc(" · ".join(p for p in parts if p))


def _point_hover(p: TradeoffPoint) -> str:
    b, d = p.benchmark, p.dataset or {}
    lines = [f"<b>{_esc(p.label)}</b>"]
    if p.recipe:
        lines.append(_esc(p.recipe))
    latency = f"median latency {p.latency_ms:.3g} ms"
    if p.latency_iqr_ms is not None:
        latency += f" (IQR {p.latency_iqr_ms:.2g} ms)"
    if p.throughput_fps is not None:
        latency += f" · throughput {p.throughput_fps:.4g} img/s"
    lines.append(latency + ("" if p.stable else " · <b>unstable</b>"))
    ci = f" (95 % CI {p.top1_ci95[0]:.1%}–{p.top1_ci95[1]:.1%})" if p.top1_ci95 else ""
    lines.append(f"top-1 {p.top1:.1%}{ci} on {_esc(d.get('name'))} ({d.get('size')} images)")
    lines.append(f"size {p.size_mib:.2f} MiB" if p.size_mib is not None else "size unknown")
    lines.append(
        _esc(
            f"{b.get('cpu') or b.get('device_name') or b.get('device')} · executed as {b.get('executed_as') or b.get('inference_precision') or '?'}"
            f" · hint {b.get('hint') or 'n/a'} · batch {b.get('batch')} · threads {b.get('threads') or 'auto'}"
            f" · streams {b.get('streams') or 'n/a'}"
        )
    )
    if b.get("created"):
        lines.append(f"benchmarked {_esc(b['created'])} ({_esc(b.get('source') or '')})")
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
    """Latency against top-1, one marker per (model, variant); only points with both figures.

    Bubble area follows model size; unstable figures are hollow; the shaded box is what meets the
    floor and the budget; the Pareto front is a bold step line.
    """
    title = "Speed vs accuracy"
    plotted = [p for p in points if p.complete]
    if not plotted:
        return _empty(title, "No model has both a benchmark and an accuracy yet.")

    latencies = [p.latency_ms for p in plotted] + ([max_latency_ms] if max_latency_ms else [])
    log_x = min(latencies) > 0 and max(latencies) / min(latencies) > LOG_SPREAD
    sizes = [p.size_mib for p in plotted if p.size_mib]
    sizeref = 2.0 * max(sizes) / MAX_BUBBLE_PX**2 if sizes else None
    symbols = {
        m: MODEL_SYMBOLS[i % len(MODEL_SYMBOLS)]
        for i, m in enumerate(dict.fromkeys(p.model_id for p in plotted))
    }

    def bubble_px(p: TradeoffPoint) -> float:
        if sizeref is None or not p.size_mib:
            return 14.0
        return max(math.sqrt(2 * p.size_mib / sizeref), MIN_BUBBLE_PX)

    fig = go.Figure()
    if front:
        fig.add_trace(
            go.Scatter(
                x=[p.latency_ms for p in front],
                y=[p.top1 * 100 for p in front],
                mode="lines",
                name="Pareto front",
                line={"color": "rgba(20, 33, 46, 0.75)", "dash": "dash", "width": 2.5, "shape": "hv"},
                hoverinfo="skip",
            )
        )
    for p in plotted:
        ci = p.top1_ci95 or (p.top1, p.top1)
        symbol = symbols[p.model_id] + ("" if p.stable else "-open")
        fig.add_trace(
            go.Scatter(
                x=[p.latency_ms],
                y=[p.top1 * 100],
                mode="markers",
                name=_esc(p.label) + ("" if p.stable else " (unstable)"),
                legendgroup=p.variant,
                marker={
                    "color": p.colour,
                    "symbol": symbol,
                    "size": [bubble_px(p)],
                    "opacity": 0.85,
                    "line": {
                        "color": p.colour if not p.stable else "white",
                        "width": 2 if not p.stable else 1,
                    },
                },
                error_y={
                    "type": "data",
                    "array": [(ci[1] - p.top1) * 100],
                    "arrayminus": [(p.top1 - ci[0]) * 100],
                    "color": p.colour,
                    "thickness": 1,
                    "width": 0,
                },
                hovertext=[_point_hover(p)],
                hoverinfo="text",
            )
        )
    if recommended is not None and recommended.complete:
        fig.add_trace(
            go.Scatter(
                x=[recommended.latency_ms],
                y=[recommended.top1 * 100],
                mode="markers+text",
                name="Recommended",
                text=["<b>recommended</b>"],
                textposition="bottom center",
                textfont={"size": 12},
                cliponaxis=False,
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
    y_range = [max(0.0, min(lows) - 6), min(103.0, max(highs) + 4)]
    x_lo, x_hi = (min(latencies) / 1.5, max(latencies) * 1.5) if log_x else (0.0, max(latencies) * 1.15)
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
    if log_x:
        ticks, labels = _log_ticks(x_lo, x_hi)
        fig.update_xaxes(
            type="log", range=[math.log10(x_lo), math.log10(x_hi)], tickvals=ticks, ticktext=labels
        )
    else:
        fig.update_xaxes(range=[x_lo, x_hi])
    fig.update_xaxes(title="Median latency per request (ms, lower is better)")
    fig.update_yaxes(title="Top-1 accuracy (%, higher is better)", range=y_range)

    conditions = _conditions([p.benchmark for p in plotted], datasets=[p.dataset for p in plotted])
    limits = [
        f"≥ {min_top1:.1%} top-1" if min_top1 is not None else "",
        f"≤ {max_latency_ms:g} ms" if max_latency_ms else "",
    ]
    limits = [part for part in limits if part]
    legend = "bubble area: model size · bars: 95 % CI · hollow: unstable figure" + (
        f" · shaded: {' and '.join(limits)}" if limits else ""
    )
    return _style(fig, title=title, subtitle=[conditions, legend], height=470)


def _run_labels(runs: Sequence[VariantRun], titles: Mapping[str, str] | None) -> list[str]:
    """Category label per run: the model, plus whichever settings differ between the runs shown."""
    titles = titles or {}
    openvino = [r for r in runs if r.backend.value == "openvino"]
    varies = {
        key: len({str(r.settings.get(key)) for r in (runs if key in ("batch", "created") else openvino)}) > 1
        for key in ("batch", "hint", "streams")
    }
    varies["created"] = len({r.created for r in runs}) > 1
    labels = []
    for run in runs:
        parts = [short_title(titles.get(run.model_id, run.model_id or "model"))]
        if varies["batch"]:
            parts.append(f"batch {run.batch}")
        if run.backend.value == "openvino":
            if varies["hint"]:
                parts.append(str(run.settings.get("hint")))
            if varies["streams"]:
                parts.append(f"{run.settings.get('streams')} streams")
        if varies["created"]:
            parts.append(run.created[5:16].replace("T", " "))
        labels.append(_esc(" · ".join(parts)))
    return labels


def _runs_subtitle(runs: Sequence[VariantRun], extra: str = "", machine: Mapping | None = None) -> str:
    benchmarks = [
        {
            **r.settings,
            "cpu": machine_text(machine) if machine else r.settings.get("device_name"),
            "inference_precision": None,
        }
        for r in runs
    ]
    text = _conditions(benchmarks)
    return f"{text} · {extra}" if extra else text


def _by_variant(runs: Sequence[VariantRun]) -> dict[str, list[VariantRun]]:
    grouped: dict[str, list[VariantRun]] = {}
    for run in runs:
        grouped.setdefault(run.variant, []).append(run)
    return dict(
        sorted(grouped.items(), key=lambda kv: variant_order(kv[0], kv[1][0].backend, kv[1][0].format))
    )


def _series_name(run: VariantRun) -> str:
    name = "PyTorch (reference)" if run.backend.value == "torch" else run.title
    executed = run.settings.get("inference_precision")
    if run.backend.value == "openvino" and executed and executed != run.format.value.replace("fp", "f"):
        name += f" (ran as {run.execution})"
    return _esc(name)


def latency_figure(
    runs: Sequence[VariantRun], *, titles: Mapping[str, str] | None = None, machine: Mapping | None = None
) -> go.Figure:
    """Distribution of single-request latencies per (model, variant), PyTorch in grey as the reference."""
    title = "Latency distribution"
    runs = [r for r in runs if r.latencies_ms]
    if not runs:
        return _empty(title, "No benchmark with per-request latencies yet.")
    labels = dict(zip(map(id, runs), _run_labels(runs, titles), strict=True))
    medians = [r.median_ms for r in runs]
    log_y = min(medians) > 0 and max(medians) / min(medians) > LOG_SPREAD
    fig = go.Figure()
    for variant, group in _by_variant(runs).items():
        xs, ys = [], []
        for run in group:
            xs.extend([labels[id(run)]] * len(run.latencies_ms))
            ys.extend(run.latencies_ms)
        first = group[0]
        fig.add_trace(
            go.Box(
                x=xs,
                y=ys,
                name=_series_name(first) + ("" if all(r.stable for r in group) else " · unstable"),
                marker_color=variant_colour(variant, first.format),
                boxpoints=False,
                line={"width": 1.5},
                fillcolor="rgba(127,127,127,0.25)" if first.backend.value == "torch" else None,
            )
        )
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title="Latency per request (ms)", type="log" if log_y else "linear")
    if log_y:
        ticks, text = _log_ticks(
            min(min(r.latencies_ms) for r in runs) / 1.2, max(max(r.latencies_ms) for r in runs) * 1.2
        )
        fig.update_yaxes(tickvals=ticks, ticktext=text)
    fig.update_xaxes(title=None)
    return _style(
        fig, title=title, subtitle=_runs_subtitle(runs, "synchronous requests after warm-up", machine)
    )


def _reference_for(run: VariantRun, runs: Sequence[VariantRun]) -> VariantRun | None:
    """PyTorch of the same model and batch, measured in the same run (same creation stamp)."""
    for other in runs:
        same_run = (
            other.model_id == run.model_id and other.batch == run.batch and other.created == run.created
        )
        if other.backend.value == "torch" and same_run:
            return other
    return None


def throughput_figure(
    runs: Sequence[VariantRun], *, titles: Mapping[str, str] | None = None, machine: Mapping | None = None
) -> go.Figure:
    """Images per second per run; other variants say how many times PyTorch's, from the same run."""
    title = "Throughput"
    runs = [r for r in runs if r.throughput_fps]
    if not runs:
        return _empty(title, "No benchmark with a throughput yet.")
    labels = dict(zip(map(id, runs), _run_labels(runs, titles), strict=True))
    fig = go.Figure()
    for variant, group in _by_variant(runs).items():
        texts = []
        for r in group:
            reference = _reference_for(r, runs)
            if r.backend.value == "torch" or reference is None:
                texts.append("")
                continue
            ratio = r.throughput_fps / reference.throughput_fps
            texts.append(
                f"×{ratio:.1f} faster than PyTorch" if ratio >= 1 else f"×{1 / ratio:.1f} slower than PyTorch"
            )
        fig.add_trace(
            go.Bar(
                y=[labels[id(r)] for r in group],
                x=[r.throughput_fps for r in group],
                orientation="h",
                name=_series_name(group[0]),
                marker_color=variant_colour(variant, group[0].format),
                text=texts,
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}<br>%{x:.4g} images/s<extra>" + _series_name(group[0]) + "</extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(
        title="Throughput (images/s, higher is better)", range=[0, max(r.throughput_fps for r in runs) * 1.35]
    )
    fig.update_yaxes(title=None, autorange="reversed", automargin=True)
    height = max(350, min(520, 130 + 22 * len(runs)))
    return _style(
        fig, title=title, subtitle=_runs_subtitle(runs, "OpenVINO: requests in flight; others: one after another", machine),
        height=height,
    )  # fmt: skip


def _sort_key(value) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def grid_figure(runs: Sequence[VariantRun], *, titles: Mapping[str, str] | None = None) -> go.Figure:
    """Throughput over batch × streams, one panel per (model, OpenVINO variant), one shared colour scale."""
    title = "Throughput over batch × streams"
    runs = [r for r in runs if r.backend.value == "openvino" and r.throughput_fps]
    if not runs:
        return _empty(title, "No OpenVINO benchmark runs to place on a grid yet.")
    titles = titles or {}
    panels: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    kinds = {}
    for run in runs:  # a later run of the same cell replaces an earlier one
        cell = (str(run.batch), str(run.settings.get("streams") or "auto"))
        panels.setdefault((run.model_id, run.variant), {})[cell] = run.throughput_fps
        kinds[run.variant] = run
    panels = dict(
        sorted(
            panels.items(),
            key=lambda kv: (
                kv[0][0],
                variant_order(kv[0][1], kinds[kv[0][1]].backend, kinds[kv[0][1]].format),
            ),
        )
    )
    names = [
        _esc(f"{short_title(titles.get(model, model))} {kinds[variant].title}") for model, variant in panels
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
    """Top-k classes of one image, one panel per variant side by side, each titled with its time."""
    title = "Top predictions"
    results = [r for r in results if r.get("top")]
    if not results:
        return _empty(title, "No predictions to show.")

    def name(r: Mapping) -> str:
        text = variant_title(r.get("variant") or r.get("precision"), r.get("backend"), r.get("format"))
        return f"{text} · {r['ms']:.1f} ms" if r.get("ms") is not None else text

    fig = make_subplots(
        rows=1, cols=len(results), subplot_titles=[_esc(name(r)) for r in results], horizontal_spacing=0.12
    )
    for col, result in enumerate(results, start=1):
        top = result["top"]
        colour = variant_colour(result.get("variant") or result.get("precision"), result.get("format"))
        fig.add_trace(
            go.Bar(
                x=[t["probability"] * 100 for t in top],
                y=[_esc(t["label"]) for t in top],
                orientation="h",
                marker_color=colour,
                text=[f"{t['probability']:.1%}" for t in top],
                textposition="auto",
                showlegend=False,
                hovertemplate="%{y}: %{x:.2f} %<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title="Probability (%)", range=[0, 100], row=1, col=col)
        fig.update_yaxes(autorange="reversed", automargin=True, row=1, col=col)
    return _style(fig, title=title, height=350, panels=True)


def _evaluation_subtitle(evaluation: EvaluationResult, extra: str = "") -> str:
    parts = [
        machine_text(evaluation.machine) if evaluation.machine else evaluation.device_name,
        f"evaluated {evaluation.created}" if evaluation.created else "",
        extra,
    ]
    return _esc(" · ".join(p for p in parts if p))


def _dataset_line(evaluation: EvaluationResult) -> str:
    return _esc(f"{evaluation.dataset_name} ({evaluation.dataset_size} images)")


def accuracy_figure(evaluation: EvaluationResult) -> go.Figure:
    """Top-1 and top-5 per variant with their Wilson 95 % intervals, on a 0-100 % axis."""
    title = f"Accuracy on {_dataset_line(evaluation)}"
    if not evaluation.trained:
        return _empty(title, "Untrained model: it has no accuracy to show.")
    rows = [s for s in evaluation.results if s.top1 is not None]
    if not rows:
        return _empty(title, "This set has no labels, so no accuracy can be measured on it.")
    rows = sorted(rows, key=lambda s: variant_order(s.variant, s.backend, s.format))
    fig = go.Figure()
    for metric, pattern, opacity in (("top1", "", 1.0), ("top5", "/", 0.55)):
        present = [s for s in rows if getattr(s, metric) is not None]
        if not present:
            continue
        values = [getattr(s, metric) for s in present]
        cis = [getattr(s, f"{metric}_ci95") or (v, v) for s, v in zip(present, values, strict=True)]
        fig.add_trace(
            go.Bar(
                x=[_esc(s.title) for s in present],
                y=[v * 100 for v in values],
                name="Top-1" if metric == "top1" else "Top-5",
                marker={"color": [variant_colour(s.variant, s.format) for s in present], "opacity": opacity},
                marker_pattern_shape=pattern,
                error_y={
                    "type": "data",
                    "array": [(hi - v) * 100 for v, (_, hi) in zip(values, cis, strict=True)],
                    "arrayminus": [(v - lo) * 100 for v, (lo, _) in zip(values, cis, strict=True)],
                    "color": "#333",
                    "thickness": 1.2,
                    "width": 4,
                },
                customdata=[[lo * 100, hi * 100, s.count] for s, (lo, hi) in zip(present, cis, strict=True)],
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
    evaluation: EvaluationResult,
    variant: str,
    *,
    class_names: Sequence[str] | None = None,
    max_classes: int = 20,
) -> go.Figure:
    """True against predicted class; with many classes only the most frequent labelled ones, rest as 'other'."""
    score = next((s for s in evaluation.results if s.variant == variant), None)
    name_of_variant = score.title if score is not None else variant
    title = f"Confusion matrix · {_esc(name_of_variant)} · {_dataset_line(evaluation)}"
    predicted = evaluation.top1_of(variant)
    labels = evaluation.predictions.get("labels") or []
    if not predicted:
        return _empty(title, f"This evaluation has no {_esc(name_of_variant)} predictions.")
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


def study_figure(study) -> go.Figure:
    """Calibration study: top-1 (left) and top-1 agreement with FP32 (right) against the number of
    calibration images, one line per source, FP32 as a horizontal line, 95 % intervals as bands."""
    from core.study import source_label

    title = "Calibration study"
    done = [r for r in study.rows if r.status == "done" and r.top1 is not None]
    if not done:
        return _empty(title, "No quantization of this study has finished yet.")
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["Top-1 accuracy (%)", "Same top-1 as FP32 (%)"],
        horizontal_spacing=0.1,
    )
    palette = (
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#17becf",
        "#bcbd22",
    )
    sources = list(dict.fromkeys(r.source for r in done))
    counts = sorted({r.count for r in done})
    for index, source in enumerate(sources):
        rows = sorted((r for r in done if r.source == source), key=lambda r: r.count)
        colour = palette[index % len(palette)]
        name = _esc(source_label(source))
        for col, value, interval in ((1, "top1", "top1_ci95"), (2, "agreement", "agreement_ci95")):
            xs = [r.count for r in rows if getattr(r, value) is not None]
            ys = [getattr(r, value) * 100 for r in rows if getattr(r, value) is not None]
            bands = [getattr(r, interval) for r in rows if getattr(r, value) is not None]
            if all(b is not None for b in bands) and bands:
                fig.add_trace(
                    go.Scatter(
                        x=xs + xs[::-1], y=[b[1] * 100 for b in bands] + [b[0] * 100 for b in bands][::-1],
                        fill="toself", fillcolor=colour, opacity=0.12, line={"width": 0}, hoverinfo="skip",
                        showlegend=False, legendgroup=name,
                    ),
                    row=1, col=col,
                )  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines+markers", name=name, legendgroup=name, showlegend=col == 1,
                    line={"color": colour, "width": 2}, marker={"size": 8},
                    hovertemplate=f"{name}<br>%{{x}} calibration images<br>%{{y:.1f}} %<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    fp32 = study.fp32.get("top1")
    if fp32 is not None:
        fig.add_hline(y=fp32 * 100, line={"color": "#14212e", "dash": "dash", "width": 1.5}, row=1, col=1,
                      annotation_text=f"FP32 {fp32 * 100:.1f} %", annotation_position="bottom right")  # fmt: skip
    fig.add_hline(y=100, line={"color": "#14212e", "dash": "dot", "width": 1}, row=1, col=2)
    ticks = [c for c in counts]
    for col in (1, 2):
        fig.update_xaxes(
            type="log",
            tickvals=ticks,
            ticktext=[str(t) for t in ticks],
            title="Calibration images",
            row=1,
            col=col,
        )
    fig.update_yaxes(range=[0, 102], row=1, col=1)
    fig.update_yaxes(range=[0, 102], row=1, col=2)
    size = study.dataset.get("size")
    subtitle = _esc(
        f"{study.model_id} · evaluated on {study.dataset.get('name')} ({size} images) · bands: 95 % intervals · "
        f"{machine_text(study.machine) if study.machine else ''}"
    )
    return _style(fig, title=title, subtitle=subtitle, height=430, panels=True)
