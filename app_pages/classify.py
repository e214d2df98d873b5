"""Classify: what each variant predicts for a few images, how fast, and where the variants disagree.

Classification runs from the page (compiled models are cached per server, so a call takes
milliseconds; PyTorch runs in a helper process, never in the web server). The work area is a
fragment: clicking Classify reruns it alone, and all images share one results table and one chart,
so a click costs model time plus little else.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass

import streamlit as st
from PIL import Image, ImageOps

from core.errors import CoreError
from ui import state
from ui.format import safe
from ui.page import page_setup, show_error
from ui.pickers import pick_converted_model, variant_picker
from ui.services import workspace

UPLOAD_TYPES = ["jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp"]
DEFAULT_GALLERY = {"imagenet": "chelsea (cat)", "mnist": "mnist digit 3"}
THUMB_PX = 96
RESULT_THUMB_PX = 64


@dataclass(frozen=True)
class InputImage:
    """One image to classify: a unique display name, the decoded image, and where it came from."""

    name: str
    image: Image.Image
    digest: str
    truth: int | None = None  # class index, for labelled gallery images of the model's own domain
    foreign: bool = False  # a gallery image from a domain the model was not trained on


@st.cache_resource(show_spinner="Loading the sample photos (once per server)…")
def _gallery() -> list:
    from ui.gallery import gallery

    return gallery()


@st.cache_resource(show_spinner=False, max_entries=256)
def _thumbnail(name: str, size: int) -> bytes:
    """A square PNG thumbnail of a gallery sample, encoded once per server; digits are scaled up unblurred."""
    import io

    sample = next(s for s in _gallery() if s.name == name)
    buffer = io.BytesIO()
    square_thumbnail(sample.image(), size).save(buffer, format="PNG")
    return buffer.getvalue()


def square_thumbnail(image: Image.Image, size: int) -> Image.Image:
    image = image.convert("RGB")
    method = Image.Resampling.NEAREST if max(image.size) < size else Image.Resampling.LANCZOS
    return ImageOps.fit(image, (size, size), method=method)


def _data_url(image: Image.Image) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    square_thumbnail(image, RESULT_THUMB_PX).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _domain(sample) -> str:
    """Which label space a gallery sample's label belongs to: "mnist", "imagenet" or "photo" (unlabelled)."""
    if sample.name.startswith("mnist"):
        return "mnist"
    return "imagenet" if sample.label is not None else "photo"


def decode_uploads(files, short_side: int) -> tuple[list[InputImage], list[tuple[str, str]]]:
    """Decode each upload safely (JPEG at the smallest scale the model can use); a file that fails is
    reported by name and the others are kept."""
    from core.data import open_image

    cache: dict = st.session_state.setdefault(state.CLASSIFY_DECODED, {})
    images, failures, seen = [], [], set()
    for uploaded in files or []:
        data = uploaded.getvalue()
        digest = hashlib.sha1(data + str(short_side).encode()).hexdigest()
        seen.add(digest)
        if digest not in cache:
            try:
                cache[digest] = open_image(data, name=uploaded.name, short_side=short_side)
            except CoreError as exc:
                cache[digest] = str(exc)  # plain values only: this module is re-run, its classes change
        found = cache[digest]
        if isinstance(found, str):
            failures.append((uploaded.name, found))
        else:
            images.append(InputImage(uploaded.name, found, digest))
    for stale in set(cache) - seen:  # forget images the user removed
        del cache[stale]
    return images, failures


def _unique_names(images: list[InputImage]) -> list[InputImage]:
    counts: dict[str, int] = {}
    renamed = []
    for item in images:
        counts[item.name] = counts.get(item.name, 0) + 1
        name = item.name if counts[item.name] == 1 else f"{item.name} ({counts[item.name]})"
        renamed.append(InputImage(name, item.image, item.digest, item.truth, item.foreign))
    return renamed


def _truth_index(sample, spec, names: list[str]) -> int | None:
    """The class index of a labelled gallery sample, only when it is in the model's label space."""
    if sample.label is None or _domain(sample) != spec.labels:
        return None
    try:
        index = int(sample.label)
    except ValueError:
        return None
    return index if 0 <= index < len(names) else None


def _gallery_caption(sample, spec, names: list[str]) -> str:
    if _domain(sample) == "imagenet":
        number = sample.name.split("_")[1] if "_" in sample.name else sample.name
        index = int(sample.label)
        what = names[index] if spec.labels == "imagenet" and index < len(names) else f"class {index}"
        return f"#{number} · {what}"
    return sample.name


def gallery_picker(spec, names: list[str]) -> list[InputImage]:
    """Thumbnails with a checkbox each; the model's own domain first, the other domain folded away."""
    samples = _gallery()
    groups = {
        "photo": ("Photos", "real photos that ship with scikit-image, unlabelled"),
        "imagenet": ("20 ImageNet samples", "labelled, so each prediction is checked against the truth"),
        "mnist": ("MNIST digits", "held-out handwritten digits, labelled"),
    }
    own = ["mnist"] if spec.labels == "mnist" else ["photo", "imagenet"]
    other = [g for g in groups if g not in own]
    default = DEFAULT_GALLERY.get(spec.labels, "")
    chosen: list[InputImage] = []

    def grid(group: str, *, heading: bool = True, note: bool = True) -> None:
        if heading:
            title, text = groups[group]
            st.markdown(f"**{title}** · {text}" if note else f"**{title}**")
        with st.container(horizontal=True, gap="small"):
            for sample in samples:
                if _domain(sample) != group:
                    continue
                with st.container(width=THUMB_PX + 24, gap=None):
                    st.image(_thumbnail(sample.name, THUMB_PX), width=THUMB_PX)
                    ticked = st.checkbox(
                        _gallery_caption(sample, spec, names),
                        value=sample.name.startswith(default) if default else False,
                        key=f"cls-gal-{spec.labels}-{sample.name}",
                    )
                if ticked:
                    digest = hashlib.sha1(f"gallery:{sample.name}".encode()).hexdigest()
                    chosen.append(
                        InputImage(
                            sample.name,
                            sample.image(),
                            digest,
                            _truth_index(sample, spec, names),
                            group in other,
                        )
                    )

    grid(own[0])
    for group in own[1:]:
        title, note = groups[group]
        with st.expander(f"{title}: {note}", icon=":material/collections:"):
            grid(group, heading=False)
    with st.expander(
        "Images from another domain (the model was not trained on these)", icon=":material/swap_horiz:"
    ):
        for group in other:
            grid(group, note=False)
    return chosen


def collect_inputs(spec, names: list[str]) -> list[InputImage]:
    gallery_tab, upload_tab, camera_tab = st.tabs(
        [
            ":material/photo_library: Sample photos",
            ":material/upload: Upload",
            ":material/photo_camera: Camera",
        ]
    )
    with gallery_tab:
        picked = gallery_picker(spec, names)
    with upload_tab:
        files = st.file_uploader(
            "Images (JPEG, PNG, BMP, GIF, TIFF, WebP)",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            key="cls-upload",
            help="Every file is decoded safely on the server; a file that cannot be read is reported and skipped.",
        )
        uploaded, failures = decode_uploads(files, spec.preprocess.resize)
        for name, message in failures:
            st.error(f"**{safe(name)}** was skipped: {safe(message)}", icon=":material/broken_image:")
        if uploaded:
            st.caption(f"{len(uploaded)} uploaded image{'s' if len(uploaded) != 1 else ''} ready.")
    with camera_tab:
        st.caption("The browser asks for the camera only once you switch it on.")
        camera = None
        if st.toggle("Use the camera", key=state.CLASSIFY_CAMERA):
            shot = st.camera_input("Take a photo", key="cls-camera")
            if shot is not None:
                from core.data import open_image

                data = shot.getvalue()
                try:
                    camera = InputImage(
                        "camera photo",
                        open_image(data, name="the camera photo"),
                        hashlib.sha1(data).hexdigest(),
                    )
                except CoreError as exc:
                    show_error(exc)
    return _unique_names(picked + uploaded + ([camera] if camera else []))


def classify(model_id: str, images: list[InputImage], variants: list, signature: tuple, exact: bool) -> dict:
    """Run every image through every variant (warm, timed per call) and keep what the page shows."""
    from core.inference import classify_images
    from core.machine import machine_text

    results = classify_images(model_id, [(item.name, item.image) for item in images], [v.id for v in variants],
                              workspace=workspace(), exact=exact)  # fmt: skip
    return {
        "signature": signature,
        "model_id": model_id,
        "variants": [{"id": v.id, "title": v.title} for v in variants],
        "machine": machine_text(),
        "exact": exact,
        "images": [
            {"name": i.name, "thumb": _data_url(i.image), "truth": i.truth, "foreign": i.foreign}
            for i in images
        ],
        "results": [r.to_dict() for r in results],
    }


def verdict(results: list[dict], titles: dict[str, str]) -> tuple[bool, str]:
    """(all agree, sentence): 'FP32 says tabby, INT8 says tiger cat'."""
    by_label: dict[str, list[str]] = {}
    for r in results:
        by_label.setdefault(r["top"][0]["label"], []).append(titles.get(r["variant"], r["variant"]))
    if len(by_label) == 1:
        label = next(iter(by_label))
        return True, f"all say {label}" if len(results) > 1 else label
    return False, "; ".join(f"{', '.join(names)}: {label}" for label, names in by_label.items())


def render_results(stored: dict, names: list[str]) -> None:
    from core.plots import topk_figure

    titles = {v["id"]: v["title"] for v in stored["variants"]}
    order = [v["id"] for v in stored["variants"]]
    st.subheader("Results", divider="gray")
    st.caption(
        f"Measured on **{safe(stored['machine'])}** · batch 1 · OpenVINO LATENCY hint · one inference per image and "
        "variant after one untimed warm-up (models are compiled or loaded before the clock starts; preprocessing is "
        "not timed; PyTorch runs in a helper process and is timed there). "
        + (
            "Exact preprocessing: the model's own resize filter on the full image. "
            if stored.get("exact")
            else "Fast preprocessing: large images shrunk by a whole factor, then resized bilinearly (top-1 agrees with the "
            "exact path on the labelled sets; logits differ slightly). "
        )
        + "Single timings are noisy: the **Benchmark** page measures latency properly."
    )
    by_variant = {v: [r for r in stored["results"] if r["variant"] == v] for v in order}
    reference = "torch" if "torch" in by_variant else order[0]
    ref_ms = statistics.median(r["ms"] for r in by_variant[reference])
    truths = {item["name"]: item["truth"] for item in stored["images"]}
    for col, variant in zip(st.columns(len(order)), order, strict=True):
        rows = by_variant[variant]
        median = statistics.median(r["ms"] for r in rows)
        labelled = [r for r in rows if truths.get(r["image"]) is not None]
        correct = sum(r["top"][0]["index"] == truths[r["image"]] for r in labelled)
        col.metric(
            titles[variant],
            f"{median:.1f} ms",
            delta="reference"
            if variant == reference or median <= 0
            else f"{ref_ms / median:.1f}× vs {titles[reference]}",
            delta_color="off",
            delta_arrow="off",
            help=f"median of {len(rows)} single inference(s) at batch 1"
            + (f"; top-1 correct on {correct} of {len(labelled)} labelled images" if labelled else ""),
            border=True,
        )
    with st.container(horizontal=True, gap="small"):
        for item in stored["images"]:
            results = sorted(
                (r for r in stored["results"] if r["image"] == item["name"]),
                key=lambda r: order.index(r["variant"]),
            )
            agree, sentence = verdict(results, titles)
            truth = item["truth"]
            with st.container(border=True, width=260, gap="xsmall"):
                st.image(item["thumb"], width=RESULT_THUMB_PX)
                st.markdown(f"**{safe(item['name'])}**")
                if agree:
                    st.badge(
                        "variants agree" if len(results) > 1 else "prediction",
                        icon=":material/check_circle:",
                        color="green",
                    )
                else:
                    st.badge("variants disagree", icon=":material/call_split:", color="orange")
                lines = []
                for r in results:
                    best = r["top"][0]
                    mark = "" if truth is None else (" :green[✓]" if best["index"] == truth else " :red[✗]")
                    lines.append(
                        f"{safe(titles[r['variant']])}: **{safe(best['label'])}** {best['probability']:.0%}{mark} · {r['ms']:.1f} ms"
                    )
                st.markdown("  \n".join(lines))
                if truth is not None:
                    st.caption(f"true label: {safe(names[truth] if truth < len(names) else truth)}")
                if item["foreign"]:
                    st.caption(
                        ":material/swap_horiz: not the kind of image this model was trained on: its answer means little"
                    )
                if not agree:
                    st.caption(safe(sentence))
    names_shown = [item["name"] for item in stored["images"]]
    chosen = (
        st.selectbox("Top-5 of one image", names_shown, key="cls-detail")
        if len(names_shown) > 1
        else names_shown[0]
    )
    detail = sorted(
        (r for r in stored["results"] if r["image"] == chosen), key=lambda r: order.index(r["variant"])
    )
    st.plotly_chart(topk_figure(detail), key="cls-topk", config={"displayModeBar": False})


@st.fragment
def work_area(spec, names: list[str]) -> None:
    """Inputs, the Classify button and the results: a click reruns this fragment only."""
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    with left:
        variants = variant_picker(spec, key=state.CLASSIFY_VARIANTS.format(model=spec.id), label="Variants")
    exact = right.toggle("Exact preprocessing", key="cls-exact",
                         help="The model's own resize filter (e.g. bicubic) from the full image, as evaluations use; slower. "
                         "Off: large images are shrunk by a whole factor and resized bilinearly.")  # fmt: skip
    with st.container(border=True):
        images = collect_inputs(spec, names)
        cols = st.columns([1, 3], vertical_alignment="center")
        clicked = cols[0].button(
            "Classify", type="primary", icon=":material/play_arrow:", disabled=not (images and variants),
            key="cls-run", width="stretch",
        )  # fmt: skip
        if not variants:
            cols[1].warning("Choose at least one variant.", icon=":material/warning:")
        elif not images:
            cols[1].info("Tick a sample photo, upload an image or take a photo.", icon=":material/info:")
        else:
            shown = ", ".join(safe(item.name) for item in images[:6]) + (" …" if len(images) > 6 else "")
            cols[1].caption(f"{len(images)} image(s) × {len(variants)} variant(s): {shown}")
    signature = (spec.id, tuple(v.id for v in variants), tuple((i.name, i.digest) for i in images), exact)
    stored = st.session_state.get(state.CLASSIFY_RESULTS)
    changed = stored is not None and stored["signature"] != signature
    if images and variants and (clicked or changed):
        try:
            with st.spinner("Classifying… (the first call of a variant compiles or loads its model)"):
                stored = classify(spec.id, images, variants, signature, exact)
            st.session_state[state.CLASSIFY_RESULTS] = stored
        except Exception as exc:
            show_error(exc)
            return
    if stored is not None and stored["signature"] == signature:
        render_results(stored, names)


page_setup(
    "Classify",
    "What does each variant predict for your images, how fast is one inference, and where do they disagree?",
)
top = st.columns([2, 3], vertical_alignment="bottom")
picked = pick_converted_model(top[0])
if picked is not None:
    work_area(*picked)
