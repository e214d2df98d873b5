"""Jobs page: every record with its state, filters, Remove for finished jobs, Cancel for a running one;
user text shown as text; a damaged job table moved aside without taking any page down."""

from __future__ import annotations

import time

import pytest

from core.jobs import JobState
from core.jobs.store import JobStore
from tests.app.conftest import assert_clean, open_page, shown, submit_slow_job

PAGE = "app_pages/jobs.py"
ALL_PAGES = (
    "app_pages/home.py",
    "app_pages/models.py",
    "app_pages/classify.py",
    "app_pages/quantize.py",
    "app_pages/benchmark.py",
    "app_pages/accuracy.py",
    "app_pages/tradeoffs.py",
    "app_pages/jobs.py",
)
INVISIBLE_JOINER = "\u2060"


def _finished_records(ws) -> dict[str, str]:
    """Two finished jobs written to the job table as an earlier server left them."""
    store = JobStore(ws.jobs_db)
    done = store.create("convert", {"model_id": "lenet5-mnist", "variants": ["fp32"]}, title="Convert LeNet5")
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
    assert not at.expander


def test_records_show_state_error_and_log_and_filter_and_remove(empty_ws):
    ids = _finished_records(empty_ws)
    at = open_page(PAGE)
    assert_clean(at)
    labels = _labels(at)
    assert labels[0].startswith("**Quantize LeNet5** · Quantize · failed")  # newest first
    assert labels[1].startswith("**Convert LeNet5** · Convert · succeeded · 4 s")
    assert any("calibration.zip holds no images" in shown(e.value) for e in at.error)
    assert any("succeeded in 4.2 s" in c.value for c in at.code)
    counts = {m.label: m.value for m in at.metric}
    assert counts["Succeeded"] == "1"
    assert counts["Failed or stopped"] == "1"
    assert counts["Running"] == "0"

    at.pills(key="jobs-states").set_value(["failed"]).run()
    assert [label.split(" · ")[0] for label in _labels(at)] == ["**Quantize LeNet5**"]
    at.pills(key="jobs-states").set_value([]).run()
    at.pills(key="jobs-kinds").set_value(["benchmark"]).run()
    assert not _labels(at)
    assert any("No job matches" in i.value for i in at.info)
    at.pills(key="jobs-kinds").set_value([]).run()

    at.button(key=f"remove-{ids['done']}").click().run()
    assert_clean(at)
    assert [r.id for r in JobStore(empty_ws.jobs_db).list()] == [ids["failed"]]
    assert len(_labels(at)) == 1
    assert not (empty_ws.root / "jobs" / ids["done"]).exists()  # its log went with it


def test_a_title_with_markup_and_urls_is_shown_as_text(empty_ws):
    """A job title (it carries user-chosen names) must never become an image, a link or markup."""
    store = JobStore(empty_ws.jobs_db)
    title = "Evaluate ![x](http://evil.example/a.png) see https://evil.example/login **now**"
    record = store.create("evaluate", {"model_id": "lenet5-mnist"}, title=title)
    store.update(
        record.id,
        state=JobState.FAILED,
        started=record.created,
        finished=record.created + 1,
        error="photos.zip: see [the fix](https://evil.example/fix) or mail admin@evil.example",
    )
    at = open_page(PAGE)
    assert_clean(at)
    (label,) = _labels(at)
    (error,) = [e.value for e in at.error]
    for text in (label, error):
        assert "](" not in text
        assert "![" not in text
        assert "http" not in text  # no bare URL autolinked either: the scheme carries an invisible joiner
        assert f"h{INVISIBLE_JOINER}ttp" in text
    assert "**now**" not in label
    assert "\\*\\*now\\*\\*" in label
    assert shown(label).startswith(f"**{title}** · Evaluate · failed")  # the reader sees the title itself
    assert "admin@evil.example" not in error
    assert shown(error).endswith("admin@evil.example")


def test_cancel_stops_a_running_job(empty_ws, stop_jobs):
    from ui.services import jobs

    at = open_page(PAGE)  # creates the app's job service for this workspace
    record = submit_slow_job()
    deadline = time.monotonic() + 60
    while jobs().get(record.id).phase == "" and time.monotonic() < deadline:
        time.sleep(0.1)  # wait until the worker reports progress
    at.run()
    assert_clean(at)
    assert _labels(at)[0].startswith("**A slow job** · slow · step ")  # its progress in the list
    assert at.get("progress")  # a live progress bar while it runs
    assert not any(b.key == f"remove-{record.id}" for b in at.button)  # a running job cannot be removed
    at.button(key=f"cancel-{record.id}").click().run()
    assert_clean(at)
    assert jobs().get(record.id).state == JobState.CANCELLED
    assert "cancelled" in _labels(at)[0]
    assert any(b.key == f"remove-{record.id}" for b in at.button)


@pytest.fixture
def damaged_table(empty_ws):
    empty_ws.jobs_db.write_bytes(b"these bytes are not an SQLite database \x00\x01\x02" * 64)
    return empty_ws


def test_a_damaged_job_table_is_moved_aside_and_every_page_renders(damaged_table, stop_jobs):
    for page in ALL_PAGES:
        at = open_page(page)
        assert_clean(at)
        assert at.title, page
        warned = [w.value for w in at.warning if "job table was damaged" in shown(w.value)]
        assert warned, page  # said on every page
        assert "moved aside" in shown(warned[0]), page  # with what happened
    aside = list(damaged_table.root.glob("jobs.sqlite.damaged-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"these bytes")
    assert JobStore(damaged_table.jobs_db).list() == []  # a fresh, working table
