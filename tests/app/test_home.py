"""Home page: workspace overview, the guided demo (start, progress after a reload, failure, success)."""

from __future__ import annotations

import json
import re
import shutil

from core.catalog import variant_label
from core.demo import DEMO_MODEL, DEMO_STEPS
from core.jobs import JobState
from core.jobs.store import JobStore
from core.overview import CARD_ROW, CARD_VARIANTS
from core.results import load_benchmarks
from core.workspace import MANIFEST
from tests.app.conftest import (
    LENET_VARIANTS,
    LITE0,
    LITE0_VARIANTS,
    NOISE_INT8,
    assert_clean,
    open_page,
    save_typed_benchmark,
    save_typed_evaluation,
    shown,
    texts,
)
from ui.page import SIDEBAR_VARIANTS

PAGE = "app_pages/home.py"
INVISIBLE_JOINER = "\u2060"


def _fake_demo(ws, state: JobState, *, phase: str = "", error: str | None = None, result=None) -> str:
    """A finished demo job written straight to the job table (as an earlier server left it): no worker runs."""
    store = JobStore(ws.jobs_db)
    record = store.create("demo", {"model_id": DEMO_MODEL}, title="Guided demo on EfficientNet-Lite0")
    store.update(
        record.id,
        state=state,
        phase=phase,
        started=record.created,
        finished=record.created + 90,
        error=error,
        result=result,
    )
    return record.id


def test_empty_workspace_points_to_the_demo(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value
    assert at.caption[0].value
    assert any("Nothing here yet" in info.value for info in at.info)
    assert at.button(key="demo-start").label == "Run the guided demo"


def test_populated_cards_show_each_variants_size_and_latency(populated_ws):
    at = open_page(PAGE)
    assert_clean(at)
    text = texts(at)
    assert "EfficientNet-Lite0" in text
    assert "LeNet5" in text
    metrics = {m.label: m for m in at.metric if not m.label.startswith("PyTorch")}
    runs = {(b.model_id, r.variant): r for b in load_benchmarks(populated_ws) for r in b.runs}
    for model_id, variants in (("lenet5-mnist", LENET_VARIANTS), (LITE0, LITE0_VARIANTS)):
        for variant in populated_ws.variants(model_id):
            assert variant.id in variants
            # one metric per variant, headed by its title and its size in MiB (as everywhere)
            head = f"{variant_label(variant.id)} · {variant.size_bytes / 2**20:.1f} MiB"
            (label,) = [lb for lb in metrics if lb.startswith(head)]
            if variant.id != "fp32":
                assert "of FP32" in label
            value = metrics[label].value
            run = runs[(model_id, variant.id)]
            # the latest run's median latency, marked when that run was unstable (never shown as if sound)
            assert value.endswith("ms" if run.stable else "ms ⚠"), (variant.id, value, run.unstable_reasons)
    reference = [m for m in at.metric if m.label == "PyTorch · reference"]
    assert len(reference) == 2
    assert all(" ms" in m.value for m in reference)
    assert len(metrics) == len(LENET_VARIANTS) + len(LITE0_VARIANTS)
    int8_labels = [lb for lb in metrics if lb.startswith(("INT8 · ", "int8-"))]
    assert len(int8_labels) == 3  # Lite0's INT8 and both INT8 variants of LeNet5 (a named one by its name)
    # speed-ups from the same run: the ratio with its range over the rounds, and what it is against in the help
    assert any(
        re.match(r"\d+\.\d×", m.delta or "") and "as fast as PyTorch in the same run" in (m.help or "")
        for m in metrics.values()
    )
    captions = shown(" ".join(c.value for c in at.caption))
    assert "median of one benchmark run" in captions
    assert "cores;" in captions
    assert "Top-1 with 95 % interval on" in captions
    assert "images)" in captions


def test_demo_button_queues_one_demo_job_and_survives_a_reload(empty_ws, stop_jobs):
    at = open_page(PAGE)
    at.button(key="demo-start").click().run()
    assert_clean(at)

    (record,) = JobStore(empty_ws.jobs_db).list()
    assert record.kind == "demo"
    assert record.config == {"model_id": DEMO_MODEL}
    text = texts(at)
    for number, step in enumerate(DEMO_STEPS, 1):
        assert f"**{number}. {step.title}**" in text  # the four steps, each with its state
    assert (
        f"**1. {DEMO_STEPS[0].title}** · waiting" in text or f"**1. {DEMO_STEPS[0].title}** · running" in text
    )
    assert f"**4. {DEMO_STEPS[3].title}** · waiting" in text
    assert "Guided demo on EfficientNet" in text  # the live progress panel of the one job
    assert not any(b.key == "demo-start" for b in at.button)  # no second demo while one runs

    reloaded = open_page(PAGE)  # a new session: the demo's progress comes back from the job table
    assert_clean(reloaded)
    assert f"**4. {DEMO_STEPS[3].title}**" in texts(reloaded)
    assert not any(b.key == "demo-start" for b in reloaded.button)
    assert len(JobStore(empty_ws.jobs_db).list()) == 1


def test_failed_step_shows_its_error_and_offers_a_new_run(empty_ws):
    _fake_demo(
        empty_ws,
        JobState.FAILED,
        phase="step 2/4 · quantize: collecting statistics",
        error="calibration set holds no images; upload JPEG or PNG images",
    )
    at = open_page(PAGE)
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert any("The demo failed" in w and "calibration set holds no images" in w for w in warnings)
    text = texts(at)
    assert f"**1. {DEMO_STEPS[0].title}** · done" in text
    assert f"**2. {DEMO_STEPS[1].title}** · stopped" in text  # where it stopped
    assert f"**3. {DEMO_STEPS[2].title}** · not run" in text
    assert f"**4. {DEMO_STEPS[3].title}** · not run" in text
    assert at.button(key="demo-start").label == "Run the demo again"
    assert not any(b.key == "demo-tradeoffs" for b in at.button)


def _finished_demo(ws, *, per_round: int) -> None:
    """A succeeded demo whose result names a benchmark run and an evaluation saved in the workspace."""
    bench = save_typed_benchmark(
        ws,
        LITE0,
        {
            "torch": [40.0] * 5,
            "fp32": [10.0] * 5,
            "fp16": [10.0] * 5,
            "int8": [5.0, 5.0, 5.0, 5.0, 4.0],  # per-round ratios to PyTorch: 8, 8, 8, 8, 10
        },
        per_round=per_round,
    )
    evaluation = save_typed_evaluation(
        ws,
        LITE0,
        {"fp32": 18, "fp16": 18, "int8": 17},
        count=20,
        dataset={"name": "built-in ImageNet samples", "ref": "builtin:imagenet-samples"},
    )
    _fake_demo(
        ws,
        JobState.SUCCEEDED,
        phase="step 4/4 · done",
        result={
            "model_id": LITE0,
            "variants": ["torch", "fp32", "fp16", "int8"],
            "int8_variant": "int8",
            "benchmark_path": str(bench),
            "evaluation_path": str(evaluation),
            "steps": [{"step": s.key, "seconds": 10.0} for s in DEMO_STEPS],
        },
    )


def _size_line(ws) -> str:
    sizes = {v.id: v.size_bytes for v in ws.variants(LITE0)}
    return f"INT8 {sizes['int8'] / 2**20:.1f} MiB ({sizes['int8'] / sizes['fp32'] * 100:.0f} % of FP32)"


def test_finished_demo_summary_comes_from_its_result_files(own_copy):
    _finished_demo(own_copy, per_round=10)  # 50 iterations per variant, no spread: stable
    at = open_page(PAGE)
    assert_clean(at)
    assert any("The demo finished. What it measured" in s.value for s in at.success)
    text = shown(texts(at))
    assert _size_line(own_copy) in text  # sizes of the variants on disk
    assert "**INT8 runs 8.0× (8.0–10.0×) faster than PyTorch on this CPU**" in text  # ratio with its range
    assert "PyTorch 40.0 ms → FP32 10.0 ms → FP16 10.0 ms → INT8 5.0 ms" in text
    assert "5 interleaved rounds on Test CPU" in text
    assert "INT8 ran as int8 + f32" in text
    assert "FP32 90 %, FP16 90 %, INT8 85 %" in text
    assert "20 images" in text
    assert at.button(key="demo-tradeoffs").label == "See the trade-offs"
    assert at.button(key="demo-start").label == "Run the demo again"


def test_unstable_demo_run_gives_no_speed_headline(own_copy):
    _finished_demo(own_copy, per_round=2)  # 10 iterations per variant: too few to quote
    at = open_page(PAGE)
    assert_clean(at)
    assert not at.success
    assert any("speed figures are unstable" in w.value for w in at.warning)
    text = shown(texts(at))
    assert "faster than PyTorch" not in text  # no headline from an unstable run
    assert "is **not shown as a result**: the run was unstable" in text
    assert _size_line(own_copy) in text
    assert "INT8 85 %" in text


def test_bad_model_link_and_a_damaged_result_file_keep_home_up(empty_ws):
    """A mistyped ?model= link and a truncated benchmark file must not take the first page down."""
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import APP, TIMEOUT

    empty_ws.save_result(
        "benchmark", "lenet5-mnist", {"model_id": "lenet5-mnist", "runs": [{"precision": "fp32"}]}
    )
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "Bad Model"
    at.run()
    assert_clean(at)
    assert "model_id" not in at.session_state or at.session_state["model_id"] != "Bad Model"
    assert any("No model named Bad Model" in t.value for t in at.toast)


def test_a_model_link_with_markup_and_a_url_shows_as_plain_text(empty_ws):
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import APP, TIMEOUT

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "x](https://evil.example/login) ![p](http://evil.example/a.png) **now**"
    at.run()
    assert_clean(at)
    (toast,) = [t.value for t in at.toast if "No model named" in t.value]
    assert "](" not in toast
    assert "![" not in toast
    assert "**" not in toast
    assert "http" not in toast  # bare URLs are not autolinked: the scheme is broken by an invisible joiner
    assert f"h{INVISIBLE_JOINER}ttps" in toast
    assert "evil\\.example" in toast


def test_a_card_shows_measured_variants_first_four_to_a_row(own_copy):
    """Many unmeasured variants (a study makes a dozen) neither push the measured ones off the card nor
    squeeze the figures until they are cut short."""
    source = own_copy.variant("lenet5-mnist", "fp16")
    stored = json.loads((source.folder / MANIFEST).read_text())
    manifest = {k: v for k, v in stored.items() if k != "files"}
    for i in range(6):  # named so that they would come before the measured INT8 variants
        with own_copy.write_variant("lenet5-mnist", f"a-copy-{i}", manifest) as folder:
            for name in stored["files"]:
                shutil.copyfile(source.folder / name, folder / name)
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert_clean(at)
    assert len(own_copy.variants("lenet5-mnist")) + 1 > CARD_VARIANTS  # with the PyTorch reference
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert f"and {len(own_copy.variants('lenet5-mnist')) - SIDEBAR_VARIANTS} more" in shown(sidebar)
    labels = [m.label for m in at.metric]
    for variant in ("fp32", "int8", NOISE_INT8):  # measured: on the card although listed after the copies
        assert any(lb.startswith((f"{variant_label(variant)} · ", f"{variant} · ")) for lb in labels), variant
    copies = [lb for lb in labels if lb.startswith("a-copy-")]
    assert len(copies) < 6
    assert any("more variants: see Trade-offs" in c.value for c in at.caption)
    widest = max(_column_rows(at.main), default=0)
    assert 1 < widest <= CARD_ROW  # no row of figures wider than CARD_ROW columns


def _column_rows(block) -> list[int]:
    """The number of columns in every row (st.columns call) under `block`."""
    children = list(getattr(block, "children", {}).values())
    rows = [sum(type(c).__name__ == "Column" for c in children)]
    for child in children:
        rows += _column_rows(child)
    return rows
