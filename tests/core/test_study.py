"""The calibration study on the real LeNet5: as a job, from the CLI, cancelled halfway, in the report."""

from __future__ import annotations

import json

import pytest

from core.errors import JobCancelledError
from core.evaluate import EvaluateConfig, evaluate_model
from core.jobs import JobService, JobState
from core.progress import Progress
from core.study import StudyConfig, load_studies, reading, run_study
from core.workspace import Workspace
from tests.core.conftest import copy_variants

SOURCES = ("builtin:mnist", "builtin:fractal", "noise")
COUNTS = (10, 30)
LIMIT = 500


@pytest.fixture
def ws(tmp_path, workspace, lenet_fp) -> Workspace:
    own = Workspace(tmp_path / "ws")
    copy_variants(workspace, own, "lenet5-mnist", ("fp32",))
    return own


def test_a_study_runs_as_a_job_and_its_rows_are_what_evaluate_reports(ws):
    service = JobService(ws, poll_seconds=0.1)
    try:
        config = {"model_id": "lenet5-mnist", "sources": [*SOURCES, "builtin:distilled"], "counts": list(COUNTS),
                  "dataset": "builtin:mnist", "limit": LIMIT}  # fmt: skip
        record = service.wait(service.submit("study", config, title="study").id, timeout=300)
    finally:
        service.shutdown()
    assert record.state == JobState.SUCCEEDED, record.error
    rows = record.result["rows"]
    assert [(r["source"], r["count"]) for r in rows] == [
        (s, c) for s in (*SOURCES, "builtin:distilled") for c in COUNTS
    ]
    done = [r for r in rows if r["status"] == "done"]
    assert len(done) == len(SOURCES) * len(COUNTS)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert len(skipped) == len(COUNTS)
    assert all("no BatchNorm layers" in r["reason"] for r in skipped)  # LeNet5: said, not attempted
    # every INT8 model is kept as a variant named after its recipe, and evaluate reports the same figures
    for row in done[:: len(COUNTS)]:
        assert row["variant"] == f"int8-{row['source'].split(':')[-1]}-{row['count']}"
        assert ws.variant("lenet5-mnist", row["variant"]) is not None
        again = evaluate_model(
            EvaluateConfig(
                "lenet5-mnist", variants=("fp32", row["variant"]), dataset="builtin:mnist", limit=LIMIT
            ),
            workspace=ws,
        )
        assert again.score(row["variant"]).top1 == row["top1"]
        assert again.score(row["variant"]).top5 == row["top5"]
        assert again.agreement_of("fp32", row["variant"]).rate == row["agreement"]
    assert record.result["fp32"]["top1"] > 0.97
    (study,) = load_studies(ws, "lenet5-mnist").items
    assert study.complete
    assert any("insensitive" in s or "within 0.5 points" in s for s in reading(study))  # LeNet5 barely cares


def test_the_cli_prints_the_documented_json(ws, capsys):
    from core.cli import main

    code = main(["study", "--workspace", str(ws.root), "--model", "lenet5-mnist", "--sources", "builtin:mnist", "noise",
                 "--counts", "10", "--dataset", "builtin:mnist", "--limit", str(LIMIT), "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= {"model", "dataset", "fp32", "rows"}
    assert payload["model"] == "lenet5-mnist"
    assert set(payload["fp32"]) >= {"top1", "top5"}
    for row in payload["rows"]:
        assert set(row) >= {"source", "count", "variant", "top1", "top5", "agreement", "seconds"}
    assert [r["source"] for r in payload["rows"]] == ["builtin:mnist", "noise"]


def test_cancelling_mid_study_keeps_the_finished_rows(ws):
    def cancel_in_the_second_step(event: Progress) -> None:
        if event.phase.startswith("step 2/"):
            msg = "the job was cancelled"
            raise JobCancelledError(msg)

    config = StudyConfig(
        "lenet5-mnist", sources=("builtin:mnist", "noise"), counts=(10,), dataset="builtin:mnist", limit=LIMIT
    )
    with pytest.raises(JobCancelledError):
        run_study(config, workspace=ws, progress=cancel_in_the_second_step)
    (study,) = load_studies(ws, "lenet5-mnist").items
    assert not study.complete
    assert [(r.source, r.status) for r in study.rows] == [("builtin:mnist", "done")]
    assert any("stopped before its end" in s for s in reading(study))


def test_the_report_carries_the_study(ws):
    from core.report import build_report

    run_study(
        StudyConfig("lenet5-mnist", sources=("noise",), counts=(10,), dataset="builtin:mnist", limit=LIMIT),
        workspace=ws,
    )
    html = build_report(ws)
    assert "Calibration studies" in html
    assert "int8-noise-10" in html
    assert "random noise" in html
