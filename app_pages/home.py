"""Home: what the tool does, what the workspace holds, and a one-click guided demo.

It must render within seconds of a server start, so it reads saved files only: no torch, no
OpenVINO. The demo is one job (core.demo); its summary is recomputed from the saved results.
"""

from __future__ import annotations

import streamlit as st

from core.demo import DEMO_MODEL, DEMO_STEPS, demo_step_states
from core.errors import CoreError
from core.jobs import JobRecord, JobState
from core.overview import CARD_ROW, DemoSummary, ModelCard, demo_summary, model_cards
from ui.format import fmt_mib, fmt_ms, fmt_pct, format_duration, safe
from ui.jobs import job_panel, state_icon
from ui.page import page_setup, run_safely, show_error
from ui.services import jobs, workspace

STEP_ICONS = {
    "done": ":material/check_circle:",
    "running": ":material/progress_activity:",
    "waiting": ":material/schedule:",
    "stopped": ":material/error:",
    "not run": ":material/remove_circle_outline:",
}


def _intro() -> None:
    points = (
        (
            ":material/deployed_code:",
            "Convert and compress",
            "A PyTorch image classifier becomes OpenVINO FP32 and FP16 models, INT8 models quantized with NNCF, "
            "and ONNX Runtime models to compare with.",
        ),
        (
            ":material/speed:",
            "Measure the speed-up",
            "Latency and throughput on this CPU against PyTorch, all variants in one interleaved run, every "
            "setting recorded and noisy figures marked.",
        ),
        (
            ":material/target:",
            "Show what it costs",
            "Top-1 per variant on labelled images, with its uncertainty, so you pick the trade-off knowingly.",
        ),
    )
    for col, (icon, head, text) in zip(st.columns(3), points, strict=True):
        with col.container(border=True, height="stretch"):
            st.markdown(f"##### {icon} {head}")
            st.write(text)


def _summary_lines(summary: DemoSummary) -> list[str]:
    """Size, speed and accuracy in one line each, from the demo's own results (read again every time)."""
    lines = []
    fp32 = summary.sizes.get("fp32")
    if fp32:
        parts = []
        for variant, title in (("fp32", "FP32"), ("fp16", "FP16"), (summary.int8_variant, "INT8")):
            if variant in summary.sizes:
                share = "" if variant == "fp32" else f" ({fmt_pct(summary.sizes[variant] / fp32, 0)} of FP32)"
                parts.append(f"{title} {fmt_mib(summary.sizes[variant])}{share}")
        lines.append(f":material/compress: **Size** on disk: {' → '.join(parts)}.")
    bench = summary.benchmark
    if bench is not None:
        medians = " → ".join(f"{safe(r.title)} {fmt_ms(r.median_ms)}" for r in bench.runs)
        where = bench.machine.get("brand") if bench.machine else bench.device_name
        executed = ", ".join(
            f"{safe(r.title)} ran as {r.execution}"
            for r in bench.runs
            if r.backend.value == "openvino" and r.execution
        )
        if summary.headline:
            speed = f" **{safe(summary.headline)}** (range over the rounds)."
        elif summary.speedup is not None:
            speed = (
                f" The ratio to PyTorch ({summary.speedup.text()}) is **not shown as a result**: the run was "
                "unstable (the machine was busy). Measure again on Benchmark."
            )
        else:
            speed = ""
        lines.append(
            f":material/speed: **Speed** (median latency of one image, one run of {bench.rounds} interleaved rounds on "
            f"{safe(where)}; {executed}): {medians}.{speed}"
        )
    evaluation = summary.evaluation
    if evaluation is not None and evaluation.scored():
        scores = ", ".join(
            f"{safe(s.title)} {fmt_pct(s.top1, 0)}" for s in evaluation.results if s.top1 is not None
        )
        agree = evaluation.agreement_of("fp32", summary.int8_variant)
        agree_text = (
            f"; INT8 gives the same answer as FP32 on {fmt_pct(agree.rate, 0)} of them" if agree else ""
        )
        lines.append(
            f":material/target: **Accuracy** (top-1 on {safe(evaluation.dataset_name)}, {evaluation.dataset_size} "
            f"images): {scores}{agree_text}. A set this small only shows large drops; the published INT8 figure on "
            "50,000 images is 74.4 % vs 75.1 % FP32."
        )
    return lines


def _demo_steps(record: JobRecord) -> None:
    states = demo_step_states(record.phase, record.state.finished, record.state == JobState.SUCCEEDED)
    timings = {s.get("step"): s for s in (record.result or {}).get("steps", [])}
    for number, (step, status) in enumerate(zip(DEMO_STEPS, states, strict=True), 1):
        extra = ""
        done = timings.get(step.key)
        if done is not None:
            extra = (
                f" · {done['skipped']}"
                if done.get("skipped")
                else f" · {format_duration(done.get('seconds'))}"
            )
        st.markdown(f"{STEP_ICONS[status]} **{number}. {step.title}** · {status}{extra}")


def _demo_section() -> bool:
    """The demo's card; True while the demo runs."""
    record = jobs().latest("demo")
    running = record is not None and record.state.active
    with st.container(border=True):
        st.subheader(":material/play_circle: Guided demo", anchor=False)
        if record is None:
            st.write(
                "One click runs the whole path on **EfficientNet-Lite0** (ImageNet, bundled): convert → quantize → "
                "benchmark → evaluate. It takes about a minute on two cores and runs in the background: you can "
                "leave this page, or reload it, and come back."
            )
        else:
            _demo_steps(record)
            if running:
                with st.container(border=True):
                    job_panel(record.id, key="demo")
            elif record.state == JobState.SUCCEEDED:
                summary = run_safely(demo_summary, workspace(), record.result or {})
                if summary is not None:
                    icon = ":material/celebration:" if summary.headline else ":material/warning:"
                    head = (
                        "The demo finished. What it measured:"
                        if summary.headline
                        else (
                            "The demo finished, but its speed figures are unstable; sizes and accuracy stand:"
                        )
                    )
                    (st.success if summary.headline else st.warning)(head, icon=icon)
                    for line in _summary_lines(summary):
                        st.markdown(line)
            else:
                st.warning(
                    f"{state_icon(record.state)} The demo {record.state.value}: "
                    f"{safe(record.error or record.message or '')}. Fix what it says, then run it again.",
                    icon=":material/warning:",
                )
        with st.container(horizontal=True):
            done = record is not None and record.state == JobState.SUCCEEDED
            if done and st.button(
                "See the trade-offs", type="primary", icon=":material/scatter_plot:", key="demo-tradeoffs"
            ):
                st.switch_page("app_pages/tradeoffs.py")
            if not running and st.button(
                "Run the guided demo" if record is None else "Run the demo again",
                type="secondary" if done else "primary",
                icon=":material/play_arrow:" if record is None else ":material/replay:",
                key="demo-start",
            ):
                try:
                    if (
                        jobs().latest("demo", where=lambda r: r.state.active) is None
                    ):  # another tab may have started one
                        jobs().submit(
                            "demo", {"model_id": DEMO_MODEL}, title="Guided demo on EfficientNet-Lite0"
                        )
                except CoreError as exc:
                    show_error(exc)
                else:
                    st.rerun()
    return running


def _model_card(card: ModelCard) -> None:
    with st.container(border=True):
        head, badge = st.columns([4, 1], vertical_alignment="center")
        head.markdown(f"**{safe(card.title)}**  \n`{card.model_id}`")
        with badge:
            if card.trained:
                st.badge("trained", icon=":material/verified:", color="green")
            else:
                st.badge("untrained: latency only", icon=":material/science:", color="orange")
        shown = card.featured()
        cells = [col for start in range(0, len(shown), CARD_ROW) for col in st.columns(CARD_ROW)]
        for col, row in zip(cells, shown, strict=False):
            size = (
                fmt_mib(row.size_bytes)
                if row.size_bytes
                else ("reference" if row.variant == "torch" else "—")
            )
            if row.share_of_fp32 is not None:
                size += f" · {fmt_pct(row.share_of_fp32, 0)} of FP32"
            delta, colour, versus = None, "off", ""
            if row.comparison is not None:
                ratio = row.comparison
                delta = ratio.text() + ("" if ratio.stable else " ⚠")
                colour = ("normal" if ratio.ratio >= 1 else "inverse") if ratio.stable else "off"
                versus = f"; {ratio.text()} as fast as {row.reference_title} in the same run (range over its rounds)"
            value = fmt_ms(row.latency_ms) + ("" if row.stable else " ⚠")
            col.metric(
                f"{row.title} · {size}",
                value if row.latency_ms is not None else "—",
                delta=delta,
                delta_color=colour,
                delta_arrow="off",
                help="median latency of one image, synchronous requests"
                + versus
                + (f"; executed as {row.executed_as}" if row.executed_as else "")
                + ("" if row.stable else "; unstable: the machine was busy, measure again"),
            )
            if row.top1 is not None:
                ci = (
                    f" ({fmt_pct(row.top1_ci95[0], 0)}–{fmt_pct(row.top1_ci95[1], 0)})"
                    if row.top1_ci95
                    else ""
                )
                col.caption(f"top-1 {fmt_pct(row.top1, 0)}{ci}")
            elif not card.trained:
                col.caption("no accuracy: untrained")
        if len(card.variants) > len(shown):
            st.caption(f"and {len(card.variants) - len(shown)} more variants: see Trade-offs.")
        st.caption(f"{safe(card.latency_note)} {safe(card.accuracy_note)}")


def _workspace_section(demo_running: bool) -> None:
    st.subheader(":material/inventory_2: Your workspace", anchor=False)
    cards = run_safely(model_cards, workspace()) or []
    if not cards and demo_running:
        st.info(
            "The demo is filling it: models appear here as its steps finish.", icon=":material/hourglass_top:"
        )
        return
    if not cards:
        st.info(
            "Nothing here yet. Start the **guided demo** above to see the whole path on a real model, "
            "or open **Models** to convert one of your own.",
            icon=":material/waving_hand:",
        )
        st.page_link("app_pages/models.py", label="Open Models", icon=":material/deployed_code:")
        return
    st.caption(f"{len(cards)} model(s) · sizes of the model files on disk, in MiB (2²⁰ bytes)")
    for card in cards:
        _model_card(card)


def _how_to() -> None:
    with st.expander("How to use this tool", icon=":material/menu_book:"):
        st.markdown(
            """
1. **Models**: which models are there, how do I get one into OpenVINO (FP32 / FP16) and ONNX Runtime, and which
   variants do I have?
2. **Classify**: does each variant still recognise my images?
3. **Quantize**: make INT8 variants with NNCF or ONNX Runtime, on my images or built-in ones.
4. **Benchmark**: how fast is each variant on this CPU, against PyTorch, measured in one interleaved run?
5. **Accuracy**: what does each variant cost in top-1 on labelled images, and how sure is that figure?
6. **Trade-offs**: which variant is fastest at the accuracy I need? Export a report.
7. **Jobs**: what is running, what finished, and why did something fail?

A *variant* is one runnable version of a model: backend (OpenVINO, ONNX Runtime, PyTorch) × number format (FP32,
FP16, INT8) × recipe (how it was made). Long work runs as background jobs, one at a time, so timings are not
disturbed; a reload never loses it. Every figure names the CPU it was measured on.
"""
        )


def _limits() -> None:
    from core.limits import limit_rows

    with st.expander("Limits and safety", icon=":material/shield:"):
        st.markdown(
            "Uploads are checked before use: images are decoded with a pixel, side and aspect-ratio cap; zips are read "
            "entry by entry (no links, no `..` names, no bombs); PyTorch files load with `weights_only=True`; ONNX files "
            "with external data anywhere in the graph are refused; uploads are parsed in job workers, never in the web "
            "server. The limits, and the setting (environment variable) that changes each:"
        )
        st.dataframe(limit_rows(), hide_index=True, width="stretch")


page_setup(
    "OpenVINO Optimizer",
    "Make PyTorch image classifiers fast on CPUs with OpenVINO, and see honestly what it costs: start here.",
)
_intro()
_workspace_section(_demo_section())
_how_to()
_limits()
