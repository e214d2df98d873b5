"""`python -m core`: stable JSON shapes on a clean stdout, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from core.cli import main

COMMANDS = ("models", "convert", "import", "quantize", "classify", "evaluate", "benchmark", "report")


@pytest.fixture(scope="module")
def cli_ws(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-ws")


def run_json(capfd, ws, *args):
    code = main([*args, "--json", "--workspace", str(ws)])
    out, err = capfd.readouterr()
    assert code == 0, err
    return json.loads(out)  # fails if anything but the JSON document reached stdout


def test_models_lists_ids(capfd, cli_ws):
    rows = run_json(capfd, cli_ws, "models")
    ids = {r["id"] for r in rows}
    assert {"efficientnet-lite0", "efficientnet-lite1", "lenet5-mnist", "resnet50", "mobilenet-v2"} <= ids
    lite0 = next(r for r in rows if r["id"] == "efficientnet-lite0")
    assert lite0["input_size"] == [3, 224, 224] and lite0["source"] == "bundled"


def test_lenet5_workflow_from_the_command_line(capfd, cli_ws, tmp_path):
    converted = run_json(capfd, cli_ws, "convert", "--model", "lenet5-mnist", "--precision", "fp32", "fp16")
    assert [a["precision"] for a in converted["artifacts"]] == ["fp32", "fp16"]

    quantized = run_json(
        capfd,
        cli_ws,
        "quantize",
        "--model",
        "lenet5-mnist",
        "--calibration",
        "builtin:mnist",
        "--subset-size",
        "100",
    )
    assert quantized["calibration"]["size"] == 100 and quantized["size_bytes"] < quantized["fp32_size_bytes"]

    from core.data import load_dataset

    sample = load_dataset("builtin:mnist").samples[0]
    image = tmp_path / "digit.png"
    sample.image().save(image)
    results = run_json(
        capfd,
        cli_ws,
        "classify",
        "--model",
        "lenet5-mnist",
        "--precision",
        "torch",
        "fp32",
        "int8",
        str(image),
    )
    assert [r["precision"] for r in results] == ["torch", "fp32", "int8"]
    for r in results:
        assert set(r) == {"image", "precision", "top", "ms"}
        assert set(r["top"][0]) == {"index", "label", "probability"}
        assert r["top"][0]["label"] == sample.label

    evaluated = run_json(
        capfd, cli_ws, "evaluate", "--model", "lenet5-mnist", "--precision", "fp32", "int8",
        "--dataset", "builtin:mnist", "--limit", "300",
    )  # fmt: skip
    assert {r["precision"] for r in evaluated["results"]} == {"fp32", "int8"}
    assert all(r["count"] == 300 and r["top1"] >= 0.95 for r in evaluated["results"])
    assert "fp32-vs-int8" in evaluated["agreement"]

    runs = run_json(
        capfd,
        cli_ws,
        "benchmark",
        "--model",
        "lenet5-mnist",
        "--precision",
        "torch",
        "fp32",
        "int8",
        "--seconds",
        "0.4",
    )
    assert [r["precision"] for r in runs] == ["torch", "fp32", "int8"]
    for r in runs:
        assert set(r["latency_ms"]) == {"median", "mean", "min", "max", "p90"}
        assert r["throughput_fps"] > 0
        assert {"device", "hint", "streams", "threads", "batch", "precision"} <= set(r["settings"])
        assert r["versions"]["openvino"]

    report = tmp_path / "report.html"
    written = run_json(capfd, cli_ws, "report", "--out", str(report))
    assert written["bytes"] > 10_000 and "<html" in report.read_text().lower()


def test_failures_exit_non_zero_with_a_clear_message(capfd, cli_ws, tmp_path):
    assert (
        main(
            ["classify", "--model", "lenet5-mnist", str(tmp_path / "missing.png"), "--workspace", str(cli_ws)]
        )
        == 2
    )
    _, err = capfd.readouterr()
    assert err.startswith("error: ") and "missing.png" in err and "Traceback" not in err

    assert main(["convert", "--model", "no-such-model", "--workspace", str(cli_ws)]) == 2
    _, err = capfd.readouterr()
    assert "unknown model 'no-such-model'" in err and "efficientnet-lite0" in err

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert main(["classify", "--model", "lenet5-mnist", str(text), "--workspace", str(cli_ws)]) == 2
    _, err = capfd.readouterr()
    assert "notes.png" in err and "Traceback" not in err


def test_real_process_keeps_stdout_clean_and_exit_codes(tmp_path):
    ws = tmp_path / "ws"
    bad = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", "--model", "lenet5-mnist", "--dataset", "builtin:mnist", "--json",
         "--workspace", str(ws)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "has no FP32 model yet" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    done = subprocess.run(
        [sys.executable, "-m", "core", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "--json" in done.stdout and "usage: python -m core" in done.stdout


def test_image_arguments_after_precisions(tmp_path, capfd, cli_ws):
    """The documented form `--precision torch fp32 IMAGE...` puts the images where they belong."""
    image = tmp_path / "blank.png"
    Image.new("L", (28, 28)).save(image)
    rows = run_json(
        capfd, cli_ws, "classify", "--model", "lenet5-mnist", "--precision", "fp32,fp16", str(image)
    )
    assert [r["image"] for r in rows] == ["blank.png", "blank.png"]
