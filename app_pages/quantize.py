"""Quantize: make INT8 variants (NNCF on OpenVINO, or ONNX Runtime static quantization), then see each one
next to the FP32 it came from: size, layers, accuracy, and latency measured in the same run."""

from __future__ import annotations

import streamlit as st

from core.catalog import DATASETS, Purpose, builtin_refs
from core.errors import InputError
from core.jobs import JobState
from core.variants import Variant
from ui import state
from ui.format import MIB, fmt_ms, fmt_pct, fmt_time, format_duration, safe
from ui.jobs import job_panel
from ui.page import page_setup, run_safely
from ui.pickers import model_picker
from ui.services import jobs, model_specs, workspace
from ui.uploads import save_upload

UPLOAD = "upload"
BACKENDS = {
    "openvino": "OpenVINO · NNCF post-training quantization",
    "onnxruntime": "ONNX Runtime · static quantization (QDQ), same images",
}
PRESETS = {
    "performance": "symmetric weights and activations: the fastest INT8 kernels on CPU",
    "mixed": "asymmetric activations: better when activations are not centred on zero (GELU, swish)",
}


def _domain(spec) -> str:
    return (
        "mnist"
        if spec is not None and (spec.labels == "mnist" or spec.preprocess.channels == 1)
        else "imagenet"
    )


def _sources(spec) -> dict[str, tuple[str, str]]:
    """Calibration choices for this model: its own domain's built-in sets first, generated ones, an upload."""
    domain = _domain(spec)
    refs = [r for r in builtin_refs(Purpose.CALIBRATION, domain=domain) if r != "builtin:distilled"]
    refs = sorted(refs, key=lambda r: (DATASETS[r].domain != domain, DATASETS[r].generated))
    found = {ref: (DATASETS[ref].title, DATASETS[ref].caption) for ref in refs}
    found[UPLOAD] = ("Your images (.zip)", "flat, or one folder per class; JPEG, PNG, BMP, GIF, TIFF or WebP")
    return found


def _layer_choices(model_id: str) -> list[str]:
    """Convolution and MatMul names of the FP32 IR, read once per session and FP32 variant."""
    fp32 = workspace().variant(model_id, "fp32")
    if fp32 is None:
        return []
    cache = st.session_state.setdefault(state.QUANTIZE_LAYERS, {})
    key = (model_id, fp32.fingerprint)
    if key not in cache:
        from core.quantize import quantizable_layers

        with st.spinner("Reading the layer names of the FP32 model…"):
            cache[key] = run_safely(quantizable_layers, model_id, workspace=workspace()) or []
    return cache[key]


def calibration_source(model_id: str, spec) -> tuple[str, object]:
    """The calibration choice and, for an upload, the uploaded file (None until one is chosen)."""
    sources = _sources(spec)
    with st.container(border=True):
        st.markdown("**:material/photo_library: Calibration data**")
        st.caption("These images run through the FP32 model to measure each layer's value range.")
        choice = st.radio(
            "Calibration images",
            list(sources),
            format_func=lambda o: sources[o][0],
            captions=[sources[o][1] for o in sources],
            key=f"q-calibration-{model_id}",
            label_visibility="collapsed",
        )
        uploaded = None
        if choice == UPLOAD:
            uploaded = st.file_uploader(
                "Calibration images (.zip)",
                type=["zip"],
                key="q-calibration-zip",
                help="Representative, unlabelled images are enough; 300 is NNCF's default. The archive is checked and "
                "unpacked in the worker (no links, no '..' names, size and ratio caps).",
            )
        elif DATASETS.get(choice) is not None and DATASETS[choice].generated:
            st.caption(
                ":material/science: Generated images have none of the statistics of real ones: expect a worse INT8 "
                "model. Use them to see what real calibration data buys, or run a calibration study."
            )
    return choice, uploaded


def settings_form(model_id: str, spec) -> dict | None:
    """Backend, name and NNCF options; the raw choices when the form is submitted."""
    layers = _layer_choices(model_id)
    ignored_key = state.QUANTIZE_IGNORED.format(model=model_id)
    with st.form(f"q-form-{model_id}", border=True):
        st.markdown("**:material/tune: Settings**")
        left, right = st.columns(2)
        backend = left.radio("Runtime", list(BACKENDS), format_func=BACKENDS.get, key="q-backend")
        name = right.text_input(
            "Name of the new variant (optional)",
            key="q-name",
            placeholder="int8, then named after the recipe",
            help="Empty: the first INT8 variant is `int8` (`ort-int8`), later ones are named after their recipe "
            "(int8-noise-300); the same recipe again refreshes its own variant. A name you give must be new.",
        )
        subset = left.number_input(
            "Subset size (images)", min_value=1, max_value=10_000, value=300, step=50, key="q-subset",
            help="Images used to collect statistics. NNCF's default is 300; more gives steadier ranges and takes "
            "longer. A set with fewer images is used whole (the result notes it). ONNX Runtime uses the same count.",
        )  # fmt: skip
        model_type = right.selectbox(
            "Model type (NNCF)", ["none", "transformer"], key="q-model-type",
            help="transformer keeps the quantization-sensitive parts of attention blocks in floating point.",
        )  # fmt: skip
        preset = left.radio("Preset (NNCF)", list(PRESETS), captions=list(PRESETS.values()), key="q-preset")
        fast_bias = right.toggle(
            "Fast bias correction (NNCF)", value=True, key="q-fast-bias",
            help="On: one quick correction pass per layer. Off: the full bias correction, slower, sometimes better.",
        )  # fmt: skip
        ignored = right.multiselect(
            "Keep in floating point (ignored scope, NNCF)",
            layers,
            key=ignored_key,
            placeholder="no layer excluded" if layers else "needs the FP32 model",
            disabled=not layers,
            help="Convolution and MatMul layers to leave unquantized; accuracy control below suggests some."
            + ("" if layers else " Convert the model to FP32 first (Models page) to list its layers."),
        )
        st.divider()
        st.markdown("**:material/target: Accuracy control (NNCF only)**")
        control = st.toggle(
            "Keep the accuracy drop within a limit",
            key="q-control",
            help="nncf.quantize_with_accuracy_control: after quantizing, it measures top-1 on a labelled set and "
            "returns layers to floating point, most harmful first, until the drop is within the limit.",
        )
        c1, c2, c3 = st.columns([1, 1, 2])
        max_drop = c1.number_input(
            "Max drop", min_value=0.1, max_value=50.0, value=1.0, step=0.1, format="%.1f", key="q-max-drop",
            help="Absolute: in top-1 points (1.0 = from 99.0 % to 98.0 %). Relative: in % of the FP32 top-1.",
        )  # fmt: skip
        drop_type = c2.radio(
            "Drop is", ["absolute", "relative"], key="q-drop-type",
            format_func=lambda v: "points (absolute)" if v == "absolute" else "% (relative)",
        )  # fmt: skip
        evaluation_sets = {
            r: DATASETS[r].title for r in builtin_refs(Purpose.EVALUATION, domain=_domain(spec))
        }
        evaluation_sets[UPLOAD] = "Your labelled images (.zip, one folder per class)"
        validation = c3.selectbox(
            "Labelled validation set", list(evaluation_sets), format_func=evaluation_sets.get, key=f"q-validation-{model_id}",
            help="Accuracy control needs labels. Built-in sets never overlap their calibration images.",
        )  # fmt: skip
        validation_zip = c3.file_uploader(
            "Labelled .zip (for 'Your labelled images')", type=["zip"], key="q-validation-zip"
        )
        submitted = st.form_submit_button(
            "Quantize to INT8", type="primary", icon=":material/compress:", width="stretch"
        )
    if not submitted:
        return None
    return {
        "backend": backend,
        "name": name.strip() or None,
        "subset_size": int(subset),
        "preset": preset,
        "fast_bias_correction": bool(fast_bias),
        "model_type": None if model_type == "none" else model_type,
        "ignored_scope": list(ignored),
        "control": bool(control),
        "max_drop": float(max_drop),
        "drop_type": drop_type,
        "validation": validation,
        "validation_zip": validation_zip,
    }


def build_config(model_id: str, source: str, uploaded, choices: dict) -> dict:
    """The "quantize" job's config (QuantizeConfig's fields), checked before anything is queued."""
    from core.quantize import QuantizeConfig

    if source == UPLOAD:
        if uploaded is None:
            msg = "choose a .zip of calibration images first, or pick a built-in set"
            raise InputError(msg)
        calibration = str(save_upload(uploaded, suffixes=(".zip",)))
    else:
        calibration = source
    config = {
        "model_id": model_id,
        "calibration": calibration,
        "subset_size": choices["subset_size"],
        "preset": choices["preset"],
        "fast_bias_correction": choices["fast_bias_correction"],
        "model_type": choices["model_type"],
        "ignored_scope": choices["ignored_scope"],
        "target_device": "CPU",
        "max_drop": None,
        "drop_type": "absolute",
        "validation": None,
        "backend": choices["backend"],
        "name": choices["name"],
    }
    if choices["control"]:
        validation = choices["validation"]
        if validation == UPLOAD:
            if choices["validation_zip"] is None:
                msg = (
                    "accuracy control needs a labelled validation set: upload a .zip with one folder per class, or "
                    "choose a built-in set"
                )
                raise InputError(msg)
            validation = str(save_upload(choices["validation_zip"], suffixes=(".zip",)))
        config.update(
            max_drop=choices["max_drop"] / 100, drop_type=choices["drop_type"], validation=validation
        )
    QuantizeConfig(**{**config, "ignored_scope": tuple(config["ignored_scope"])}).check()
    return config


def submit_quantize(model_id: str, title: str, source: str, uploaded, choices: dict):
    config = build_config(model_id, source, uploaded, choices)
    origin = (
        f" · calibration {uploaded.name}" if source == UPLOAD and uploaded is not None else f" · {source}"
    )
    runtime = "ONNX Runtime" if choices["backend"] == "onnxruntime" else "OpenVINO"
    return jobs().submit("quantize", config, title=f"Quantize {title} to INT8 ({runtime}){origin}")


# results ------------------------------------------------------------------------------------------


def _use_as_ignored(model_id: str, layers: list[str]) -> None:
    st.session_state[state.QUANTIZE_IGNORED.format(model=model_id)] = layers


def accuracy_card(model_id: str, variant: Variant, parent: str) -> None:
    from core.tradeoffs import latest_evaluation

    with st.container(border=True):
        st.markdown("**:material/target: Accuracy**")
        control = variant.manifest.get("accuracy_control")
        if control:
            unit = "points" if control["drop_type"] == "absolute" else "% of FP32"
            drop = control["drop"] * 100
            c1, c2 = st.columns(2)
            c1.metric("FP32 top-1", fmt_pct(control["fp32_metric"], 2))
            c2.metric("INT8 top-1", fmt_pct(control["int8_metric"], 2), delta=f"{-drop:+.2f} {unit}" if abs(drop) >= 0.005 else "no change",
                      delta_color="normal" if abs(drop) >= 0.005 else "off")  # fmt: skip
            text = f"drop {drop:.2f} {unit}, limit {control['max_drop'] * 100:.2f} {unit} ({control['drop_type']})"
            if control["drop"] <= control["max_drop"] + 1e-12:
                st.success(f"Within the limit: {text}", icon=":material/check_circle:")
            else:
                st.warning(f"Over the limit: {text}. NNCF could not reach it.", icon=":material/warning:")
            validation = control.get("validation") or {}
            st.caption(
                f"Measured by accuracy control on {safe(validation.get('name'))} ({validation.get('size')} labelled images), "
                "never the calibration images; FP32 compiled with INFERENCE_PRECISION_HINT=f32."
            )
            kept = control.get("kept_in_float") or []
            if kept:
                st.caption(
                    f"NNCF kept {len(kept)} layer(s) in floating point: {safe(', '.join(kept[:8]))}"
                    + (" …" if len(kept) > 8 else "")
                )
                st.button("Use them as the ignored scope of the next run", icon=":material/tune:", on_click=_use_as_ignored,
                          args=(model_id, kept), key=f"q-use-kept-{variant.id}")  # fmt: skip
            return
        evaluation = latest_evaluation(workspace(), model_id, needs=(parent, variant.id))
        if evaluation is None:
            st.caption(f"Not measured yet. Evaluate {parent} and {variant.id} together on the Accuracy page.")
            st.page_link("app_pages/accuracy.py", label="Open Accuracy", icon=":material/target:")
            return
        base, mine = evaluation.score(parent), evaluation.score(variant.id)
        change = (mine.top1 - base.top1) * 100
        c1, c2 = st.columns(2)
        c1.metric(f"{base.title} top-1", fmt_pct(base.top1, 2))
        c2.metric(f"{mine.title} top-1", fmt_pct(mine.top1, 2), delta="no change" if abs(change) < 0.005 else f"{change:+.2f} points",
                  delta_color="off" if abs(change) < 0.005 else "normal")  # fmt: skip
        agree = evaluation.agreement_of(parent, variant.id)
        ci = mine.top1_ci95
        st.caption(
            f"One evaluation ({fmt_time(evaluation.created)}) on {safe(evaluation.dataset_name)} ({evaluation.dataset_size} images)."
            + (f" INT8 95 % interval {fmt_pct(ci[0])}–{fmt_pct(ci[1])}." if ci else "")
            + (f" Same top-1 as {base.title} on {fmt_pct(agree.rate)} of the images." if agree else "")
        )


def latency_card(model_id: str, title: str, variant: Variant, parent: str) -> None:
    from core.tradeoffs import latest_run_with

    with st.container(border=True):
        st.markdown("**:material/speed: Latency, measured together**")
        result = latest_run_with(workspace(), model_id, (parent, variant.id))
        job = jobs().latest("benchmark", model_id=model_id, where=lambda r: r.title.startswith("Latency of"))
        if result is not None:
            base, mine = result.run(parent), result.run(variant.id)
            comp = next((c for c in result.comparisons(parent) if c.variant == variant.id), None)
            c1, c2 = st.columns(2)
            c1.metric(f"{base.title} median", fmt_ms(base.median_ms))
            c2.metric(
                f"{mine.title} median",
                fmt_ms(mine.median_ms),
                delta=(f"{comp.text()} faster" if comp.ratio >= 1 else f"{1 / comp.ratio:.1f}× slower")
                + ("" if comp.stable else " · unstable")
                if comp
                else None,
                delta_color=("normal" if comp.ratio >= 1 else "inverse") if comp and comp.stable else "off",
            )
            machine = result.machine.get("brand") if result.machine else result.device_name
            executed = ", ".join(f"{r.title} ran as {r.execution}" for r in (base, mine) if r.execution)
            st.caption(
                f"Both from one run of {result.created} ({result.rounds} interleaved rounds) · {safe(machine)} · {executed} · "
                f"batch 1, {mine.hint or 'latency'} hint · range over the rounds in brackets"
            )
            if not comp or not comp.stable:
                st.warning(
                    "This run was unstable (the machine was busy): measure again.", icon=":material/warning:"
                )
            if (variant.created or "") > result.created:
                st.warning(
                    "Measured before this INT8 variant was made: measure again.", icon=":material/history:"
                )
        elif not (job and job.state.active):
            st.caption(f"No benchmark run measured {parent} and {variant.id} together yet.")
        if job and job.state != JobState.SUCCEEDED:
            job_panel(job.id, key="quantize-bench")
            if job.state.active:
                return
        label = "Measure both again (one run)" if result else "Measure both now (one run, 3 s each)"
        if st.button(label, icon=":material/timer:", key=f"q-measure-{variant.id}"):
            config = {"model_id": model_id, "variants": [parent, variant.id], "seconds": 3}
            if run_safely(
                jobs().submit, "benchmark", config, title=f"Latency of {title}: {parent} vs {variant.id}"
            ):
                st.rerun()


def results(model_id: str, title: str) -> None:
    """Each INT8 variant next to its parent; the one the latest job made is shown first."""
    from core.quantize import quantized_layer_count

    int8s = [v for v in workspace().variants(model_id) if v.format.value == "int8"]
    if not int8s:
        st.info(
            "No INT8 variant yet. Choose calibration data and settings above, then **Quantize to INT8**.",
            icon=":material/info:",
        )
        return
    latest = jobs().latest("quantize", model_id=model_id, where=lambda r: r.state == JobState.SUCCEEDED)
    newest = (latest.result or {}).get("variant") if latest else None
    ids = [v.id for v in int8s]
    default = ids.index(newest) if newest in ids else len(ids) - 1
    st.subheader("INT8 next to FP32", anchor=False, divider="gray")
    chosen = st.selectbox("INT8 variant", ids, index=default, format_func=lambda v: next(x.title for x in int8s if x.id == v),
                          key=f"q-show-{model_id}")  # fmt: skip
    variant = next(v for v in int8s if v.id == chosen)
    parent_id = variant.recipe.parent or "fp32"
    parent = workspace().variant(model_id, parent_id)
    recipe = variant.recipe
    calibration = recipe.calibration or {}
    st.caption(f"{safe(recipe.summary())} · made {fmt_time(variant.created)}")
    c1, c2, c3, c4 = st.columns(4)
    mib = variant.size_bytes / MIB
    if parent is not None and parent.size_bytes:
        c1.metric("Size on disk", f"{mib:.2f} MiB", delta=f"{variant.size_bytes / parent.size_bytes:.0%} of {parent.title} ({parent.size_bytes / MIB:.2f} MiB)",
                  delta_color="off", delta_arrow="off", border=True, height="stretch")  # fmt: skip
    else:
        c1.metric("Size on disk", f"{mib:.2f} MiB", border=True, height="stretch")
    c2.metric("Quantized layers", quantized_layer_count(variant), border=True, height="stretch",
              help="FakeQuantize nodes (OpenVINO) or QuantizeLinear nodes (ONNX Runtime): layers that run in 8-bit.")  # fmt: skip
    c3.metric(
        "Calibration images",
        calibration.get("size", "?"),
        help=calibration.get("description") or None,
        border=True,
        height="stretch",
    )
    c4.metric(
        "Time taken",
        format_duration(recipe.seconds) if recipe.seconds else "—",
        border=True,
        height="stretch",
    )
    left, right = st.columns(2)
    with left:
        accuracy_card(model_id, variant, parent_id)
    with right:
        latency_card(model_id, title, variant, parent_id)
    for note in recipe.notes:
        st.info(safe(note), icon=":material/info:")
    with st.expander("The full recipe of this variant", icon=":material/description:"):
        st.markdown(
            f"**Calibration:** {safe(calibration.get('name'))} ({calibration.get('size')} images)  \n{safe(calibration.get('description') or '')}"
        )
        st.json(recipe.to_dict(), expanded=1)
        st.caption(f"Saved in {variant.folder}")


page_setup(
    "Quantize to INT8",
    "How much smaller and faster does INT8 make a model, and what does it cost? NNCF post-training quantization of "
    "the OpenVINO FP32 model, or ONNX Runtime's, on calibration images you choose; every run is kept as a variant.",
)
model_id = model_picker()
if model_id:
    spec = {s.id: s for s in model_specs()}.get(model_id)
    title = spec.short_title if spec else model_id
    stored = {v.id for v in workspace().variants(model_id)}
    if spec is not None and not spec.trained:
        st.warning("This model has random weights: INT8 still shows size and speed, but there is no accuracy to keep.",
                   icon=":material/warning:")  # fmt: skip
    if "fp32" not in stored:
        st.info(
            "There is no FP32 variant yet: the job converts it first (a few seconds more).",
            icon=":material/info:",
        )
    left, right = st.columns([2, 3], gap="medium")
    with left:
        source, uploaded = calibration_source(model_id, spec)
    with right:
        choices = settings_form(model_id, spec)
    if choices is not None and run_safely(submit_quantize, model_id, title, source, uploaded, choices):
        st.toast("Quantization queued", icon=":material/compress:")
    job = jobs().latest("quantize", model_id=model_id)
    if job is not None:
        with st.container(border=True):
            cfg = job.config
            st.markdown(
                f"**:material/work_history: Latest quantization of this model** · {safe(cfg.get('backend') or 'openvino')} · "
                f"{cfg.get('subset_size') or 300} images · preset {safe(cfg.get('preset') or 'performance')}"
                + (" · accuracy control" if cfg.get("max_drop") is not None else "")
                + (f" · made {safe((job.result or {}).get('variant'))}" if job.result else "")
            )
            job_panel(job.id, key="quantize")
    results(model_id, title)
