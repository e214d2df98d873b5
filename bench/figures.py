"""The figures of the suite, one function each. Every ratio is measured in rounds that take turns
(A B, A B, ...), so that a disturbance of this shared machine hits both sides alike.

`ctx` is a `bench.suite.Context`: the private workspace, the plan (quick or full) and a scratch folder.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import (
    PYTHON,
    ROOT,
    Figure,
    benchmark_app,
    children,
    cmdline,
    load_now,
    maps_mention,
    median,
    percentile,
    rss_mb,
    run_checked,
    start,
    stop,
)

LITE0 = "efficientnet-lite0"
LENET = "lenet5-mnist"
RESNET = "resnet50-untrained"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
APP_READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def _spec_and_variant(ws, model_id: str, variant_id: str):
    from core.registry import get_model
    from core.variants import resolve_variants

    spec = get_model(model_id, ws)
    (variant,), _ = resolve_variants(spec, ws, [variant_id])
    return spec, variant


def _shape(spec) -> tuple[int, ...]:
    return tuple(spec.input_shape)


# 1. classify one JPEG: end to end against pure infer ---------------------------------------------------


def classify_latency(ctx) -> list[Figure]:
    """bytes -> open_image -> to_pixels -> pixel_input -> infer -> top-5, against infer alone (Lite0 INT8)."""
    import io

    from PIL import Image

    from core.backends import RunOptions, clear_cache, prepare
    from core.data import open_image
    from core.data.builtin import imagenet_samples
    from core.inference import classify_images, top_predictions
    from core.registry import class_names

    clear_cache()
    ws, plan = ctx.workspace, ctx.plan
    spec, variant = _spec_and_variant(ws, LITE0, "int8")
    names = class_names(spec)
    prepared = prepare(variant, spec, ws, RunOptions(pixels=True))  # what classify_images compiles
    source = imagenet_samples()[0].source
    payload = Path(source).read_bytes()
    pre = spec.preprocess
    buffer = io.BytesIO()
    Image.open(io.BytesIO(payload)).convert("RGB").save(
        buffer, format="JPEG", quality=92
    )  # baseline, as cameras write
    baseline = buffer.getvalue()

    def end_to_end(data: bytes = payload) -> float:
        start = time.perf_counter()
        image = open_image(data, name="upload.jpg", short_side=pre.resize)
        pixels = pre.to_pixels(image, fast=True)[None]
        logits = prepared.infer(prepared.pixel_input(pixels))
        top_predictions(logits[0], names, 5)
        return _ms(start)

    ready = prepared.pixel_input(pre.to_pixels(open_image(payload, short_side=pre.resize), fast=True)[None])

    decoded_once = open_image(payload, name="upload.jpg", short_side=pre.resize)

    def from_decoded() -> float:
        """What a click costs per image: the page keeps decoded uploads (and gallery images) in memory."""
        start = time.perf_counter()
        pixels = pre.to_pixels(decoded_once, fast=True)[None]
        logits = prepared.infer(prepared.pixel_input(pixels))
        top_predictions(logits[0], names, 5)
        return _ms(start)

    def pure() -> float:
        start = time.perf_counter()
        prepared.infer(ready)
        return _ms(start)

    for _ in range(10):
        end_to_end(), pure()
    fig = Figure("classify", "classify one decoded 512 px JPEG, end to end / pure infer (Lite0 INT8)", "≤ 1.3×",
                 lambda v: v <= 1.3, side_units={"end to end": "ms", "infer": "ms"})  # fmt: skip
    second = Figure("classify-baseline", "  the same, photo re-encoded as a baseline JPEG (q92; foolbox's is progressive)",
                    "≤ 1.3×", lambda v: v <= 1.3, side_units={"end to end": "ms", "infer": "ms"})  # fmt: skip
    third = Figure("classify-decoded", "  the same from the decoded image (a click on the page: uploads are decoded once)",
                   "≤ 1.3×", lambda v: v <= 1.3, side_units={"from decoded": "ms", "infer": "ms"})  # fmt: skip
    fig.load["before"] = second.load["before"] = third.load["before"] = load_now()
    for _ in range(plan.rounds):
        a, a2, a3, b = [], [], [], []
        for _ in range(plan.classify_calls):  # A B, A B, ... call by call
            a.append(end_to_end())
            b.append(pure())
            a2.append(end_to_end(baseline))
            a3.append(from_decoded())
        fig.add_round(median(a) / median(b), **{"end to end": median(a), "infer": median(b)})
        second.add_round(median(a2) / median(b), **{"end to end": median(a2), "infer": median(b)})
        third.add_round(median(a3) / median(b), **{"from decoded": median(a3), "infer": median(b)})
    fig.load["after"] = second.load["after"] = third.load["after"] = load_now()

    # where the end-to-end time goes, stage by stage (interleaved too)
    stages: dict[str, list[float]] = {k: [] for k in (
        "decode (draft)", "decode (full)", "to_pixels fast", "to_pixels exact (bicubic)", "pixel_input", "infer",
        "top-5", "classify_images([int8]) on a decoded image", "classify_images([int8], warm=False)")}  # fmt: skip
    decoded = open_image(payload, short_side=pre.resize)
    full = open_image(payload)
    pixels = pre.to_pixels(decoded, fast=True)[None]
    logits = prepared.infer(ready)
    for _ in range(plan.classify_calls):
        t = time.perf_counter()
        open_image(payload, name="upload.jpg", short_side=pre.resize)
        stages["decode (draft)"].append(_ms(t))
        t = time.perf_counter()
        open_image(payload, name="upload.jpg")
        stages["decode (full)"].append(_ms(t))
        t = time.perf_counter()
        pre.to_pixels(decoded, fast=True)
        stages["to_pixels fast"].append(_ms(t))
        t = time.perf_counter()
        pre.to_pixels(full, fast=False)
        stages["to_pixels exact (bicubic)"].append(_ms(t))
        t = time.perf_counter()
        prepared.pixel_input(pixels)
        stages["pixel_input"].append(_ms(t))
        stages["infer"].append(pure())
        t = time.perf_counter()
        top_predictions(logits[0], names, 5)
        stages["top-5"].append(_ms(t))
        t = time.perf_counter()
        classify_images(LITE0, [("x", decoded)], ["int8"], workspace=ws)
        stages["classify_images([int8]) on a decoded image"].append(_ms(t))
        t = time.perf_counter()
        classify_images(LITE0, [("x", decoded)], ["int8"], workspace=ws, warm=False)
        stages["classify_images([int8], warm=False)"].append(_ms(t))
    fig.details["stages_median_ms"] = {k: round(median(v), 3) for k, v in stages.items()}
    fig.details["image"] = f"{Path(source).name}, {len(payload):,} bytes, {full.size[0]}x{full.size[1]} JPEG"
    fig.details["compiled"] = prepared.settings()
    fig.details["calls_per_round"] = plan.classify_calls
    t = time.perf_counter()
    for _ in range(plan.classify_calls):
        open_image(baseline, short_side=pre.resize)
    second.details["decode_baseline_draft_ms"] = round(_ms(t) / plan.classify_calls, 3)
    return [fig, second, third]


# 2. evaluation images/s against benchmark_app ------------------------------------------------------------


def _lite0_folder(ctx, count: int) -> Path:
    """`count` real 512 px JPEGs (the 20 foolbox ImageNet samples, copied round-robin) in a flat folder."""
    from core.data.builtin import imagenet_samples

    folder = ctx.scratch / f"lite0-eval-{count}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        sources = [Path(s.source) for s in imagenet_samples()]
        for i in range(count):
            shutil.copyfile(
                sources[i % len(sources)],
                folder / f"copy{i // len(sources):03d}_{sources[i % len(sources)].name}",
            )
    return folder


def _decode_cost_ms(ref: str, spec, ws, n: int = 20) -> float:
    """One thread: sample.image() + to_pixels (the evaluation's exact path), median ms per image."""
    from core.data import load_dataset

    images = list(load_dataset(ref, purpose="evaluation", workspace=ws, spec=spec.preprocess))[:n]
    found = []
    for sample in images:
        t = time.perf_counter()
        spec.preprocess.to_pixels(sample.image())
        found.append(_ms(t))
    return round(median(found), 3)


def evaluation_throughput(ctx) -> list[Figure]:
    from core.backends import clear_cache
    from core.evaluate import EvaluateConfig, evaluate_model

    ws, plan = ctx.workspace, ctx.plan
    cases = [
        (LENET, "builtin:mnist", None, "LeNet5, 4,700 MNIST digits"),
        (LITE0, str(_lite0_folder(ctx, plan.lite0_eval_images)), None,
         f"Lite0, {plan.lite0_eval_images} real 512 px JPEGs"),
    ]  # fmt: skip
    figures = []
    for model_id, dataset, limit, label in cases:
        spec, variant = _spec_and_variant(ws, model_id, "int8")
        inproc = Figure(f"evaluate-{model_id}-inprocess", f"evaluation images/s / benchmark_app, {label}, in process, first pass",
                        "≥ 70 %", lambda v: v >= 0.70, unit="%",
                        side_units={"evaluate_model": "img/s", "benchmark_app": "FPS"})  # fmt: skip
        cli = Figure(f"evaluate-{model_id}-cli", f"evaluation images/s / benchmark_app, {label}, `python -m core evaluate`, first pass",
                     "≥ 70 %", lambda v: v >= 0.70, unit="%",
                     side_units={"core evaluate (CLI)": "img/s", "benchmark_app": "FPS"})  # fmt: skip
        again = Figure(f"evaluate-{model_id}-again", f"evaluation images/s / benchmark_app, {label}, in process, again (decoded pixels kept)",
                       "≥ 70 %", lambda v: v >= 0.70, unit="%",
                       side_units={"evaluate_model": "img/s", "benchmark_app": "FPS"})  # fmt: skip
        inproc.load["before"] = load_now()
        infer_rates, fixed, again_rates = [], [], []
        config = EvaluateConfig(model_id, variants=("int8",), dataset=dataset, limit=limit)
        for _ in range(plan.rounds_heavy):
            shutil.rmtree(
                ws.root / "cache" / "pixels", ignore_errors=True
            )  # a first evaluation: decode everything
            clear_cache()  # the whole call: compile (from OpenVINO's disk cache) included, as a job worker does it
            t = time.perf_counter()
            result = evaluate_model(config, workspace=ws)
            seconds = time.perf_counter() - t
            count = result.dataset["size"]
            inproc_rate = count / seconds
            clear_cache()
            t = time.perf_counter()
            evaluate_model(config, workspace=ws)  # the same set again: its decoded pixels were kept
            again_rates.append(count / (time.perf_counter() - t))
            infer_rates.append(1000 / result.results[0].ms_per_image)
            clear_cache()
            t = time.perf_counter()
            evaluate_model(
                EvaluateConfig(model_id, variants=("int8",), dataset=dataset, limit=1), workspace=ws
            )
            fixed.append(time.perf_counter() - t)
            shutil.rmtree(
                ws.root / "cache" / "pixels", ignore_errors=True
            )  # the CLI's figure is a first pass too
            args = [PYTHON, "-m", "core", "evaluate", "--model", model_id, "--variant", "int8", "--dataset", dataset,
                    "--json", "--workspace", str(ws.root)]  # fmt: skip
            found = run_checked(args)
            cli_rate = json.loads(found.stdout)["dataset"]["size"] / found.seconds
            bench = benchmark_app(
                variant.xml, hint="throughput", seconds=plan.bench_seconds, shape=_shape(spec)
            )
            inproc.add_round(
                inproc_rate / bench["fps"], evaluate_model=inproc_rate, benchmark_app=bench["fps"]
            )
            again.add_round(
                again_rates[-1] / bench["fps"], evaluate_model=again_rates[-1], benchmark_app=bench["fps"]
            )
            cli.add_round(
                cli_rate / bench["fps"], **{"core evaluate (CLI)": cli_rate, "benchmark_app": bench["fps"]}
            )
        inproc.load["after"] = cli.load["after"] = again.load["after"] = load_now()
        cli.load["before"] = again.load["before"] = inproc.load["before"]
        fps = median(inproc.sides["benchmark_app"])
        inproc.details = {
            "images": count,
            "inference_only_img_per_s": round(median(infer_rates), 1),
            "inference_only_share_of_benchmark_app": round(median(infer_rates) / fps, 3),
            "fixed_cost_s (whole call with limit=1)": round(median(fixed), 3),
            "decode_and_preprocess_ms_per_image_one_thread": _decode_cost_ms(dataset, spec, ws),
            "settings": result.settings.get("method"),
        }
        cli.details = {"import_floor_s": _import_floor()}
        figures += [inproc, again, cli]
    return figures


def _import_floor() -> float:
    """Wall seconds of starting Python and importing what `core evaluate` needs, nothing run."""
    found = run_checked([PYTHON, "-c", "import core.cli, core.evaluate, core.backends, openvino"])
    return round(found.seconds, 3)


# 3. Classify p90 with 5 sessions while a quantization job runs ------------------------------------------


class _Sessions:
    """`n` browser sessions as threads of this process, each classifying one image with Lite0 fp32 + int8
    in a loop, as the web server runs Classify calls in its own threads."""

    def __init__(self, ws, image, n: int = 5, variants=("fp32", "int8")):
        self.ws, self.image, self.n, self.variants = ws, image, n, list(variants)
        self.calls: list[tuple[float, float]] = []  # (wall clock at the end, ms)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def _loop(self) -> None:
        from core.inference import classify_images

        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                classify_images(LITE0, [("photo.jpg", self.image)], self.variants, workspace=self.ws)
            except Exception as exc:  # noqa: BLE001 - reported with the figure
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.calls.append((time.time(), _ms(t)))

    def __enter__(self) -> _Sessions:
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.n)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def between(self, begin: float, end: float) -> list[float]:
        return [ms for stamp, ms in self.calls if begin <= stamp <= end]


def _quantize_job(service, ctx, *, kind: str = "quantize", extra: dict | None = None):
    """Submit a real Lite0 quantization job to the JobService; (its record, the clock at submission)."""
    config = {"model_id": LITE0, "calibration": "builtin:photos", "subset_size": ctx.plan.load_images,
              "name": "bench-load", "replace": True, **(extra or {})}  # fmt: skip
    t = time.perf_counter()
    record = service.submit(kind, config, title="bench: quantize Lite0 under load")
    return record, t


def _wait_job(service, record, t0: float, timeout: float = 1800):
    done = service.wait(record.id, timeout=timeout, poll=0.2)
    if done.state.value != "succeeded":
        msg = f"the quantization job ended {done.state.value}: {done.error or done.message}"
        raise RuntimeError(msg)
    return done, time.perf_counter() - t0


def _one_condition(ctx, service, image, *, kind="quantize", extra=None, idle_s: float) -> dict:
    """Idle sessions, then sessions while a job runs, then the job alone: one round of every side."""
    sessions = _Sessions(ctx.workspace, image)
    with sessions:
        time.sleep(1.0)  # every thread past its first call
        begin = time.time()
        time.sleep(idle_s)
        idle = sessions.between(begin, time.time())
    sessions = _Sessions(ctx.workspace, image)
    with sessions:
        record, t0 = _quantize_job(service, ctx, kind=kind, extra=extra)
        done, loaded_wall = _wait_job(service, record, t0)
        loaded = sessions.between(done.started or 0, done.finished or time.time())
    record, t0 = _quantize_job(service, ctx, kind=kind, extra=extra)
    alone, alone_wall = _wait_job(service, record, t0)
    errors = sessions.errors
    return {
        "p90_idle": percentile(idle, 90), "p90_loaded": percentile(loaded, 90),
        "median_idle": median(idle), "median_loaded": median(loaded),
        "calls_idle": len(idle), "calls_loaded": len(loaded),
        "job_s_loaded": loaded_wall, "job_s_alone": alone_wall,
        "job_run_s_loaded": done.duration, "job_run_s_alone": alone.duration, "errors": errors[:3],
    }  # fmt: skip


def classify_under_load(ctx) -> list[Figure]:
    from core.backends import clear_cache
    from core.data import open_image
    from core.data.builtin import imagenet_samples
    from core.inference import classify_images
    from core.jobs import JobService
    from core.jobs.kinds import register_job_kind

    ws, plan = ctx.workspace, ctx.plan
    clear_cache()
    spec, _ = _spec_and_variant(ws, LITE0, "int8")
    image = open_image(Path(imagenet_samples()[0].source).read_bytes(), short_side=spec.preprocess.resize)
    classify_images(
        LITE0, [("photo.jpg", image)], ["fp32", "int8"], workspace=ws
    )  # compiled before the clock
    register_job_kind("bench-quantize", "bench.worker_variants:quantize_variant_job")
    service = JobService(ws)
    ctx.services.append(service)
    fig = Figure("load", "Classify p90, 5 sessions + a running quantization / idle (Lite0 fp32+int8)", "≤ 3×",
                 lambda v: v <= 3.0, side_units={"p90 loaded": "ms", "p90 idle": "ms", "quantization loaded": "s",
                                                 "quantization alone": "s"})  # fmt: skip
    fig.load["before"] = load_now()
    rounds = []
    for _ in range(plan.rounds_load):
        found = _one_condition(ctx, service, image, idle_s=plan.idle_seconds)
        rounds.append(found)
        fig.add_round(found["p90_loaded"] / found["p90_idle"], **{
            "p90 loaded": found["p90_loaded"], "p90 idle": found["p90_idle"],
            "quantization loaded": found["job_s_loaded"], "quantization alone": found["job_s_alone"]})  # fmt: skip
    fig.load["after"] = load_now()
    fig.details["rounds"] = rounds
    fig.details["job"] = (
        f"Lite0 NNCF quantization of {plan.load_images} builtin:photos images, JobService worker (nice 10)"
    )
    fig.details["quantization_slowdown"] = round(
        median(fig.sides["quantization loaded"]) / median(fig.sides["quantization alone"]), 2
    )

    if ctx.plan.try_alternatives or (fig.passed is False):
        fig.details["alternatives"] = _alternatives(ctx, service, image)
    return [fig]


def _pinning_off(enabled: bool) -> None:
    """Compile the server's OpenVINO models with ENABLE_CPU_PINNING False (the bench patches the config
    in this process only; the product's place for it is core/backends/openvino.py::compile_config)."""
    import core.backends.openvino as adapter
    from core.backends import clear_cache

    if not hasattr(adapter, "_bench_original_compile_config"):
        adapter._bench_original_compile_config = adapter.compile_config
    original = adapter._bench_original_compile_config
    if enabled:

        def patched(variant_format, options, cache_dir):
            return {**original(variant_format, options, cache_dir), "ENABLE_CPU_PINNING": False}

        adapter.compile_config = patched
    else:
        adapter.compile_config = original
    clear_cache()


def _alternatives(ctx, service, image) -> list[dict]:
    """The same measurement with one thing changed each: job nice 19; the worker's OpenVINO threads
    bounded to 1; the worker on one core; CPU pinning off in the server; threads 1 and pinning off."""
    from core.inference import classify_images

    options = [
        ("job at nice 19 (OVDASH_JOB_NICE=19)", {"nice": "19"}, {}, False),
        ("worker INFERENCE_NUM_THREADS=1 (every compile in the worker)", {}, {"bench_threads": 1}, False),
        ("worker confined to one core (sched_setaffinity)", {}, {"bench_cpus": [1]}, False),
        ("server models ENABLE_CPU_PINNING=False", {}, {}, True),
        ("worker threads=1 and server pinning off", {}, {"bench_threads": 1}, True),
    ]
    found = []
    saved_nice = os.environ.get("OVDASH_JOB_NICE")
    for label, env, extra, pinning_off in options:
        try:
            if env.get("nice"):
                os.environ["OVDASH_JOB_NICE"] = env["nice"]  # read by each new worker at start
            _pinning_off(pinning_off)
            classify_images(LITE0, [("photo.jpg", image)], ["fp32", "int8"], workspace=ctx.workspace)
            result = _one_condition(
                ctx, service, image, kind="bench-quantize", extra=extra, idle_s=ctx.plan.idle_seconds
            )
            result["ratio"] = result["p90_loaded"] / result["p90_idle"]
            found.append({"change": label, **result})
        except Exception as exc:  # noqa: BLE001 - an alternative that fails is reported, the rest still run
            found.append({"change": label, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            if saved_nice is None:
                os.environ.pop("OVDASH_JOB_NICE", None)
            else:
                os.environ["OVDASH_JOB_NICE"] = saved_nice
            _pinning_off(False)
    return found


# 4. Classify click to results (AppTest), in a child process like a server ------------------------------


def click_to_results(ctx) -> list[Figure]:
    out = ctx.scratch / "click.json"
    args = [PYTHON, str(ROOT / "bench" / "suite.py"), "--worker", "click", "--workspace", str(ctx.workspace.root),
            "--part", str(out)] + (["--quick"] if ctx.quick else [])  # fmt: skip
    before = load_now()
    run_checked(args, timeout=1800)
    data = json.loads(out.read_text())
    fig = Figure("click", "Classify click to results on the page, beyond model time (AppTest)", "≤ 150 ms",
                 lambda v: v <= 150, unit="ms", side_units={"click run": "ms", "model time": "ms"})  # fmt: skip
    for total, model in zip(data["click_ms"], data["model_ms"], strict=True):
        fig.add_round(total - model, **{"click run": total, "model time": model})
    fig.load = {"before": before, "after": load_now()}
    fig.details = {k: v for k, v in data.items() if k not in ("click_ms", "model_ms")}
    fig.notes.append(
        "AppTest reruns the whole script on a click (no fragment-only rerun), and a real browser adds "
        "its own rendering on top; see the server-memory figure for a browser click."
    )
    return [fig]


def click_worker(workspace_root: str, quick: bool) -> dict:
    """Runs in its own process (python bench/suite.py --worker click): AppTest on app.py, Classify page."""
    from streamlit.testing.v1 import AppTest

    import core.inference as inference

    timings: dict[str, list[float]] = {"classify_images": []}
    original = inference.classify_images

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings["classify_images"].append(_ms(t))

    def warm_once(*args, **kwargs):
        """The fix tried here: warm a variant on its first use only (every variant is warm after the first click)."""
        return timed(*args, **{**kwargs, "warm": False})

    inference.classify_images = timed  # the page imports it at call time
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["model_id"] = LITE0
    at.run()
    at.switch_page("app_pages/classify.py")
    at.run()
    variants = ["torch", "fp32", "fp16", "int8"]
    at.multiselect(key=f"cls-variants-{LITE0}").set_value(variants).run()
    boxes = [b for b in at.checkbox if str(b.key).startswith("cls-gal-imagenet-")]
    chelsea = next(b for b in boxes if "chelsea" in str(b.key))
    sample = next(b for b in boxes if "imagenet_" in str(b.key))
    chelsea.check()
    sample.check()
    at.run()
    t = time.perf_counter()
    at.button(key="cls-run").click().run()  # compiles or loads every variant: reported apart
    first = _ms(t)
    if at.exception:
        msg = f"the Classify page raised: {[e.value for e in at.exception]}"
        raise RuntimeError(msg)
    clicks, models, reruns, calls, fixed_beyond, fixed_calls = [], [], [], [], [], []
    for _ in range(3 if quick else 8):
        inference.classify_images = timed
        timings["classify_images"].clear()
        t = time.perf_counter()
        at.button(key="cls-run").click().run()
        clicks.append(_ms(t))
        calls += timings["classify_images"]
        stored = at.session_state["classify-results"]
        models.append(sum(r["ms"] for r in stored["results"]))
        t = time.perf_counter()
        at.run()  # the same page again with nothing clicked: its own rerun, results rendered from state
        reruns.append(_ms(t))
        inference.classify_images = warm_once
        timings["classify_images"].clear()
        t = time.perf_counter()
        at.button(key="cls-run").click().run()
        total = _ms(t)
        fixed_calls += timings["classify_images"]
        stored = at.session_state["classify-results"]
        fixed_beyond.append(total - sum(r["ms"] for r in stored["results"]))
    classify_calls = calls
    return {
        "click_ms": clicks,
        "model_ms": models,
        "first_click_ms": round(first, 1),
        "page_rerun_without_click_ms": round(median(reruns), 1),
        "classify_images_call_ms": round(median(classify_calls), 1),
        "outside_classify_images_ms": round(median(clicks) - median(classify_calls), 1),
        "inside_classify_images_beyond_model_ms": round(median(classify_calls) - median(models), 1),
        "bench_patch_warm_once_beyond_model_ms": round(median(fixed_beyond), 1),
        "bench_patch_warm_once_classify_images_call_ms": round(median(fixed_calls), 1),
        "images": len(stored["images"]),
        "variants": variants,
        "results": len(stored["results"]),
    }


# 5. app benchmark against benchmark_app ------------------------------------------------------------------


@dataclass(frozen=True)
class _AppRun:
    throughput_fps: float
    median_ms: float


def app_benchmark(ctx) -> list[Figure]:
    """The app's benchmark throughput against benchmark_app's on the same INT8 IR, per hint and model; for
    the latency hint also the median latencies (at one request, both FPS figures include a Python loop's
    time between requests, which matters for models that run in a millisecond or less).

    The app's side runs as `python -m core benchmark` in its own process, as a Benchmark job's worker
    does: measured inside this process, it would share it with every model the suite compiled before."""
    ws, plan = ctx.workspace, ctx.plan
    figures = []
    for hint in plan.hints:
        for model_id in (LITE0, RESNET, LENET):
            spec, variant = _spec_and_variant(ws, model_id, "int8")
            fig = Figure(f"benchmark-{model_id}-{hint}", f"app benchmark FPS / benchmark_app, {model_id} INT8, {hint} hint",
                         "0.9–1.1", lambda v: 0.9 <= v <= 1.1, side_units={"core_benchmark": "FPS", "benchmark_app": "FPS"})  # fmt: skip
            latency = Figure(f"benchmark-{model_id}-{hint}-median", f"  median latency, app / benchmark_app, {model_id}, {hint} hint",
                             "0.9–1.1", lambda v: 0.9 <= v <= 1.1, side_units={"core_benchmark": "ms", "benchmark_app": "ms"})  # fmt: skip
            fig.load["before"] = load_now()
            settings = None
            for _ in range(plan.rounds_heavy):
                args = [PYTHON, "-m", "core", "benchmark", "--model", model_id, "--variant", "int8", "--hint", hint,
                        "--seconds", f"{plan.bench_seconds:g}", "--rounds", "1", "--json", "--workspace", str(ws.root)]  # fmt: skip
                found = json.loads(run_checked(args, timeout=plan.bench_seconds * 10 + 120).stdout)[0]
                run = _AppRun(found["throughput_fps"], found["latency_ms"]["median"])
                settings = found["settings"]
                bench = benchmark_app(variant.xml, hint=hint, seconds=plan.bench_seconds, shape=_shape(spec))
                fig.add_round(
                    run.throughput_fps / bench["fps"],
                    core_benchmark=run.throughput_fps,
                    benchmark_app=bench["fps"],
                )
                if bench["median_ms"]:
                    latency.add_round(run.median_ms / bench["median_ms"], core_benchmark=run.median_ms,
                                      benchmark_app=bench["median_ms"])  # fmt: skip
            fig.load["after"] = load_now()
            fig.details = {"app_settings": {k: settings.get(k) for k in ("streams", "threads", "nireq", "pinning", "inference_precision")},
                           "note": f"python -m core benchmark --seconds {plan.bench_seconds:g} --rounds 1 (half latency, half throughput phase); "
                           f"benchmark_app -t {plan.bench_seconds:g}"}  # fmt: skip
            figures.append(fig)
            if hint == "latency" and latency.values:
                latency.load = fig.load
                figures.append(latency)
    return figures


# 6. core quantize against bare nncf.quantize -------------------------------------------------------------


def quantize_overhead(ctx) -> list[Figure]:
    ws, plan = ctx.workspace, ctx.plan
    _, fp32 = _spec_and_variant(ws, LITE0, "fp32")
    n = plan.quantize_images
    fig = Figure("quantize", f"`core quantize` / bare nncf.quantize, Lite0, {n} images (subprocess wall)", "≤ 1.1×",
                 lambda v: v <= 1.1, side_units={"core quantize": "s", "bare nncf": "s"})  # fmt: skip
    fig.load["before"] = load_now()
    inner, bare_phases = [], []
    for r in range(plan.rounds_heavy):
        cli = run_checked([PYTHON, "-m", "core", "quantize", "--model", LITE0, "--calibration", "builtin:photos",
                           "--subset-size", str(n), "--name", "bench-q", "--replace", "--json",
                           "--workspace", str(ws.root)], timeout=3600)  # fmt: skip
        inner.append(json.loads(cli.stdout)["seconds"])
        bare = run_checked([PYTHON, str(ROOT / "bench" / "bare_quantize.py"), str(fp32.xml),
                            str(ctx.scratch / f"bare-{r}" / "model.xml"), str(n)], timeout=3600)  # fmt: skip
        bare_phases.append(json.loads(bare.stdout.strip().splitlines()[-1]))
        fig.add_round(cli.seconds / bare.seconds, **{"core quantize": cli.seconds, "bare nncf": bare.seconds})
    fig.load["after"] = load_now()
    fig.details = {
        "quantize_model_own_seconds": round(median(inner), 2),
        "cli_outside_quantize_model_s": round(median(fig.sides["core quantize"]) - median(inner), 2),
        "bare_phases_median_s": {k: round(median(p[k] for p in bare_phases), 2) for k in bare_phases[0]},
    }
    return [fig]


# 7. server memory after Classify with every precision, and start-up --------------------------------------


def _start_server(ws_root: Path, log: Path):
    from tests.e2e.conftest import free_port, streamlit_command, wait_healthy

    port = free_port()
    env = {**os.environ, "OVDASH_WORKSPACE": str(ws_root)}
    t = time.perf_counter()
    process = start(streamlit_command(port), env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    if wait_healthy(process, url, log, timeout=120, poll=0.1):
        return process, url, t, time.perf_counter() - t
    stop(process)
    msg = f"streamlit did not become healthy:\n{log.read_text()[-3000:]}"
    raise RuntimeError(msg)


def _stop_server(process) -> list[str]:
    """Stop the server by its pid; helpers it started that outlive it are stopped by their own pid."""
    import signal

    kids = [pid for pid in _descendants(process.pid)]
    stop(process)
    left = []
    time.sleep(0.5)
    for pid in kids:
        if Path(f"/proc/{pid}").exists() and "spawn_main" in cmdline(pid):
            os.kill(pid, signal.SIGTERM)  # a child of the server this suite started, found by its pid
            left.append(str(pid))
    return left


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for kid in children(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def _browser():
    """Debian's Chromium through Playwright, as the end-to-end tests launch it."""
    from contextlib import contextmanager

    from playwright.sync_api import sync_playwright

    @contextmanager
    def launched():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()

    return launched()


def server_startup(ctx) -> list[Figure]:
    """Time from `streamlit run` to the first page rendered in Chromium, on a fresh workspace."""
    fig = Figure("startup", "first page rendered after server start (fresh workspace)", "≤ 5 s", lambda v: v <= 5.0,
                 unit="s", side_units={"first page": "s", "healthy": "s"})  # fmt: skip
    fig.load["before"] = load_now()
    with _browser() as browser:
        for r in range(ctx.plan.startup_runs):
            root = ctx.scratch / f"startup-{r}"
            root.mkdir(parents=True, exist_ok=True)
            process, url, t0, healthy = _start_server(root / "ws", root / "server.log")
            try:
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector(APP_READY, timeout=120_000)
                page.locator("h1").first.wait_for()
                rendered = time.perf_counter() - t0
                page.close()
            finally:
                _stop_server(process)
            fig.add_round(rendered, **{"first page": rendered, "healthy": healthy})
    fig.load["after"] = load_now()
    fig.notes.append("includes Python start-up and the server's imports; the page is the home page")
    return [fig]


def server_memory(ctx) -> list[Figure]:
    """The web server's RSS after Classify with torch, fp32, fp16 and int8 of Lite0 in a real browser."""
    fig = Figure("memory", "web server RSS after Classify with every precision (torch, fp32, fp16, int8)",
                 "≤ 400 MB", lambda v: v <= 400, unit="MB",
                 side_units={"server RSS": "MB", "torch helper RSS": "MB"})  # fmt: skip
    fig.load["before"] = load_now()
    root = ctx.scratch / "memory"
    ws_root = root / "ws"
    for variant_id in ("fp32", "fp16", "int8"):  # Lite0's three IRs, nothing else, as a user would have them
        shutil.copytree(ctx.workspace.model_dir(LITE0) / variant_id, ws_root / "models" / LITE0 / variant_id)
    with _browser() as browser:
        process, url, _, _ = _start_server(ws_root, root / "server.log")
        try:
            fig.details = _drive_classify(browser, url, process.pid)
            fig.add_round(fig.details["server_after_mb"]["VmRSS"], **{
                "server RSS": fig.details["server_after_mb"]["VmRSS"],
                "torch helper RSS": (fig.details.get("helper_mb") or {}).get("VmRSS")})  # fmt: skip
        finally:
            fig.details["left_running_after_stop"] = _stop_server(process)
    fig.load["after"] = load_now()
    return [fig]


def _drive_classify(browser, url: str, server_pid: int) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(300_000)
    try:
        page.goto(f"{url}/classify")
        page.wait_for_selector(APP_READY)
        page.get_by_text("Classify", exact=True).first.wait_for()
        before = rss_mb(server_pid)
        button = page.locator(".st-key-cls-run button")
        t = time.perf_counter()
        button.click()
        page.get_by_role("heading", name="Results").wait_for()
        page.wait_for_selector(APP_READY)
        first_click = time.perf_counter() - t
        clicks = []
        for _ in range(3):
            t = time.perf_counter()
            button.click()
            try:
                page.wait_for_selector(
                    '[data-testid="stApp"][data-test-script-state="running"]', timeout=3_000
                )
            except Exception:  # noqa: BLE001 - a run shorter than the poll: it has already ended
                pass
            page.wait_for_selector(APP_READY)
            clicks.append((time.perf_counter() - t) * 1e3)
        text = page.locator('[data-testid="stMetric"]').all_inner_texts()
        time.sleep(1.0)
        after = rss_mb(server_pid)
        helpers = []
        for pid in _descendants(server_pid):
            helpers.append({"pid": pid, "torch": maps_mention(pid, "libtorch"), "cmd": cmdline(pid)[:120],
                            **rss_mb(pid)})  # fmt: skip
        helper = next((h for h in helpers if h["torch"]), None)
        return {
            "server_before_click_mb": before,
            "server_after_mb": after,
            "server_maps_libtorch": maps_mention(server_pid, "libtorch"),
            "server_maps_onnxruntime": maps_mention(server_pid, "onnxruntime"),
            "helper_mb": {k: helper[k] for k in ("VmRSS", "VmHWM")} if helper else None,
            "children": helpers,
            "metrics_shown": [t.replace("\n", " ") for t in text],
            "browser_first_click_s": round(first_click, 2),
            "browser_click_to_idle_ms_median": round(median(clicks), 1),
        }
    finally:
        context.close()
