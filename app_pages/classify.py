"""Classify: what each precision predicts for a few images, how fast, and where the precisions disagree.

Classification runs in the page (compiled models are cached per server, so a call takes
milliseconds); results live in session state and are recomputed only when the inputs change.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass

import streamlit as st
from PIL import Image, ImageOps

from ui.common import (
    PRECISION_LABELS,
    pick_converted_model,
    precisions_present,
    show_error,
    workspace,
)

RESULTS_KEY = "classify-results"  # the last classification of this session, with the inputs it answers
DECODED_KEY = "classify-decoded"  # uploads decoded once: sha1 of the bytes -> image, or the error text
CAMERA_KEY = "classify-camera-on"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp"]
DEFAULT_GALLERY = {"imagenet": "chelsea (cat)", "mnist": "mnist digit 3"}
THUMB_PX = 96
RESULT_THUMB_PX = 180


@dataclass(frozen=True)
class InputImage:
    """One image to classify: a unique display name, the decoded image, and where it came from."""

    name: str
    image: Image.Image
    digest: str
    truth: int | None = None  # class index, for labelled gallery images of the model's own domain
    foreign: bool = False  # a gallery image from a domain the model was not trained on


@dataclass(frozen=True)
class UploadFailure:
    name: str
    message: str


@st.cache_resource(show_spinner="Loading the sample photos (once per server)…")
def _gallery() -> list:
    from ui.gallery import gallery

    return gallery()


@st.cache_resource(show_spinner=False)
def _thumbnail(name: str, size: int) -> Image.Image:
    """A square thumbnail of a gallery sample; digits are scaled up without blurring."""
    sample = next(s for s in _gallery() if s.name == name)
    return square_thumbnail(sample.image(), size)


def square_thumbnail(image: Image.Image, size: int) -> Image.Image:
    image = image.convert("RGB")
    small = max(image.size) < size
    method = Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS
    return ImageOps.fit(image, (size, size), method=method)


def _domain(sample) -> str:
    """Which label space a gallery sample's label belongs to: "mnist", "imagenet" or "photo" (unlabelled)."""
    if sample.name.startswith("mnist"):
        return "mnist"
    return "imagenet" if sample.label is not None else "photo"


def decode_uploads(files) -> tuple[list[InputImage], list[UploadFailure]]:
    """Decode each upload safely; a file that fails is reported by name and the others are kept."""
    from core.data import open_image
    from core.errors import CoreError

    cache: dict = st.session_state.setdefault(DECODED_KEY, {})
    images, failures, seen = [], [], set()
    for uploaded in files or []:
        data = uploaded.getvalue()
        digest = hashlib.sha1(data).hexdigest()
        seen.add(digest)
        if digest not in cache:
            try:
                cache[digest] = open_image(data, name=uploaded.name)
            except CoreError as exc:
                cache[digest] = str(exc)  # plain values only: this module is re-run, its classes change
        found = cache[digest]
        if isinstance(found, str):
            failures.append(UploadFailure(uploaded.name, found))
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
                    image = sample.image()
                    digest = hashlib.sha1(f"gallery:{sample.name}".encode()).hexdigest()
                    truth = _truth_index(sample, spec, names)
                    chosen.append(InputImage(sample.name, image, digest, truth, group in other))

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


def collect_inputs(spec, names: list[str]) -> tuple[list[InputImage], list[UploadFailure]]:
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
        uploaded, failures = decode_uploads(files)
        for failure in failures:
            st.error(f"**{failure.name}** was skipped: {failure.message}", icon=":material/broken_image:")
        if uploaded:
            st.caption(f"{len(uploaded)} uploaded image{'s' if len(uploaded) != 1 else ''} ready.")
    with camera_tab:
        st.caption("The browser asks for the camera only once you switch it on.")
        camera = None
        if st.toggle("Use the camera", key=CAMERA_KEY):
            shot = st.camera_input("Take a photo", key="cls-camera")
            if shot is not None:
                from core.data import open_image
                from core.errors import CoreError

                data = shot.getvalue()
                try:
                    camera = InputImage(
                        "camera photo",
                        open_image(data, name="the camera photo"),
                        hashlib.sha1(data).hexdigest(),
                    )
                except CoreError as exc:
                    show_error(exc)
    images = picked + uploaded + ([camera] if camera else [])
    return _unique_names(images), failures


def _runtime_facts(model_id: str, precisions: list[str], *, only_cached: set[str] | None = None) -> dict:
    """How the OpenVINO models were compiled: hint, threads and compile time, from the cached entries.

    With `only_cached`, precisions whose model is not compiled yet are left out (nothing is compiled).
    """
    from core.runtime import compile_artifact

    ws = workspace()
    facts = {}
    for precision in precisions:
        if precision == "torch":
            continue
        artifact = ws.require_artifact(model_id, precision)
        if only_cached is not None and str(artifact.xml) not in only_cached:
            continue
        entry = compile_artifact(artifact, workspace=ws, device="CPU", hint="latency", batch=1)  # a cache hit
        facts[precision] = {
            "hint": entry.hint,
            "threads": entry.property("INFERENCE_NUM_THREADS"),
            "compile_ms": entry.compile_ms,
            "xml": str(artifact.xml),
        }
    return facts


def classify(model_id: str, images: list[InputImage], precisions: list[str], signature: tuple) -> dict:
    from core.inference import classify_images
    from core.runtime import device_name, runtime_cache_info

    cached = runtime_cache_info()
    before = {c["xml"] for c in cached["compiled"] if c["hint"] == "LATENCY" and c["batch"] == 1}
    torch_before = model_id in cached["torch"]
    known = _runtime_facts(model_id, [p for p in precisions if p != "torch"], only_cached=before)
    cold = [p for p in precisions if (p == "torch" and not torch_before) or (p != "torch" and p not in known)]
    if cold:  # load, compile and run each new model once, so its first-call warm-up is not timed
        classify_images(model_id, [(images[0].name, images[0].image)], cold, workspace=workspace())
    results = classify_images(
        model_id, [(item.name, item.image) for item in images], precisions, workspace=workspace()
    )
    facts = _runtime_facts(model_id, precisions)
    for precision, fact in facts.items():
        fact["compiled_now"] = precision in cold
    return {
        "signature": signature,
        "model_id": model_id,
        "precisions": list(precisions),
        "device_name": device_name("CPU"),
        "facts": facts,
        "torch_built_now": "torch" in precisions and not torch_before,
        "images": [
            {
                "name": item.name,
                "thumb": square_thumbnail(item.image, RESULT_THUMB_PX),
                "truth": item.truth,
                "foreign": item.foreign,
            }
            for item in images
        ],
        "results": [r.to_dict() for r in results],
    }


def _names(precisions) -> str:
    labels = [PRECISION_LABELS.get(p, p.upper()) for p in precisions]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def verdict(results: list[dict]) -> tuple[bool, str]:
    """(all agree, sentence): 'FP32 says tabby, INT8 says tiger cat'."""
    by_label: dict[str, list[str]] = {}
    for r in results:
        by_label.setdefault(r["top"][0]["label"], []).append(r["precision"])
    if len(by_label) == 1:
        label = next(iter(by_label))
        return True, f"All precisions say **{label}**" if len(results) > 1 else f"Top-1: **{label}**"
    parts = [
        f"{_names(precs)} {'says' if len(precs) == 1 else 'say'} **{label}**"
        for label, precs in by_label.items()
    ]
    return False, ", ".join(parts)


def measurement_caption(stored: dict) -> str:
    facts = stored["facts"]
    threads = {f["threads"] for f in facts.values() if f.get("threads")}
    thread_text = f"{threads.pop()} OpenVINO threads" if len(threads) == 1 else "OpenVINO threads: all cores"
    compiled = [
        f"{PRECISION_LABELS[p]} {f['compile_ms']:.0f} ms" for p, f in facts.items() if f.get("compiled_now")
    ]
    parts = [
        f"Measured on **{stored['device_name']}**",
        "batch 1",
        "OpenVINO LATENCY hint",
        thread_text,
        "one inference per image and precision (inference only; preprocessing excluded)",
    ]
    text = " · ".join(parts) + ". "
    if compiled:
        text += f"Compiled for this run: {', '.join(compiled)}. "
    text += (
        "The first use of a precision in this server compiles its model (or loads it from the OpenVINO "
        "cache) and runs one warm-up inference; neither is in the times shown."
    )
    if "torch" in stored["precisions"]:
        text += " PyTorch runs eagerly with its own default threads"
        text += " (its model was built just now, not counted)." if stored.get("torch_built_now") else "."
    text += " Single timings are noisy: the **Benchmark** page measures latency properly."
    return text


def render_summary(stored: dict) -> None:
    precisions = stored["precisions"]
    by_precision = {p: [r for r in stored["results"] if r["precision"] == p] for p in precisions}
    reference = "torch" if "torch" in precisions else ("fp32" if "fp32" in precisions else precisions[0])
    ref_ms = statistics.median(r["ms"] for r in by_precision[reference])
    truths = {item["name"]: item["truth"] for item in stored["images"]}
    cols = st.columns(len(precisions))
    for col, precision in zip(cols, precisions, strict=True):
        rows = by_precision[precision]
        median = statistics.median(r["ms"] for r in rows)
        delta = "reference"
        if precision != reference and median > 0:
            delta = f"{ref_ms / median:.1f}× vs {PRECISION_LABELS[reference]}"
        labelled = [r for r in rows if truths.get(r["image"]) is not None]
        correct = sum(r["top"][0]["index"] == truths[r["image"]] for r in labelled)
        help_text = f"median of {len(rows)} single inference{'s' if len(rows) != 1 else ''} at batch 1"
        if labelled:
            help_text += f"; top-1 correct on {correct} of {len(labelled)} labelled images"
        col.metric(
            PRECISION_LABELS[precision],
            f"{median:.1f} ms",
            delta=delta,
            delta_color="off",
            delta_arrow="off",
            help=help_text,
            border=True,
        )


def render_image(index: int, item: dict, results: list[dict], names: list[str]) -> None:
    from core.plots import topk_figure

    agree, sentence = verdict(results)
    with st.container(border=True):
        left, right = st.columns([1, 4], gap="medium")
        with left:
            st.image(item["thumb"], width=RESULT_THUMB_PX)
            st.markdown(f"**{item['name']}**")
            if item.get("foreign"):
                st.caption(
                    ":material/swap_horiz: Not the kind of image this model was trained on: its answer means little."
                )
            truth = item["truth"]
            if truth is not None:
                st.caption(f"True label: **{names[truth] if truth < len(names) else truth}**")
                marks = [
                    f"{':green[✓]' if r['top'][0]['index'] == truth else ':red[✗]'} {PRECISION_LABELS[r['precision']]}"
                    for r in results
                ]
                st.markdown(" · ".join(marks))
        with right:
            if agree:
                st.badge(
                    "Precisions agree" if len(results) > 1 else "Prediction",
                    icon=":material/check_circle:",
                    color="green",
                )
            else:
                st.badge("Precisions disagree on the top-1", icon=":material/call_split:", color="orange")
            st.markdown(sentence)
            st.plotly_chart(topk_figure(results), key=f"cls-topk-{index}", config={"displayModeBar": False})
            st.caption(
                "Time, one inference at batch 1: "
                + " · ".join(f"{PRECISION_LABELS[r['precision']]} {r['ms']:.1f} ms" for r in results)
            )


def render_results(stored: dict, names: list[str]) -> None:
    st.subheader("Results", divider="gray")
    st.caption(measurement_caption(stored))
    render_summary(stored)
    for index, item in enumerate(stored["images"]):
        results = [r for r in stored["results"] if r["image"] == item["name"]]
        order = {p: i for i, p in enumerate(stored["precisions"])}
        render_image(index, item, sorted(results, key=lambda r: order[r["precision"]]), names)


def main() -> None:
    st.title("Classify")
    st.caption(
        "What does each precision predict for your images, how fast is one inference, "
        "and where do the precisions disagree?"
    )
    top = st.columns([2, 3], vertical_alignment="bottom")
    picked = pick_converted_model(top[0])
    if picked is None:
        return
    model_id, spec, names = picked
    present = precisions_present(model_id)
    options = (["torch"] if spec.has_torch else []) + present
    with top[1]:
        precisions = st.multiselect(
            "Precisions",
            options,
            default=options,
            format_func=lambda p: PRECISION_LABELS.get(p, p.upper()),
            key=f"cls-precisions-{model_id}",
            help="PyTorch is the reference the OpenVINO models were converted from.",
        )

    with st.container(border=True):
        images, _ = collect_inputs(spec, names)
        count = len(images)
        cols = st.columns([1, 3], vertical_alignment="center")
        clicked = cols[0].button(
            "Classify",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not (images and precisions),
            key="cls-run",
            width="stretch",
        )
        if not precisions:
            cols[1].warning("Choose at least one precision.", icon=":material/warning:")
        elif not images:
            cols[1].info("Tick a sample photo, upload an image or take a photo.", icon=":material/info:")
        else:
            cols[1].caption(
                f"{count} image{'s' if count != 1 else ''} × {len(precisions)} precision"
                f"{'s' if len(precisions) != 1 else ''}: "
                + ", ".join(item.name for item in images[:6])
                + (" …" if count > 6 else "")
            )

    ordered = [p for p in options if p in precisions]
    signature = (model_id, tuple(ordered), tuple((item.name, item.digest) for item in images))
    stored = st.session_state.get(RESULTS_KEY)
    changed = stored is not None and stored["signature"] != signature
    if images and ordered and (clicked or changed):
        try:
            with st.spinner("Classifying… (the first call of a precision compiles its model)"):
                stored = classify(model_id, images, ordered, signature)
            st.session_state[RESULTS_KEY] = stored
        except Exception as exc:
            show_error(exc)
            return
    if stored is not None and stored["signature"] == signature:
        render_results(stored, names)


main()
