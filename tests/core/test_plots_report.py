"""Figures name what was measured; the report is one offline HTML file with escaped user strings."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from html.parser import HTMLParser

import plotly.graph_objects as go
import pytest

from core.catalog import variant_colour
from core.plots import (
    accuracy_figure,
    confusion_figure,
    grid_figure,
    latency_figure,
    throughput_figure,
    topk_figure,
    tradeoff_figure,
)
from core.report import build_report, points_csv, results_json
from core.results import VariantRun, load_evaluations
from core.tradeoffs import TABLE_COLUMNS, collect_points, latest_runs, pareto_front, recommend
from tests.core.test_tradeoffs import DEVICE_NAME, EVIL_TITLE, MODEL, UNTRAINED, build_workspace, make_run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("plots") / "ws")


@pytest.fixture(scope="module")
def points(workspace):
    return collect_points(workspace)


def subtitle(fig: go.Figure) -> str:
    return fig.layout.title.subtitle.text or ""


def test_tradeoff_figure_plots_complete_points_with_front_and_recommendation(points):
    complete = [p for p in points if p.complete]
    assert len(complete) == 4  # LeNet5 in four precisions; the untrained model has no accuracy
    front = pareto_front(points)
    rec = recommend(points, min_top1=0.97, max_latency_ms=5)
    assert rec.point.label == "LeNet5 INT8"

    fig = tradeoff_figure(points, front=front, recommended=rec.point, min_top1=0.97, max_latency_ms=5)
    assert len(fig.data) == len(complete) + 2
    # the front is drawn first (beneath the markers), the recommendation last (on top)
    assert [fig.data[0].name, fig.data[-1].name] == ["Pareto front", "Recommended"]
    markers = fig.data[1:-1]
    assert [t.name for t in markers] == ["LeNet5 PyTorch", "LeNet5 FP32", "LeNet5 FP16", "LeNet5 INT8"]
    assert markers[0].marker.color == variant_colour("torch")
    assert len(fig.layout.shapes) == 1, "the feasible region is shaded"
    assert "ms" in fig.layout.xaxis.title.text
    assert "%" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.type in (None, "linear")  # 0.5-5 ms is a 10x spread, not more: not log
    for fact in (DEVICE_NAME, "hint LATENCY", "batch 1", "digits-c (200 images)"):
        assert fact in subtitle(fig)
    assert "95 % CI" in markers[1].hovertext[0]
    assert "streams" in markers[1].hovertext[0]

    wide = tradeoff_figure(points, max_latency_ms=50)
    assert wide.layout.xaxis.type == "log"
    assert len(wide.data) == len(complete)


def test_tradeoff_figure_without_complete_points_says_why(points):
    fig = tradeoff_figure([p for p in points if not p.complete])
    assert len(fig.data) == 0
    assert "No model has both" in fig.layout.annotations[0].text


def test_latency_and_throughput_figures_compare_with_pytorch(workspace):
    runs = [run for run, _ in latest_runs(workspace, model_ids=[MODEL])]
    latency = latency_figure(runs, titles={MODEL: "LeNet5 (MNIST digits)"})
    assert [t.name for t in latency.data] == ["PyTorch (reference)", "FP32", "FP16", "INT8"]
    assert all(isinstance(t, go.Box) for t in latency.data)
    assert set(latency.data[1].x) == {"LeNet5"}
    assert "ms" in latency.layout.yaxis.title.text
    assert DEVICE_NAME in subtitle(latency)

    throughput = throughput_figure(runs)
    texts = {t.name: t.text[0] for t in throughput.data}
    assert texts["PyTorch (reference)"] == ""
    assert texts["FP32"] == "×2.0 faster than PyTorch"
    assert texts["INT8"] == "×4.0 faster than PyTorch"
    assert texts["FP16"] == "×2.2 faster than PyTorch"
    assert "images/s" in throughput.layout.xaxis.title.text
    assert throughput.data[0].orientation == "h"


def test_grid_figure_has_one_heatmap_per_precision():
    runs = [
        VariantRun.from_dict(
            make_run("m", precision, 1.0, fps * batch * streams, batch=batch, streams=streams)
        )
        for precision, fps in (("fp32", 100.0), ("int8", 300.0))
        for batch in (1, 4)
        for streams in (1, 2)
    ] + [VariantRun.from_dict(make_run("m", "torch", 2.0, 50.0))]
    fig = grid_figure(runs)
    assert len(fig.data) == 2
    assert all(isinstance(t, go.Heatmap) for t in fig.data)
    assert [a.text for a in fig.layout.annotations] == ["m FP32", "m INT8"]
    assert [list(row) for row in fig.data[1].z] == [
        [300.0, 600.0],
        [1200.0, 2400.0],
    ]  # rows: batch 1, 4; columns: 1, 2 streams


def test_topk_figure_has_one_panel_per_precision_titled_with_its_time():
    results = [
        {
            "precision": p,
            "ms": ms,
            "top": [{"label": "tabby", "probability": 0.7}, {"label": "<b>x</b>", "probability": 0.2}],
        }
        for p, ms in (("torch", 12.34), ("int8", 1.5))
    ]
    fig = topk_figure(results)
    assert len(fig.data) == 2
    assert fig.data[1].orientation == "h"
    assert [a.text for a in fig.layout.annotations] == ["PyTorch · 12.3 ms", "INT8 · 1.5 ms"]
    assert "&lt;b&gt;x&lt;/b&gt;" in fig.data[0].y


def test_accuracy_and_confusion_figures(workspace):
    evaluation = load_evaluations(workspace, MODEL).items[-1]
    fig = accuracy_figure(evaluation)
    assert [t.name for t in fig.data] == ["Top-1", "Top-5"]
    assert fig.data[0].x == ("PyTorch", "FP32", "INT8")
    assert fig.data[0].y[1] == pytest.approx(98.0)
    assert fig.data[0].error_y.arrayminus[1] == pytest.approx(2.0)
    assert "digits-c (200 images)" in fig.layout.title.text
    assert "Wilson" in subtitle(fig)

    unlabelled = dataclasses.replace(
        evaluation, results=tuple(dataclasses.replace(r, top1=None, top5=None) for r in evaluation.results)
    )
    assert "no labels" in accuracy_figure(unlabelled).layout.annotations[0].text

    confusion = confusion_figure(evaluation, "int8", class_names=[str(i) for i in range(10)])
    assert len(confusion.data[0].z) == 10
    assert len(confusion.data[0].x) == 10
    assert sum(map(sum, confusion.data[0].z)) == 200
    assert "INT8" in confusion.layout.title.text
    assert "194 of 200 correct" in subtitle(confusion)

    few = confusion_figure(evaluation, "int8", max_classes=4)
    assert few.data[0].x[-1] == "other"
    assert len(few.data[0].z) == 5


class _Attributes(HTMLParser):
    """Collects tag names and src/href attributes; script bodies are not parsed as markup."""

    def __init__(self):
        super().__init__()
        self.tags, self.links = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links.extend(value or "" for name, value in attrs if name in ("src", "href"))


def test_report_is_one_offline_html_document_with_escaped_names(workspace):
    page = build_report(workspace, min_top1=0.97, max_latency_ms=5)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert page.count('class="plotly-graph-div"') >= 4
    assert page.count("window.PlotlyConfig") == 1, "plotly.js is inlined exactly once"
    assert "<table>" in page
    assert "LeNet5" in page
    assert "Use LeNet5 INT8" in page
    assert "How these numbers were measured" in page
    assert "INFERENCE_PRECISION_HINT=f32" in page
    assert "digits-c" in page
    assert "2025.0.0" in page

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Net" in page  # the untrained model's title, escaped

    parser = _Attributes()
    parser.feed(page)
    assert "link" not in parser.tags
    assert not [link for link in parser.links if "http" in link.lower()]


def test_csv_has_a_header_and_one_row_per_point(points):
    rows = list(csv.reader(io.StringIO(points_csv(points))))
    assert tuple(rows[0]) == TABLE_COLUMNS
    assert len(rows) == len(points) + 1
    assert any(row[0].startswith("'<script>") for row in rows[1:]) is False  # '<' is not a formula prefix
    assert points_csv([]).strip() == ",".join(TABLE_COLUMNS)


def test_results_json_holds_points_runs_and_evaluations(workspace):
    data = json.loads(results_json(workspace))
    assert {p["label"] for p in data["points"]} >= {"LeNet5 INT8", f"{EVIL_TITLE.split(' (')[0]} FP32"}
    assert {(r["model_id"], r["precision"]) for r in data["runs"]} >= {(MODEL, "fp32"), (UNTRAINED, "torch")}
    assert list(data["evaluations"]) == [MODEL]
    assert "_path" not in data["runs"][0]
