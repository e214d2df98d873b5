"""Quantize: NNCF post-training quantization to INT8, then INT8 next to FP32 (size, layers, accuracy, latency)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.errors import InputError
from core.jobs import JobRecord, JobState
from ui.common import (
    MIB,
    fmt_time,
    format_duration,
    job_panel,
    latest_job,
    model_picker,
    model_specs,
    precisions_present,
    run_safely,
    runner,
    save_upload,
    workspace,
)

LAYERS_KEY = "quantize-layers"  # {(model_id, fp32 fingerprint): [layer names]}: read once per session
UPLOAD = "upload"
SOURCES = {
    "builtin:mnist": (
        "Built-in MNIST digits",
        "300 digits (30 per class), kept apart from the 4,700 digits used for evaluation",
    ),
    "builtin:imagenet-samples": (
        "Built-in photos",
        "photos that ship in Python packages, with random crops; kept apart from the 20 ImageNet "
        "evaluation images",
    ),
    UPLOAD: ("Your images (.zip)", "flat, or one folder per class; JPEG, PNG, BMP, GIF, TIFF or WebP"),
    "noise": ("Random noise", "for comparison: shows why real calibration data matters"),
}
VALIDATION_SETS = {
    "builtin:mnist": "Built-in MNIST digits (evaluation split)",
    "builtin:imagenet-samples": "Built-in ImageNet samples (20 images: a coarse check)",
    UPLOAD: "Your labelled images (.zip, one folder per class)",
}
PRESETS = {
    "performance": "symmetric weights and activations: the fastest INT8 kernels on CPU",
    "mixed": "asymmetric activations: better when activations are not centred on zero (GELU, swish)",
}


def _builtin_for(spec) -> str:
    """The built-in set that matches the model's labels (digits for MNIST models, photos otherwise)."""
    if spec is not None and (spec.labels == "mnist" or spec.preprocess.channels == 1):
        return "builtin:mnist"
    return "builtin:imagenet-samples"


def _source_name(ref) -> str:
    return SOURCES[ref][0] if ref in SOURCES else "your .zip"


def _ordered(preferred: str, choices) -> list[str]:
    return [preferred, *[c for c in choices if c != preferred]]


def _parse_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def _older(a, b) -> bool:
    """True when time `a` is known to be before time `b`."""
    first, second = _parse_time(a), _parse_time(b)
    return first is not None and second is not None and first < second


def _layer_choices(model_id: str) -> list[str]:
    """Convolution and MatMul names of the FP32 IR, read once per session and FP32 artifact."""
    fp32 = workspace().artifact(model_id, "fp32")
    if fp32 is None:
        return []
    cache = st.session_state.setdefault(LAYERS_KEY, {})
    key = (model_id, fp32.fingerprint)
    if key not in cache:
        from core.quantize import quantizable_layers

        with st.spinner("Reading the layer names of the FP32 model…"):
            cache[key] = run_safely(quantizable_layers, model_id, workspace=workspace()) or []
    return cache[key]


@st.cache_data(show_spinner=False, max_entries=32)
def _fake_quantize_count(xml_path: str, fingerprint: str) -> int:
    """Quantized layers of a saved INT8 IR: its FakeQuantize nodes (a text scan, no OpenVINO needed)."""
    with open(xml_path, encoding="utf-8", errors="replace") as handle:
        return handle.read().count('type="FakeQuantize"')


# inputs -------------------------------------------------------------------------------------------


def calibration_source(model_id: str, spec) -> tuple[str, object]:
    """The calibration choice and, for an upload, the uploaded file (None until one is chosen)."""
    with st.container(border=True):
        st.markdown("**:material/photo_library: Calibration data**")
        st.caption("NNCF runs these images through the FP32 model to measure each layer's value range.")
        options = _ordered(_builtin_for(spec), SOURCES)
        choice = st.radio(
            "Calibration images",
            options,
            format_func=lambda o: SOURCES[o][0],
            captions=[SOURCES[o][1] for o in options],
            key=f"q-calibration-{model_id}",
            label_visibility="collapsed",
        )
        uploaded = None
        if choice == UPLOAD:
            uploaded = st.file_uploader(
                "Calibration images (.zip)",
                type=["zip"],
                key="q-calibration-zip",
                help="Representative, unlabelled images are enough; 300 is NNCF's default. The archive is "
                "checked and unpacked in the worker (no links, no '..' names, size and ratio caps).",
            )
        elif choice == "noise":
            st.caption(
                ":material/science: Noise has none of the statistics of real images: expect a worse INT8 "
                "model. Use it to see what real calibration data buys."
            )
    return choice, uploaded


def settings_form(model_id: str, spec, default_source: str) -> dict | None:
    """The NNCF options; returns the raw choices when the form is submitted."""
    layers = _layer_choices(model_id)
    with st.form(f"q-form-{model_id}", border=True):
        st.markdown("**:material/tune: NNCF settings**")
        left, right = st.columns(2)
        subset = left.number_input(
            "Subset size (images)",
            min_value=1,
            max_value=10_000,
            value=300,
            step=50,
            key="q-subset",
            help="Images used to collect statistics. NNCF's default is 300; more gives steadier ranges "
            "and takes longer. A set with fewer images is used whole (the result notes it).",
        )
        model_type = right.selectbox(
            "Model type",
            ["none", "transformer"],
            key="q-model-type",
            help="transformer keeps the quantization-sensitive parts of attention blocks (softmax, layer "
            "norm, …) in floating point. Leave none for convolutional networks.",
        )
        preset = left.radio(
            "Preset",
            list(PRESETS),
            captions=list(PRESETS.values()),
            key="q-preset",
        )
        fast_bias = right.toggle(
            "Fast bias correction",
            value=True,
            key="q-fast-bias",
            help="On: one quick correction pass per layer. Off: the full bias correction, slower and "
            "sometimes a little more accurate.",
        )
        ignored = right.multiselect(
            "Keep in floating point (ignored scope)",
            layers,
            key=f"q-ignored-{model_id}",
            placeholder="no layer excluded" if layers else "needs the FP32 model",
            disabled=not layers,
            help="Convolution and MatMul layers to leave unquantized, e.g. the first or the last layer "
            "when they cost accuracy."
            + ("" if layers else " Convert the model to FP32 first (Models page) to list its layers."),
        )

        st.divider()
        st.markdown("**:material/target: Accuracy control**")
        control = st.toggle(
            "Keep the accuracy drop within a limit",
            key="q-control",
            help="nncf.quantize_with_accuracy_control: after quantizing, it measures top-1 on a labelled "
            "set and returns layers to FP32, most harmful first, until the drop is within the limit. "
            "Slower: several passes over the validation set.",
        )
        c1, c2, c3 = st.columns([1, 1, 2])
        max_drop = c1.number_input(
            "Max drop",
            min_value=0.1,
            max_value=50.0,
            value=1.0,
            step=0.1,
            format="%.1f",
            key="q-max-drop",
            help="Absolute: in top-1 points (1.0 = from 99.0 % to 98.0 %). Relative: in % of the FP32 top-1.",
        )
        drop_type = c2.radio(
            "Drop is",
            ["absolute", "relative"],
            key="q-drop-type",
            format_func=lambda v: "points (absolute)" if v == "absolute" else "% (relative)",
        )
        validation_options = _ordered(default_source, VALIDATION_SETS)
        validation = c3.selectbox(
            "Labelled validation set",
            validation_options,
            format_func=VALIDATION_SETS.get,
            key=f"q-validation-{model_id}",
            help="Accuracy control needs labels. Built-in sets are labelled and never overlap their "
            "calibration images; an upload needs one folder per class (or a CSV of file,label).",
        )
        validation_zip = c3.file_uploader(
            "Labelled .zip (for 'Your labelled images')",
            type=["zip"],
            key="q-validation-zip",
        )
        submitted = st.form_submit_button(
            "Quantize to INT8", type="primary", icon=":material/compress:", width="stretch"
        )
    if not submitted:
        return None
    return {
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
            raise InputError("choose a .zip of calibration images first, or pick a built-in set")
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
    }
    if choices["control"]:
        validation = choices["validation"]
        if validation == UPLOAD:
            if choices["validation_zip"] is None:
                raise InputError(
                    "accuracy control needs a labelled validation set: upload a .zip with one folder per "
                    "class, or choose a built-in set"
                )
            validation = str(save_upload(choices["validation_zip"], suffixes=(".zip",)))
        config.update(
            max_drop=choices["max_drop"] / 100, drop_type=choices["drop_type"], validation=validation
        )
    QuantizeConfig(**{**config, "ignored_scope": tuple(config["ignored_scope"])}).check()
    return config


def submit_quantize(model_id: str, title: str, source: str, uploaded, choices: dict) -> JobRecord:
    config = build_config(model_id, source, uploaded, choices)
    origin = f" · calibration {uploaded.name}" if source == UPLOAD else ""
    return runner().submit("quantize", config, title=f"Quantize {title} to INT8{origin}")


# results ------------------------------------------------------------------------------------------


def _matching_result(job: JobRecord | None, manifest: dict) -> dict | None:
    """The job's result if it made the INT8 model on disk now (same calibration and settings)."""
    if job is None or job.state != JobState.SUCCEEDED or not job.result:
        return None
    result = job.result
    same_calibration = (result.get("calibration") or {}).get("fingerprint") == (
        manifest.get("calibration") or {}
    ).get("fingerprint")
    return result if same_calibration and result.get("settings") == manifest.get("quantization") else None


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def accuracy_card(model_id: str, int8_manifest: dict) -> None:
    with st.container(border=True):
        st.markdown("**:material/target: Accuracy**")
        control = int8_manifest.get("accuracy_control")
        if control:
            validation = control.get("validation") or {}
            unit = "points" if control["drop_type"] == "absolute" else "% of FP32"
            drop = control["drop"] * 100
            c1, c2 = st.columns(2)
            c1.metric("FP32 top-1", _pct(control["fp32_metric"]))
            c2.metric(
                "INT8 top-1",
                _pct(control["int8_metric"]),
                delta=f"{-drop:+.2f} {unit}" if abs(drop) >= 0.005 else "no change",
                delta_color="normal" if abs(drop) >= 0.005 else "off",
                delta_arrow="auto" if abs(drop) >= 0.005 else "off",
            )
            within = control["drop"] <= control["max_drop"] + 1e-12
            text = (
                f"drop {drop:.2f} {unit}, limit {control['max_drop'] * 100:.2f} {unit}"
                f" ({control['drop_type']})"
            )
            if within:
                st.success(f"Within the limit: {text}", icon=":material/check_circle:")
            else:
                st.warning(f"Over the limit: {text}. NNCF could not reach it.", icon=":material/warning:")
            st.caption(
                f"Measured by accuracy control on {validation.get('name')} ({validation.get('size')} labelled "
                "images), never the calibration images; FP32 compiled with INFERENCE_PRECISION_HINT=f32."
            )
            return
        evaluation, rows = _latest_evaluation(model_id)
        if evaluation is None:
            st.caption(
                "Not measured yet. Turn on accuracy control with a labelled set, or evaluate FP32 and INT8 "
                "on the Accuracy page."
            )
            st.page_link("app_pages/accuracy.py", label="Open Accuracy", icon=":material/target:")
            return
        fp32, int8 = rows["fp32"], rows["int8"]
        change = (int8["top1"] - fp32["top1"]) * 100
        c1, c2 = st.columns(2)
        c1.metric("FP32 top-1", _pct(fp32["top1"]))
        if abs(change) < 0.005:
            c2.metric(
                "INT8 top-1", _pct(int8["top1"]), delta="no change", delta_color="off", delta_arrow="off"
            )
        else:
            c2.metric("INT8 top-1", _pct(int8["top1"]), delta=f"{change:+.2f} points")
        dataset = evaluation.get("dataset") or {}
        ci = int8.get("top1_ci95")
        extra = f" INT8 95 % interval {_pct(ci[0])}–{_pct(ci[1])}." if ci else ""
        st.caption(
            f"From the evaluation of {fmt_time(evaluation.get('created'))} on {dataset.get('name')} "
            f"({dataset.get('size')} images), {evaluation.get('device_name') or ''}.{extra}"
        )
        if _older(evaluation.get("created"), int8_manifest.get("created")):
            st.warning(
                "Measured before this INT8 model was made: evaluate it again on the Accuracy page.",
                icon=":material/history:",
            )


def _latest_evaluation(model_id: str) -> tuple[dict | None, dict]:
    """The newest evaluation with a top-1 for both FP32 and INT8."""
    from core.tradeoffs import latest_evaluation

    evaluation = latest_evaluation(workspace(), model_id, needs=("fp32", "int8"))
    if evaluation is None:
        return None, {}
    return evaluation, {
        r.get("precision"): r for r in evaluation.get("results") or [] if r.get("top1") is not None
    }


def submit_latency_benchmark(model_id: str, title: str) -> JobRecord:
    config = {"model_id": model_id, "precisions": ["fp32", "int8"], "seconds": 3}
    return runner().submit("benchmark", config, title=f"Latency of {title}: FP32 vs INT8")


def latency_card(model_id: str, title: str, int8_manifest: dict) -> None:
    from core.tradeoffs import latest_runs

    with st.container(border=True):
        st.markdown("**:material/speed: Latency**")
        runs = {r["precision"]: r for r in latest_runs(workspace(), model_ids=[model_id], batch=1)}
        job = latest_job("benchmark", model_id=model_id)
        fp32, int8 = runs.get("fp32"), runs.get("int8")
        if fp32 and int8:
            f_ms, i_ms = fp32["latency_ms"]["median"], int8["latency_ms"]["median"]
            c1, c2 = st.columns(2)
            c1.metric("FP32 median", f"{f_ms:.3g} ms")
            ratio = f_ms / i_ms if i_ms else float("nan")
            c2.metric(
                "INT8 median",
                f"{i_ms:.3g} ms",
                delta=f"×{ratio:.2f} faster" if ratio >= 1 else f"×{1 / ratio:.2f} slower",
                delta_color="normal" if ratio >= 1 else "inverse",
            )
            settings = int8.get("settings") or {}
            duration = (int8.get("duration_s") or {}).get("latency")
            st.caption(
                f"Median of synchronous single requests after warm-up · {int8.get('device_name')} · hint "
                f"{settings.get('hint')} · batch {settings.get('batch')} · {settings.get('threads')} threads · "
                f"{settings.get('streams')} stream{'' if settings.get('streams') == 1 else 's'}"
                + (f" · {duration:.1f} s latency phase" if duration else "")
                + f" · measured {fmt_time(int8.get('created'))}"
            )
            if _older(int8.get("created"), int8_manifest.get("created")):
                st.warning(
                    "Measured before this INT8 model was made: measure again.", icon=":material/history:"
                )
        elif not (job and job.state.active):
            st.caption("No benchmark of FP32 and INT8 yet.")
        if job and job.state != JobState.SUCCEEDED:  # running, or ended without a result: say so
            job_panel(job.id, key="quantize-bench")
            if job.state.active:
                return
        label = "Measure again (3 s each)" if fp32 and int8 else "Measure latency (3 s per precision)"
        if st.button(label, icon=":material/timer:", key="q-measure"):
            record = run_safely(submit_latency_benchmark, model_id, title)
            if record is not None:
                st.rerun()


def comparison(model_id: str, title: str, job: JobRecord | None) -> None:
    """INT8 next to FP32, from the artifact on disk (and the job's result when it made that artifact)."""
    ws = workspace()
    int8 = ws.artifact(model_id, "int8")
    if int8 is None:
        if job is None:
            st.info(
                "No INT8 model yet. Choose calibration data and settings above, then **Quantize to INT8**.",
                icon=":material/info:",
            )
        return
    fp32 = ws.artifact(model_id, "fp32")
    manifest = int8.manifest
    result = _matching_result(job, manifest)
    calibration = manifest.get("calibration") or {}
    settings = manifest.get("quantization") or {}
    layers = result["int8_layers"] if result else _fake_quantize_count(str(int8.xml), int8.fingerprint)

    st.subheader("INT8 next to FP32", anchor=False, divider="gray")
    st.caption(
        f"The INT8 model made {fmt_time(manifest.get('created'))} with NNCF {manifest.get('versions', {}).get('nncf', '?')}"
        f" · preset {settings.get('preset')} · calibrated on {calibration.get('name')}"
        + ("" if result else " · replaced models are kept under .history in the workspace")
    )
    c1, c2, c3, c4 = st.columns(4)
    int8_mib = int8.size_bytes / MIB
    if fp32 is not None:
        share = int8.size_bytes / fp32.size_bytes
        c1.metric(
            "Size on disk",
            f"{int8_mib:.2f} MiB",
            delta=f"{share:.0%} of FP32 ({fp32.size_bytes / MIB:.2f} MiB)",
            delta_color="off",
            delta_arrow="off",
            border=True,
            height="stretch",
        )
    else:
        c1.metric(
            "Size on disk",
            f"{int8_mib:.2f} MiB",
            border=True,
            height="stretch",
            help="The FP32 model is gone: no ratio",
        )
    c2.metric(
        "Quantized layers",
        layers,
        help="FakeQuantize nodes NNCF inserted; OpenVINO runs the layers behind them in 8-bit.",
        border=True,
        height="stretch",
    )
    c3.metric(
        "Calibration images",
        calibration.get("size", "?"),
        help=calibration.get("description") or None,
        border=True,
        height="stretch",
    )
    c4.metric(
        "Time taken",
        format_duration(result["seconds"]) if result else "—",
        help=None if result else "Not recorded: this INT8 model was not made by this page's latest job.",
        border=True,
        height="stretch",
    )

    left, right = st.columns(2)
    with left:
        accuracy_card(model_id, manifest)
    with right:
        latency_card(model_id, title, manifest)

    for note in (result or {}).get("notes") or []:
        st.info(note, icon=":material/info:")

    with st.expander("Settings and calibration set of this INT8 model", icon=":material/description:"):
        st.markdown(
            f"**Calibration:** {calibration.get('name')} ({calibration.get('size')} images)  \n"
            f"{calibration.get('description') or ''}"
        )
        rows = [
            ("Subset size", settings.get("subset_size")),
            ("Preset", settings.get("preset")),
            ("Fast bias correction", settings.get("fast_bias_correction")),
            ("Model type", settings.get("model_type") or "none"),
            ("Ignored scope", ", ".join(settings.get("ignored_scope") or []) or "none"),
            ("Target device", settings.get("target_device")),
            ("Max drop", settings.get("max_drop") if settings.get("max_drop") is not None else "off"),
            ("Drop type", settings.get("drop_type") or "—"),
        ]
        st.dataframe([{"setting": k, "value": str(v)} for k, v in rows], hide_index=True, width="stretch")
        st.caption(f"Saved in {int8.folder}")


# page ---------------------------------------------------------------------------------------------


st.title("Quantize to INT8", anchor=False)
st.caption(
    "How much smaller and faster does INT8 make a model, and what does it cost in accuracy? "
    "NNCF post-training quantization of the FP32 OpenVINO model, on calibration images you choose."
)

model_id = model_picker()
if model_id:
    specs = {s.id: s for s in model_specs()}
    spec = specs.get(model_id)
    title = spec.title if spec else model_id
    present = precisions_present(model_id)
    if spec is not None and not spec.trained:
        st.warning(
            "This model has random weights: INT8 still shows size and speed, but there is no accuracy to keep.",
            icon=":material/warning:",
        )
    if "fp32" not in present:
        st.info(
            "There is no FP32 model yet: the job converts it first (a few seconds more).",
            icon=":material/info:",
        )

    left, right = st.columns([2, 3], gap="medium")
    with left:
        source, uploaded = calibration_source(model_id, spec)
    with right:
        choices = settings_form(model_id, spec, _builtin_for(spec))
    if choices is not None and run_safely(submit_quantize, model_id, title, source, uploaded, choices):
        st.toast("Quantization queued", icon=":material/compress:")

    job = latest_job("quantize", model_id=model_id)
    if job is not None:
        with st.container(border=True):
            st.markdown(
                f"**:material/work_history: Latest quantization of this model** · calibration: "
                f"{_source_name(job.config.get('calibration'))} · {job.config.get('subset_size') or 300} images · "
                f"preset {job.config.get('preset') or 'performance'}"
                + (" · accuracy control" if job.config.get("max_drop") is not None else "")
            )
            job_panel(job.id, key="quantize")
    comparison(model_id, title, job)
