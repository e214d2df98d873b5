"""Models page: cards with sizes, untrained torchvision imports, a bad upload failing clearly, zips, removal."""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest
import streamlit as st

from core.bundle import artifact_zip, bundle_name
from core.jobs import JobState, JobStore
from core.workspace import Workspace
from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/models.py"


def _texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_empty_workspace_shows_the_default_model_not_converted(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.segmented_control(key="models-source").value == "bundled"
    assert at.selectbox(key="models-pick-bundled").value == "efficientnet-lite0"
    assert "EfficientNet-Lite0" in _texts(at)
    assert any("Not converted yet" in c.value for c in at.caption)
    assert not at.download_button


def test_populated_cards_show_sizes_parameters_and_downloads(populated_ws):
    at = open_page(PAGE)
    assert_clean(at)
    text = _texts(at)
    assert "**INT8**  \n" in text and "of FP32" in text
    bold = [m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    assert bold.index("**4.63 M**") < bold.index("**648 k**")  # the selected model's card comes first
    assert "**75.1 % FP32 · 74.4 % INT8**" in bold and "**none published**" in bold
    assert "**1 × 3 × 224 × 224**" in bold and "**MNIST digits (10 classes)**" in bold
    assert len(at.download_button) == 6  # two models, three precisions each


def test_untrained_resnet18_submits_an_import_job(empty_ws, stop_jobs):
    from core.registry import get_model

    if get_model("resnet18").trained:
        pytest.skip("pretrained resnet18 weights are cached on this machine")
    at = open_page(PAGE)
    at.segmented_control(key="models-source").set_value("torchvision").run()
    at.selectbox(key="models-pick-torchvision").set_value("resnet18").run()
    assert any("weights are not on this machine" in w.value for w in at.warning)
    at.radio(key="tv-way-resnet18").set_value("untrained").run()
    at.button(key="tv-go-resnet18").click().run()
    assert_clean(at)

    (record,) = JobStore(empty_ws.jobs_db).list()
    assert record.kind == "convert"
    assert record.config["import"] == {
        "name": "resnet18-untrained",
        "files": [],
        "architecture": "resnet18",
        "untrained": True,
    }
    assert record.config["precisions"] == ["fp32", "fp16"]


def test_a_text_file_named_onnx_fails_clearly_and_the_page_keeps_working(empty_ws, stop_jobs):
    at = open_page(PAGE)
    at.segmented_control(key="models-source").set_value("upload").run()
    at.radio(key="up-kind").set_value("onnx").run()
    at.button(key="up-go").click().run()  # no name yet: a clear error, nothing submitted
    assert any("model id" in e.value for e in at.error)
    assert not JobStore(empty_ws.jobs_db).list()

    at.text_input(key="up-name").input("notes-model")
    at.file_uploader(key="up-file-onnx").set_value(
        ("notes.onnx", b"just some notes, not a model\n", "text/plain")
    )
    at.button(key="up-go").click().run()
    assert_clean(at)
    (record,) = JobStore(empty_ws.jobs_db).list()
    assert record.title == "Import notes.onnx as notes-model and convert"

    from ui.common import runner

    ended = runner().wait(record.id, timeout=120)
    assert ended.state == JobState.FAILED
    assert "is not a readable ONNX model" in ended.error
    at.run()
    assert_clean(at)
    assert any(
        e.value.startswith("notes.onnx is not a readable ONNX model") for e in at.error
    )  # the user's name
    assert not (empty_ws.models_dir / "notes-model").exists()  # nothing registered on failure

    at.segmented_control(key="models-source").set_value("bundled").run()
    assert_clean(at)
    assert at.button(key="convert-go-efficientnet-lite0")


def test_artifact_zip_holds_the_ir_and_its_manifest(populated_ws):
    artifact = populated_ws.artifact("lenet5-mnist", "int8")
    data = artifact_zip(artifact)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["model.xml", "model.bin", "manifest.json"]
        assert archive.read("model.bin") == artifact.bin.read_bytes()
        assert b'"precision": "int8"' in archive.read("manifest.json")
    assert bundle_name(artifact) == "lenet5-mnist-int8.zip"


def test_remove_moves_a_precision_to_history(populated_root, tmp_path, monkeypatch):
    root = tmp_path / "ws"
    shutil.copytree(populated_root, root, ignore=shutil.ignore_patterns("jobs.sqlite*", "ov_cache"))
    monkeypatch.setenv("OVDASH_WORKSPACE", str(root))
    st.cache_resource.clear()
    at = open_page(PAGE, model_id="lenet5-mnist")
    at.button(key="rm-yes-lenet5-mnist-fp16").click().run()
    assert_clean(at)
    ws = Workspace(root)
    assert ws.artifact("lenet5-mnist", "fp16") is None
    assert list((ws.model_dir("lenet5-mnist") / ".history").glob("fp16-*"))
    assert len(at.download_button) == 5  # the FP16 row is gone from the card
