"""Joining saved benchmarks, evaluations and artifacts into trade-off points, and choosing among them.

The workspace here holds hand-written result files in the shapes the benchmark and evaluation modules
save; they test the joining logic only (which run, which evaluation, which notes), never a figure.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.catalog import Backend, NumberFormat
from core.preprocessing import MNIST
from core.registry import ModelSpec, register_user_model
from core.tradeoffs import (
    MIB,
    TABLE_COLUMNS,
    TradeoffPoint,
    collect_points,
    evaluations_used,
    latest_runs,
    pareto_front,
    points_table,
    recommend,
)
from core.workspace import Workspace

MODEL = "lenet5-mnist"
UNTRAINED = "evil-net"
EVIL_TITLE = "<script>alert(1)</script> Net (untrained)"
DEVICE_NAME = "Test CPU @ 2.0GHz"


def make_run(
    model_id, precision, median, fps, *, hint="LATENCY", batch=1, streams=1, created="2024-05-01T10:00:00"
):
    openvino = precision != "torch"
    return {
        "model_id": model_id,
        "precision": precision,
        "latency_ms": {
            "median": median,
            "mean": median,
            "min": median * 0.9,
            "max": median * 1.5,
            "p90": median * 1.2,
        },
        "throughput_fps": fps,
        "first_inference_ms": median * 3,
        "compile_ms": 120.0 if openvino else 0.0,
        # 30 timed iterations or more: fewer make a figure unstable, and unstable figures are never recommended
        "iterations": {"latency": 50, "throughput": 200},
        "duration_s": {"latency": 0.1, "throughput": 0.2},
        "latencies_ms": [median * f for f in (0.9, 0.95, 1.0, 1.05, 1.5)],
        "settings": {
            "device": "CPU",
            "device_name": DEVICE_NAME,
            "hint": hint if openvino else None,
            "streams": streams if openvino else None,
            "threads": None,
            "nireq": 2 if openvino else None,
            "batch": batch,
            "precision": precision,
            "inference_precision": "f32" if precision == "fp32" else None,
            "input_shape": [batch, 1, 28, 28],
            "throughput_method": "async" if openvino else "sync",
        },
        "versions": {"openvino": "2025.0.0", "python": "3.11.9"},
        "created": created,
    }


def save_benchmark(ws: Workspace, model_id: str, runs: list[dict]) -> None:
    ws.save_result(
        "benchmark",
        model_id,
        {"model_id": model_id, "config": {}, "created": runs[0]["created"], "device_name": DEVICE_NAME,
         "runs": runs, "path": ""},
    )  # fmt: skip


def save_evaluation(
    ws, model_id, scores: dict[str, float], *, name, size, created, trained=True, labelled=True
):
    labels = [i % 10 for i in range(size)] if labelled else [None] * size
    rows = []
    for precision, top1 in scores.items():
        correct = round(top1 * size)
        rows.append(
            {
                "precision": precision,
                "top1": top1 if labelled else None,
                "top5": min(1.0, top1 + 0.01) if labelled else None,
                "count": size,
                "correct1": correct if labelled else None,
                "correct5": min(size, correct + 1) if labelled else None,
                "top1_ci95": [top1 - 0.02, min(1.0, top1 + 0.015)] if labelled else None,
                "top5_ci95": [top1 - 0.01, 1.0] if labelled else None,
                "ms_per_image": 0.5,
            }
        )
    # Predictions wrong on the first (1 - top1) share of images: enough for a confusion matrix.
    predictions = {
        p: [(label + 1) % 10 if i < round(size * (1 - top1)) else label for i, label in enumerate(labels)]
        if labelled
        else [0] * size
        for p, top1 in scores.items()
    }
    ws.save_result(
        "evaluation",
        model_id,
        {
            "model_id": model_id,
            "created": created,
            "device": "CPU",
            "device_name": DEVICE_NAME,
            "trained": trained,
            "dataset": {"ref": f"builtin:{name}", "name": name, "description": "test digits", "size": size,
                        "labelled": labelled, "fingerprint": "abc"},
            "results": rows,
            "agreement": {"fp32-vs-int8": 0.99} if {"fp32", "int8"} <= set(scores) else {},
            "agreement_detail": {},
            "predictions": {"names": [f"{i}.png" for i in range(size)], "labels": labels, "top1": predictions,
                            "prob": {p: [0.9] * size for p in scores}, "top5": {}},
        },
    )  # fmt: skip


def write_fake_artifact(ws: Workspace, model_id: str, precision: str, bin_bytes: int) -> None:
    with ws.write_variant(model_id, precision, manifest={"source": "test"}) as folder:
        (Path(folder) / "model.xml").write_text("<net/>")
        (Path(folder) / "model.bin").write_bytes(b"\0" * bin_bytes)


def build_workspace(root: Path) -> Workspace:
    """LeNet5 with three benchmark files and three evaluations, plus an untrained user model."""
    ws = Workspace(root)
    write_fake_artifact(ws, MODEL, "fp32", 4000)
    write_fake_artifact(ws, MODEL, "fp16", 2000)
    write_fake_artifact(ws, MODEL, "int8", 1000)
    old = "2024-01-01T00:00:00+00:00"
    save_benchmark(
        ws, MODEL, [make_run(MODEL, p, 50.0, 10.0, created=old) for p in ("torch", "fp32", "int8")]
    )
    save_benchmark(
        ws,
        MODEL,
        [
            make_run(MODEL, "torch", 2.0, 400.0),
            make_run(MODEL, "fp32", 1.0, 800.0),
            make_run(MODEL, "fp16", 0.9, 900.0),
            make_run(MODEL, "int8", 0.5, 1600.0),
        ],
    )
    # Newest of all, but under other conditions: must not replace the batch-1 LATENCY figures.
    save_benchmark(
        ws,
        MODEL,
        [
            make_run(MODEL, "fp32", 7.0, 1000.0, hint="THROUGHPUT", streams=2),
            make_run(MODEL, "fp32", 9.0, 1100.0, batch=8, streams=2),
            make_run(MODEL, "int8", 3.0, 2000.0, batch=8, streams=2),
        ],
    )
    save_evaluation(
        ws, MODEL, {"torch": 0.90, "fp32": 0.90, "int8": 0.89}, name="digits-a", size=100, created=old
    )
    save_evaluation(ws, MODEL, {"fp16": 0.97, "int8": 0.80}, name="digits-b", size=50, created=old)
    save_evaluation(
        ws,
        MODEL,
        {"torch": 0.98, "fp32": 0.98, "int8": 0.97},
        name="digits-c",
        size=200,
        created="2024-05-02T00:00:00",
    )

    register_user_model(
        ws,
        ModelSpec(
            id=UNTRAINED,
            title=EVIL_TITLE,
            source="upload",
            architecture="lenet5",
            preprocess=MNIST,
            labels="mnist",
            num_classes=10,
            trained=False,
            weights="random",
        ),
    )
    write_fake_artifact(ws, UNTRAINED, "fp32", 3000)
    save_benchmark(
        ws, UNTRAINED, [make_run(UNTRAINED, "torch", 3.0, 300.0), make_run(UNTRAINED, "fp32", 1.5, 600.0)]
    )
    save_evaluation(ws, UNTRAINED, {"fp32": 0.99}, name="digits-a", size=100, created="2024-05-02T00:00:00")
    return ws


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("tradeoffs") / "ws")


def by_key(points: list[TradeoffPoint]) -> dict[tuple[str, str], TradeoffPoint]:
    return {(p.model_id, p.precision): p for p in points}


def test_collect_points_takes_the_latest_matching_run_and_evaluation(workspace):
    points = by_key(collect_points(workspace, model_ids=[MODEL]))
    assert list(points) == [(MODEL, p) for p in ("torch", "fp32", "fp16", "int8")]

    fp32 = points[(MODEL, "fp32")]
    assert fp32.latency_ms == 1.0
    assert fp32.throughput_fps == 800.0
    assert fp32.benchmark["hint"] == "LATENCY"
    assert fp32.benchmark["batch"] == 1
    assert fp32.benchmark["device_name"] == DEVICE_NAME
    assert fp32.top1 == 0.98
    assert fp32.top1_ci95 == (0.96, 0.995)
    assert fp32.dataset["name"] == "digits-c"
    assert fp32.dataset["size"] == 200
    assert fp32.label == "LeNet5 FP32"
    assert fp32.size_mib == pytest.approx((4000 + len("<net/>")) / MIB)

    # INT8 comes from the same evaluation as FP32 (digits-c), not the smaller digits-b that lacks FP32.
    assert points[(MODEL, "int8")].top1 == 0.97
    fp16 = points[(MODEL, "fp16")]
    assert fp16.top1 == 0.97
    assert fp16.dataset["name"] == "digits-b"
    assert any("another evaluation" in note and "digits-b" in note for note in fp16.notes)

    torch = points[(MODEL, "torch")]
    assert torch.size_mib == pytest.approx(4000 / MIB)  # the FP32 IR's weights
    assert any("approximated" in note for note in torch.notes)


def test_filters_ignore_other_hints_and_batches(workspace):
    throughput = by_key(collect_points(workspace, model_ids=[MODEL], hint="throughput"))
    assert throughput[(MODEL, "fp32")].latency_ms == 7.0
    assert throughput[(MODEL, "torch")].latency_ms == 2.0, "PyTorch has no hint and stays the reference"
    assert throughput[(MODEL, "int8")].latency_ms is None  # only measured with LATENCY
    assert any("no benchmark run matches" in note for note in throughput[(MODEL, "int8")].notes)

    batch8 = by_key(collect_points(workspace, model_ids=[MODEL], batch=8))
    assert batch8[(MODEL, "int8")].latency_ms == 3.0
    assert batch8[(MODEL, "int8")].benchmark["batch"] == 8

    assert collect_points(workspace, model_ids=[MODEL], device="GPU")[0].latency_ms is None
    assert (
        by_key(collect_points(workspace, model_ids=[MODEL], device="cpu"))[(MODEL, "fp32")].latency_ms == 1.0
    )

    any_batch = by_key(collect_points(workspace, model_ids=[MODEL], batch=None))
    assert any_batch[(MODEL, "int8")].latency_ms == 0.5, (
        "batch 1 is preferred even when a batch-8 run is newer"
    )
    assert {run.batch for run, _ in latest_runs(workspace, model_ids=[MODEL], batch=None)} == {1}


def test_untrained_model_gets_latency_but_never_accuracy(workspace):
    points = by_key(collect_points(workspace))
    fp32 = points[(UNTRAINED, "fp32")]
    assert fp32.latency_ms == 1.5
    assert fp32.top1 is None
    assert fp32.dataset is None
    assert not fp32.trained
    assert "untrained: latency only" in fp32.notes
    assert UNTRAINED not in evaluations_used(workspace)
    assert [e.dataset_name for e in evaluations_used(workspace)[MODEL]] == ["digits-c", "digits-b"]


def point(
    name: str, latency: float | None, top1: float | None, size: float | None = 1.0, *, stable: bool = True
) -> TradeoffPoint:
    return TradeoffPoint(
        model_id=name,
        title=f"{name} (test)",
        variant="int8",
        backend=Backend.OPENVINO,
        format=NumberFormat.INT8,
        latency_ms=latency,
        throughput_fps=None,
        top1=top1,
        top1_ci95=None,
        size_mib=size,
        trained=True,
        benchmark={},
        dataset=None,
        stable=stable,
    )


HAND_MADE = [
    point("a", 1.0, 0.70),
    point("b", 2.0, 0.80),
    point("c", 2.5, 0.75),  # dominated by b
    point("d", 4.0, 0.80),  # dominated by b (same accuracy, slower)
    point("e", 5.0, 0.90),
    point("f", 0.5, None),  # no accuracy: never on the front
    point("g", None, 0.99),  # no latency: never on the front
]


def test_pareto_front_keeps_only_undominated_points_fastest_first():
    assert [p.model_id for p in pareto_front(HAND_MADE)] == ["a", "b", "e"]


def test_recommend_takes_the_fastest_within_floor_and_budget():
    # by default the floor is "within 1 point of the best top-1" (90 % here): only e qualifies
    default = recommend(HAND_MADE)
    assert default.point.model_id == "e"
    assert default.floor == pytest.approx(0.89)
    assert "within 1 point of the best top-1 (90.0 %)" in default.reason
    assert recommend(HAND_MADE, min_top1=0.0).point.model_id == "a"  # no floor: simply the fastest
    rec = recommend(HAND_MADE, min_top1=0.78, max_latency_ms=4.5)
    assert rec.point.model_id == "b"
    assert [p.model_id for p in rec.candidates] == ["b", "d"]
    assert "b INT8" in rec.reason
    assert "80.0 %" in rec.reason

    tie = [point("big", 1.0, 0.8, size=9.0), point("small", 1.0, 0.8, size=2.0)]
    assert recommend(tie).point.model_id == "small"


def test_recommend_says_which_constraint_excluded_what():
    floor = recommend(HAND_MADE, min_top1=0.95)
    assert floor.point is None
    assert floor.candidates == ()
    assert "95.0 % top-1" in floor.reason
    assert "e INT8 at 90.0 %" in floor.reason

    budget = recommend(HAND_MADE, max_latency_ms=0.8)
    assert budget.point is None
    assert "within 0.8 ms" in budget.reason
    assert "a INT8 at 1 ms" in budget.reason

    both = recommend(HAND_MADE, min_top1=0.85, max_latency_ms=3.0)
    assert both.point is None
    assert both.reason.startswith("no model reaches at least 85.0 % top-1 within 3 ms; the closest")
    assert "e INT8 reaches it at 5 ms" in both.reason
    assert "b INT8 at 80.0 %" in both.reason

    assert "no point has both" in recommend([point("f", 0.5, None)]).reason


def test_points_table_has_flat_rows_with_measurement_conditions(workspace):
    points = collect_points(workspace, model_ids=[MODEL])
    rows = points_table(points)
    assert len(rows) == len(points)
    assert all(tuple(row) == TABLE_COLUMNS for row in rows)
    fp32 = next(r for r in rows if r["precision"] == "FP32")
    assert fp32["top1_pct"] == 98.0
    assert fp32["top1_ci95_low_pct"] == 96.0
    assert (fp32["device"], fp32["device_name"], fp32["hint"], fp32["batch"]) == (
        "CPU",
        DEVICE_NAME,
        "LATENCY",
        1,
    )
    assert (fp32["dataset"], fp32["dataset_size"], fp32["streams"]) == ("digits-c", 200, 1)


def test_default_recommendation_never_costs_more_than_one_point_of_top1():
    near = [
        point("best", 9.0, 0.990),
        point("close", 4.0, 0.982),  # 0.8 points below the best: allowed
        point("edge", 3.0, 0.980),  # exactly 1 point below: allowed
        point("far", 1.0, 0.979),  # 1.1 points below: never by default, however fast
        point("fastest", 0.2, 0.70),
    ]
    rec = recommend(near)
    assert rec.point.model_id == "edge"
    assert {p.model_id for p in rec.candidates} == {"best", "close", "edge"}
    assert recommend(near, within_points=2.0).point.model_id == "far"

    rng = random.Random(7)
    for _ in range(300):
        points = [
            point(f"p{i}", rng.uniform(0.1, 20.0), rng.uniform(0.5, 1.0), stable=rng.random() > 0.2)
            for i in range(rng.randint(1, 8))
        ]
        best = max(p.top1 for p in points)
        chosen = recommend(points).point
        if chosen is None:
            assert not [p for p in points if p.stable and p.top1 >= best - 0.01]
            continue
        assert chosen.top1 >= best - 0.01 - 1e-12
        assert chosen.stable
        faster = [
            p for p in points if p.stable and p.top1 >= best - 0.01 and p.latency_ms < chosen.latency_ms
        ]
        assert not faster  # and it is the fastest of those allowed
