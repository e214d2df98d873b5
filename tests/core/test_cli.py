"""`python -m core`: stable JSON shapes on a clean stdout, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from core.cli import main

COMMANDS = (
    "models",
    "variants",
    "convert",
    "import",
    "quantize",
    "classify",
    "evaluate",
    "benchmark",
    "report",
)

# The --json keys of the previous release (before variants): scripts rely on every one of them.
OLD_MODEL_KEYS = {"id", "title", "source", "input_size", "precisions", "trained", "weights", "published_top1"}
OLD_CLASSIFY_KEYS = {"image", "precision", "top", "ms"}
OLD_EVALUATE_KEYS = {"model_id", "dataset", "results", "agreement", "path"}
OLD_SCORE_KEYS = {"precision", "top1", "top5", "count", "top1_ci95", "top5_ci95"}
OLD_RUN_KEYS = {
    "model_id", "precision", "latency_ms", "throughput_fps", "first_inference_ms", "compile_ms",
    "compiled_from_cache", "iterations", "duration_s", "latencies_ms", "settings", "versions", "created",
    "compile_source",
}  # fmt: skip
OLD_LATENCY_KEYS = {"median", "mean", "min", "max", "p90"}
OLD_SETTINGS_KEYS = {
    "device", "device_name", "hint", "streams", "threads", "nireq", "batch", "precision", "inference_precision",
    "input_shape", "throughput_method",
}  # fmt: skip


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
    assert lite0["input_size"] == [3, 224, 224]
    assert lite0["source"] == "bundled"


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
    assert quantized["calibration"]["size"] == 100
    assert quantized["size_bytes"] < quantized["fp32_size_bytes"]

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
        assert set(r) == {"image", "precision", "variant", "backend", "format", "top", "ms"}
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
        assert set(r["latency_ms"]) >= {"median", "mean", "min", "max", "p90"}
        assert r["throughput_fps"] > 0
        assert {"device", "hint", "streams", "threads", "batch", "precision"} <= set(r["settings"])
        assert r["versions"]["openvino"]

    report = tmp_path / "report.html"
    written = run_json(capfd, cli_ws, "report", "--out", str(report))
    assert written["bytes"] > 10_000
    assert "<html" in report.read_text().lower()


def test_failures_exit_non_zero_with_a_clear_message(capfd, cli_ws, tmp_path):
    assert (
        main(
            ["classify", "--model", "lenet5-mnist", str(tmp_path / "missing.png"), "--workspace", str(cli_ws)]
        )
        == 2
    )
    _, err = capfd.readouterr()
    assert err.startswith("error: ")
    assert "missing.png" in err
    assert "Traceback" not in err

    assert main(["convert", "--model", "no-such-model", "--workspace", str(cli_ws)]) == 2
    _, err = capfd.readouterr()
    assert "unknown model 'no-such-model'" in err
    assert "efficientnet-lite0" in err

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert main(["classify", "--model", "lenet5-mnist", str(text), "--workspace", str(cli_ws)]) == 2
    _, err = capfd.readouterr()
    assert "notes.png" in err
    assert "Traceback" not in err


def test_real_process_keeps_stdout_clean_and_exit_codes(tmp_path):
    ws = tmp_path / "ws"
    bad = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", "--model", "lenet5-mnist", "--dataset", "builtin:mnist", "--json",
         "--workspace", str(ws)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "has no fp32 variant yet" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert "convert --model lenet5-mnist" in bad.stderr  # and says how to make it


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    done = subprocess.run(
        [sys.executable, "-m", "core", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "--json" in done.stdout
    assert "usage: python -m core" in done.stdout


def test_image_arguments_after_precisions(tmp_path, capfd, cli_ws):
    """The documented form `--precision torch fp32 IMAGE...` puts the images where they belong."""
    image = tmp_path / "blank.png"
    Image.new("L", (28, 28)).save(image)
    rows = run_json(
        capfd, cli_ws, "classify", "--model", "lenet5-mnist", "--precision", "fp32,fp16", str(image)
    )
    assert [r["image"] for r in rows] == ["blank.png", "blank.png"]


@pytest.fixture(scope="module")
def cli_lenet(cli_ws):
    """LeNet5 in the CLI workspace with fp32, fp16 and int8 (made here unless an earlier test made them)."""
    from core.convert import ConvertConfig, convert_model
    from core.quantize import QuantizeConfig, quantize_model
    from core.workspace import Workspace

    ws = Workspace(cli_ws)
    if ws.variant("lenet5-mnist", "fp16") is None:
        convert_model(ConvertConfig("lenet5-mnist"), workspace=ws)
    if ws.variant("lenet5-mnist", "int8") is None:
        quantize_model(
            QuantizeConfig("lenet5-mnist", calibration="builtin:mnist", subset_size=100), workspace=ws
        )
    return ws


def test_json_outputs_keep_the_previous_keys_and_add_variant_and_backend(capfd, cli_ws, cli_lenet, tmp_path):
    kinds = {"torch": "torch", "fp32": "openvino", "fp16": "openvino", "int8": "openvino"}

    rows = run_json(capfd, cli_ws, "models")
    for row in rows:
        assert set(row) >= OLD_MODEL_KEYS | {"variants"}
        for entry in row["variants"]:
            assert {"variant", "backend", "format", "recipe"} <= set(entry)
    lenet = next(r for r in rows if r["id"] == "lenet5-mnist")
    assert lenet["precisions"] == ["fp32", "fp16", "int8"]
    assert {v["variant"]: v["backend"] for v in lenet["variants"]} == kinds

    image = tmp_path / "digit.png"
    from core.data import load_dataset

    load_dataset("builtin:mnist").samples[0].image().save(image)
    results = run_json(capfd, cli_ws, "classify", "--model", "lenet5-mnist", "--variant", *kinds, str(image))
    assert [r["variant"] for r in results] == list(kinds)
    for r in results:
        assert set(r) >= OLD_CLASSIFY_KEYS | {"variant", "backend"}
        assert r["backend"] == kinds[r["variant"]]
        assert r["precision"] == r["variant"]

    evaluated = run_json(
        capfd, cli_ws, "evaluate", "--model", "lenet5-mnist", "--variant", "torch", "fp32", "int8",
        "--dataset", "builtin:mnist", "--limit", "100",
    )  # fmt: skip
    assert set(evaluated) >= OLD_EVALUATE_KEYS
    assert [r["variant"] for r in evaluated["results"]] == ["torch", "fp32", "int8"]
    for r in evaluated["results"]:
        assert set(r) >= OLD_SCORE_KEYS | {"variant", "backend"}
        assert r["backend"] == kinds[r["variant"]]
        assert r["count"] == 100
    assert set(evaluated["agreement"]) == {"torch-vs-fp32", "torch-vs-int8", "fp32-vs-int8"}

    runs = run_json(
        capfd, cli_ws, "benchmark", "--model", "lenet5-mnist", "--variant", "torch", "fp32", "int8",
        "--seconds", "0.3", "--rounds", "2",
    )  # fmt: skip
    assert [r["variant"] for r in runs] == ["torch", "fp32", "int8"]
    for r in runs:
        assert set(r) >= OLD_RUN_KEYS | {"variant", "backend"}
        assert set(r["latency_ms"]) >= OLD_LATENCY_KEYS
        assert set(r["settings"]) >= OLD_SETTINGS_KEYS
        assert r["backend"] == kinds[r["variant"]]
        assert r["precision"] == r["settings"]["precision"]


def test_variants_command_lists_renames_and_deletes_one_variant(capfd, cli_lenet, tmp_path):
    from core.workspace import Workspace
    from tests.core.conftest import copy_variants, file_hashes

    ws = Workspace(tmp_path / "ws")
    copy_variants(cli_lenet, ws, "lenet5-mnist", ["fp32", "fp16", "int8"])
    listed = run_json(capfd, ws.root, "variants", "--model", "lenet5-mnist")
    assert [(v["variant"], v["backend"]) for v in listed] == [
        ("torch", "torch"), ("fp32", "openvino"), ("fp16", "openvino"), ("int8", "openvino"),
    ]  # fmt: skip

    renamed = run_json(
        capfd,
        ws.root,
        "variants",
        "rename",
        "--model",
        "lenet5-mnist",
        "--variant",
        "int8",
        "--to",
        "int8-digits",
    )
    assert renamed["variant"] == "int8-digits"
    assert ws.variant_aliases("lenet5-mnist") == {"int8": "int8-digits"}

    fp32_files = file_hashes(ws.model_dir("lenet5-mnist") / "fp32")
    args = [
        "variants",
        "delete",
        "--model",
        "lenet5-mnist",
        "--variant",
        "fp16",
        "--json",
        "--workspace",
        str(ws.root),
    ]
    assert main(args) == 2  # a delete is never done without --yes
    _, err = capfd.readouterr()
    assert "add --yes" in err
    assert ws.variant("lenet5-mnist", "fp16") is not None
    deleted = run_json(
        capfd, ws.root, "variants", "delete", "--model", "lenet5-mnist", "--variant", "fp16", "--yes"
    )
    assert deleted == {"model_id": "lenet5-mnist", "deleted": "fp16"}
    assert [v.id for v in ws.variants("lenet5-mnist")] == ["fp32", "int8-digits"]
    assert file_hashes(ws.model_dir("lenet5-mnist") / "fp32") == fp32_files


def _make_ir_pair(folder, xml_text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.xml").write_text(xml_text)
    (folder / "m.bin").write_bytes(b"\0" * 16)
    return [str(folder / "m.xml"), str(folder / "m.bin")]


# hostile values found by the second round of the hardening review: each is refused with exit 2 and one line
# that names what was wrong (before, each was a crash, a hang, a silent default or a wrong answer)
HOSTILE = [
    (["benchmark", "--model", "lenet5-mnist", "--variant", "fp32", "--seconds", "inf"], "seconds must be more than 0"),
    (["benchmark", "--model", "lenet5-mnist", "--variant", "fp32", "--batch", "1000000"], "batch must be between 1 and"),
    (["quantize", "--model", "lenet5-mnist", "--calibration", "builtin:mnist", "--ignore", "re:("],
     "is not a valid regular expression"),
    (["quantize", "--model", "lenet5-mnist", "--calibration", "builtin:mnist", "--max-drop", "1",
      "--validation", "builtin:mnist", "--validation-size", "0"], "validation size must be at least 1"),
    (["report", "--out", "{tmp}"], "that is a folder"),
    (["report", "--out", "{tmp}/missing/r.html"], "its folder does not exist"),
    (["report", "--out", "{tmp}/r.pdf"], "names no report kind"),
    (["report", "--out", "{tmp}/r.html", "--within", "-1"], "--within is points below the best"),
    (["report", "--out", "{tmp}/r.html", "--max-latency", "nan"], "--max-latency is a budget in ms"),
    (["classify", "--model", "lenet5-mnist", "--dataset", "builtin:mnist", "--limit", "0"], "--limit is how many"),
    (["classify", "--model", "lenet5-mnist", "--variant", "fp32", "--top", "-3", "{tmp}/digit.png"],
     "top must be 1 or more"),
    (["classify", "--model", "lenet5-mnist", "--variant", "fp32", "{tmp}"], "is not a file"),
    (["import", "{ir_broken}", "--name", "broken-ir", "--preprocess", "mnist", "--labels", "mnist"],
     "the .xml is not well-formed XML"),
    (["import", "{ir_other}", "--name", "other-ir", "--preprocess", "mnist", "--labels", "mnist"],
     "an IR's is <net>"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "says"), HOSTILE, ids=[" ".join(a[:1] + a[3:5]) for a, _ in HOSTILE])
def test_hostile_option_values_are_refused_in_one_line(capfd, cli_lenet, tmp_path, args, says):
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    fill = {"tmp": str(tmp_path)}
    words = []
    for word in args:
        if word == "{ir_broken}":
            words += _make_ir_pair(tmp_path / "broken", "<net")
        elif word == "{ir_other}":
            words += _make_ir_pair(tmp_path / "other", "<html><body>not a model</body></html>")
        else:
            words.append(word.format(**fill))
    assert main([*words, "--workspace", str(cli_lenet.root)]) == 2
    out, err = capfd.readouterr()
    assert says in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    assert not (tmp_path / "r.pdf").exists()


def test_an_unusable_limit_setting_falls_back_to_its_default_and_says_so(monkeypatch, capsys):
    from core import limits

    monkeypatch.setenv("OVDASH_MAX_IMAGE_PIXELS", "1e999")
    monkeypatch.setattr(limits, "_WARNED", set())
    assert limits.value("image_pixels") == limits.LIMITS["image_pixels"].default
    assert "OVDASH_MAX_IMAGE_PIXELS='1e999' is not a positive number" in capsys.readouterr().err
    monkeypatch.setenv("OVDASH_MAX_IMAGE_PIXELS", "1000")
    assert limits.value("image_pixels") == 1000
