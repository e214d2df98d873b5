"""Train & compress page: every tab renders, and each form queues its job with settings its worker accepts,
or says what is missing without queuing anything."""

from __future__ import annotations

from core.jobs.store import JobStore
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/train.py"


def _newest(ws):
    found = JobStore(ws.jobs_db).list()
    return found[0] if found else None


def test_each_tab_queues_its_job_with_checked_settings(empty_ws, stop_jobs):
    at = open_page(PAGE)
    assert_clean(at)
    for key, kind in (("compress-go", "compress"), ("prune-go", "prune")):
        at.button(key=key).click().run()
        assert_clean(at)
        assert not at.error, (kind, [e.value for e in at.error])
        record = _newest(empty_ws)
        assert (record.kind, bool(record.config["model_id"]), bool(record.title)) == (kind, True, True)
        assert any("queued" in t.value for t in at.toast), kind

    # QAT on EfficientNet-Lite0 needs the user's labelled zip: refused with what to do, nothing queued
    at.selectbox(key="qat-model").select("efficientnet-lite0").run()
    at.button(key="qat-go").click().run()
    assert any("choose a" in e.value and "zip with one folder per class" in e.value for e in at.error)
    assert _newest(empty_ws).kind == "prune"
    # on LeNet5 the built-in digits serve: queued
    at.selectbox(key="qat-model").select("lenet5-mnist").run()
    at.button(key="qat-go").click().run()
    assert_clean(at)
    record = _newest(empty_ws)
    assert (record.kind, record.config["model_id"], record.config["dataset"]) == (
        "qat",
        "lenet5-mnist",
        "builtin:mnist",
    )
