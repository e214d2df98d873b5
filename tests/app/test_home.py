"""Home page: workspace overview, the guided demo (start, progress after a reload, failure, success)."""

from __future__ import annotations

import json

from core.jobs import JobState, JobStore
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/home.py"
DEMO_KINDS = ["convert", "quantize", "benchmark", "evaluate"]


def _texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def _fake_demo(ws, states: list[JobState], *, error: str | None = None, results: list[dict] | None = None):
    """Four finished demo jobs written straight to the store, so no worker runs."""
    store = JobStore(ws.jobs_db)
    steps = []
    for number, (kind, state) in enumerate(zip(DEMO_KINDS, states, strict=True)):
        record = store.create(kind, {"model_id": "efficientnet-lite0"}, title=f"Demo {number + 1}/4 · {kind}")
        fields = {"state": state, "started": record.created, "finished": record.created + 3}
        if state == JobState.FAILED:
            fields["error"] = error
        if results:
            fields["result"] = results[number]
        store.update(record.id, **fields)
        steps.append({"kind": kind, "title": f"{kind} step", "job_id": record.id})
    (ws.root / "demo.json").write_text(json.dumps({"model_id": "efficientnet-lite0", "steps": steps}))


def test_empty_workspace_points_to_the_demo(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value and at.caption[0].value
    assert any("Nothing here yet" in info.value for info in at.info)
    assert at.button(key="demo-start").label == "Run the guided demo"


def test_populated_workspace_shows_a_card_per_model(populated_ws):
    at = open_page(PAGE)
    assert_clean(at)
    text = _texts(at)
    assert "EfficientNet-Lite0" in text and "LeNet5" in text
    int8 = [m for m in at.metric if m.label.startswith("INT8 · ")]
    assert len(int8) == 2 and all("MiB" in m.label and "of FP32" in m.label for m in int8)
    assert all(m.value.endswith("ms") for m in int8)  # the latest benchmark's median latency
    captions = " ".join(c.value for c in at.caption)
    assert "batch 1" in captions and "LATENCY hint" in captions  # how the latency was measured
    assert "top-1 " in captions and "images" in captions  # and on which set the accuracy


def test_demo_button_queues_four_jobs_in_order_and_survives_a_reload(empty_ws, stop_jobs):
    at = open_page(PAGE)
    at.button(key="demo-start").click().run()
    assert_clean(at)

    records = list(reversed(JobStore(empty_ws.jobs_db).list()))
    assert [r.kind for r in records] == DEMO_KINDS
    assert [r.after for r in records] == [None, records[0].id, records[1].id, records[2].id]  # a chain
    assert records[0].config == {
        "model_id": "efficientnet-lite0",
        "precisions": ["fp32", "fp16"],
        "route": "direct",
    }
    assert records[1].config == {
        "model_id": "efficientnet-lite0",
        "calibration": "builtin:imagenet-samples",
        "subset_size": 300,
    }
    assert records[2].config["precisions"] == ["torch", "fp32", "fp16", "int8"]
    assert records[2].config["seconds"] == 5 and records[2].config["batch"] == 1
    assert records[3].config["dataset"] == "builtin:imagenet-samples"
    demo = json.loads((empty_ws.root / "demo.json").read_text())
    assert [s["job_id"] for s in demo["steps"]] == [r.id for r in records]

    text = _texts(at)
    assert "Demo 1/4 · Convert EfficientNet-Lite0" in text  # the running step, with its live progress
    assert "2. Quantize it to INT8" in text and "· queued" in text
    assert not _has(at, "demo-start")  # no second demo while one runs

    reloaded = open_page(PAGE)  # a new session: the demo's progress comes back from the workspace
    assert_clean(reloaded)
    assert "4. Measure top-1" in _texts(reloaded)
    assert not _has(reloaded, "demo-start")
    assert len(JobStore(empty_ws.jobs_db).list()) == 4


def _has(at, key: str) -> bool:
    return any(getattr(b, "key", None) == key for b in at.button)


def test_failed_step_shows_its_error_and_offers_a_new_run(empty_ws):
    _fake_demo(
        empty_ws,
        [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.CANCELLED],
        error="calibration set holds no images; upload JPEG or PNG images",
    )
    at = open_page(PAGE)
    assert_clean(at)
    assert any("calibration set holds no images" in e.value for e in at.error)
    assert "skipped: an earlier step did not succeed" in _texts(at)
    assert at.button(key="demo-start").label == "Run the demo again"


def test_finished_demo_says_what_happened_and_leads_to_the_tradeoffs(empty_ws):
    settings = {"device_name": "Test CPU", "hint": "latency", "batch": 1, "threads": 2}
    results = [
        {
            "artifacts": [
                {"precision": "fp32", "size_bytes": 18 * 2**20},
                {"precision": "fp16", "size_bytes": 9 * 2**20},
            ]
        },
        {"size_bytes": 5 * 2**20, "fp32_size_bytes": 18 * 2**20},
        {
            "config": {"seconds": 5},
            "runs": [
                {"precision": p, "latency_ms": {"median": ms}, "settings": settings}
                for p, ms in (("torch", 40.0), ("fp32", 10.0), ("fp16", 10.0), ("int8", 5.0))
            ],
        },
        {
            "dataset": {"name": "built-in ImageNet samples", "size": 20},
            "results": [{"precision": p, "top1": t} for p, t in (("fp32", 0.9), ("int8", 0.85))],
            "agreement": {"fp32-vs-int8": 0.95},
        },
    ]
    _fake_demo(empty_ws, [JobState.SUCCEEDED] * 4, results=results)
    at = open_page(PAGE)
    assert_clean(at)
    text = _texts(at)
    assert "INT8 5.0 MiB (28 % of FP32)" in text
    assert "**8.0×** faster than PyTorch" in text and "Test CPU, LATENCY hint, batch 1, 2 threads" in text
    assert "FP32 90 %, INT8 85 %" in text and "20 images" in text
    assert at.button(key="demo-tradeoffs").label == "See the trade-offs"


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
    assert any("No model named" in t.value for t in at.toast)
