"""Models: bring a model in (bundled, torchvision or your upload), convert it, and see what each file is.

Uploaded files are only saved here, under generated names; they are parsed inside the convert job's
worker process, never in the web server.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from core.bundle import artifact_zip, bundle_name
from core.convert import PREPROCESS_PRESETS
from core.errors import CoreError, InputError
from core.jobs import JobRecord, JobState
from core.registry import TORCHVISION_ARCHITECTURES
from core.workspace import Artifact, check_model_id
from ui.common import (
    MIB,
    MODEL_KEY,
    PRECISION_LABELS,
    fmt_time,
    job_panel,
    job_status_line,
    latest_job,
    model_specs,
    run_safely,
    runner,
    save_upload,
    show_error,
    workspace,
)

SOURCE_KEY = "models-source"
SOURCES = {
    "bundled": ":material/inventory_2: Bundled",
    "torchvision": ":material/category: torchvision",
    "yours": ":material/person: Your models",
    "upload": ":material/upload_file: Upload",
}
UPLOAD_KINDS = {
    "state_dict": "PyTorch state dict (.pt / .pth) + its architecture",
    "onnx": "ONNX (.onnx)",
    "ir": "OpenVINO IR (.xml + .bin)",
}
LABELS = {"imagenet": "ImageNet-1k", "mnist": "MNIST digits", "indices": "class indices"}
PRESET_HELP = {
    "imagenet-torchvision": "ImageNet, torchvision style: bilinear resize, mean/std normalisation",
    "imagenet-tf-lite": "ImageNet, TF-Lite style: bicubic resize, (x − 127) / 128",
    "mnist": "MNIST: one grey channel, 28 px, scaled to 0..1",
}
ROUTES = {"direct": "Direct: PyTorch → OpenVINO", "onnx": "Via ONNX: PyTorch → ONNX → OpenVINO"}
IR_ORDER = ("fp32", "fp16", "int8")


# small helpers -------------------------------------------------------------------------------


def _labels_text(spec) -> str:
    name = LABELS.get(spec.labels, spec.labels)
    return f"{name} ({spec.num_classes} classes)" if spec.num_classes else name


def _params_text(count: int | None) -> str:
    if not count:
        return "—"
    return f"{count / 1e6:.2f} M" if count >= 1e6 else f"{count / 1e3:.0f} k"


def _shape_text(shape) -> str:
    return " × ".join(str(d) for d in shape) if shape else "—"


def _active_import_names() -> set[str]:
    return {
        r.config["import"].get("name")
        for r in runner().store.list(active_only=True)
        if r.kind == "convert" and isinstance(r.config.get("import"), dict)
    }


def _name_taken(name: str, known: set[str]) -> bool:
    return name in known or workspace().model_dir(name).exists() or name in _active_import_names()


def _free_name(base: str, known: set[str]) -> str:
    name, n = base, 2
    while _name_taken(name, known):
        name, n = f"{base}-{n}", n + 1
    return name


def _check_new_name(name: str, known: set[str]) -> str:
    name = name.strip()
    check_model_id(name)
    if _name_taken(name, known):
        raise InputError(f"a model named {name!r} already exists or is being imported; choose another name")
    return name


def _latest_import(architecture: str | None = None) -> JobRecord | None:
    for record in runner().store.list(limit=100):
        block = record.config.get("import") if record.kind == "convert" else None
        if isinstance(block, dict) and (architecture is None or block.get("architecture") == architecture):
            return record
    return None


def _show_model(model_id: str) -> None:
    """Callback: open a freshly imported model under "Your models"."""
    st.session_state[SOURCE_KEY] = "yours"
    st.session_state["models-pick-yours"] = model_id
    st.session_state[MODEL_KEY] = model_id


# inputs --------------------------------------------------------------------------------------


def _conversion_options(key: str, *, has_torch: bool = True) -> tuple[list[str], str]:
    cols = st.columns(2)
    with cols[0]:
        precisions = st.pills(
            "Precisions",
            ["fp32", "fp16"],
            selection_mode="multi",
            default=["fp32", "fp16"],
            format_func=PRECISION_LABELS.get,
            key=f"{key}-precisions",
            help="FP16 stores weights in half precision: half the size; CPUs compute in FP32 or BF16 anyway. "
            "INT8 comes from the Quantize page.",
        )
    route = "direct"
    if has_torch:
        with cols[1]:
            route = st.radio(
                "Route",
                list(ROUTES),
                format_func=ROUTES.get,
                key=f"{key}-route",
                help="Both give the same OpenVINO model for these networks; the ONNX route is the classic one "
                "and helps when direct tracing fails.",
            )
    return list(precisions or []), route


def _pick(label: str, ids: list[str], titles: dict[str, str], key: str) -> str:
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)
    current = st.session_state.get(MODEL_KEY)
    if key not in st.session_state:
        st.session_state[key] = current if current in ids else ids[0]
    choice = st.selectbox(label, ids, format_func=titles.get, key=key)
    st.session_state[MODEL_KEY] = choice
    return choice


def _convert_card(spec) -> None:
    with st.container(border=True):
        st.markdown("**:material/sync_alt: Convert to OpenVINO**")
        precisions, route = _conversion_options(f"convert-{spec.id}", has_torch=spec.has_torch)
        latest = latest_job("convert", model_id=spec.id)
        busy = latest is not None and latest.state.active
        if st.button(
            "Convert",
            type="primary",
            icon=":material/play_arrow:",
            disabled=busy,
            key=f"convert-go-{spec.id}",
            help="A conversion of this model is already queued or running" if busy else None,
        ):
            if not precisions:
                st.error("Choose at least one precision (FP32, FP16 or both).", icon=":material/error:")
            else:
                names = " + ".join(PRECISION_LABELS[p] for p in precisions)
                submitted = run_safely(
                    runner().submit,
                    "convert",
                    {"model_id": spec.id, "precisions": precisions, "route": route},
                    title=f"Convert {spec.title.split(' (')[0]} to {names}",
                )
                if submitted is not None:
                    st.rerun()
        if latest is not None:
            job_panel(latest.id, key="convert")


def _import_panel(record: JobRecord | None) -> None:
    """Progress of the latest import; once it succeeded, a way to the new model."""
    if record is None:
        return
    if record.state.active:
        job_panel(record.id, key="import")
        return
    st.markdown(job_status_line(record))
    if record.state == JobState.FAILED:
        error = record.error or "the import failed; see its log on Jobs"
        for saved, original in (record.config.get("uploaded_as") or {}).items():
            error = error.replace(saved, original)  # the user knows their file by its own name
        st.error(error, icon=":material/error:")
    elif record.state != JobState.SUCCEEDED:
        st.warning(record.message or record.state.value, icon=":material/warning:")
    else:
        model_id = (record.result or {}).get("model_id") or record.config["import"]["name"]
        if workspace().model_dir(model_id).exists():
            st.button(
                f"Open {model_id}",
                icon=":material/arrow_forward:",
                on_click=_show_model,
                args=(model_id,),
                key=f"open-import-{record.id}",
            )


def _save(uploads: list, suffixes: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Save uploads under generated names; also return generated name -> the user's name, for messages."""
    paths = [save_upload(u, suffixes=suffixes) for u in uploads]
    return [str(p) for p in paths], {p.name: u.name for p, u in zip(paths, uploads, strict=True)}


def _submit_import(
    block: dict, precisions: list[str], route: str, title: str, uploaded_as: dict[str, str] | None = None
) -> None:
    if not precisions:
        raise InputError("choose at least one precision (FP32, FP16 or both)")
    config = {"model_id": block["name"], "precisions": precisions, "route": route, "import": block}
    if uploaded_as:
        config["uploaded_as"] = uploaded_as
    runner().submit("convert", config, title=title)


def _bundled(specs: list):
    bundled = [s for s in specs if s.source == "bundled"]
    spec = _by_id(bundled)[_pick("Model", [s.id for s in bundled], _titles(bundled), "models-pick-bundled")]
    st.caption(
        f"{spec.description} Licence: {spec.license}. Weights ship inside a Python package: no download."
    )
    _convert_card(spec)
    return spec


def _torchvision(specs: list, known: set[str]):
    ids = {a.replace("_", "-") for a in TORCHVISION_ARCHITECTURES}
    archs = [s for s in specs if s.id in ids]
    spec = _by_id(archs)[
        _pick("Architecture", [s.id for s in archs], _titles(archs), "models-pick-torchvision")
    ]
    if spec.trained:
        st.caption(f"{spec.description} Licence: {spec.license}.")
        _convert_card(spec)
        return spec
    with st.container(border=True):
        st.warning(
            f"Pretrained {spec.title.split(' (')[0]} weights are not on this machine, and nothing is downloaded "
            "at run time. Two ways on:",
            icon=":material/cloud_off:",
        )
        way = st.radio(
            "How to go on",
            ["weights", "untrained"],
            format_func={
                "weights": "Upload your own state dict (.pt / .pth) for this architecture",
                "untrained": "Run it untrained: random weights, for latency only",
            }.get,
            key=f"tv-way-{spec.id}",
        )
        untrained = way == "untrained"
        upload = None
        if untrained:
            st.caption(
                ":material/science: An untrained model is marked as such everywhere: its speed is real, "
                "but no accuracy is ever shown for it."
            )
        else:
            upload = st.file_uploader(
                "State dict",
                type=["pt", "pth"],
                key=f"tv-file-{spec.id}",
                help="torch.save(model.state_dict(), 'weights.pt'); loaded with weights_only=True, so pickled "
                "whole models are refused.",
            )
        suggested = _free_name(f"{spec.id}-{'untrained' if untrained else 'custom'}", known)
        name = st.text_input(
            "Name of the new model",
            value=suggested,
            key=f"tv-name-{spec.id}-{way}",
            help="Lowercase letters, digits, '.', '_' or '-'",
        )
        precisions, route = _conversion_options(f"tv-{spec.id}")
        if st.button(
            "Import and convert", type="primary", icon=":material/play_arrow:", key=f"tv-go-{spec.id}"
        ):
            try:
                name = _check_new_name(name, known)
                if untrained:
                    files, uploaded_as = [], {}
                elif upload is None:
                    raise InputError("choose a .pt or .pth state dict first, or pick the untrained way")
                else:
                    files, uploaded_as = _save([upload], (".pt", ".pth"))
                block = {
                    "name": name,
                    "files": files,
                    "architecture": spec.architecture,
                    "untrained": untrained,
                }
                what = "untrained" if untrained else f"with {upload.name}"
                title = f"Import {spec.title.split(' (')[0]} {what} as {name}"
                _submit_import(block, precisions, route, title, uploaded_as)
            except CoreError as exc:
                show_error(exc)
            else:
                st.rerun()
        _import_panel(_latest_import(spec.architecture))
    return spec


def _yours(specs: list, builtin_ids: set[str]):
    own = [s for s in specs if s.id not in builtin_ids]
    spec = _by_id(own)[_pick("Model", [s.id for s in own], _titles(own), "models-pick-yours")]
    st.caption(spec.description)
    _convert_card(spec)
    return spec


def _upload(known: set[str], titles: dict[str, str]) -> None:
    with st.container(border=True):
        kind = st.radio("What you have", list(UPLOAD_KINDS), format_func=UPLOAD_KINDS.get, key="up-kind")
        name = st.text_input(
            "Name of the new model",
            placeholder="my-classifier",
            key="up-name",
            help="Lowercase letters, digits, '.', '_' or '-'",
        )
        cols = st.columns(2)
        block: dict = {}
        if kind == "state_dict":
            block["architecture"] = cols[0].selectbox(
                "Architecture",
                TORCHVISION_ARCHITECTURES,
                format_func=lambda a: titles.get(a.replace("_", "-"), a).split(" (")[0],
                key="up-arch",
                help="The torchvision network the weights were trained with; labels and preprocessing follow it.",
            )
            files = st.file_uploader("State dict", type=["pt", "pth"], key="up-file-pt")
            suffixes, files = (".pt", ".pth"), [files] if files else []
        else:
            block["labels"] = cols[0].selectbox(
                "Labels", list(LABELS), format_func=LABELS.get, key="up-labels"
            )
            block["preprocess"] = cols[1].selectbox(
                "Preprocessing",
                list(PREPROCESS_PRESETS),
                format_func=lambda p: PRESET_HELP.get(p, p),
                key="up-preprocess",
            )
            if kind == "onnx":
                one = st.file_uploader(
                    "ONNX model",
                    type=["onnx"],
                    key="up-file-onnx",
                    help="One self-contained file; external weight files are refused.",
                )
                suffixes, files = (".onnx",), [one] if one else []
            else:
                files = (
                    st.file_uploader(
                        "model.xml and model.bin",
                        type=["xml", "bin"],
                        accept_multiple_files=True,
                        key="up-file-ir",
                    )
                    or []
                )
                suffixes = (".xml", ".bin")
        precisions, route = _conversion_options("up", has_torch=kind == "state_dict")
        st.caption(
            ":material/shield: Files are saved under generated names and opened only inside the job's worker "
            "process; ONNX with external data and pickled PyTorch models are refused."
        )
        if st.button("Upload and convert", type="primary", icon=":material/upload:", key="up-go"):
            try:
                new_name = _check_new_name(name, known)
                if not files:
                    raise InputError("choose the model file(s) to upload first")
                endings = sorted(f.name.rsplit(".", 1)[-1].lower() for f in files)
                if kind == "ir" and endings != ["bin", "xml"]:
                    raise InputError("an OpenVINO IR is two files: upload exactly one .xml and its .bin")
                saved, uploaded_as = _save(files, suffixes)
                block.update(name=new_name, files=saved)
                shown = " + ".join(f.name for f in files)
                title = f"Import {shown} as {new_name} and convert"
                _submit_import(block, precisions, route, title, uploaded_as)
            except CoreError as exc:
                show_error(exc)
            else:
                st.rerun()
        _import_panel(_latest_import())


def _by_id(specs: list) -> dict:
    return {s.id: s for s in specs}


def _titles(specs: list) -> dict[str, str]:
    return {s.id: s.title for s in specs}


# results -------------------------------------------------------------------------------------


def _remove(model_id: str, precision: str) -> None:
    try:
        workspace().remove_artifact(model_id, precision)
    except CoreError as exc:
        st.session_state["models-remove-error"] = str(exc)
    else:
        st.toast(f"{model_id} {precision.upper()} moved to history", icon=":material/history:")


def _artifact_row(artifact: Artifact, fp32: Artifact | None) -> None:
    precision = artifact.precision.value
    manifest = artifact.manifest
    versions = manifest.get("versions") or {}
    size = artifact.size_bytes
    share = f" · {size / fp32.size_bytes:.0%} of FP32" if fp32 is not None and precision != "fp32" else ""
    cols = st.columns([2, 3, 1.3, 1.3], vertical_alignment="center")
    cols[0].markdown(f"**{PRECISION_LABELS[precision]}**  \n{size / MIB:.1f} MiB{share}")
    made = f"OpenVINO {versions.get('openvino', '?')}"
    if precision == "int8":
        made += f", NNCF {versions.get('nncf', '?')}"
        calibration = manifest.get("calibration") or {}
        if calibration.get("size"):
            made += f" · calibrated on {calibration['size']} images"
    elif manifest.get("route"):
        made += f" · route {manifest['route']}"
    cols[1].caption(f"created {fmt_time(manifest.get('created'))}  \n{made}")
    cols[2].download_button(
        "Download",
        data=partial(artifact_zip, artifact),
        file_name=bundle_name(artifact),
        mime="application/zip",
        icon=":material/download:",
        on_click="ignore",
        key=f"dl-{artifact.model_id}-{precision}",
        help="model.xml, model.bin and manifest.json in a zip",
    )
    with cols[3].popover("Remove", icon=":material/delete:", key=f"rm-{artifact.model_id}-{precision}"):
        st.markdown(
            f"Move **{PRECISION_LABELS[precision]}** of `{artifact.model_id}` to history? It is kept in "
            f"`models/{artifact.model_id}/.history/` (the newest three per precision), not deleted."
        )
        st.button(
            "Move to history",
            type="primary",
            icon=":material/history:",
            on_click=_remove,
            args=(artifact.model_id, precision),
            key=f"rm-yes-{artifact.model_id}-{precision}",
        )


def _model_card(model_id: str, spec) -> None:
    artifacts = {a.precision.value: a for a in workspace().artifacts(model_id)}
    manifests = [a.manifest for a in artifacts.values()]
    with_params = next((m for m in manifests if m.get("parameters")), {})
    missing = spec is not None and spec.weights == "missing"  # pretrained weights not on this machine
    trained = spec.trained if spec is not None else all(m.get("trained", True) for m in manifests)
    title = spec.title if spec is not None else model_id
    with st.container(border=True):
        head, badges = st.columns([3, 2], vertical_alignment="center")
        head.markdown(f"#### {title}")
        with badges, st.container(horizontal=True, horizontal_alignment="right"):
            if spec is not None:
                st.badge(spec.source, icon=":material/sell:", color="gray")
            if missing:
                st.badge("weights not here", icon=":material/cloud_off:", color="gray")
            elif trained:
                st.badge("trained", icon=":material/verified:", color="green")
            else:
                st.badge("untrained", icon=":material/science:", color="orange")
        cols = st.columns(4)
        shape = with_params.get("input_shape") or (list(spec.input_shape) if spec is not None else None)
        if not trained and not missing:
            published = "none: untrained"
        elif spec is not None and spec.published_top1:
            published = " · ".join(
                f"{v:.1f} % {PRECISION_LABELS.get(p, p)}" for p, v in spec.published_top1.items()
            )
        else:
            published = "none published"
        facts = (
            (
                "Parameters",
                _params_text(with_params.get("parameters")),
                "floating-point weights in the OpenVINO model",
            ),
            ("Input", _shape_text(shape), "batch × channels × height × width"),
            ("Labels", _labels_text(spec) if spec is not None else "—", None),
            ("Published top-1", published, "the original checkpoint's figure, not measured here"),
        )
        for col, (label, value, hint) in zip(cols, facts, strict=True):
            col.caption(label, help=hint)
            col.markdown(f"**{value}**")
        if missing:
            st.caption(
                f":material/cloud_off: Published accuracy: {spec.published_source}, for pretrained weights that "
                "are not on this machine. Upload your state dict or run it untrained (above)."
            )
        elif not trained:
            st.caption(":material/science: **Untrained**: random weights, latency only, no accuracy shown.")
        elif spec is not None and spec.published_source:
            st.caption(f"Published accuracy: {spec.published_source}. Measure your own on **Accuracy**.")
        if not artifacts and not missing:
            st.caption(":material/hourglass_empty: Not converted yet: convert it above.")
        for precision in IR_ORDER:
            if precision in artifacts:
                _artifact_row(artifacts[precision], artifacts.get("fp32"))
        if artifacts and "int8" not in artifacts:
            st.page_link(
                "app_pages/quantize.py", label="Make an INT8 model on Quantize", icon=":material/compress:"
            )


def _cards(selected: str | None, by_id: dict) -> None:
    st.subheader(":material/folder_open: Models in your workspace", anchor=False)
    error = st.session_state.pop("models-remove-error", None)
    if error:
        st.error(error, icon=":material/error:")
    converted = sorted({a.model_id for a in workspace().artifacts()})
    order = ([selected] if selected else []) + [m for m in converted if m != selected]
    if not converted:
        st.caption("No model converted yet. The card below shows the model chosen above.")
    else:
        st.caption(
            "Sizes are model.xml + model.bin on disk (1 MiB = 2²⁰ bytes); parameters, input, creation time "
            "and library versions come from each model's manifest."
        )
    for model_id in order:
        _model_card(model_id, by_id.get(model_id))


# page ----------------------------------------------------------------------------------------

st.title("Models", anchor=False)
st.caption(
    "Bring a classifier in (bundled, torchvision or your own file), convert it to OpenVINO FP32 and FP16, "
    "and see what each saved model is."
)

with st.spinner("Reading the model list…"):
    specs = run_safely(model_specs) or []
by_id = _by_id(specs)
builtin_ids = {s.id for s in specs if s.source == "bundled"} | {
    a.replace("_", "-") for a in TORCHVISION_ARCHITECTURES
}
known = set(by_id)
options = [k for k in SOURCES if k != "yours" or any(s.id not in builtin_ids for s in specs)]
current = st.session_state.get(MODEL_KEY)
if SOURCE_KEY not in st.session_state or st.session_state[SOURCE_KEY] not in options:
    if current in by_id and current not in builtin_ids:
        st.session_state[SOURCE_KEY] = "yours"
    elif current in by_id and by_id[current].source == "torchvision":
        st.session_state[SOURCE_KEY] = "torchvision"
    else:
        st.session_state[SOURCE_KEY] = "bundled"
source = st.segmented_control(
    "Where the model comes from", options, format_func=SOURCES.get, required=True, key=SOURCE_KEY
)

selected_spec = None
if specs:
    if source == "bundled":
        selected_spec = _bundled(specs)
    elif source == "torchvision":
        selected_spec = _torchvision(specs, known)
    elif source == "yours":
        selected_spec = _yours(specs, builtin_ids)
    else:
        _upload(known, _titles(specs))

_cards(selected_spec.id if selected_spec is not None else None, by_id)
