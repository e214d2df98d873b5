"""Calibration study page: the form offers what fits the model, a finished study reads in words."""

from __future__ import annotations

from core.jobs.store import JobStore
from core.study import StudyConfig, run_study
from tests.app.conftest import assert_clean, open_page, shown

PAGE = "app_pages/study.py"


def test_lenet_is_not_offered_distilled_images_and_a_study_is_submitted(own_copy, stop_jobs):
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert_clean(at)
    notes = shown(" ".join(c.value for c in at.caption))
    assert "Data-free distilled images are not offered" in notes
    assert "no BatchNorm" in notes
    sources = at.multiselect(key="study-sources-lenet5-mnist")
    assert "builtin:distilled" not in sources.options
    assert sources.value[0] == "builtin:mnist"  # the model's own domain first
    at.get("form_submit_button")  # the form's button exists
    at.multiselect(key="study-sources-lenet5-mnist").set_value(["noise"])
    at.button(key="FormSubmitter:study-form-lenet5-mnist-Run the study").click().run()
    assert_clean(at)
    (record,) = JobStore(own_copy.jobs_db).list()
    assert record.kind == "study"
    assert record.config["sources"] == ["noise"]
    assert record.config["dataset"] == "builtin:mnist"


def test_a_finished_study_shows_its_table_chart_and_reading(own_copy):
    run_study(
        StudyConfig("lenet5-mnist", sources=("noise",), counts=(10,), dataset="builtin:mnist", limit=300),
        workspace=own_copy,
    )
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert_clean(at)
    text = shown(" ".join(m.value for m in at.markdown))
    assert "FP32 top-1" in text
    assert "same top-1 as fp32" in text.lower()  # the reading, in words computed from the figures
    assert len(at.get("plotly_chart")) == 1
    (table,) = [df for df in at.dataframe if "source" in df.value.columns]
    assert table.value["variant"].tolist() == ["int8-noise-10"]
