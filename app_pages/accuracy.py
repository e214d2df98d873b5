"""Accuracy: top-1/top-5 per precision with honest intervals, agreement, confusion and disagreements.

An evaluation runs as a job in a worker process; every finished evaluation is saved in the
workspace, so a reload or a second tab shows the same results.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import streamlit as st

from ui.common import (
    PRECISION_LABELS,
    fmt_time,
    format_duration,
    job_panel,
    latest_job,
    pick_converted_model,
    precisions_present,
    runner,
    save_upload,
    show_error,
    workspace,
)

UPLOAD = "upload"
DATASETS = {
    "builtin:mnist": (
        "MNIST digits",
        "4,700 held-out handwritten digits, labelled (never used for calibration)",
    ),
    "builtin:imagenet-samples": (
        "20 ImageNet samples",
        "labelled photos; with n = 20 the uncertainty is wide",
    ),
    "builtin:photos": ("Built-in photos", "unlabelled: agreement between precisions only"),
    UPLOAD: ("Your labelled images", "a .zip: one folder per class, or a CSV of file,label rows inside it"),
}
DOMAINS = {"builtin:mnist": "mnist", "builtin:imagenet-samples": "imagenet", "builtin:photos": "imagenet"}
DOMAIN_NAMES = {
    "mnist": "handwritten digits (MNIST)",
    "imagenet": "ImageNet photos",
    "indices": "its own classes",
}
SMALL_SET = 100  # below this many images an accuracy figure deserves a loud caveat
SHOWN_DISAGREEMENTS = 24
THUMB_PX = 96
UPLOADS_KEY = "accuracy-uploads"  # uploaded file id -> {"path", "name", "size", "labelled", "error"}


def job_key(model_id: str) -> str:
    return f"accuracy-job-{model_id}"


def label(precision: str) -> str:
    return PRECISION_LABELS.get(precision, precision.upper())


def pair_label(pair: str) -> str:
    a, _, b = pair.partition("-vs-")
    return f"{label(a)} vs {label(b)}"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


# inputs --------------------------------------------------------------------------------------


def _keep_name(path: Path, original: str) -> Path:
    """Move a saved upload into its own generated folder under a sanitised copy of the user's name.

    The evaluation then names the set after the user's file (not a random id), and the name still
    never becomes a path of the user's choosing.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(original).name).strip("._") or "upload"
    target = path.parent / path.stem / (Path(safe).stem[:60] + path.suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    return target


def uploaded_set(spec, names: list[str]) -> dict | None:
    """The uploader for a labelled zip; returns {"path", ...} once the zip is checked, else None."""
    from core.data import load_dataset
    from core.errors import CoreError

    uploaded = st.file_uploader(
        "Labelled images (.zip)",
        type=["zip", "csv"],
        key="acc-upload",
        help="Inside the zip: one folder per class (folder name = label), or images beside a CSV of "
        "file,label rows. Labels: class names or class indices.",
    )
    st.caption(
        "A CSV alone cannot carry images: put it in the zip, beside the images it lists "
        "(paths relative to the CSV)."
    )
    if uploaded is None:
        return None
    if Path(uploaded.name).suffix.lower() == ".csv":
        st.error(
            f"**{uploaded.name}** is a CSV without its images. Zip the CSV together with the images it "
            "lists and upload the zip.",
            icon=":material/folder_zip:",
        )
        return None
    cache: dict = st.session_state.setdefault(UPLOADS_KEY, {})
    entry = cache.get(uploaded.file_id)
    if entry is None:
        entry = {"name": uploaded.name}
        try:
            with st.spinner(f"Checking {uploaded.name}…"):
                path = _keep_name(save_upload(uploaded, suffixes=(".zip",)), uploaded.name)
                images = load_dataset(path, workspace=workspace())
                entry.update(path=str(path), size=len(images), labelled=images.labelled)
                if images.labelled:
                    images.label_indices(names)  # a label the model does not know: say so now, not in the job
        except CoreError as exc:
            entry["error"] = str(exc)
        cache[uploaded.file_id] = entry
    if entry.get("error"):
        st.error(entry["error"], icon=":material/error:")
        return None
    kind = "labelled" if entry["labelled"] else "unlabelled (agreement only)"
    st.success(f"**{entry['name']}**: {entry['size']:,} images, {kind}.", icon=":material/check_circle:")
    return entry


def domain_warning(spec, ref: str) -> None:
    domain = DOMAINS.get(ref)
    if domain is None or domain == spec.labels:
        return
    if spec.labels == "mnist":
        what = "LeNet-style digit models see 28×28 grayscale digits"
    else:
        what = f"{spec.title} was trained on {DOMAIN_NAMES.get(spec.labels, 'other images')}"
    st.warning(
        f"This set holds {DOMAIN_NAMES[domain]}, but {what}: accuracy here measures nothing useful, "
        "and even agreement between precisions says little. Pick a set from the model's own domain.",
        icon=":material/warning:",
    )


def evaluation_form(spec, model_id: str, names: list[str]) -> None:
    with st.container(border=True):
        st.markdown("##### :material/dataset: Evaluate")
        refs = list(DATASETS)
        default = {"mnist": "builtin:mnist", "imagenet": "builtin:imagenet-samples"}.get(spec.labels, UPLOAD)
        ref = st.radio(
            "Data set",
            refs,
            index=refs.index(default),
            format_func=lambda r: DATASETS[r][0],
            captions=[DATASETS[r][1] for r in refs],
            horizontal=True,
            key=f"acc-set-{model_id}",
        )
        domain_warning(spec, ref)
        dataset = ref
        if ref == UPLOAD:
            entry = uploaded_set(spec, names)
            dataset = entry["path"] if entry else None
        present = precisions_present(model_id)
        options = (["torch"] if spec.has_torch else []) + present
        cols = st.columns([3, 2, 1], vertical_alignment="bottom")
        precisions = cols[0].multiselect(
            "Precisions",
            options,
            default=present,
            format_func=label,
            key=f"acc-precisions-{model_id}",
            help="Every image is preprocessed once and run through each chosen precision.",
        )
        limit = cols[1].number_input(
            "Images to use",
            min_value=1,
            max_value=100_000,
            value=None,
            step=100,
            placeholder="all of the set",
            key=f"acc-limit-{model_id}",
            help="Fewer images: a deterministic subset (stratified by label, seed 0).",
        )
        ready = bool(precisions) and dataset is not None
        clicked = cols[2].button(
            "Evaluate",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not ready,
            key="acc-run",
            width="stretch",
        )
        if not precisions:
            st.warning("Choose at least one precision.", icon=":material/warning:")
        if clicked and ready:
            config = {
                "model_id": model_id,
                "precisions": [p for p in options if p in precisions],
                "dataset": dataset,
                "limit": int(limit) if limit else None,
            }
            set_name = DATASETS[ref][0] if ref != UPLOAD else Path(dataset).name
            title = f"Evaluate {spec.title.split(' (')[0]} on {set_name}"
            try:
                record = runner().submit("evaluate", config, title=title)
            except Exception as exc:
                show_error(exc)
                return
            st.session_state[job_key(model_id)] = record.id


def job_area(model_id: str):
    """Progress of this model's evaluation job (this session's, or one still running from elsewhere)."""
    from core.jobs import JobState

    record = None
    job_id = st.session_state.get(job_key(model_id))
    if job_id:
        try:
            record = runner().store.get(job_id)
        except Exception:
            st.session_state.pop(job_key(model_id), None)
    if record is None:
        latest = latest_job("evaluate", model_id=model_id)
        if latest is not None and latest.state.active:
            record = latest
    if record is None:
        return None
    if record.state.active or record.state != JobState.SUCCEEDED:
        with st.container(border=True):
            job_panel(record.id, key="accuracy")
    else:
        st.success(
            f"**{record.title}** finished in {format_duration(record.duration)}; its results are below.",
            icon=":material/check_circle:",
        )
    return record


# results -------------------------------------------------------------------------------------


def pick_evaluation(model_id: str, record) -> dict | None:
    evaluations = list(reversed(workspace().results("evaluation", model_id)))  # newest first
    if record is not None and record.result and record.result.get("path"):
        paths = {e.get("_path") for e in evaluations}
        if record.result["path"] not in paths:  # the job's result, even if its file went missing
            evaluations.insert(0, dict(record.result, _path=record.result["path"]))
    if not evaluations:
        return None
    by_path = {e["_path"]: e for e in evaluations}
    key = f"acc-eval-{model_id}"
    newest_key = f"acc-eval-newest-{model_id}"
    newest = evaluations[0]["_path"]
    if st.session_state.get(newest_key) != newest or st.session_state.get(key) not in by_path:
        st.session_state[key] = newest  # a new evaluation arrived: show it
        st.session_state[newest_key] = newest

    def describe(path: str) -> str:
        e = by_path[path]
        precs = ", ".join(label(r["precision"]) for r in e.get("results", []))
        ds = e.get("dataset", {})
        return (
            f"{fmt_time(e.get('created'))} · {ds.get('name', '?')} · {ds.get('size', '?')} images · {precs}"
        )

    path = st.selectbox(
        "Evaluation",
        list(by_path),
        format_func=describe,
        key=key,
        help="Every finished evaluation of this model is kept in the workspace.",
    )
    return by_path[path]


def measured_caption(ev: dict, *, full: bool = True) -> str:
    """How the figures were measured: set, size, fingerprint, device, batch, hint, when."""
    ds = ev.get("dataset", {})
    batches = {r["precision"]: r.get("batch", 1) for r in ev.get("results", [])}
    torch_note = f"; PyTorch batch {batches['torch']}" if "torch" in batches else ""
    size = ds.get("size")
    parts = [
        f"**{ds.get('name', 'unnamed set')}**" + (f", {size:,} images" if isinstance(size, int) else ""),
        f"fingerprint `{str(ds.get('fingerprint', ''))[:12]}`",
        f"{ev.get('device_name') or ev.get('device', 'CPU')}",
        f"OpenVINO batch 1, LATENCY hint{torch_note}",
        f"evaluated {fmt_time(ev.get('created'))}",
    ]
    text = " · ".join(parts)
    description = str(ds.get("description") or "").strip()
    if full and description:
        text += f". {description[0].upper()}{description[1:]}"
    return text


def accuracy_table(ev: dict) -> list[dict]:
    """One row per precision: top-1 and top-5 with their Wilson intervals, the change, the count, the speed."""
    rows = [r for r in ev.get("results", []) if r.get("top1") is not None]
    reference = next((r for r in rows if r["precision"] == "fp32"), rows[0] if rows else None)
    table = []
    for r in rows:
        lo1, hi1 = r.get("top1_ci95") or (r["top1"], r["top1"])
        lo5, hi5 = r.get("top5_ci95") or (r["top5"], r["top5"])
        table.append(
            {
                "Precision": label(r["precision"]),
                "Top-1": percent(r["top1"]),
                "95 % CI": f"{lo1 * 100:.1f}–{hi1 * 100:.1f} %",
                "Top-5": percent(r["top5"]),
                "Top-5 95 % CI": f"{lo5 * 100:.1f}–{hi5 * 100:.1f} %",
                f"vs {label(reference['precision'])}": "—"
                if r is reference
                else f"{(r['top1'] - reference['top1']) * 100:+.1f} pts",
                "Correct": f"{r.get('correct1', round(r['top1'] * r['count']))} / {r['count']}",
                "ms/img": round(r.get("ms_per_image", 0.0), 2),
            }
        )
    return table


def render_accuracy(ev: dict, spec) -> None:
    from core.plots import accuracy_figure

    st.subheader("Accuracy", divider="gray")
    ds = ev.get("dataset", {})
    if not ds.get("labelled"):
        st.info(
            f"{ds.get('name', 'This set')} has no labels, so no accuracy can be measured on it. "
            "Agreement below still shows how often the precisions give the same answer.",
            icon=":material/label_off:",
        )
        return
    st.dataframe(
        accuracy_table(ev),
        hide_index=True,
        key="acc-table",
        column_config={
            "ms/img": st.column_config.NumberColumn(
                "ms/img", help="Inference time per image during the evaluation", format="%.2f"
            ),
        },
    )
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    with left:
        st.plotly_chart(accuracy_figure(ev), key="acc-figure", config={"displayModeBar": False})
    with right:
        size = ds.get("size") or 0
        if size and size < SMALL_SET:
            fp = next((r for r in ev["results"] if r.get("top1_ci95")), None)
            interval = (
                f" ({label(fp['precision'])}: {fp['top1_ci95'][0] * 100:.0f}–{fp['top1_ci95'][1] * 100:.0f} %)"
                if fp
                else ""
            )
            what = "the 20 ImageNet samples" if ds.get("ref") == "builtin:imagenet-samples" else "this set"
            st.warning(
                f"n = {size}: on {what} one image moves top-1 by {100 / size:.0f} points, so the 95 % "
                f"interval is wide{interval}. Differences between precisions this small are not evidence; "
                "agreement below, and a larger set, say more.",
                icon=":material/straighten:",
            )
        else:
            st.info(
                "Bars show top-1 (solid) and top-5 (hatched); whiskers are Wilson 95 % intervals. "
                "Where two intervals overlap widely, the data cannot tell those precisions apart.",
                icon=":material/straighten:",
            )
        if spec.published_top1 and DOMAINS.get(ds.get("ref")) == spec.labels:
            published = ", ".join(f"{label(p)} {v:.1f} %" for p, v in spec.published_top1.items())
            st.caption(f"Published top-1 of the original checkpoint: {published} ({spec.published_source}).")
    st.caption(measured_caption(ev))


def render_agreement(ev: dict) -> None:
    detail = ev.get("agreement_detail") or {}
    if not detail:
        return
    st.subheader("Agreement between precisions", divider="gray")
    st.caption(
        "How often two precisions give the same top-1 on the same images; needs no labels. "
        f"Intervals: Wilson 95 %. {measured_caption(ev, full=False)}"
    )
    pairs = list(detail.items())
    per_row = min(4, len(pairs))
    for start in range(0, len(pairs), per_row):
        cols = st.columns(per_row)
        for col, (pair, d) in zip(cols, pairs[start : start + per_row], strict=False):
            lo, hi = d.get("ci95", (d["rate"], d["rate"]))
            col.metric(
                pair_label(pair),
                f"{d['rate'] * 100:.1f} %",
                delta=f"{d['count'] - d['same']:,} differ of {d['count']:,}",
                delta_color="off",
                delta_arrow="off",
                help=f"{d['same']:,} of {d['count']:,} images have the same top-1; 95 % CI {lo * 100:.1f}–{hi * 100:.1f} %",
                border=True,
            )


def render_confusion(ev: dict, names: list[str]) -> None:
    from core.plots import confusion_figure

    precisions = [r["precision"] for r in ev.get("results", [])]
    if not (ev.get("dataset") or {}).get("labelled"):
        st.info("A confusion matrix needs labels; this set has none.", icon=":material/label_off:")
        return
    default = "int8" if "int8" in precisions else precisions[-1]
    chosen = st.segmented_control(
        "Precision", precisions, default=default, format_func=label, key=f"acc-confusion-{ev['_path']}"
    )
    chosen = chosen or default
    st.plotly_chart(confusion_figure(ev, chosen, class_names=names), key="acc-confusion-figure")
    st.caption(measured_caption(ev, full=False))


@st.cache_resource(max_entries=4, show_spinner="Opening the images of this set…")
def _samples_by_name(ref: str, count: int | None, model_id: str, root: str) -> dict:
    from core.data import load_dataset
    from core.registry import get_model

    spec = get_model(model_id, workspace())
    images = load_dataset(ref, workspace=workspace(), count=count, spec=spec.preprocess)
    return {sample.name: sample for sample in images}


def _thumbnail(sample) -> object:
    from PIL import Image, ImageOps

    image = sample.image().convert("RGB")
    method = Image.Resampling.NEAREST if max(image.size) < THUMB_PX else Image.Resampling.LANCZOS
    return ImageOps.fit(image, (THUMB_PX, THUMB_PX), method=method)


def disagreements(ev: dict, a: str, b: str) -> list[int]:
    top1 = (ev.get("predictions") or {}).get("top1") or {}
    if a not in top1 or b not in top1:
        return []
    return [i for i, (x, y) in enumerate(zip(top1[a], top1[b], strict=True)) if x != y]


def _class(names: list[str], index) -> str:
    if index is None:
        return "—"
    return names[index] if 0 <= index < len(names) else str(index)


def render_explorer(ev: dict, names: list[str]) -> None:
    predictions = ev.get("predictions") or {}
    precisions = [p for p in (predictions.get("top1") or {})]
    if len(precisions) < 2:
        st.info("Evaluate two or more precisions to compare them image by image.", icon=":material/compare:")
        return
    cols = st.columns(2)
    a = cols[0].selectbox("Compare", precisions, index=0, format_func=label, key="acc-explore-a")
    rest = [p for p in precisions if p != a]
    b = cols[1].selectbox("with", rest, index=len(rest) - 1, format_func=label, key="acc-explore-b")
    found = disagreements(ev, a, b)
    total = len(predictions.get("names", []))
    if not found:
        st.success(
            f"{label(a)} and {label(b)} give the same top-1 on all {total:,} images.",
            icon=":material/check_circle:",
        )
        return
    st.markdown(f"**{len(found):,}** of {total:,} images ({len(found) / total:.1%}) get a different top-1.")
    ds = ev.get("dataset", {})
    count = ds.get("size") if ds.get("ref") in ("builtin:photos", "noise") else None
    try:
        samples = _samples_by_name(ds.get("ref", ""), count, ev["model_id"], str(workspace().root))
    except Exception as exc:  # the set may be gone (an upload removed): list predictions without pictures
        samples = {}
        st.warning(
            f"The images of this set cannot be opened any more ({exc}); predictions are listed without them.",
            icon=":material/hide_image:",
        )
    labels, prob, top1 = predictions.get("labels", []), predictions.get("prob", {}), predictions["top1"]
    rows = []
    for i in found:
        truth = labels[i] if i < len(labels) else None
        rows.append(
            {
                "name": predictions["names"][i],
                "truth": truth,
                a: (top1[a][i], prob.get(a, [None] * total)[i]),
                b: (top1[b][i], prob.get(b, [None] * total)[i]),
            }
        )
    with st.container(horizontal=True, gap="small"):
        for row in rows[:SHOWN_DISAGREEMENTS]:
            with st.container(border=True, width=230, gap="xsmall"):
                sample = samples.get(row["name"])
                if sample is not None:
                    try:
                        st.image(_thumbnail(sample), width=THUMB_PX)
                    except Exception:
                        st.caption(":material/broken_image: image unreadable")
                st.caption(row["name"])
                for p in (a, b):
                    index, confidence = row[p]
                    mark = ""
                    if row["truth"] is not None:
                        mark = " :green[✓]" if index == row["truth"] else " :red[✗]"
                    conf = f" ({confidence:.0%})" if confidence is not None else ""
                    st.markdown(f"**{label(p)}**: {_class(names, index)}{conf}{mark}")
                if row["truth"] is not None:
                    st.markdown(f"True: **{_class(names, row['truth'])}**")
    if len(rows) > SHOWN_DISAGREEMENTS:
        st.caption(f"Showing the first {SHOWN_DISAGREEMENTS} of {len(rows):,}; download them all below.")
    st.download_button(
        "Download the disagreements (CSV)",
        _disagreement_csv(rows, a, b, names),
        file_name=f"{ev['model_id']}-{a}-vs-{b}-disagreements.csv",
        mime="text/csv",
        icon=":material/download:",
        key="acc-explore-download",
    )


def _disagreement_csv(rows: list[dict], a: str, b: str, names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image", "true label", f"{a} top-1", f"{a} confidence", f"{b} top-1", f"{b} confidence"])
    for row in rows:
        writer.writerow(
            [
                row["name"],
                _class(names, row["truth"]) if row["truth"] is not None else "",
                _class(names, row[a][0]),
                row[a][1],
                _class(names, row[b][0]),
                row[b][1],
            ]
        )
    return buffer.getvalue()


def render_evaluation(ev: dict, spec, names: list[str]) -> None:
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


def main() -> None:
    st.title("Accuracy")
    st.caption(
        "How much accuracy does each precision keep, how sure can we be with this many images, "
        "and on which images do the precisions disagree?"
    )
    top = st.columns([2, 3])
    picked = pick_converted_model(top[0])
    if picked is None:
        return
    model_id, spec, names = picked
    if not spec.trained:
        st.error(
            f"**{spec.title} is untrained** (random weights): its accuracy means nothing, so none is measured. "
            "It is there for latency only; compare its speed on the Benchmark page.",
            icon=":material/block:",
        )
        st.page_link("app_pages/benchmark.py", label="Open Benchmark", icon=":material/speed:")
        return
    evaluation_form(spec, model_id, names)
    record = job_area(model_id)
    ev = pick_evaluation(model_id, record)
    if ev is None:
        st.info(
            "No evaluation of this model yet. Choose a set above and click **Evaluate**; "
            "it runs in the background and its results appear here (and stay after a reload).",
            icon=":material/info:",
        )
        return
    try:
        render_evaluation(ev, spec, names)
    except Exception as exc:  # a damaged result file must not take the page down
        show_error(exc)


main()
