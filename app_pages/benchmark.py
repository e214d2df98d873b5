"""Benchmark: latency and throughput of every variant (PyTorch, ONNX Runtime, OpenVINO) measured in one
interleaved run, the way benchmark_app measures, with every run kept."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import InputError
from core.jobs import JobRecord
from core.registry import short_title
from core.results import BenchmarkResult, load_benchmarks
from core.variants import model_variants
from ui import state
from ui.format import fmt_time, format_duration, joined, safe
from ui.jobs import job_panel
from ui.page import page_setup, run_safely, show_damaged
from ui.services import device_info, jobs, model_specs, workspace

HINTS = {
    "latency": "one request at a time, as few streams as possible: the time one image takes",
    "throughput": "many requests in flight on several streams: the most images per second",
}
EXECUTION = {
    "auto": "as the CPU plugin chooses (bf16 on CPUs that have it)",
    "f32": "f32: full precision",
    "bf16": "bf16: needs AVX512-BF16 or AMX",
    "f16": "f16: needs AVX512-FP16 / AMX-FP16",
}
GRID_BATCHES = (1, 2, 4, 8, 16, 32, 64)
GRID_STREAMS = (1, 2, 3, 4, 6, 8)
METHOD = (
    "Measured like benchmark_app: compile and first inference apart, warm-up, then the variants take turns in rounds "
    "(A B C, B C A, ...) so a disturbance hits all alike; synchronous latency on one request; OpenVINO throughput with "
    "AsyncInferQueue (each request its own input tensor; with one request, as under the latency hint, calls one after "
    "another, as benchmark_app does then); PyTorch and ONNX Runtime calls one after another. FP32 runs "
    "with INFERENCE_PRECISION_HINT=f32. A variant with fewer than 30 iterations or an IQR above 25 % of its median is "
    "marked unstable."
)


def choose_models(specs: dict) -> list[str]:
    converted = [m for m in specs if workspace().variants(m)]
    if not converted:
        st.info(
            "No model is converted yet. Open **Models** and convert one (EfficientNet-Lite0 takes ~10 s), or run the "
            "demo on **Home**.",
            icon=":material/info:",
        )
        st.page_link("app_pages/models.py", label="Open Models", icon=":material/deployed_code:")
        return []
    current = st.session_state.get(state.MODEL)
    chosen = st.multiselect(
        "Models",
        converted,
        default=[current] if current in converted else converted[:1],
        format_func=lambda m: specs[m].title,
        key=state.BENCHMARK_MODELS,
        help="One benchmark job per model; jobs run one at a time so they do not disturb each other's timings.",
    )
    if chosen:
        st.session_state[state.MODEL] = chosen[0]
    return chosen


def _variant_options(models: list[str], specs: dict) -> dict[str, str]:
    options: dict[str, str] = {}
    for model_id in models:
        for variant in model_variants(specs[model_id], workspace()):
            options.setdefault(variant.id, variant.title)
    return options


def settings_form(options: dict[str, str]) -> dict | None:
    devices = run_safely(device_info) or {"devices": ["CPU"], "names": {}, "capabilities": []}
    capabilities = set(devices.get("capabilities") or [])
    execution = [e for e in EXECUTION if e in ("auto", "f32") or e.upper() in capabilities]
    defaults = [v for v in ("torch", "ort-fp32", "fp32", "fp16", "int8") if v in options]
    with st.form("b-form", border=True):
        st.markdown("**:material/tune: What and how to measure**")
        variants = st.pills(
            "Variants", list(options), selection_mode="multi", default=defaults, format_func=options.get,
            key="b-variants", help="PyTorch eager is the reference; a variant a model lacks is skipped (and said so).",
        )  # fmt: skip
        c1, c2, c3 = st.columns(3)
        hint = c1.segmented_control(
            "Performance hint", list(HINTS), default="latency", required=True, key="b-hint",
            help=" · ".join(f"**{k}**: {v}" for k, v in HINTS.items()),
        )  # fmt: skip
        batch = c2.number_input("Batch size", min_value=1, max_value=256, value=1, key="b-batch")
        device = c3.selectbox(
            "Device", devices["devices"], format_func=lambda d: f"{d} · {devices['names'].get(d, '')}".rstrip(" ·"),
            key="b-device", help="The devices OpenVINO reports on this machine, and AUTO (OpenVINO picks one).",
        )  # fmt: skip
        c1, c2, c3 = st.columns(3)
        seconds = c1.slider(
            "Seconds per variant", min_value=2, max_value=60, value=10, key="b-seconds",
            help="Half latency, half throughput, spread over the rounds. 10 s is usual; shorter is noisier.",
        )  # fmt: skip
        rounds = c2.slider("Rounds", min_value=1, max_value=10, value=5, key="b-rounds",
                           help="The variants take turns this many times; ratios carry the range over the rounds.")  # fmt: skip
        chosen_execution = c3.selectbox(
            "FP16 / INT8 execute in", execution, format_func=EXECUTION.get, key="b-execution",
            help="INFERENCE_PRECISION_HINT for the non-FP32 OpenVINO variants; only what this CPU supports is offered. "
            "FP32 always runs f32 (an honest baseline). The precision that really executed is recorded either way.",
        )  # fmt: skip
        with st.expander("Streams and threads (optional)", icon=":material/memory:"):
            c1, c2 = st.columns(2)
            streams = c1.number_input("Streams", min_value=1, max_value=64, value=None, placeholder="hint decides", key="b-streams",
                                      help="NUM_STREAMS: parallel inference streams. Empty: the performance hint picks.")  # fmt: skip
            threads = c2.number_input("Threads", min_value=1, max_value=256, value=None, placeholder="all cores", key="b-threads",
                                      help="INFERENCE_NUM_THREADS for OpenVINO, torch.set_num_threads, ONNX Runtime intra-op threads.")  # fmt: skip
        with st.expander("Grid: batch sizes × streams (optional)", icon=":material/grid_on:"):
            grid_on = st.toggle("Run a grid instead of one setting", key="b-grid")
            c1, c2 = st.columns(2)
            grid_batches = c1.multiselect(
                "Batch sizes", GRID_BATCHES, default=[1, 4, 16], key="b-grid-batches"
            )
            grid_streams = c2.multiselect("Streams", GRID_STREAMS, default=[1, 2], key="b-grid-streams")
            st.caption(
                "Every cell measures each chosen OpenVINO variant; PyTorch and ONNX Runtime run once per batch size."
            )
        submitted = st.form_submit_button(
            "Run benchmark", type="primary", icon=":material/speed:", width="stretch"
        )
    if not submitted:
        return None
    settings = {
        "variants": list(variants or []),
        "device": device or "CPU",
        "hint": hint or "latency",
        "batch": int(batch),
        "seconds": float(seconds),
        "rounds": int(rounds),
        "execution": chosen_execution or "auto",
        "streams": int(streams) if streams else None,
        "threads": int(threads) if threads else None,
    }
    if grid_on:
        settings["grid"] = {"batches": sorted(grid_batches), "streams": sorted(grid_streams)}
    return settings


def submit_benchmarks(models: list[str], specs: dict, settings: dict) -> list[JobRecord]:
    """One "benchmark" job per model with the variants it has; says which were skipped and why."""
    from core.benchmark import BenchmarkConfig

    if not models:
        msg = "choose at least one model to benchmark"
        raise InputError(msg)
    if not settings["variants"]:
        msg = "choose at least one variant (PyTorch, FP32, INT8, ...)"
        raise InputError(msg)
    grid = settings.get("grid")
    if grid is not None and not (grid["batches"] and grid["streams"]):
        msg = "a grid needs at least one batch size and one streams value; pick some or turn it off"
        raise InputError(msg)
    records = []
    for model_id in models:
        spec = specs[model_id]
        available = {v.id for v in model_variants(spec, workspace())}
        chosen = [v for v in settings["variants"] if v in available]
        missing = [v for v in settings["variants"] if v not in available]
        if missing:
            st.warning(f"{safe(spec.short_title)}: no {safe(', '.join(missing))} to measure; "
                       + ("skipped." if chosen else "nothing left to run, so no job."), icon=":material/info:")  # fmt: skip
        if not chosen:
            continue
        config = {"model_id": model_id, **settings, "variants": chosen}
        BenchmarkConfig(
            **{k: v for k, v in config.items() if k != "grid"} | {"variants": tuple(chosen)}
        ).check()
        what = f"grid {len(grid['batches'])}×{len(grid['streams'])}" if grid else f"batch {settings['batch']}"
        records.append(
            jobs().submit(
                "benchmark", config, title=f"Benchmark {spec.short_title} · {settings['hint']} · {what}"
            )
        )
    return records


# results ------------------------------------------------------------------------------------------


def history_rows(results: list[BenchmarkResult], titles: dict) -> list[dict]:
    rows = []
    for result in results:
        config = result.config
        grid = result.grid
        first = result.runs[0].settings if result.runs else {}
        rows.append(
            {
                "when (UTC)": fmt_time(result.created),
                "model": short_title(titles.get(result.model_id, result.model_id)),
                "variants": ", ".join(dict.fromkeys(r.variant for r in result.runs)),
                "stable": "yes" if result.stable else "no",
                "rounds": result.rounds,
                "hint": config.get("hint"),
                "batch": "grid " + "/".join(map(str, grid.get("batches") or []))
                if grid
                else str(config.get("batch")),
                "threads": str(config.get("threads") or first.get("threads") or "auto"),
                "s / variant": config.get("seconds"),
                "CPU": (result.machine or {}).get("brand") or result.device_name,
                "file": Path(result.path or "").name,
            }
        )
    return rows


def run_rows(results: list[BenchmarkResult], titles: dict) -> list[dict]:
    rows = []
    for result in results:
        for r in result.runs:
            lat, s = r.latency, r.settings
            rows.append(
                {
                    "model": short_title(titles.get(r.model_id, r.model_id)),
                    "variant": r.title,
                    "runtime": s.get("runtime") or r.backend.value,
                    "executed as": r.execution,
                    "median ms": lat.median,
                    "IQR ms": lat.iqr,
                    "p90 ms": lat.p90,
                    "min ms": lat.min,
                    "max ms": lat.max,
                    "images/s": r.throughput_fps,
                    "stable": "yes" if r.stable else "no: " + "; ".join(r.unstable_reasons),
                    "first inference ms": r.first_inference_ms,
                    "compile ms": r.compile_ms,
                    "compiled from": r.compile_source,
                    "batch": r.batch,
                    "hint": s.get("hint"),
                    "streams": s.get("streams"),
                    "threads": s.get("threads"),
                    "nireq": s.get("nireq"),
                    "iterations (latency / throughput)": f"{r.iterations.get('latency')} / {r.iterations.get('throughput')}",
                    "recipe": r.recipe,
                    "run": result.created,
                }
            )
    return rows


def conditions(results: list[BenchmarkResult]) -> str:
    runs = [r for result in results for r in result.runs]
    machines = joined(((res.machine or {}).get("brand") or res.device_name) for res in results)
    isa = joined(", ".join((res.machine or {}).get("isa") or []) for res in results)
    ov = [r.settings for r in runs if r.backend.value == "openvino"] or [r.settings for r in runs]
    versions = joined(r.versions.get("openvino") for r in runs)
    return (
        f"{safe(machines)} ({safe(isa)}) · hint {joined(s.get('hint') for s in ov)} · batch {joined(r.batch for r in runs)} · "
        f"streams {joined(s.get('streams') for s in ov)} · threads {joined(r.settings.get('threads') for r in runs)} · "
        f"{joined(res.config.get('seconds') for res in results)} s per variant in {joined(res.rounds for res in results)} rounds · "
        f"OpenVINO {versions}. {METHOD}"
    )


def headline(result: BenchmarkResult) -> None:
    """Median latency per variant of one run, with the speed-up over its reference from that same run."""
    comparisons = {c.variant: c for c in result.comparisons()}
    reference = result.reference()
    shown = result.runs[:6]
    for col, run in zip(st.columns(len(shown)), shown, strict=True):
        comp = comparisons.get(run.variant)
        delta = "reference" if run is reference else None
        if comp is not None:
            delta = (
                f"{comp.text()} vs {reference.title}"
                if comp.ratio >= 1
                else f"{1 / comp.ratio:.1f}× slower than {reference.title}"
            )
            delta += "" if comp.stable else " · unstable"
        col.metric(
            f"{run.title} · median",
            f"{run.median_ms:.3g} ms" + ("" if run.stable else " ⚠"),
            delta=delta,
            delta_color="off"
            if comp is None or not comp.stable
            else ("normal" if comp.ratio >= 1 else "inverse"),
            delta_arrow="off",
            help=f"{run.throughput_fps:,.1f} images/s in the throughput phase; executed as {run.execution or '?'}"
            + ("" if run.stable else "; unstable: " + "; ".join(run.unstable_reasons)),
            border=True,
        )
    if not result.stable:
        st.warning(
            "Part of this run is **unstable** (the machine was busy, or too few iterations ran): its ratios are not "
            "results. Measure again, ideally with nothing else running.",
            icon=":material/warning:",
        )
        if st.button(
            "Measure again", icon=":material/replay:", key=f"b-again-{Path(result.path or '').name}"
        ):
            config = {
                k: v
                for k, v in result.config.items()
                if k in ("hint", "batch", "seconds", "streams", "threads", "rounds", "execution", "device")
            }
            config.update(model_id=result.model_id, variants=result.variants)
            if run_safely(
                jobs().submit, "benchmark", config, title=f"Benchmark {result.model_id} again (was unstable)"
            ):
                st.rerun()


def show_results(results: list[BenchmarkResult], titles: dict, *, picked: bool) -> None:
    from core.plots import grid_figure, latency_figure, throughput_figure

    runs = [run for result in results for run in result.runs]
    if not runs:
        st.info("The chosen results hold no runs.", icon=":material/info:")
        return
    st.caption(
        "The rows picked in the history below."
        if picked
        else "The latest run of each chosen model. Pick rows in the history below to compare other runs."
    )
    if len(results) > 1:
        st.info(
            f"{len(results)} runs are shown together: compare variants within one run; across runs the machine may "
            "have been in another state.",
            icon=":material/info:",
        )
    for result in results:
        if not result.grid:
            st.markdown(
                f"**{safe(titles.get(result.model_id, result.model_id))}** · run of {fmt_time(result.created)}"
            )
            headline(result)
    machine = results[0].machine if len(results) == 1 else None
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            latency_figure(runs, titles=titles, machine=machine),
            key="b-latency",
            config={"displaylogo": False},
        )
    with right:
        st.plotly_chart(
            throughput_figure(runs, titles=titles, machine=machine),
            key="b-throughput",
            config={"displaylogo": False},
        )
    if any(r.grid for r in results):
        st.plotly_chart(grid_figure(runs, titles=titles), key="b-grid-chart", config={"displaylogo": False})
    st.caption(conditions(results))
    st.dataframe(
        run_rows(results, titles),
        hide_index=True,
        width="stretch",
        column_config={
            **{
                k: st.column_config.NumberColumn(k, format="%.3f")
                for k in ("median ms", "IQR ms", "p90 ms", "min ms", "max ms")
            },
            "images/s": st.column_config.NumberColumn("images/s", format="%.1f"),
            "first inference ms": st.column_config.NumberColumn("first inference ms", format="%.2f"),
            "compile ms": st.column_config.NumberColumn(
                "compile ms", format="%.0f", help="Empty for PyTorch: eager mode compiles nothing"
            ),
        },
    )
    for result in results:
        for skip in result.skipped:
            st.caption(
                f":material/info: skipped {safe(skip.get('variant') or skip.get('precision'))}: {safe(skip.get('reason'))}"
            )


def history(results: list[BenchmarkResult], titles: dict) -> list[int]:
    """Every saved run, newest first; returns the picked row indices."""
    st.subheader("History", anchor=False, divider="gray")
    st.caption(
        f"All {len(results)} saved benchmark runs in the workspace, newest first; nothing is deleted. Pick rows to show them above."
    )
    event = st.dataframe(
        history_rows(results, titles),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=f"{state.BENCHMARK_HISTORY}-{len(results)}",  # a new run shifts the rows: start the selection afresh
    )
    return list(event.selection.rows)


page_setup(
    "Benchmark",
    "How fast is each variant on this machine? PyTorch, ONNX Runtime and OpenVINO in one table and one chart, measured "
    "the way OpenVINO's benchmark_app measures, all variants of a model in one interleaved run.",
)
specs = {s.id: s for s in model_specs()}
titles = {m: s.title for m, s in specs.items()}
models = choose_models(specs)
if models:
    settings = settings_form(_variant_options(models, specs))
    if settings is not None:
        records = run_safely(submit_benchmarks, models, specs, settings)
        if records:
            st.toast(f"{len(records)} benchmark job(s) queued", icon=":material/speed:")
    latest = [j for j in (jobs().latest("benchmark", model_id=m) for m in models) if j is not None]
    if latest:
        with st.container(border=True):
            st.markdown("**:material/work_history: Latest benchmark jobs**")
            for job in latest:
                job_panel(job.id, key=f"bench-{job.config.get('model_id')}")
                if job.state.active:
                    seconds = job.config.get("seconds", 0) * len(
                        job.config.get("variants") or job.config.get("precisions") or []
                    )
                    st.caption(f"measures for about {format_duration(seconds)} plus compiling")

loaded = load_benchmarks(workspace())
show_damaged(loaded.damaged)
results = list(reversed(loaded.items))  # newest first
results_box = st.container()
if results:
    picked = history(results, titles)
    if picked:
        shown = [results[i] for i in picked if i < len(results)]
    else:
        newest: dict[str, BenchmarkResult] = {}
        for result in results:
            if result.model_id in models:
                newest.setdefault(result.model_id, result)
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
