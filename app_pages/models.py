"""Models: bring a model in (bundled, torchvision or your upload), convert it, and see every variant it has.

Uploaded files are only saved here, under generated names; they are parsed inside the convert job's
worker process, never in the web server. Naming rules and import checks live in core.imports.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from core.bundle import bundle_name, variant_zip
from core.errors import CoreError, InputError
from core.imports import (
    PREPROCESS_PRESETS,
    check_new_model_name,
    free_model_name,
    in_user_terms,
    ir_pair,
    pending_import_names,
)
from core.jobs import JobRecord, JobState
from core.registry import TORCHVISION_ARCHITECTURES, model_id_of, short_title
from core.variants import Variant
from ui import state
from ui.format import fmt_mib, fmt_time, safe
from ui.jobs import job_panel, job_status_line
from ui.page import page_setup, run_safely, show_error
from ui.services import jobs, model_specs, workspace
from ui.uploads import save_upload

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
TARGETS = {"fp32": "OpenVINO FP32", "fp16": "OpenVINO FP16", "ort-fp32": "ONNX Runtime FP32"}


def _labels_text(spec) -> str:
    name = LABELS.get(spec.labels, spec.labels)
    return f"{name} ({spec.num_classes} classes)" if spec.num_classes else name


def _params_text(count: int | None) -> str:
    if not count:
        return "—"
    return f"{count / 1e6:.2f} M" if count >= 1e6 else f"{count / 1e3:.0f} k"


def _shape_text(shape) -> str:
    return " × ".join(str(d) for d in shape) if shape else "—"


def _pending() -> set[str]:
    return pending_import_names(jobs().active())


def _latest_import(architecture: str | None = None) -> JobRecord | None:
    def is_import(record: JobRecord) -> bool:
        block = record.config.get("import")
        return isinstance(block, dict) and (architecture is None or block.get("architecture") == architecture)

    return jobs().latest("convert", where=is_import)


def _show_model(model_id: str) -> None:
    """Callback: open a freshly imported model under "Your models"."""
    st.session_state[state.MODELS_SOURCE] = "yours"
    st.session_state[state.MODELS_PICK_YOURS] = model_id
    st.session_state[state.MODEL] = model_id


# inputs --------------------------------------------------------------------------------------


def _conversion_options(key: str, *, has_torch: bool = True, onnx: bool = True) -> tuple[list[str], str]:
    cols = st.columns(2)
    targets = [t for t in TARGETS if onnx or t != "ort-fp32"]
    with cols[0]:
        chosen = st.pills(
            "Make",
            targets,
            selection_mode="multi",
            default=["fp32", "fp16"],
            format_func=TARGETS.get,
            key=f"{key}-targets",
            help="FP16 stores weights in half precision: half the size; CPUs compute in FP32 or BF16 anyway. "
            "ONNX Runtime FP32 is the same model exported to ONNX, to compare runtimes. INT8 comes from Quantize.",
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
    return list(chosen or []), route


def _pick(label: str, ids: list[str], titles: dict[str, str], key: str) -> str:
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)
    current = st.session_state.get(state.MODEL)
    if key not in st.session_state:
        st.session_state[key] = current if current in ids else ids[0]
    choice = st.selectbox(label, ids, format_func=titles.get, key=key)
    st.session_state[state.MODEL] = choice
    return choice


def _convert_card(spec) -> None:
    with st.container(border=True):
        st.markdown("**:material/sync_alt: Convert**")
        targets, route = _conversion_options(
            f"convert-{spec.id}", has_torch=spec.has_torch, onnx=spec.architecture != "ir"
        )
        latest = jobs().latest("convert", model_id=spec.id)
        busy = latest is not None and latest.state.active
        if st.button(
            "Convert",
            type="primary",
            icon=":material/play_arrow:",
            disabled=busy,
            key=f"convert-go-{spec.id}",
            help="A conversion of this model is already queued or running" if busy else None,
        ):
            if not targets:
                st.error("Choose at least one of FP32, FP16 or ONNX Runtime FP32.", icon=":material/error:")
            else:
                names = " + ".join(TARGETS[t] for t in targets)
                submitted = run_safely(
                    jobs().submit,
                    "convert",
                    {"model_id": spec.id, "variants": targets, "route": route},
                    title=f"Convert {spec.short_title} to {names}",
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
    if record.state in (JobState.FAILED, JobState.DAMAGED):
        error = in_user_terms(
            record.error or "the import failed; see its log on Jobs", record.config.get("uploaded_as")
        )
        st.error(safe(error), icon=":material/error:")
    elif record.state != JobState.SUCCEEDED:
        st.warning(safe(record.message or record.state.value), icon=":material/warning:")
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
    block: dict, targets: list[str], route: str, title: str, uploaded_as: dict | None = None
) -> None:
    if not targets:
        msg = "choose at least one of FP32, FP16 or ONNX Runtime FP32"
        raise InputError(msg)
    config = {"model_id": block["name"], "variants": targets, "route": route, "import": block}
    if uploaded_as:
        config["uploaded_as"] = uploaded_as
    jobs().submit("convert", config, title=title)


def _bundled(specs: list):
    bundled = [s for s in specs if s.source == "bundled"]
    spec = _by_id(bundled)[_pick("Model", [s.id for s in bundled], _titles(bundled), "models-pick-bundled")]
    st.caption(
        f"{spec.description} Licence: {spec.license}. Weights ship inside a Python package: no download."
    )
    _convert_card(spec)
    return spec


def _torchvision(specs: list):
    ids = {model_id_of(a) for a in TORCHVISION_ARCHITECTURES}
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
            f"Pretrained {spec.short_title} weights are not on this machine, and nothing is downloaded at run time. "
            "Two ways on:",
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
                ":material/science: An untrained model is marked as such everywhere: its speed is real, but no "
                "accuracy is ever shown for it."
            )
        else:
            upload = st.file_uploader(
                "State dict",
                type=["pt", "pth"],
                key=f"tv-file-{spec.id}",
                help="torch.save(model.state_dict(), 'weights.pt'); loaded with weights_only=True, so pickled whole "
                "models are refused.",
            )
        suggested = free_model_name(
            workspace(), f"{spec.id}-{'untrained' if untrained else 'custom'}", _pending()
        )
        name = st.text_input(
            "Name of the new model", value=suggested, key=f"tv-name-{spec.id}-{way}",
            help="Lowercase letters, digits, '.', '_' or '-'",
        )  # fmt: skip
        targets, route = _conversion_options(f"tv-{spec.id}")
        if st.button(
            "Import and convert", type="primary", icon=":material/play_arrow:", key=f"tv-go-{spec.id}"
        ):
            try:
                name = check_new_model_name(workspace(), name, _pending())
                if untrained:
                    files, uploaded_as = [], {}
                elif upload is None:
                    msg = "choose a .pt or .pth state dict first, or pick the untrained way"
                    raise InputError(msg)
                else:
                    files, uploaded_as = _save([upload], (".pt", ".pth"))
                block = {
                    "name": name,
                    "files": files,
                    "architecture": spec.architecture,
                    "untrained": untrained,
                }
                what = "untrained" if untrained else f"with {upload.name}"
                _submit_import(
                    block, targets, route, f"Import {spec.short_title} {what} as {name}", uploaded_as
                )
            except CoreError as exc:
                show_error(exc)
            else:
                st.rerun()
        _import_panel(_latest_import(spec.architecture))
    return spec


def _yours(specs: list, builtin_ids: set[str]):
    own = [s for s in specs if s.id not in builtin_ids]
    spec = _by_id(own)[_pick("Model", [s.id for s in own], _titles(own), state.MODELS_PICK_YOURS)]
    st.caption(safe(spec.description))
    _convert_card(spec)
    return spec


def _upload(titles: dict[str, str]) -> None:
    with st.container(border=True):
        kind = st.radio("What you have", list(UPLOAD_KINDS), format_func=UPLOAD_KINDS.get, key="up-kind")
        name = st.text_input(
            "Name of the new model", placeholder="my-classifier", key="up-name",
            help="Lowercase letters, digits, '.', '_' or '-'",
        )  # fmt: skip
        cols = st.columns(2)
        block: dict = {}
        if kind == "state_dict":
            block["architecture"] = cols[0].selectbox(
                "Architecture",
                TORCHVISION_ARCHITECTURES,
                format_func=lambda a: short_title(titles.get(model_id_of(a), a)),
                key="up-arch",
                help="The torchvision network the weights were trained with; labels and preprocessing follow it.",
            )
            one = st.file_uploader("State dict", type=["pt", "pth"], key="up-file-pt")
            suffixes, files = (".pt", ".pth"), [one] if one else []
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
                    "ONNX model", type=["onnx"], key="up-file-onnx",
                    help="One self-contained file; external weight files are refused.",
                )  # fmt: skip
                suffixes, files = (".onnx",), [one] if one else []
            else:
                files = st.file_uploader(
                    "model.xml and model.bin", type=["xml", "bin"], accept_multiple_files=True, key="up-file-ir"
                ) or []  # fmt: skip
                suffixes = (".xml", ".bin")
        targets, route = _conversion_options("up", has_torch=kind == "state_dict", onnx=kind != "ir")
        st.caption(
            ":material/shield: Files are saved under generated names and opened only inside the job's worker "
            "process; ONNX with external data (anywhere in the graph) and pickled PyTorch models are refused."
        )
        if st.button("Upload and convert", type="primary", icon=":material/upload:", key="up-go"):
            try:
                new_name = check_new_model_name(workspace(), name, _pending())
                if not files:
                    msg = "choose the model file(s) to upload first"
                    raise InputError(msg)
                if kind == "ir":
                    ir_pair([f.name for f in files])
                saved, uploaded_as = _save(files, suffixes)
                block.update(name=new_name, files=saved)
                shown = " + ".join(f.name for f in files)
                _submit_import(
                    block, targets, route, f"Import {shown} as {new_name} and convert", uploaded_as
                )
            except CoreError as exc:
                show_error(exc)
            else:
                st.rerun()
        _import_panel(_latest_import())


def _by_id(specs: list) -> dict:
    return {s.id: s for s in specs}


def _titles(specs: list) -> dict[str, str]:
    return {s.id: s.title for s in specs}


# variants ------------------------------------------------------------------------------------


def _remove(model_id: str, variant_id: str) -> None:
    try:
        workspace().remove_variant(model_id, variant_id)
    except CoreError as exc:
        st.session_state[state.MODELS_ERROR] = str(exc)
    else:
        st.session_state[state.MODELS_NOTICE] = (
            f"{model_id} {variant_id} moved to history; no other variant was touched"
        )


def _rename(model_id: str, variant_id: str, key: str) -> None:
    new = (st.session_state.get(key) or "").strip()
    try:
        workspace().rename_variant(model_id, variant_id, new)
    except CoreError as exc:
        st.session_state[state.MODELS_ERROR] = str(exc)
    else:
        st.session_state[state.MODELS_NOTICE] = f"{model_id} {variant_id} is now called {new}"


def _variant_row(variant: Variant, fp32: Variant | None) -> None:
    size = variant.size_bytes
    share = (
        f" · {size / fp32.size_bytes:.0%} of FP32"
        if fp32 is not None and variant.id != "fp32" and fp32.size_bytes
        else ""
    )
    cols = st.columns([2.1, 3.1, 1.3, 1.3, 1.3], vertical_alignment="center")
    cols[0].markdown(f"**{safe(variant.title)}**  \n{fmt_mib(size)}{share}")
    versions = variant.recipe.versions or variant.manifest.get("versions") or {}
    runtime = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}[variant.backend.value]
    made = f"{runtime} {versions.get(variant.backend.value, versions.get('openvino', '?'))}"
    cols[1].caption(f"created {fmt_time(variant.created)} · {made}  \n{safe(variant.recipe.summary())}")
    cols[2].download_button(
        "Download",
        data=partial(variant_zip, variant),
        file_name=bundle_name(variant),
        mime="application/zip",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
        key=f"dl-{variant.model_id}-{variant.id}",
        help="the model files and manifest.json (how it was made) in a zip",
    )
    rename_key = f"rn-name-{variant.model_id}-{variant.id}"
    with cols[3].popover(
        "Rename",
        icon=":material/edit:",
        key=f"rn-{variant.model_id}-{variant.id}",
        width="stretch",
        wrap=False,
    ):
        st.text_input(
            "New name", value=variant.id, key=rename_key, help="Lowercase letters, digits, '.', '_' or '-'"
        )
        st.caption("Results saved under the old name keep pointing at this variant.")
        st.button("Rename", type="primary", on_click=_rename, args=(variant.model_id, variant.id, rename_key),
                  key=f"rn-yes-{variant.model_id}-{variant.id}")  # fmt: skip
    with cols[4].popover(
        "Delete",
        icon=":material/delete:",
        key=f"rm-{variant.model_id}-{variant.id}",
        width="stretch",
        wrap=False,
    ):
        st.markdown(
            f"Move **{safe(variant.title)}** of `{variant.model_id}` to history? It is kept in "
            f"`models/{variant.model_id}/.history/` (the newest three per name); no other variant is touched."
        )
        st.button(
            "Move to history", type="primary", icon=":material/history:", on_click=_remove,
            args=(variant.model_id, variant.id), key=f"rm-yes-{variant.model_id}-{variant.id}",
        )  # fmt: skip


def _model_card(model_id: str, spec) -> None:
    stored = workspace().variants(model_id)
    with_params = next((v.manifest for v in stored if v.manifest.get("parameters")), {})
    missing = spec is not None and spec.weights == "missing"
    trained = spec.trained if spec is not None else all(v.trained for v in stored)
    title = spec.title if spec is not None else model_id
    with st.container(border=True):
        head, badges = st.columns([3, 2], vertical_alignment="center")
        head.markdown(f"#### {safe(title)}")
        with badges, st.container(horizontal=True, horizontal_alignment="right"):
            if spec is not None:
                st.badge(spec.source, icon=":material/sell:", color="gray")
            if missing:
                st.badge("weights not here", icon=":material/cloud_off:", color="gray")
            elif trained:
                st.badge("trained", icon=":material/verified:", color="green")
            else:
                st.badge("untrained", icon=":material/science:", color="orange")
        shape = with_params.get("input_shape") or (list(spec.input_shape) if spec is not None else None)
        if not trained and not missing:
            published = "none: untrained"
        elif spec is not None and spec.published_top1:
            published = " · ".join(f"{v:.1f} % {p.upper()}" for p, v in spec.published_top1.items())
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
        for col, (label, value, hint) in zip(st.columns(4), facts, strict=True):
            col.caption(label, help=hint)
            col.markdown(f"**{value}**")
        if missing:
            st.caption(
                f":material/cloud_off: Published accuracy: {spec.published_source}, for pretrained weights that are "
                "not on this machine. Upload your state dict or run it untrained (above)."
            )
        elif not trained:
            st.caption(":material/science: **Untrained**: random weights, latency only, no accuracy shown.")
        elif spec is not None and spec.published_source:
            st.caption(f"Published accuracy: {spec.published_source}. Measure your own on **Accuracy**.")
        if spec is not None and spec.has_torch:
            st.caption(
                ":material/deployed_code: **PyTorch** (the reference): the model itself, run eagerly; not a file here."
            )
        if not stored and not missing:
            st.caption(":material/hourglass_empty: Not converted yet: convert it above.")
        fp32 = next((v for v in stored if v.id == "fp32"), None)
        for variant in stored:
            _variant_row(variant, fp32)
        for name, why in workspace().damaged_variants(model_id):
            st.warning(
                f"**{safe(name)}** is damaged and left out: its {safe(why)}. Make it again (convert or quantize "
                f"with the same name), or delete it with `python -m core variants delete`; its folder moves to "
                "history.",
                icon=":material/broken_image:",
            )
        if stored and not any(v.format.value == "int8" for v in stored):
            st.page_link(
                "app_pages/quantize.py", label="Make an INT8 variant on Quantize", icon=":material/compress:"
            )
        history = workspace().history(model_id)
        if history:
            listed = ", ".join(f"{vid} ({stamp[:8]})" for vid, stamp, _ in history[:6])
            st.caption(
                f":material/history: In history (restorable from models/{model_id}/.history/): {safe(listed)}"
            )


def _cards(selected: str | None, by_id: dict) -> None:
    st.subheader(":material/folder_open: Models in your workspace", anchor=False)
    error = st.session_state.pop(state.MODELS_ERROR, None)
    if error:
        st.error(safe(error), icon=":material/error:")
    notice = st.session_state.pop(state.MODELS_NOTICE, None)
    if notice:
        st.success(safe(notice), icon=":material/check_circle:")
    converted = sorted({v.model_id for v in workspace().all_variants()})
    order = ([selected] if selected else []) + [m for m in converted if m != selected]
    if not converted:
        st.caption("No model converted yet. The card below shows the model chosen above.")
    else:
        st.caption(
            "Every variant: backend × number format × recipe. Sizes are the model files on disk (1 MiB = 2²⁰ bytes); "
            "recipe, creation time and library versions come from each variant's manifest."
        )
    for model_id in order:
        _model_card(model_id, by_id.get(model_id))


page_setup(
    "Models",
    "Bring a classifier in (bundled, torchvision or your own file), convert it to OpenVINO FP32 / FP16 and "
    "ONNX Runtime FP32, and see every variant each model has.",
)
with st.spinner("Reading the model list…"):
    specs = run_safely(model_specs) or []
by_id = _by_id(specs)
builtin_ids = {s.id for s in specs if s.source == "bundled"} | {
    model_id_of(a) for a in TORCHVISION_ARCHITECTURES
}
options = [k for k in SOURCES if k != "yours" or any(s.id not in builtin_ids for s in specs)]
current = st.session_state.get(state.MODEL)
if state.MODELS_SOURCE not in st.session_state or st.session_state[state.MODELS_SOURCE] not in options:
    if current in by_id and current not in builtin_ids:
        st.session_state[state.MODELS_SOURCE] = "yours"
    elif current in by_id and by_id[current].source == "torchvision":
        st.session_state[state.MODELS_SOURCE] = "torchvision"
    else:
        st.session_state[state.MODELS_SOURCE] = "bundled"
source = st.segmented_control(
    "Where the model comes from", options, format_func=SOURCES.get, required=True, key=state.MODELS_SOURCE
)
selected_spec = None
if specs:
    if source == "bundled":
        selected_spec = _bundled(specs)
    elif source == "torchvision":
        selected_spec = _torchvision(specs)
    elif source == "yours":
        selected_spec = _yours(specs, builtin_ids)
    else:
        _upload(_titles(specs))
_cards(selected_spec.id if selected_spec is not None else None, by_id)
