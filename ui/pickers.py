"""The model and variant pickers every page uses; the choice of model is shared across pages."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.format import safe
from ui.page import show_error
from ui.services import model_specs, workspace

__all__ = ["describe_variant", "model_picker", "pick_converted_model", "variant_picker", "variants_text"]


def variants_text(model_id: str) -> str:
    names = [v.id for v in workspace().variants(model_id)]
    return ", ".join(names) or "not converted"


def model_picker(*, label: str = "Model", only_converted: bool = False, key: str = state.MODEL) -> str | None:
    """A select box over all models (or those with a stored variant); the choice is shared across pages."""
    from core.registry import DEFAULT_MODEL

    specs = model_specs()
    if only_converted:
        specs = [s for s in specs if workspace().variants(s.id)]
        if not specs:
            st.info(
                "No model is converted yet. Open **Models** and convert one (EfficientNet-Lite0 takes ~10 s)."
            )
            return None
    ids = [s.id for s in specs]
    titles = {s.id: s.title for s in specs}
    current = st.session_state.get(state.MODEL)
    if current not in ids:
        current = DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0]
    choice = st.selectbox(
        label,
        ids,
        index=ids.index(current),
        format_func=lambda i: f"{titles[i]}  ·  {variants_text(i)}",
        key=f"picker-{key}",
    )
    st.session_state[state.MODEL] = choice
    return choice


def pick_converted_model(column) -> tuple | None:
    """The model picker (converted models only) in `column`, with the model's spec and class names.

    None when there is nothing to pick or the model cannot be read; the page has then said why.
    """
    from core.registry import class_names, get_model

    wanted = st.session_state.get(state.MODEL)
    with column:
        model_id = model_picker(only_converted=True)
    if wanted and model_id != wanted and not workspace().variants(wanted):
        _offer_conversion(wanted)
    if model_id is None:
        st.page_link(
            "app_pages/models.py", label="Open Models to convert one", icon=":material/deployed_code:"
        )
        return None
    try:
        spec = get_model(model_id, workspace())
        return spec, class_names(spec)
    except Exception as exc:
        show_error(exc)
        return None


def _offer_conversion(model_id: str) -> None:
    """The model a link or another page asked for has no variant yet: say so, and offer to convert it."""
    from core.registry import model_title
    from ui.services import jobs

    title = model_title(model_id, workspace())
    with st.container(border=True):
        st.info(
            f"**{safe(title)}** is not converted yet, so this page shows another model. Convert it to OpenVINO "
            "FP32 and FP16 first (a background job; LeNet5 takes seconds, EfficientNet-Lite0 about ten).",
            icon=":material/info:",
        )
        if st.button(
            f"Convert {safe(model_id)} now", icon=":material/play_arrow:", key=f"offer-convert-{model_id}"
        ):
            jobs().submit(
                "convert",
                {"model_id": model_id, "variants": ["fp32", "fp16"], "route": "direct"},
                title=f"Convert {title} to FP32 and FP16",
            )
            st.toast("Conversion queued; follow it on Jobs.", icon=":material/schedule:")


def variant_picker(
    spec, *, key: str, label: str = "Variants", default: list[str] | None = None, help: str = ""
):
    """A multiselect over a model's variants (PyTorch, ONNX Runtime, OpenVINO, named ones) with titles."""
    from core.variants import model_variants

    variants = model_variants(spec, workspace())
    by_id = {v.id: v for v in variants}
    options = list(by_id)
    chosen_default = [v for v in (default or options) if v in by_id]
    picked = st.multiselect(
        label,
        options,
        default=chosen_default,
        format_func=lambda v: by_id[v].title,
        key=key,
        help=help
        or "PyTorch is the reference; ORT are ONNX Runtime variants; the others run on OpenVINO. "
        "Named variants carry their recipe in the name (int8-noise-300).",
    )
    return [by_id[v] for v in picked]


def describe_variant(variant) -> str:
    """One line for a caption: title and recipe."""
    return f"**{safe(variant.title)}**: {safe(variant.recipe.summary())}"
