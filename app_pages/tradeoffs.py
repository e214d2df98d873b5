"""Trade-offs: speed against accuracy for every measured variant of every model, and which one to ship."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from core.results import load_benchmarks
from ui import state
from ui.format import fmt_time, joined, safe
from ui.page import page_setup, run_safely, show_damaged
from ui.services import jobs, workspace

ANY_HINT = "any"
HINTS = (ANY_HINT, "latency", "throughput")
FLOOR_MODES = {"within": "within N points of the best", "absolute": "at least N % top-1"}


def benchmark_batches() -> list[int]:
    found = {run.batch for result in load_benchmarks(workspace()) for run in result.runs}
    return sorted(found) or [1]


def filters(model_options: list[str], titles: dict, batches: list[int]) -> dict:
    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 2, 1])
        models = c1.multiselect("Models", model_options, default=model_options, format_func=lambda m: titles.get(m, m),
                                key=state.TRADEOFFS_MODELS)  # fmt: skip
        hint = c2.segmented_control(
            "Benchmark hint", HINTS, default=ANY_HINT, required=True, key="t-hint",
            help="Which benchmark runs to use: latency- or throughput-hinted ones, or the latest of either. PyTorch and "
            "ONNX Runtime runs have no hint and always stay as references.",
        )  # fmt: skip
        batch = c3.selectbox("Batch", batches, index=batches.index(1) if 1 in batches else 0, key="t-batch",
                             help="Latency is per request: at batch 1 it is the time one image takes.")  # fmt: skip
        c1, c2, c3 = st.columns([2, 2, 1])
        mode = c1.radio("Accuracy floor", list(FLOOR_MODES), format_func=FLOOR_MODES.get, horizontal=True, key="t-floor-mode",
                        help="By default the recommendation stays within 1 point of the most accurate variant, so it never "
                        "trades real accuracy for speed unless you ask.")  # fmt: skip
        if mode == "within":
            within = c2.number_input(
                "Points below the best", min_value=0.0, max_value=100.0, value=1.0, step=0.5, key="t-within"
            )
            floor = None
        else:
            floor = c2.number_input(
                "Top-1 at least (%)", min_value=0.0, max_value=100.0, value=70.0, step=0.5, key="t-floor"
            )
            within = 1.0
        budget = c3.number_input("Latency budget (ms)", min_value=0.0, value=None, step=1.0, placeholder="no budget", key="t-budget",
                                 help="Only points whose median latency is within this budget qualify.")  # fmt: skip
    return {
        "models": models,
        "hint": None if hint in (None, ANY_HINT) else hint,
        "batch": int(batch),
        "min_top1": floor / 100 if floor is not None else None,
        "within": float(within),
        "max_latency_ms": float(budget) if budget else None,
    }


def recommendation(rec) -> None:
    if rec.point is None:
        st.warning(safe(rec.reason[:1].upper() + rec.reason[1:]), icon=":material/search_off:")
        return
    p = rec.point
    st.success(f"**Recommended: {safe(p.label)}**  \n{safe(rec.reason)}", icon=":material/recommend:")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Median latency",
        f"{p.latency_ms:.3g} ms",
        border=True,
        help=f"executed as {p.benchmark.get('executed_as') or '?'}",
    )
    ci = f"95 % interval {p.top1_ci95[0]:.1%}–{p.top1_ci95[1]:.1%}" if p.top1_ci95 else None
    c2.metric("Top-1", f"{p.top1:.1%}", help=ci, border=True)
    c3.metric(
        "Throughput", f"{p.throughput_fps:,.0f} img/s" if p.throughput_fps is not None else "—", border=True
    )
    c4.metric(
        "Size",
        f"{p.size_mib:.2f} MiB" if p.size_mib is not None else "—",
        help="model files on disk",
        border=True,
    )


def warnings(found, chosen: dict) -> None:
    """Runs mixed within a model, and unstable figures: said before the chart, with a way to fix them."""
    for model_id, runs in found.mixed_runs.items():
        listed = "; ".join(f"{fmt_time(r['created'])}: {', '.join(r['variants'])}" for r in runs)
        st.info(f"**{safe(model_id)}**: latencies come from {len(runs)} benchmark runs ({safe(listed)}). Ratios between "
                "runs compare different moments of the machine.", icon=":material/call_split:")  # fmt: skip
        if st.button(
            f"Measure all variants of {model_id} again, in one run",
            icon=":material/replay:",
            key=f"t-again-{model_id}",
        ):
            variants = sorted(
                {p.variant for p in found.points if p.model_id == model_id and p.latency_ms is not None}
            )
            config = {
                "model_id": model_id,
                "variants": variants,
                "batch": chosen["batch"],
                "hint": chosen["hint"] or "latency",
            }
            if run_safely(
                jobs().submit, "benchmark", config, title=f"Benchmark {model_id}: all variants in one run"
            ):
                st.toast("Benchmark queued; follow it on Jobs.", icon=":material/speed:")
    unstable = found.unstable
    if unstable:
        st.warning(
            "Unstable figures (hollow markers), never recommended: "
            + "; ".join(f"{safe(p.label)} ({safe('; '.join(p.unstable_reasons))})" for p in unstable)
            + ". Measure them again with nothing else running.",
            icon=":material/warning:",
        )


def figure_caption(points) -> str:
    complete = [p for p in points if p.complete]
    bench = [p.benchmark for p in complete]
    sets = joined(f"{p.dataset['name']} ({p.dataset['size']} images)" for p in complete if p.dataset)
    isa = joined(", ".join(b.get("isa") or []) for b in bench)
    return safe(
        f"Latency: median of synchronous requests from the benchmark run each point names (hover) · "
        f"{joined(b.get('cpu') for b in bench)} ({isa}) · executed as {joined(b.get('executed_as') for b in bench)} · "
        f"hint {joined(b.get('hint') for b in bench)} · batch {joined(b.get('batch') for b in bench)} · threads "
        f"{joined(b.get('threads') for b in bench)}. Top-1 from the latest evaluation of each model on {sets}; bars are Wilson "
        "95 % intervals. The dashed line is the Pareto front: no other point is both faster and more accurate."
    )


def incomplete(points) -> None:
    missing = [p for p in points if not p.complete]
    if not missing:
        return
    with st.container(border=True):
        st.markdown("**:material/visibility_off: Not on the chart**")
        st.caption("These points lack a latency or an accuracy, so they cannot be placed or recommended.")
        st.markdown(
            "\n".join(f"- **{safe(p.label)}**: {safe('; '.join(p.notes) or 'incomplete')}" for p in missing)
        )


def table(points) -> None:
    from core.tradeoffs import points_table

    st.dataframe(
        points_table(points),
        hide_index=True,
        width="stretch",
        column_config={
            "model_id": None,
            "variant": None,
            "latency_ms": st.column_config.NumberColumn("latency ms", format="%.3f"),
            "latency_iqr_ms": st.column_config.NumberColumn("IQR ms", format="%.3f"),
            "throughput_fps": st.column_config.NumberColumn("images/s", format="%.1f"),
            "top1_pct": st.column_config.NumberColumn("top-1 %", format="%.2f"),
            "top1_ci95_low_pct": st.column_config.NumberColumn("CI low %", format="%.2f"),
            "top1_ci95_high_pct": st.column_config.NumberColumn("CI high %", format="%.2f"),
            "size_mib": st.column_config.NumberColumn("size MiB", format="%.2f"),
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
            data=lambda: build_report(ws, model_ids=models, min_top1=chosen["min_top1"], max_latency_ms=chosen["max_latency_ms"],
                                      within_points=chosen["within"]),
            file_name=f"openvino-report-{stamp}.html", mime="text/html", icon=":material/description:", type="primary",
            on_click="ignore", key="t-report",
            help="One self-contained file with the charts, the recommendation and how everything was measured; opens offline.",
        )  # fmt: skip
        st.download_button("Points (CSV)", data=points_csv(points), file_name=f"tradeoff-points-{stamp}.csv", mime="text/csv",
                           icon=":material/table_view:", on_click="ignore", key="t-csv")  # fmt: skip
        st.download_button("Results (JSON)", data=lambda: results_json(ws, models), file_name=f"openvino-results-{stamp}.json",
                           mime="application/json", icon=":material/data_object:", on_click="ignore", key="t-json",
                           help="The points with the raw benchmark runs and evaluations behind them.")  # fmt: skip


def guidance() -> None:
    st.info("Nothing measured yet. A point needs a benchmark (latency) and an evaluation on a labelled set (accuracy). "
            "Run the demo on **Home**, or benchmark and evaluate a model yourself.", icon=":material/info:")  # fmt: skip
    with st.container(horizontal=True):
        st.page_link("app_pages/home.py", label="Home demo", icon=":material/home:")
        st.page_link("app_pages/benchmark.py", label="Benchmark", icon=":material/speed:")
        st.page_link("app_pages/accuracy.py", label="Accuracy", icon=":material/target:")


def page() -> None:
    from core.plots import tradeoff_figure
    from core.tradeoffs import collect, pareto_front, recommend

    ws = workspace()
    everything = collect(ws, batch=None)
    show_damaged(everything.damaged)
    if not everything.points:
        guidance()
        return
    titles = {p.model_id: p.title for p in everything.points}
    chosen = filters(sorted(titles), titles, benchmark_batches())
    if not chosen["models"]:
        st.info("Choose at least one model.", icon=":material/filter_alt:")
        return
    found = collect(ws, model_ids=chosen["models"], hint=chosen["hint"], batch=chosen["batch"])
    points = list(found.points)
    if not points:
        st.info(
            "No benchmark or evaluation matches these filters; try another hint or batch.",
            icon=":material/filter_alt_off:",
        )
        return
    front = pareto_front(points)
    rec = recommend(
        points,
        min_top1=chosen["min_top1"],
        max_latency_ms=chosen["max_latency_ms"],
        within_points=chosen["within"],
    )
    recommendation(rec)
    warnings(found, chosen)
    fig = tradeoff_figure(
        points,
        front=front,
        recommended=rec.point,
        min_top1=rec.floor,
        max_latency_ms=chosen["max_latency_ms"],
    )
    st.plotly_chart(fig, key="t-chart", config={"displaylogo": False})
    st.caption(figure_caption(points))
    incomplete(points)
    st.subheader("All points and their measurement conditions", anchor=False, divider="gray")
    table(points)
    st.subheader("Export", anchor=False, divider="gray")
    exports(points, chosen)


page_setup(
    "Trade-offs",
    "Which variant is the fastest that is still accurate enough? Every measured point, the Pareto front, and a "
    "recommendation for your accuracy floor and latency budget.",
)
run_safely(page)
