"""Trade-offs: speed against accuracy for every measured model and precision, and which one to ship."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from ui.common import joined, run_safely, workspace

ANY_HINT = "any"
HINTS = (ANY_HINT, "latency", "throughput")


def _seconds_range(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    low, high = min(values), max(values)
    return f"{low:.1f} s" if abs(high - low) < 0.05 else f"{low:.1f}–{high:.1f} s"


def benchmark_batches(results: list[dict]) -> list[int]:
    found = {
        int((run.get("settings") or {}).get("batch") or 1) for r in results for run in r.get("runs") or []
    }
    return sorted(found) or [1]


def filters(model_options: list[str], titles: dict, batches: list[int]) -> dict:
    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 2, 1])
        models = c1.multiselect(
            "Models",
            model_options,
            default=model_options,
            format_func=lambda m: titles.get(m, m),
            key="t-models",
        )
        hint = c2.segmented_control(
            "Benchmark hint",
            HINTS,
            default=ANY_HINT,
            required=True,
            key="t-hint",
            help="Which benchmark runs to use: latency- or throughput-hinted ones, or the latest of either. "
            "PyTorch runs have no hint and always stay as the reference.",
        )
        batch = c3.selectbox(
            "Batch",
            batches,
            index=batches.index(1) if 1 in batches else 0,
            key="t-batch",
            help="Latency is per request: at batch 1 it is the time one image takes.",
        )
        c1, c2 = st.columns([3, 1])
        floor = c1.slider(
            "Accuracy floor (top-1, %)",
            min_value=0.0,
            max_value=100.0,
            value=0.0,
            step=0.1,
            format="%.1f %%",
            key="t-floor",
            help="Only points at or above this top-1 qualify. 0: no floor.",
        )
        budget = c2.number_input(
            "Latency budget (ms)",
            min_value=0.0,
            value=None,
            step=1.0,
            placeholder="no budget",
            key="t-budget",
            help="Only points whose median latency is within this budget qualify.",
        )
    return {
        "models": models,
        "hint": None if hint in (None, ANY_HINT) else hint,
        "batch": int(batch),
        "min_top1": floor / 100 if floor > 0 else None,
        "max_latency_ms": float(budget) if budget else None,
    }


def recommendation(rec) -> None:
    from core.tradeoffs import precision_name

    if rec.point is None:
        st.warning(rec.reason, icon=":material/search_off:")
        return
    p = rec.point
    st.success(f"**Recommended: {p.label}**  \n{rec.reason}", icon=":material/recommend:")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Median latency", f"{p.latency_ms:.3g} ms", border=True)
    ci = f"95 % interval {p.top1_ci95[0]:.1%}–{p.top1_ci95[1]:.1%}" if p.top1_ci95 else None
    c2.metric("Top-1", f"{p.top1:.1%}", help=ci, border=True)
    c3.metric(
        "Throughput", f"{p.throughput_fps:,.0f} img/s" if p.throughput_fps is not None else "—", border=True
    )
    c4.metric(
        "Size",
        f"{p.size_mb:.2f} MB" if p.size_mb is not None else "—",
        help=f"{precision_name(p.precision)} model on disk (IR .xml + .bin)",
        border=True,
    )


def figure_caption(points, runs: list[dict]) -> str:
    complete = [p for p in points if p.complete]
    bench = [p.benchmark for p in complete]
    sets = joined(f"{p.dataset['name']} ({p.dataset['size']} images)" for p in complete if p.dataset)
    durations = _seconds_range([(r.get("duration_s") or {}).get("latency") for r in runs])
    return (
        f"Latency: median of synchronous requests from the latest matching benchmark · "
        f"{joined(b.get('device_name') for b in bench)} · hint {joined(b.get('hint') for b in bench)} · "
        f"batch {joined(b.get('batch') for b in bench)} · threads {joined(b.get('threads') for b in bench)} · "
        f"streams {joined(b.get('streams') for b in bench)} · latency phase {durations}. "
        f"Top-1 from the latest evaluation of each model on {sets}; bars are Wilson 95 % intervals. "
        "The dashed line is the Pareto front: no other point is both faster and more accurate."
    )


def incomplete(points) -> None:
    missing = [p for p in points if not p.complete]
    if not missing:
        return
    with st.container(border=True):
        st.markdown("**:material/visibility_off: Not on the chart**")
        st.caption("These points lack a latency or an accuracy, so they cannot be placed or recommended.")
        st.markdown("\n".join(f"- **{p.label}**: {'; '.join(p.notes) or 'incomplete'}" for p in missing))


def table(points) -> None:
    from core.tradeoffs import points_table

    st.dataframe(
        points_table(points),
        hide_index=True,
        width="stretch",
        column_config={
            "model_id": None,
            "latency_ms": st.column_config.NumberColumn("latency ms", format="%.3f"),
            "throughput_fps": st.column_config.NumberColumn("images/s", format="%.1f"),
            "top1_pct": st.column_config.NumberColumn("top-1 %", format="%.2f"),
            "top1_ci95_low_pct": st.column_config.NumberColumn("CI low %", format="%.2f"),
            "top1_ci95_high_pct": st.column_config.NumberColumn("CI high %", format="%.2f"),
            "size_mb": st.column_config.NumberColumn("size MB", format="%.2f"),
            "dataset_size": st.column_config.NumberColumn("images", format="%d"),
            "notes": st.column_config.TextColumn("notes", width="large"),
        },
    )


def exports(points, chosen: dict) -> None:
    from core.report import build_report, points_csv, results_json

    ws = workspace()
    models = chosen["models"]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    with st.container(horizontal=True, gap="small"):
        st.download_button(
            "HTML report",
            data=lambda: build_report(
                ws, model_ids=models, min_top1=chosen["min_top1"], max_latency_ms=chosen["max_latency_ms"]
            ),
            file_name=f"openvino-report-{stamp}.html",
            mime="text/html",
            icon=":material/description:",
            type="primary",
            on_click="ignore",
            key="t-report",
            help="One self-contained file with the charts, the recommendation and how everything was "
            "measured; opens offline. Uses batch-1 runs of any hint.",
        )
        st.download_button(
            "Points (CSV)",
            data=points_csv(points),
            file_name=f"tradeoff-points-{stamp}.csv",
            mime="text/csv",
            icon=":material/table_view:",
            on_click="ignore",
            key="t-csv",
        )
        st.download_button(
            "Results (JSON)",
            data=lambda: results_json(ws, models),
            file_name=f"openvino-results-{stamp}.json",
            mime="application/json",
            icon=":material/data_object:",
            on_click="ignore",
            key="t-json",
            help="The points with the raw benchmark runs and evaluations behind them.",
        )


def guidance() -> None:
    st.info(
        "Nothing measured yet. A point needs a benchmark (latency) and an evaluation on a labelled set "
        "(accuracy). Run the demo on **Home**, or benchmark and evaluate a model yourself.",
        icon=":material/info:",
    )
    with st.container(horizontal=True):
        st.page_link("app_pages/home.py", label="Home demo", icon=":material/home:")
        st.page_link("app_pages/benchmark.py", label="Benchmark", icon=":material/speed:")
        st.page_link("app_pages/accuracy.py", label="Accuracy", icon=":material/target:")


def page() -> None:
    from core.plots import tradeoff_figure
    from core.tradeoffs import collect_points, latest_runs, pareto_front, recommend

    ws = workspace()
    everything = collect_points(ws, batch=None)
    if not everything:
        guidance()
        return
    titles = {p.model_id: p.title for p in everything}
    chosen = filters(sorted(titles), titles, benchmark_batches(ws.results("benchmark")))
    if not chosen["models"]:
        st.info("Choose at least one model.", icon=":material/filter_alt:")
        return
    points = collect_points(ws, model_ids=chosen["models"], hint=chosen["hint"], batch=chosen["batch"])
    if not points:
        st.info(
            "No benchmark or evaluation matches these filters; try another hint or batch.",
            icon=":material/filter_alt_off:",
        )
        return
    front = pareto_front(points)
    rec = recommend(points, min_top1=chosen["min_top1"], max_latency_ms=chosen["max_latency_ms"])
    recommendation(rec)

    fig = tradeoff_figure(
        points,
        front=front,
        recommended=rec.point,
        min_top1=chosen["min_top1"],
        max_latency_ms=chosen["max_latency_ms"],
    )
    st.plotly_chart(fig, key="t-chart", config={"displaylogo": False})
    runs = latest_runs(ws, model_ids=chosen["models"], hint=chosen["hint"], batch=chosen["batch"])
    st.caption(figure_caption(points, runs))
    incomplete(points)

    st.subheader("All points and their measurement conditions", anchor=False, divider="gray")
    table(points)
    st.subheader("Export", anchor=False, divider="gray")
    exports(points, chosen)


st.title("Trade-offs", anchor=False)
st.caption(
    "Which model and precision is the fastest that is still accurate enough? Every measured point, "
    "the Pareto front, and a recommendation for your accuracy floor and latency budget."
)
run_safely(page)
