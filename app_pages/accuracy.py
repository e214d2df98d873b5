"""Accuracy: top-1/top-5 per variant with honest intervals, agreement, confusion and disagreements.

An evaluation runs as a job in a worker process (an uploaded zip is unpacked there, never in the
web server); every finished evaluation is saved in the workspace, so a reload or a second tab shows
the same results.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.analysis import class_name, disagreement_csv, disagreements
from core.catalog import DATASETS, Purpose, builtin_refs
from core.jobs import JobState
from core.results import EvaluationResult, load_evaluations
from ui import state
from ui.format import fmt_pct, fmt_time, format_duration, safe
from ui.jobs import job_panel
from ui.page import page_setup, show_damaged, show_error
from ui.pickers import pick_converted_model, variant_picker
from ui.services import jobs, workspace
from ui.uploads import save_upload

UPLOAD = "upload"
DOMAIN_NAMES = {
    "mnist": "handwritten digits (MNIST)",
    "imagenet": "ImageNet photos",
    "indices": "its own classes",
}
SMALL_SET = 100  # below this many images an accuracy figure deserves a loud caveat
SHOWN_DISAGREEMENTS = 24
THUMB_PX = 96


def _sets() -> dict[str, tuple[str, str]]:
    found = {ref: (DATASETS[ref].title, DATASETS[ref].caption) for ref in builtin_refs(Purpose.EVALUATION)}
    found[UPLOAD] = (
        "Your labelled images",
        "a .zip: one folder per class, or a CSV of file,label rows inside it",
    )
    return found


def domain_warning(spec, ref: str) -> None:
    info = DATASETS.get(ref)
    if info is None or info.domain in ("any", spec.labels):
        return
    what = (
        "digit models see 28×28 grayscale digits"
        if spec.labels == "mnist"
        else (f"{spec.title} was trained on {DOMAIN_NAMES.get(spec.labels, 'other images')}")
    )
    st.warning(
        f"This set holds {DOMAIN_NAMES.get(info.domain, info.domain)}, but {what}: accuracy here measures nothing "
        "useful, and even agreement between variants says little. Pick a set from the model's own domain.",
        icon=":material/warning:",
    )


def evaluation_form(spec) -> None:
    sets = _sets()
    if spec.heldout:
        sets = {
            "heldout": (
                "Its held-out split",
                "the images kept out of its training: the honest set for a model trained here",
            )
        } | sets
    with st.container(border=True):
        st.markdown("##### :material/dataset: Evaluate")
        refs = list(sets)
        default = (
            "heldout"
            if spec.heldout
            else {"mnist": "builtin:mnist", "imagenet": "builtin:imagenet-samples"}.get(spec.labels, UPLOAD)
        )
        ref = st.radio(
            "Data set", refs, index=refs.index(default) if default in refs else 0, format_func=lambda r: sets[r][0],
            captions=[sets[r][1] for r in refs], horizontal=True, key=f"acc-set-{spec.id}",
        )  # fmt: skip
        domain_warning(spec, ref)
        uploaded = None
        if ref == UPLOAD:
            uploaded = st.file_uploader(
                "Labelled images (.zip)", type=["zip"], key="acc-upload",
                help="Inside the zip: one folder per class (folder name = label), or images beside a CSV of file,label "
                "rows. Labels: class names or class indices. The archive is checked and unpacked by the job, in its "
                "worker process.",
            )  # fmt: skip
        cols = st.columns([3, 2, 1], vertical_alignment="bottom")
        with cols[0]:
            variants = variant_picker(
                spec,
                key=f"acc-variants-{spec.id}",
                help="Every image is preprocessed once and run through each.",
            )
        limit = cols[1].number_input(
            "Images to use", min_value=1, max_value=100_000, value=None, step=100, placeholder="all of the set",
            key=f"acc-limit-{spec.id}", help="Fewer images: a deterministic subset (stratified by label, seed 0).",
        )  # fmt: skip
        ready = bool(variants) and (ref != UPLOAD or uploaded is not None)
        clicked = cols[2].button(
            "Evaluate",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not ready,
            key="acc-run",
            width="stretch",
        )
        if not variants:
            st.warning("Choose at least one variant.", icon=":material/warning:")
        if clicked and ready:
            try:
                dataset = str(save_upload(uploaded, suffixes=(".zip",))) if ref == UPLOAD else ref
                name = uploaded.name if ref == UPLOAD else sets[ref][0]
                config = {"model_id": spec.id, "variants": [v.id for v in variants], "dataset": dataset,
                          "limit": int(limit) if limit else None}  # fmt: skip
                jobs().submit("evaluate", config, title=f"Evaluate {spec.short_title} on {name}")
            except Exception as exc:
                show_error(exc)


def job_area(model_id: str):
    """Progress of this model's latest evaluation job, or a line saying it finished."""
    record = jobs().latest("evaluate", model_id=model_id)
    if record is None:
        return None
    if record.state != JobState.SUCCEEDED:
        if record.state.active or (record.finished or 0) > 0:
            with st.container(border=True):
                job_panel(record.id, key="accuracy")
    else:
        st.success(f"**{safe(record.title)}** finished in {format_duration(record.duration)}; its results are below.",
                   icon=":material/check_circle:")  # fmt: skip
    return record


# results -------------------------------------------------------------------------------------


def pick_evaluation(model_id: str) -> EvaluationResult | None:
    loaded = load_evaluations(workspace(), model_id)
    show_damaged(loaded.damaged)
    evaluations = list(reversed(loaded.items))  # newest first
    if not evaluations:
        return None
    by_path = {e.path: e for e in evaluations}
    key, newest_key = (
        state.ACCURACY_EVALUATION.format(model=model_id),
        state.ACCURACY_NEWEST.format(model=model_id),
    )
    newest = evaluations[0].path
    if st.session_state.get(newest_key) != newest or st.session_state.get(key) not in by_path:
        st.session_state[key] = newest  # a new evaluation arrived: show it
        st.session_state[newest_key] = newest

    def describe(path: str) -> str:
        e = by_path[path]
        return f"{fmt_time(e.created)} · {e.dataset_name} · {e.dataset_size} images · {', '.join(s.title for s in e.results)}"

    path = st.selectbox("Evaluation", list(by_path), format_func=describe, key=key,
                        help="Every finished evaluation of this model is kept in the workspace.")  # fmt: skip
    return by_path[path]


def measured_caption(ev: EvaluationResult, *, full: bool = True) -> str:
    """How the figures were measured: set, size, fingerprint, CPU, method, when."""
    from core.machine import machine_text

    size = ev.dataset_size
    parts = [
        f"**{safe(ev.dataset_name)}**" + (f", {size:,} images" if isinstance(size, int) else ""),
        f"fingerprint `{str(ev.dataset.get('fingerprint', ''))[:12]}`",
        safe(machine_text(ev.machine) if ev.machine else ev.device_name),
        safe(ev.settings.get("method") or "OpenVINO batch 1, LATENCY hint"),
        f"evaluated {fmt_time(ev.created)}",
    ]
    text = " · ".join(parts)
    description = str(ev.dataset.get("description") or "").strip()
    if full and description:
        text += f". {safe(description[0].upper() + description[1:])}"
    return text


def accuracy_table(ev: EvaluationResult) -> list[dict]:
    """One row per variant: top-1 and top-5 with their Wilson intervals, the change, the count, the speed."""
    rows = [s for s in ev.results if s.top1 is not None]
    reference = next((s for s in rows if s.variant == "fp32"), rows[0] if rows else None)
    table = []
    for s in rows:
        lo1, hi1 = s.top1_ci95 or (s.top1, s.top1)
        lo5, hi5 = s.top5_ci95 or (s.top5, s.top5)
        table.append(
            {
                "Variant": s.title,
                "Top-1": fmt_pct(s.top1),
                "95 % CI": f"{lo1 * 100:.1f}–{hi1 * 100:.1f} %",
                "Top-5": fmt_pct(s.top5),
                "Top-5 95 % CI": f"{lo5 * 100:.1f}–{hi5 * 100:.1f} %",
                f"vs {reference.title}": "—"
                if s is reference
                else f"{(s.top1 - reference.top1) * 100:+.1f} pts",
                "Correct": f"{s.correct1 if s.correct1 is not None else round(s.top1 * s.count)} / {s.count}",
                "ms/img": round(s.ms_per_image, 3),
                "Recipe": s.recipe,
            }
        )
    return table


def render_accuracy(ev: EvaluationResult, spec) -> None:
    from core.plots import accuracy_figure

    st.subheader("Accuracy", divider="gray")
    if not ev.labelled:
        st.info(f"{safe(ev.dataset_name)} has no labels, so no accuracy can be measured on it. Agreement below still "
                "shows how often the variants give the same answer.", icon=":material/label_off:")  # fmt: skip
        return
    st.dataframe(accuracy_table(ev), hide_index=True, key="acc-table",
                 column_config={"ms/img": st.column_config.NumberColumn("ms/img", help="Inference time per image during the evaluation", format="%.3f")})  # fmt: skip
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    with left:
        st.plotly_chart(accuracy_figure(ev), key="acc-figure", config={"displayModeBar": False})
    with right:
        size = ev.dataset_size or 0
        if size and size < SMALL_SET:
            first = next((s for s in ev.results if s.top1_ci95), None)
            interval = (
                f" ({first.title}: {first.top1_ci95[0] * 100:.0f}–{first.top1_ci95[1] * 100:.0f} %)"
                if first
                else ""
            )
            what = (
                "the 20 ImageNet samples"
                if ev.dataset.get("ref") == "builtin:imagenet-samples"
                else "this set"
            )
            st.warning(
                f"n = {size}: on {what} one image moves top-1 by {100 / size:.0f} points, so the 95 % interval is wide"
                f"{interval}. Differences between variants this small are not evidence; agreement below, and a larger "
                "set, say more.",
                icon=":material/straighten:",
            )
        else:
            st.info("Bars show top-1 (solid) and top-5 (hatched); whiskers are Wilson 95 % intervals. Where two "
                    "intervals overlap widely, the data cannot tell those variants apart.", icon=":material/straighten:")  # fmt: skip
        info = DATASETS.get(ev.dataset.get("ref"))
        if spec.published_top1 and info is not None and info.domain == spec.labels:
            published = ", ".join(f"{p.upper()} {v:.1f} %" for p, v in spec.published_top1.items())
            st.caption(f"Published top-1 of the original checkpoint: {published} ({spec.published_source}).")
    st.caption(measured_caption(ev))


def render_agreement(ev: EvaluationResult) -> None:
    if not ev.agreement_detail:
        return
    st.subheader("Agreement between variants", divider="gray")
    st.caption("How often two variants give the same top-1 on the same images, and how much of their top-5 they share; "
               f"needs no labels. Intervals: Wilson 95 %. {measured_caption(ev, full=False)}")  # fmt: skip
    titles = {s.variant: s.title for s in ev.results}
    pairs = list(ev.agreement_detail.values())
    per_row = min(4, len(pairs))
    for start in range(0, len(pairs), per_row):
        for col, a in zip(st.columns(per_row), pairs[start : start + per_row], strict=False):
            overlap = f"; top-5 overlap {a.top5_overlap:.0%}" if a.top5_overlap is not None else ""
            col.metric(
                f"{titles.get(a.a, a.a)} vs {titles.get(a.b, a.b)}",
                f"{a.rate * 100:.1f} %",
                delta=f"{a.count - a.same:,} differ of {a.count:,}",
                delta_color="off",
                delta_arrow="off",
                help=f"{a.same:,} of {a.count:,} images have the same top-1; 95 % CI {a.ci95[0] * 100:.1f}–{a.ci95[1] * 100:.1f} %{overlap}",
                border=True,
            )


def render_confusion(ev: EvaluationResult, names: list[str]) -> None:
    from core.plots import confusion_figure

    variants = ev.variants
    if not ev.labelled:
        st.info("A confusion matrix needs labels; this set has none.", icon=":material/label_off:")
        return
    titles = {s.variant: s.title for s in ev.results}
    default = next((v for v in variants if v.startswith("int8")), variants[-1])
    chosen = st.segmented_control(
        "Variant",
        variants,
        default=default,
        format_func=titles.get,
        key=f"acc-confusion-{Path(ev.path or '').name}",
    )
    st.plotly_chart(confusion_figure(ev, chosen or default, class_names=names), key="acc-confusion-figure")
    st.caption(measured_caption(ev, full=False))


@st.cache_resource(max_entries=4, show_spinner="Opening the images of this set…")
def _samples_by_name(ref: str, count: int | None, model_id: str, root: str) -> dict:
    """The set's images by name; a zip is only read if a job unpacked it already (no unpacking here)."""
    from core.data import load_dataset
    from core.registry import get_model

    spec = get_model(model_id, workspace())
    images = load_dataset(ref, workspace=workspace(), count=count, spec=spec.preprocess, extract=False)
    return {sample.name: sample for sample in images}


def _thumbnail(sample):
    from PIL import Image, ImageOps

    image = sample.image().convert("RGB")
    method = Image.Resampling.NEAREST if max(image.size) < THUMB_PX else Image.Resampling.LANCZOS
    return ImageOps.fit(image, (THUMB_PX, THUMB_PX), method=method)


def render_explorer(ev: EvaluationResult, names: list[str]) -> None:
    variants = ev.variants
    if len(variants) < 2:
        st.info("Evaluate two or more variants to compare them image by image.", icon=":material/compare:")
        return
    titles = {s.variant: s.title for s in ev.results}
    cols = st.columns(2)
    a = cols[0].selectbox("Compare", variants, index=0, format_func=titles.get, key="acc-explore-a")
    rest = [v for v in variants if v != a]
    b = cols[1].selectbox("with", rest, index=len(rest) - 1, format_func=titles.get, key="acc-explore-b")
    found = disagreements(ev, a, b)
    total = len(ev.predictions.get("names") or [])
    if not found:
        st.success(
            f"{safe(titles[a])} and {safe(titles[b])} give the same top-1 on all {total:,} images.",
            icon=":material/check_circle:",
        )
        return
    st.markdown(f"**{len(found):,}** of {total:,} images ({len(found) / total:.1%}) get a different top-1.")
    ref = ev.dataset.get("ref", "")
    count = (
        ev.dataset_size
        if ref in ("builtin:photos", "noise", "builtin:fractal", "builtin:distilled")
        else None
    )
    try:
        samples = _samples_by_name(ref, count, ev.model_id, str(workspace().root))
    except Exception as exc:  # the set may be gone (an upload removed): list predictions without pictures
        samples = {}
        st.warning(f"The images of this set cannot be opened any more ({safe(exc)}); predictions are listed without them.",
                   icon=":material/hide_image:")  # fmt: skip
    with st.container(horizontal=True, gap="small"):
        for row in found[:SHOWN_DISAGREEMENTS]:
            with st.container(border=True, width=230, gap="xsmall"):
                sample = samples.get(row.name)
                if sample is not None:
                    try:
                        st.image(_thumbnail(sample), width=THUMB_PX)
                    except Exception:
                        st.caption(":material/broken_image: image unreadable")
                st.caption(safe(row.name))
                for variant, (index, confidence) in ((a, row.a), (b, row.b)):
                    mark = "" if row.truth is None else (" :green[✓]" if index == row.truth else " :red[✗]")
                    conf = f" ({confidence:.0%})" if confidence is not None else ""
                    st.markdown(f"**{safe(titles[variant])}**: {safe(class_name(names, index))}{conf}{mark}")
                if row.truth is not None:
                    st.markdown(f"True: **{safe(class_name(names, row.truth))}**")
    if len(found) > SHOWN_DISAGREEMENTS:
        st.caption(f"Showing the first {SHOWN_DISAGREEMENTS} of {len(found):,}; download them all below.")
    st.download_button(
        "Download the disagreements (CSV)", disagreement_csv(found, a, b, names), file_name=f"{ev.model_id}-{a}-vs-{b}-disagreements.csv",
        mime="text/csv", icon=":material/download:", key="acc-explore-download",
    )  # fmt: skip


def render_evaluation(ev: EvaluationResult, spec, names: list[str]) -> None:
    render_accuracy(ev, spec)
    render_agreement(ev)
    st.subheader("Where the predictions go", divider="gray")
    confusion_tab, explorer_tab = st.tabs(
        [":material/grid_on: Confusion matrix", ":material/compare: Disagreements"]
    )
    with confusion_tab:
        render_confusion(ev, names)
    with explorer_tab:
        render_explorer(ev, names)


page_setup("Accuracy", "How much accuracy does each variant keep, how sure can we be with this many images, and on which "
           "images do the variants disagree?")  # fmt: skip
top = st.columns([2, 3])
picked = pick_converted_model(top[0])
if picked is not None:
    spec, names = picked
    if not spec.trained:
        st.error(f"**{safe(spec.title)} is untrained** (random weights): its accuracy means nothing, so none is measured. It "
                 "is there for latency only; compare its speed on the Benchmark page.", icon=":material/block:")  # fmt: skip
        st.page_link("app_pages/benchmark.py", label="Open Benchmark", icon=":material/speed:")
    else:
        evaluation_form(spec)
        job_area(spec.id)
        ev = pick_evaluation(spec.id)
        if ev is None:
            st.info("No evaluation of this model yet. Choose a set above and click **Evaluate**; it runs in the background "
                    "and its results appear here (and stay after a reload).", icon=":material/info:")  # fmt: skip
        else:
            try:
                render_evaluation(ev, spec, names)
            except Exception as exc:  # a damaged result file must not take the page down
                show_error(exc)
