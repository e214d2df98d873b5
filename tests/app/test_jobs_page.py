"""Jobs page: every record with its state, filters, Remove for finished jobs, Cancel for a running one."""

from __future__ import annotations

import time

from core.jobs import JobState, JobStore, register_job_kind
from core.progress import Progress
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/jobs.py"


def slow_job(config: dict, workspace, ctx) -> dict:
    """A job that reports progress until it is cancelled (runs in a worker process)."""
    for step in range(600):
        ctx.progress(Progress("waiting to be cancelled", step, 600))
        time.sleep(0.1)
    return {}


def _finished_records(ws) -> dict[str, str]:
    store = JobStore(ws.jobs_db)
    done = store.create(
        "convert", {"model_id": "lenet5-mnist", "precisions": ["fp32"]}, title="Convert LeNet5"
    )
    store.update(
        done.id,
        state=JobState.SUCCEEDED,
        started=done.created,
        finished=done.created + 4.2,
        result={"model_id": "lenet5-mnist", "seconds": 4.2},
    )
    store.append_log(done.id, "succeeded in 4.2 s")
    failed = store.create("quantize", {"model_id": "lenet5-mnist"}, title="Quantize LeNet5")
    store.update(
        failed.id,
        state=JobState.FAILED,
        started=failed.created,
        finished=failed.created + 1,
        error="calibration.zip holds no images; upload JPEG or PNG images",
    )
    return {"done": done.id, "failed": failed.id}


def _labels(at) -> list[str]:
    return [e.label for e in at.expander]


def test_empty_store_gives_a_hint(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert any("No job yet" in info.value for info in at.info)


def test_populated_workspace_renders(populated_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Jobs"


def test_records_show_state_error_and_log_and_filter_and_remove(empty_ws):
    ids = _finished_records(empty_ws)
    at = open_page(PAGE)
    assert_clean(at)
    labels = _labels(at)
    assert labels[0].startswith("**Quantize LeNet5** · Quantize · failed")  # newest first
    assert labels[1].startswith("**Convert LeNet5** · Convert · succeeded · 4 s")
    assert any("calibration.zip holds no images" in e.value for e in at.error)
    assert any("succeeded in 4.2 s" in c.value for c in at.code)
    assert {m.label: m.value for m in at.metric}["Succeeded"] == "1"

    at.pills(key="jobs-states").set_value(["failed"]).run()
    assert [label.split(" · ")[0] for label in _labels(at)] == ["**Quantize LeNet5**"]
    at.pills(key="jobs-states").set_value([]).run()
    at.pills(key="jobs-kinds").set_value(["benchmark"]).run()
    assert not _labels(at) and any("No job matches" in i.value for i in at.info)
    at.pills(key="jobs-kinds").set_value([]).run()

    at.button(key=f"remove-{ids['done']}").click().run()
    assert_clean(at)
    assert [r.id for r in JobStore(empty_ws.jobs_db).list()] == [ids["failed"]]
    assert len(_labels(at)) == 1


def test_cancel_stops_a_running_job(empty_ws, stop_jobs):
    from ui.common import runner

    register_job_kind("slow", "tests.app.test_jobs_page:slow_job")
    at = open_page(PAGE)  # creates the app's job runner for this workspace
    record = runner().submit("slow", {}, title="A slow job")
    deadline = time.monotonic() + 60
    while runner().store.get(record.id).phase == "" and time.monotonic() < deadline:
        time.sleep(0.1)  # wait until the worker reports progress
    at.run()
    assert_clean(at)
    assert _labels(at)[0].startswith("**A slow job** · slow · ")
    assert at.get("progress")  # a live progress bar while it runs
    at.button(key=f"cancel-{record.id}").click().run()
    assert_clean(at)
    assert runner().store.get(record.id).state == JobState.CANCELLED
    assert "cancelled" in _labels(at)[0]
