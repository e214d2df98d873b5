"""Home: what the tool does, what the workspace holds, and a one-click guided demo.

It must render within seconds of a server start, so it reads saved files only: no torch, no
OpenVINO, not even the model registry's torchvision list.
"""

from __future__ import annotations

import json
import threading
import time

import streamlit as st

from core.errors import CoreError
from core.jobs import JobRecord, JobState
from core.registry import model_title
from core.tradeoffs import latest_evaluation, latest_runs, usable_run
from core.workspace import write_json
from ui.common import (
    PRECISION_LABELS,
    fmt_mib,
    format_duration,
    job_panel,
    runner,
    show_error,
    state_icon,
    workspace,
)

DEMO_MODEL = "efficientnet-lite0"
DEMO_FILE = "demo.json"
DEMO_PRECISIONS = ["torch", "fp32", "fp16", "int8"]
DEMO_STEPS = (
    (
        "convert",
        "Convert EfficientNet-Lite0 to OpenVINO FP32 and FP16",
        {"model_id": DEMO_MODEL, "precisions": ["fp32", "fp16"], "route": "direct"},
    ),
    (
        "quantize",
        "Quantize it to INT8 with NNCF (300 calibration images)",
        {"model_id": DEMO_MODEL, "calibration": "builtin:imagenet-samples", "subset_size": 300},
    ),
    (
        "benchmark",
        "Benchmark PyTorch, FP32, FP16 and INT8 (5 s each, batch 1)",
        {"model_id": DEMO_MODEL, "precisions": DEMO_PRECISIONS, "hint": "latency", "batch": 1, "seconds": 5},
    ),
    (
        "evaluate",
        "Measure top-1 accuracy of each on the built-in ImageNet samples",
        {"model_id": DEMO_MODEL, "precisions": DEMO_PRECISIONS, "dataset": "builtin:imagenet-samples"},
    ),
)
ORDER = ("torch", "fp32", "fp16", "int8")


@st.cache_resource(show_spinner=False)
def _demo_lock() -> threading.Lock:
    """One lock per server, so two clicks (or two tabs) cannot start two demos."""
    return threading.Lock()


# demo state ----------------------------------------------------------------------------------


def _load_demo() -> dict | None:
    path = workspace().root / DEMO_FILE
    try:
        demo = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return demo if isinstance(demo, dict) and isinstance(demo.get("steps"), list) else None


def _records(demo: dict) -> list[JobRecord | None]:
    """The demo's jobs in order; None for one removed from the job list."""
    found = []
    for step in demo["steps"]:
        try:
            found.append(runner().store.get(step["job_id"]))
        except (CoreError, KeyError, TypeError):
            found.append(None)
    return found


def _running(records: list[JobRecord | None]) -> bool:
    return any(r is not None and r.state.active for r in records)


def _start_demo() -> bool:
    """Submit the four steps in order and remember their ids; False if a demo already runs."""
    with _demo_lock():
        current = _load_demo()
        if current is not None and _running(_records(current)):
            return False
        steps, previous = [], None
        for number, (kind, title, config) in enumerate(DEMO_STEPS, start=1):
            # each step waits for the one before and is skipped if that one did not succeed
            record = runner().submit(
                kind, config, title=f"Demo {number}/{len(DEMO_STEPS)} · {title}", after=previous
            )
            previous = record.id
            steps.append({"kind": kind, "title": title, "job_id": record.id})
        write_json(
            workspace().root / DEMO_FILE, {"model_id": DEMO_MODEL, "started": time.time(), "steps": steps}
        )
        return True


# formatting ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %" if value >= 0.1 else f"{value * 100:.1f} %"


def _settings_text(settings: dict, device_name: str | None = None) -> str:
    parts = [settings.get("device_name") or device_name or settings.get("device") or "CPU"]
    if settings.get("hint"):
        parts.append(f"{str(settings['hint']).upper()} hint")
    parts.append(f"batch {settings.get('batch') or 1}")
    if settings.get("threads"):
        parts.append(f"{settings['threads']} threads")
    return ", ".join(parts)


def _demo_summary(records: list[JobRecord]) -> list[str]:
    """One line each on size, speed and accuracy, from the demo's own job results."""
    convert, quantize, bench, evaluation = (r.result or {} for r in records)
    lines = []
    sizes = {a["precision"]: a["size_bytes"] for a in convert.get("artifacts", [])}
    if quantize.get("size_bytes"):
        sizes["int8"] = quantize["size_bytes"]
    if sizes.get("fp32"):
        text = " → ".join(
            f"{PRECISION_LABELS[p]} {fmt_mib(sizes[p])}"
            + ("" if p == "fp32" else f" ({_pct(sizes[p] / sizes['fp32'])} of FP32)")
            for p in ORDER
            if p in sizes
        )
        lines.append(f":material/compress: **Size** on disk: {text}.")
    runs = {r["precision"]: r for r in bench.get("runs", []) if usable_run(r)}
    if runs:
        median = {p: r["latency_ms"]["median"] for p, r in runs.items()}
        text = " → ".join(f"{PRECISION_LABELS[p]} {_ms(median[p])}" for p in ORDER if p in median)
        best = min((p for p in median if p != "torch"), key=median.get, default=None)
        base = "torch" if "torch" in median else "fp32"
        speedup = ""
        if best and base in median and best != base:
            speedup = f"; {PRECISION_LABELS[best]} is **{median[base] / median[best]:.1f}×** faster than {PRECISION_LABELS[base]}"
        ov_run = runs.get("int8") or next(iter(runs.values()))
        lines.append(
            f":material/speed: **Speed** (median latency, one image at a time): {text}{speedup} "
            f"({_settings_text(ov_run['settings'], bench.get('device_name'))}, "
            f"{bench.get('config', {}).get('seconds', 5):g} s per precision)."
        )
    scores = {r["precision"]: r for r in evaluation.get("results", []) if r.get("top1") is not None}
    if scores:
        dataset = evaluation.get("dataset", {})
        text = ", ".join(f"{PRECISION_LABELS[p]} {_pct(scores[p]['top1'])}" for p in ORDER if p in scores)
        agree = (evaluation.get("agreement") or {}).get("fp32-vs-int8")
        agree_text = (
            f"; INT8 gives the same answer as FP32 on {_pct(agree)} of them" if agree is not None else ""
        )
        lines.append(
            f":material/target: **Accuracy** (top-1 on {dataset.get('name', 'the set')}, "
            f"{dataset.get('size', '?')} images): {text}{agree_text}. A set this small only shows large drops; "
            "the published INT8 figure on 50,000 images is 74.4 % vs 75.1 % FP32."
        )
    return lines


# sections ------------------------------------------------------------------------------------


def _intro() -> None:
    cols = st.columns(3)
    points = (
        (
            ":material/deployed_code:",
            "Convert and compress",
            "A PyTorch image classifier becomes an OpenVINO model at FP32 and FP16, "
            "and an INT8 model quantized with NNCF.",
        ),
        (
            ":material/speed:",
            "Measure the speed-up",
            "Latency and throughput on this CPU, against PyTorch, with every setting recorded.",
        ),
        (
            ":material/target:",
            "Show what it costs",
            "Top-1 accuracy per precision on labelled images, with its uncertainty, so you pick the trade-off knowingly.",
        ),
    )
    for col, (icon, head, text) in zip(cols, points, strict=True):
        with col.container(border=True, height="stretch"):
            st.markdown(f"##### {icon} {head}")
            st.write(text)


def _step_line(number: int, step: dict, record: JobRecord | None, skipped: bool) -> str:
    if record is None:
        return (
            f":material/help: **{number}. {step.get('title', step.get('kind'))}** · removed from the job list"
        )
    if skipped and record.state == JobState.CANCELLED:
        state = "skipped: an earlier step did not succeed"
    elif record.state.finished:
        state = f"{record.state.value} in {format_duration(record.duration)}"
    else:
        state = record.state.value
    return f"{state_icon(record.state)} **{number}. {step.get('title', record.title)}** · {state}"


def _demo_section() -> bool:
    """The demo's card; True while the demo runs."""
    with st.container(border=True):
        st.subheader(":material/play_circle: Guided demo", anchor=False)
        demo = _load_demo()
        records = _records(demo) if demo else []
        running = _running(records)
        done = bool(records) and all(r is not None and r.state == JobState.SUCCEEDED for r in records)

        if not records:
            st.write(
                "One click runs the whole path on **EfficientNet-Lite0** (ImageNet, bundled): convert → "
                "quantize → benchmark → evaluate. It takes about three minutes on two cores and runs in the "
                "background: you can leave this page, or reload it, and come back."
            )
        current = next((r for r in records if r is not None and r.state.active), None)
        broken = False
        for number, (step, record) in enumerate(
            zip(demo["steps"] if records else [], records, strict=True), 1
        ):
            if record is not None and record is current:
                with st.container(border=True):
                    job_panel(record.id, key="demo")
            else:
                st.markdown(_step_line(number, step, record, broken))
            if record is not None and record.state == JobState.FAILED:
                st.error(record.error or "the step failed; see its log on Jobs", icon=":material/error:")
            broken = (
                broken or record is None or (record.state.finished and record.state != JobState.SUCCEEDED)
            )

        if done:
            st.success("The demo finished. Here is what happened:", icon=":material/celebration:")
            for line in _demo_summary(records):
                st.markdown(line)
        elif records and not running:
            st.warning(
                "The demo stopped before its end. Fix what the error says, then run it again.",
                icon=":material/warning:",
            )
        with st.container(horizontal=True):
            if done and st.button(
                "See the trade-offs", type="primary", icon=":material/scatter_plot:", key="demo-tradeoffs"
            ):
                st.switch_page("app_pages/tradeoffs.py")
            if not running and st.button(
                "Run the guided demo" if not records else "Run the demo again",
                type="secondary" if done else "primary",
                icon=":material/play_arrow:" if not records else ":material/replay:",
                key="demo-start",
            ):
                try:
                    _start_demo()  # refuses quietly if another tab started one meanwhile: the rerun shows it
                except CoreError as exc:
                    show_error(exc)
                else:
                    st.rerun()
    return running


def _latest_scores(model_id: str) -> tuple[dict, dict | None]:
    """Top-1 per precision from the newest evaluation covering the most precisions, and that evaluation."""
    best = latest_evaluation(workspace(), model_id)
    if best is None:
        return {}, None
    return {r["precision"]: r for r in best.get("results") or [] if r.get("top1") is not None}, best


def _model_card(model_id: str, runs: dict[str, dict]) -> None:
    ws = workspace()
    artifacts = {a.precision.value: a for a in ws.artifacts(model_id)}
    scores, evaluation = _latest_scores(model_id)
    trained = all(a.manifest.get("trained", True) for a in artifacts.values())
    shown = [p for p in ORDER if p in artifacts or p in runs]
    with st.container(border=True):
        head, badge = st.columns([4, 1], vertical_alignment="center")
        head.markdown(f"**{model_title(model_id, ws)}**  \n`{model_id}`")
        with badge:
            if trained:
                st.badge("trained", icon=":material/verified:", color="green")
            else:
                st.badge("untrained: latency only", icon=":material/science:", color="orange")
        cols = st.columns(len(ORDER))
        fp32 = artifacts.get("fp32")
        base = runs.get("torch") or runs.get("fp32")
        for col, precision in zip(cols, ORDER, strict=True):
            if precision not in shown:
                continue
            run, artifact = runs.get(precision), artifacts.get(precision)
            if artifact is not None:
                size = fmt_mib(artifact.size_bytes)
                if fp32 is not None and precision != "fp32":
                    size += f" · {_pct(artifact.size_bytes / fp32.size_bytes)} of FP32"
            else:
                size = "reference, not saved" if precision == "torch" else "not on disk"
            latency = run["latency_ms"]["median"] if run else None
            delta, faster = None, True
            if latency and base is not None and run is not base:
                ratio = base["latency_ms"]["median"] / latency
                delta, faster = f"{ratio:.1f}× vs {PRECISION_LABELS[base['precision']]}", ratio >= 1
            col.metric(
                f"{PRECISION_LABELS[precision]} · {size}",
                _ms(latency) if latency else "—",
                delta=delta,
                delta_color="normal" if faster else "inverse",
                delta_arrow="off",
                help="median latency of one image, synchronous requests",
            )
            score = scores.get(precision)
            if score:
                low, high = (score.get("top1_ci95") or [None, None])[:2]
                ci = f" ({_pct(low)}–{_pct(high)})" if low is not None else ""
                col.caption(f"top-1 {_pct(score['top1'])}{ci}")
            elif not trained:
                col.caption("no accuracy: untrained")
            elif precision in artifacts or precision == "torch":
                col.caption("top-1 not measured yet")
        notes = []
        if runs:
            groups: dict[str, list[str]] = {}
            for precision in ORDER:
                if precision in runs:
                    run = runs[precision]
                    groups.setdefault(
                        _settings_text(run.get("settings") or {}, run.get("device_name")), []
                    ).append(PRECISION_LABELS[precision])
            where = "; ".join(f"{', '.join(names)} on {text}" for text, names in groups.items())
            notes.append(f"Latency: median of the latest benchmark per precision ({where}).")
        else:
            notes.append("Not benchmarked yet: open **Benchmark**.")
        if evaluation is not None:
            dataset = evaluation.get("dataset") or {}
            notes.append(
                f"Top-1 with 95 % interval on {dataset.get('name', 'a labelled set')} "
                f"({dataset.get('size', '?')} images, {evaluation.get('device_name') or evaluation.get('device', 'CPU')})."
            )
        st.caption(" ".join(notes))


def _workspace_section(demo_running: bool) -> None:
    st.subheader(":material/inventory_2: Your workspace", anchor=False)
    ws = workspace()
    runs_by_model: dict[str, dict[str, dict]] = {}
    for run in latest_runs(ws):
        runs_by_model.setdefault(run["model_id"], {})[run["precision"]] = run
    with_artifacts = {a.model_id for a in ws.artifacts()}
    model_ids = sorted(with_artifacts | set(runs_by_model))
    if not model_ids and demo_running:
        st.info(
            "The demo is filling it: models appear here as its steps finish.", icon=":material/hourglass_top:"
        )
        return
    if not model_ids:
        st.info(
            "Nothing here yet. Start the **guided demo** above to see the whole path on a real model, "
            "or open **Models** to convert one of your own.",
            icon=":material/waving_hand:",
        )
        st.page_link("app_pages/models.py", label="Open Models", icon=":material/deployed_code:")
        return
    st.caption(f"{len(model_ids)} model(s) · sizes of the OpenVINO IR on disk (model.xml + model.bin)")
    for model_id in model_ids:
        _model_card(model_id, runs_by_model.get(model_id, {}))


def _how_to() -> None:
    with st.expander("How to use this tool", icon=":material/menu_book:"):
        st.markdown(
            """
1. **Models**: which models are there, and how do I get one into OpenVINO (FP32 / FP16)?
2. **Classify**: does the converted model still recognise my images, at each precision?
3. **Quantize**: how do I make an INT8 model with NNCF, and how big is it?
4. **Benchmark**: how fast is each precision on this CPU (latency and throughput), against PyTorch?
5. **Accuracy**: what does each precision cost in top-1 on labelled images, and how sure is that figure?
6. **Trade-offs**: which precision is fastest at the accuracy I need? Export a report.
7. **Jobs**: what is running, what finished, and why did something fail?

Long work runs as background jobs, one at a time, so timings are not disturbed; a reload never loses it.
"""
        )


st.title("OpenVINO Optimizer", anchor=False)
st.caption(
    "Make PyTorch image classifiers fast on CPUs with OpenVINO, and see honestly what it costs: start here."
)
_intro()
_workspace_section(_demo_section())
_how_to()
