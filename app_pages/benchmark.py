"""Benchmark: latency and throughput per precision, measured like benchmark_app, with every run kept."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import InputError
from core.jobs import JobRecord
from ui.common import (
    MODEL_KEY,
    PRECISION_LABELS,
    device_info,
    fmt_time,
    format_duration,
    job_panel,
    joined,
    latest_job,
    model_specs,
    precisions_present,
    run_safely,
    runner,
    workspace,
)

PRECISIONS = ("torch", "fp32", "fp16", "int8")
HINTS = {
    "latency": "one request at a time, as few streams as possible: the time one image takes",
    "throughput": "many requests in flight on several streams: the most images per second",
}
GRID_BATCHES = (1, 2, 4, 8, 16, 32, 64)
GRID_STREAMS = (1, 2, 3, 4, 6, 8)
HISTORY_KEY = "b-history"
METHOD = (
    "Measured like benchmark_app: warm-up and first inference apart, sync latency, async throughput with "
    "AsyncInferQueue; FP32 compiled with INFERENCE_PRECISION_HINT=f32. PyTorch runs eager, calls one after "
    "another (it has no async queue)."
)


def _short(title: str) -> str:
    return title.split(" (", 1)[0]


# inputs -------------------------------------------------------------------------------------------


def choose_models(specs: dict) -> list[str]:
    converted = [m for m in specs if precisions_present(m)]
    if not converted:
        st.info(
            "No model is converted yet. Open **Models** and convert one (EfficientNet-Lite0 takes ~10 s), "
            "or run the demo on **Home**.",
            icon=":material/info:",
        )
        st.page_link("app_pages/models.py", label="Open Models", icon=":material/deployed_code:")
        return []
    current = st.session_state.get(MODEL_KEY)
    chosen = st.multiselect(
        "Models",
        converted,
        default=[current] if current in converted else converted[:1],
        format_func=lambda m: f"{specs[m].title}  ·  {', '.join(p.upper() for p in precisions_present(m))}",
        key="b-models",
        help="One benchmark job per model; jobs run one at a time so they do not disturb each other's timings.",
    )
    if chosen:
        st.session_state[MODEL_KEY] = chosen[0]
    return chosen


def settings_form() -> dict | None:
    devices = run_safely(device_info) or {"devices": ["CPU"], "names": {}}
    with st.form("b-form", border=True):
        st.markdown("**:material/tune: How to measure**")
        c1, c2 = st.columns([3, 2])
        precisions = c1.pills(
            "Precisions",
            PRECISIONS,
            selection_mode="multi",
            default=["torch", "fp32", "int8"],
            format_func=lambda p: PRECISION_LABELS[p],
            key="b-precisions",
            help="PyTorch eager is the reference; a precision a model lacks is skipped (and said so).",
        )
        hint = c2.segmented_control(
            "Performance hint",
            list(HINTS),
            default="latency",
            required=True,
            key="b-hint",
            help=" · ".join(f"**{k}**: {v}" for k, v in HINTS.items()),
        )
        c1, c2, c3 = st.columns(3)
        batch = c1.number_input("Batch size", min_value=1, max_value=256, value=1, key="b-batch")
        seconds = c2.slider(
            "Seconds per precision",
            min_value=1,
            max_value=60,
            value=10,
            key="b-seconds",
            help="Half for the latency phase, half for the throughput phase. 10 s is usual; shorter is noisier.",
        )
        device = c3.selectbox(
            "Device",
            devices["devices"],
            format_func=lambda d: f"{d} · {devices['names'].get(d, '')}".rstrip(" ·"),
            key="b-device",
        )
        with st.expander("Streams and threads (optional)", icon=":material/memory:"):
            c1, c2 = st.columns(2)
            streams = c1.number_input(
                "Streams",
                min_value=1,
                max_value=64,
                value=None,
                placeholder="hint decides",
                key="b-streams",
                help="NUM_STREAMS: parallel inference streams. Empty: the performance hint picks.",
            )
            threads = c2.number_input(
                "Threads",
                min_value=1,
                max_value=256,
                value=None,
                placeholder="all cores",
                key="b-threads",
                help="INFERENCE_NUM_THREADS for OpenVINO, torch.set_num_threads for PyTorch.",
            )
        with st.expander("Grid: batch sizes × streams (optional)", icon=":material/grid_on:"):
            grid_on = st.toggle("Run a grid instead of one setting", key="b-grid")
            c1, c2 = st.columns(2)
            grid_batches = c1.multiselect(
                "Batch sizes", GRID_BATCHES, default=[1, 4, 16], key="b-grid-batches"
            )
            grid_streams = c2.multiselect("Streams", GRID_STREAMS, default=[1, 2], key="b-grid-streams")
            st.caption(
                "Every cell measures each chosen OpenVINO precision for the seconds above; PyTorch runs once "
                "per batch size. Cells × precisions × seconds add up quickly."
            )
        submitted = st.form_submit_button(
            "Run benchmark", type="primary", icon=":material/speed:", width="stretch"
        )
    if not submitted:
        return None
    settings = {
        "precisions": list(precisions or []),
        "device": device or "CPU",
        "hint": hint or "latency",
        "batch": int(batch),
        "seconds": float(seconds),
        "streams": int(streams) if streams else None,
        "threads": int(threads) if threads else None,
    }
    if grid_on:
        settings["grid"] = {"batches": sorted(grid_batches), "streams": sorted(grid_streams)}
    return settings


def submit_benchmarks(models: list[str], specs: dict, settings: dict) -> list[JobRecord]:
    """One "benchmark" job per model with the precisions it has; says which were skipped and why."""
    from core.benchmark import BenchmarkConfig

    if not models:
        raise InputError("choose at least one model to benchmark")
    if not settings["precisions"]:
        raise InputError("choose at least one precision (PyTorch, FP32, FP16 or INT8)")
    grid = settings.get("grid")
    if grid is not None and not (grid["batches"] and grid["streams"]):
        raise InputError(
            "a grid needs at least one batch size and one streams value; pick some or turn it off"
        )
    records = []
    for model_id in models:
        spec = specs[model_id]
        available = set(precisions_present(model_id)) | ({"torch"} if spec.has_torch else set())
        chosen = [p for p in settings["precisions"] if p in available]
        missing = [PRECISION_LABELS[p] for p in settings["precisions"] if p not in available]
        if missing:
            st.warning(
                f"{_short(spec.title)}: no {', '.join(missing)} to measure; "
                + ("skipped." if chosen else "nothing left to run, so no job."),
                icon=":material/info:",
            )
        if not chosen:
            continue
        config = {"model_id": model_id, **settings, "precisions": chosen}
        BenchmarkConfig(
            **{k: v for k, v in config.items() if k != "grid"} | {"precisions": tuple(chosen)}
        ).check()
        what = (
            f"grid {len(settings['grid']['batches'])}×{len(settings['grid']['streams'])}"
            if "grid" in settings
            else f"batch {settings['batch']}"
        )
        title = f"Benchmark {_short(spec.title)} · {settings['hint']} · {what}"
        records.append(runner().submit("benchmark", config, title=title))
    return records


# results ------------------------------------------------------------------------------------------


def _runs_of(result: dict) -> list[dict]:
    runs = []
    for run in result.get("runs") or []:
        run = dict(run, model_id=run.get("model_id") or result.get("model_id"))
        run.setdefault(
            "device_name", (run.get("settings") or {}).get("device_name") or result.get("device_name")
        )
        runs.append(run)
    return runs


def history_rows(results: list[dict], titles: dict) -> list[dict]:
    rows = []
    for result in results:
        config = result.get("config") or {}
        grid = config.get("grid")
        runs = result.get("runs") or []
        first = (runs[0].get("settings") or {}) if runs else {}
        rows.append(
            {
                "when (UTC)": fmt_time(result.get("created")),
                "model": _short(titles.get(result.get("model_id"), result.get("model_id") or "?")),
                "precisions": ", ".join(
                    dict.fromkeys(PRECISION_LABELS.get(r.get("precision"), r.get("precision")) for r in runs)
                ),
                "hint": config.get("hint"),
                "batch": "grid " + "/".join(map(str, grid["batches"])) if grid else str(config.get("batch")),
                "streams": "grid " + "/".join(map(str, grid["streams"]))
                if grid
                else str(config.get("streams") or first.get("streams") or "auto"),
                "threads": str(config.get("threads") or first.get("threads") or "auto"),
                "s / precision": config.get("seconds"),
                "device": result.get("device_name"),
                "file": Path(result.get("_path", "")).name,
            }
        )
    return rows


def run_rows(runs: list[dict], titles: dict) -> list[dict]:
    rows = []
    for r in runs:
        lat, s = r.get("latency_ms") or {}, r.get("settings") or {}
        rows.append(
            {
                "model": _short(titles.get(r["model_id"], r["model_id"])),
                "precision": PRECISION_LABELS.get(r.get("precision"), r.get("precision")),
                "median ms": lat.get("median"),
                "mean ms": lat.get("mean"),
                "p90 ms": lat.get("p90"),
                "min ms": lat.get("min"),
                "max ms": lat.get("max"),
                "images/s": r.get("throughput_fps"),
                "first inference ms": r.get("first_inference_ms"),
                "compile ms": r.get("compile_ms"),
                "compiled from": r.get("compile_source"),
                "batch": s.get("batch"),
                "hint": s.get("hint"),
                "streams": s.get("streams"),
                "threads": s.get("threads"),
                "nireq": s.get("nireq"),
                "inference precision": s.get("inference_precision"),
                "iterations (latency / throughput)": "{} / {}".format(
                    (r.get("iterations") or {}).get("latency"), (r.get("iterations") or {}).get("throughput")
                ),
            }
        )
    return rows


def conditions(results: list[dict], runs: list[dict]) -> str:
    settings = [r.get("settings") or {} for r in runs]
    ov = [s for s in settings if s.get("precision") != "torch"] or settings
    versions = joined((r.get("versions") or {}).get("openvino") for r in runs)
    seconds = joined((res.get("config") or {}).get("seconds") for res in results)
    return (
        f"{joined(r.get('device_name') for r in runs)} · hint {joined(s.get('hint') for s in ov)} · batch "
        f"{joined(s.get('batch') for s in settings)} · streams {joined(s.get('streams') for s in ov)} · threads "
        f"{joined(s.get('threads') for s in settings)} · nireq {joined(s.get('nireq') for s in ov)} · "
        f"{seconds} s per precision (half latency, half throughput) · OpenVINO {versions}. {METHOD}"
    )


def headline(runs: list[dict]) -> None:
    """Median latency per precision of one result, with the speed-up over PyTorch at the same batch."""
    torch_run = next((r for r in runs if r.get("precision") == "torch"), None)
    shown = runs[:4]
    for col, run in zip(st.columns(len(shown)), shown, strict=True):
        median = (run.get("latency_ms") or {}).get("median")
        delta = "reference" if run is torch_run else None
        if torch_run is not None and run is not torch_run and median:
            ratio = torch_run["latency_ms"]["median"] / median
            delta = f"×{ratio:.1f} vs PyTorch" if ratio >= 1 else f"×{1 / ratio:.1f} slower than PyTorch"
        col.metric(
            f"{PRECISION_LABELS.get(run.get('precision'), run.get('precision'))} · median latency",
            f"{median:.3g} ms" if median is not None else "—",
            delta=delta,
            delta_color="off" if run is torch_run else "inverse" if delta and "slower" in delta else "normal",
            delta_arrow="off" if run is torch_run else "auto",
            help=f"{run.get('throughput_fps', 0):,.1f} images/s in the throughput phase",
            border=True,
        )


def show_results(results: list[dict], titles: dict, *, picked: bool) -> None:
    from core.plots import grid_figure, latency_figure, throughput_figure

    runs = [run for result in results for run in _runs_of(result)]
    if not runs:
        st.info("The chosen results hold no runs.", icon=":material/info:")
        return
    st.caption(
        "The rows picked in the history below."
        if picked
        else "The latest run of each chosen model. Pick rows in the history below to compare other runs."
    )
    if len(results) == 1 and not (results[0].get("config") or {}).get("grid"):
        headline(runs)
    caption = conditions(results, runs)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(latency_figure(runs, titles=titles), key="b-latency", config={"displaylogo": False})
    with right:
        st.plotly_chart(
            throughput_figure(runs, titles=titles), key="b-throughput", config={"displaylogo": False}
        )
    if any((r.get("config") or {}).get("grid") or r.get("grid") for r in results):
        st.plotly_chart(grid_figure(runs, titles=titles), key="b-grid-chart", config={"displaylogo": False})
    st.caption(caption)
    st.dataframe(
        run_rows(runs, titles),
        hide_index=True,
        width="stretch",
        column_config={
            **{
                k: st.column_config.NumberColumn(k, format="%.3f")
                for k in ("median ms", "mean ms", "p90 ms", "min ms", "max ms")
            },
            "images/s": st.column_config.NumberColumn("images/s", format="%.1f"),
            "first inference ms": st.column_config.NumberColumn("first inference ms", format="%.2f"),
            "compile ms": st.column_config.NumberColumn(
                "compile ms", format="%.0f", help="Empty for PyTorch: eager mode compiles nothing"
            ),
        },
    )
    for result in results:
        for skip in result.get("skipped") or []:
            st.caption(f":material/info: skipped {skip.get('precision')}: {skip.get('reason')}")


def history(results: list[dict], titles: dict) -> list[int]:
    """Every saved run, newest first; returns the picked row indices."""
    st.subheader("History", anchor=False, divider="gray")
    st.caption(
        f"All {len(results)} saved benchmark runs in the workspace, newest first; nothing is deleted. "
        "Pick one or more rows to show their charts above."
    )
    event = st.dataframe(
        history_rows(results, titles),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=f"{HISTORY_KEY}-{len(results)}",  # a new run shifts the rows: start the selection afresh
    )
    return list(event.selection.rows)


# page ---------------------------------------------------------------------------------------------


st.title("Benchmark", anchor=False)
st.caption(
    "How fast is each precision on this machine? Latency and throughput measured the way OpenVINO's "
    "benchmark_app measures them, with eager PyTorch as the reference."
)

specs = {s.id: s for s in model_specs()}
titles = {m: s.title for m, s in specs.items()}
models = choose_models(specs)
if models:
    settings = settings_form()
    if settings is not None:
        records = run_safely(submit_benchmarks, models, specs, settings)
        if records:
            st.toast(f"{len(records)} benchmark job(s) queued", icon=":material/speed:")
    jobs = [j for j in (latest_job("benchmark", model_id=m) for m in models) if j is not None]
    if jobs:
        with st.container(border=True):
            st.markdown("**:material/work_history: Latest benchmark jobs**")
            for job in jobs:
                job_panel(job.id, key=f"bench-{job.config.get('model_id')}")
                if job.state.active:
                    seconds = job.config.get("seconds", 0) * len(job.config.get("precisions") or [])
                    st.caption(f"measures for about {format_duration(seconds)} plus compiling")

results = list(reversed(workspace().results("benchmark")))  # newest first
results_box = st.container()
if results:
    picked = history(results, titles)
    if picked:
        shown = [results[i] for i in picked if i < len(results)]
    else:
        newest = {}
        for result in results:
            if result.get("model_id") in models:
                newest.setdefault(result.get("model_id"), result)
        shown = list(newest.values()) or results[:1]
    with results_box:
        st.subheader("Results", anchor=False, divider="gray")
        show_results(shown, titles, picked=bool(picked))
else:
    with results_box:
        st.info(
            "No benchmark saved yet. Choose models and settings above and press **Run benchmark**.",
            icon=":material/info:",
        )
