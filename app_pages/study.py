"""Calibration study: does the calibration data matter for this model, and how much of it is needed?"""

from __future__ import annotations

import streamlit as st

from core.catalog import DATASETS, Purpose, builtin_refs
from core.errors import CoreError
from core.study import DEFAULT_COUNTS, StudyResult, load_studies, source_label
from ui.format import fmt_pct, fmt_time, safe
from ui.jobs import job_panel
from ui.page import page_setup, show_damaged, show_error
from ui.pickers import pick_converted_model
from ui.services import jobs, workspace
from ui.uploads import save_upload

UPLOAD = "upload"
COUNT_CHOICES = (1, 10, 30, 100, 300)


def _domain(spec) -> str:
    return "mnist" if spec.labels == "mnist" or spec.preprocess.channels == 1 else "imagenet"


def study_form(spec) -> None:
    domain = _domain(spec)
    calibration = [r for r in builtin_refs(Purpose.CALIBRATION) if r != "builtin:imagenet-samples"]
    own = [r for r in calibration if DATASETS[r].domain == domain]
    other = [r for r in calibration if DATASETS[r].domain not in (domain, "any")]
    generated = [r for r in calibration if DATASETS[r].generated]
    distilled_ok = spec.batchnorm is not False and spec.has_torch
    options = own + other + [r for r in generated if r != "builtin:distilled" or distilled_ok] + [UPLOAD]

    def describe(ref: str) -> str:
        if ref == UPLOAD:
            return "your images (.zip)"
        tag = " (another domain)" if ref in other else ""
        return f"{source_label(ref)}{tag}"

    with st.form(f"study-form-{spec.id}", border=True):
        st.markdown("**:material/science: What to compare**")
        default = own[:1] + other[:1] + [r for r in generated if r in ("builtin:fractal", "noise")]
        sources = st.multiselect("Calibration sources", options, default=default, format_func=describe, key=f"study-sources-{spec.id}",
                                 help="Real images of the model's domain, real images of another domain, fractals, data-free "
                                 "images distilled from the model's BatchNorm statistics, and noise (the floor).")  # fmt: skip
        if not distilled_ok:
            st.caption(f":material/info: Data-free distilled images are not offered: {safe(spec.short_title)} has no BatchNorm "
                       "layers whose statistics they could match.")  # fmt: skip
        else:
            st.caption(":material/schedule: Distilled images take about a second per optimisation step on two cores (50 steps per "
                       "batch of 16 images); they are made once and kept.")  # fmt: skip
        uploaded = st.file_uploader(
            "Your calibration images (.zip), for 'your images'", type=["zip"], key=f"study-zip-{spec.id}"
        )
        c1, c2 = st.columns([3, 2])
        counts = c1.pills("Calibration images per source", COUNT_CHOICES, selection_mode="multi", default=list(DEFAULT_COUNTS),
                          key=f"study-counts-{spec.id}")  # fmt: skip
        evaluation_sets = {
            r: DATASETS[r].title
            for r in builtin_refs(Purpose.EVALUATION, domain=domain)
            if DATASETS[r].labelled
        }
        dataset = c2.selectbox(
            "Labelled evaluation set",
            list(evaluation_sets),
            format_func=evaluation_sets.get,
            key=f"study-eval-{spec.id}",
        )
        steps = len(sources) * len(counts or [])
        st.caption(f"{steps} quantizations, each evaluated next to FP32 on the same images; every INT8 model is kept as a variant "
                   "named after its recipe (int8-fractal-30).")  # fmt: skip
        submitted = st.form_submit_button(
            "Run the study", type="primary", icon=":material/play_arrow:", width="stretch"
        )
    if not submitted:
        return
    try:
        chosen = list(sources)
        if UPLOAD in chosen:
            if uploaded is None:
                msg = "choose a .zip of calibration images for 'your images', or untick it"
                raise CoreError(msg)
            chosen[chosen.index(UPLOAD)] = str(save_upload(uploaded, suffixes=(".zip",)))
        from core.study import StudyConfig

        config = {"model_id": spec.id, "sources": chosen, "counts": sorted(counts or []), "dataset": dataset}
        StudyConfig(**{**config, "sources": tuple(chosen), "counts": tuple(config["counts"])}).check()
        jobs().submit(
            "study",
            config,
            title=f"Calibration study of {spec.short_title}: {len(chosen)} sources × {len(config['counts'])} counts",
        )
    except CoreError as exc:
        show_error(exc)


def render(study: StudyResult) -> None:
    from core.plots import study_figure
    from core.study import reading

    fp32 = study.fp32
    st.markdown(f"**{safe(study.dataset.get('name'))}** ({study.dataset.get('size')} images) · FP32 top-1 **{fmt_pct(fp32.get('top1'))}** · "
                f"run {fmt_time(study.created)}" + ("" if study.complete else " · **stopped before its end**"))  # fmt: skip
    for sentence in reading(study):
        st.markdown(f"- {safe(sentence)}")
    st.plotly_chart(study_figure(study), key="study-figure", config={"displaylogo": False})
    rows = []
    for r in study.rows:
        rows.append(
            {
                "source": source_label(r.source),
                "images": r.count,
                "variant": r.variant or f"{r.status}: {r.reason}",
                "top-1": fmt_pct(r.top1),
                "top-1 95 % CI": f"{r.top1_ci95[0] * 100:.1f}–{r.top1_ci95[1] * 100:.1f} %"
                if r.top1_ci95
                else "—",
                "vs FP32": f"{(r.top1 - fp32['top1']) * 100:+.1f} pts"
                if r.top1 is not None and fp32.get("top1") is not None
                else "—",
                "top-5": fmt_pct(r.top5),
                "same top-1 as FP32": fmt_pct(r.agreement),
                "top-5 overlap": fmt_pct(r.top5_overlap),
                "quantize s": round(r.seconds, 1) if r.seconds else None,
                "calibration set": (r.calibration_fingerprint or "")[:12],
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch", key="study-table")
    st.caption("Agreement and top-5 overlap need no labels: they show fidelity to FP32 even where accuracy barely moves. "
               "Intervals are Wilson 95 %. The variants are on Trade-offs and Accuracy too; benchmark them there.")  # fmt: skip


def results_area(model_id: str, active: bool) -> None:
    """The studies of this model; while one runs, its rows appear as each step finishes."""

    @st.fragment(run_every=3.0 if active else None)
    def area() -> None:
        loaded = load_studies(workspace(), model_id)
        show_damaged(loaded.damaged)
        studies = list(reversed(loaded.items))
        if not studies:
            st.info("No study of this model yet. Pick sources and counts above and run one; rows appear as each step finishes.",
                    icon=":material/info:")  # fmt: skip
            return
        names = {s.path: f"{fmt_time(s.created)} · {len(s.rows)} rows · {s.dataset.get('name')}" + ("" if s.complete else " · partial")
                 for s in studies}  # fmt: skip
        chosen = st.selectbox("Study", list(names), format_func=names.get, key=f"study-pick-{model_id}")
        render(next((s for s in studies if s.path == chosen), studies[0]))

    area()


page_setup(
    "Calibration study",
    "Does my calibration data matter, and how much of it do I need? Quantize once per source and count, and compare every "
    "INT8 variant with FP32 on the same labelled images.",
)
top = st.columns([2, 3])
picked = pick_converted_model(top[0])
if picked is not None:
    spec, _ = picked
    if not spec.trained:
        st.error(
            f"**{safe(spec.title)}** is untrained: it has no accuracy to keep, so there is nothing to study.",
            icon=":material/block:",
        )
    else:
        study_form(spec)
        record = jobs().latest("study", model_id=spec.id)
        if record is not None and record.state.active:
            with st.container(border=True):
                job_panel(record.id, key="study")
        results_area(spec.id, record is not None and record.state.active)
