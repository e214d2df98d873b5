"""Models page: cards with every variant and its size, untrained torchvision imports, a bad upload failing
clearly, zips, Delete (to history, nothing else touched) and Rename (older results follow)."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.bundle import bundle_name, variant_zip
from core.jobs import JobState
from core.jobs.store import JobStore
from core.tradeoffs import collect_points
from tests.app.conftest import (
    LENET,
    LENET_VARIANTS,
    NOISE_INT8,
    assert_clean,
    open_page,
    shown,
    texts,
    tree_sha256,
)

PAGE = "app_pages/models.py"


def _variant_rows(at, model_id: str) -> list[str]:
    """Variant ids in the order the card lists them, read from their Download buttons."""
    prefix = f"dl-{model_id}-"
    return [d.key[len(prefix) :] for d in at.download_button if d.key.startswith(prefix)]


def _popover(at, key: str):
    (found,) = [p for p in at.get("popover") if p.key == key]
    return found


def test_empty_workspace_shows_the_default_model_not_converted(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert at.segmented_control(key="models-source").value == "bundled"
    assert at.selectbox(key="models-pick-bundled").value == "efficientnet-lite0"
    assert "EfficientNet" in shown(texts(at))
    assert any("Not converted yet" in c.value for c in at.caption)
    assert not at.download_button


def test_populated_cards_show_sizes_parameters_and_downloads(populated_ws):
    at = open_page(PAGE)
    assert_clean(at)
    bold = [m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    assert bold.index("**4.63 M**") < bold.index("**648 k**")  # the selected model's card comes first
    assert "**75.1 % FP32 · 74.4 % INT8**" in bold
    assert "**none published**" in bold
    assert "**1 × 3 × 224 × 224**" in bold
    assert "**MNIST digits (10 classes)**" in bold
    text = shown(texts(at))
    for variant in populated_ws.all_variants():  # each row: its title, then its size in MiB
        assert f"**{variant.title}**  \n{variant.size_bytes / 2**20:.1f} MiB" in text
    assert "**INT8**  \n4.9 MiB · 28% of FP32" in text
    assert len(at.download_button) == len(populated_ws.all_variants()) == 8


def test_lenet_card_lists_every_variant_with_a_download_each(populated_ws):
    at = open_page(PAGE, model_id=LENET)
    assert_clean(at)
    assert sorted(_variant_rows(at, LENET)) == sorted(LENET_VARIANTS)
    text = shown(texts(at))
    assert "**INT8 · int8-noise-30**" in text
    assert "**ORT FP32**" in text
    captions = shown(" ".join(c.value for c in at.caption))
    assert "on 30 images of random noise" in captions  # a variant's recipe says how it was made
    assert "ONNX Runtime 1." in captions
    assert "OpenVINO 20" in captions
    for variant_id in LENET_VARIANTS:
        button = at.download_button(key=f"dl-{LENET}-{variant_id}")
        assert button.label == "Download"


@pytest.mark.parametrize("variant_id", ["int8", "ort-fp32"])
def test_a_variant_zip_holds_its_files_and_manifest(populated_ws, variant_id):
    variant = populated_ws.variant(LENET, variant_id)
    with zipfile.ZipFile(io.BytesIO(variant_zip(variant))) as archive:
        expected = ["model.onnx"] if variant_id.startswith("ort-") else ["model.xml", "model.bin"]
        assert sorted(archive.namelist()) == sorted([*expected, "manifest.json"])
        assert archive.read(expected[-1]) == (variant.folder / expected[-1]).read_bytes()
        assert f'"variant": "{variant_id}"'.encode() in archive.read("manifest.json")
    assert bundle_name(variant) == f"{LENET}-{variant_id}.zip"


def test_delete_asks_first_and_moves_one_variant_to_history_touching_nothing_else(own_copy):
    folder = own_copy.model_dir(LENET)
    before = {v: tree_sha256(folder / v) for v in LENET_VARIANTS}
    others = {m: tree_sha256(own_copy.model_dir(m)) for m in own_copy.model_ids() if m != LENET}
    at = open_page(PAGE, model_id=LENET)

    confirm = _popover(at, f"rm-{LENET}-int8")  # Delete opens a popover that asks first
    assert confirm.proto.popover.label == "Delete"
    assert "Move **INT8** of `lenet5-mnist` to history?" in confirm.markdown[0].value
    assert own_copy.variant(LENET, "int8") is not None  # nothing happened yet
    confirm.button(key=f"rm-yes-{LENET}-int8").click().run()
    assert_clean(at)

    assert own_copy.variant(LENET, "int8") is None
    (retired,) = folder.joinpath(".history").glob("int8-*")
    assert tree_sha256(retired) == before["int8"]  # kept whole in history
    for variant_id in LENET_VARIANTS:
        if variant_id != "int8":  # int8-noise-30 too, though its name starts the same
            assert tree_sha256(folder / variant_id) == before[variant_id], variant_id
    assert {m: tree_sha256(own_copy.model_dir(m)) for m in others} == others
    assert any("int8 moved to history; no other variant was touched" in shown(s.value) for s in at.success)
    assert sorted(_variant_rows(at, LENET)) == sorted(v for v in LENET_VARIANTS if v != "int8")
    assert any("In history" in c.value and "int8 (" in shown(c.value) for c in at.caption)


def test_rename_keeps_results_saved_under_the_old_name(own_copy):
    old, new = "int8-noise-30", "int8-noise"
    at = open_page(PAGE, model_id=LENET)
    rename = _popover(at, f"rn-{LENET}-{old}")
    rename.text_input(key=f"rn-name-{LENET}-{old}").input(new)
    rename.button(key=f"rn-yes-{LENET}-{old}").click().run()
    assert_clean(at)
    assert any(f"{old} is now called {new}" in shown(s.value) for s in at.success)
    assert own_copy.variant(LENET, old) is None
    assert own_copy.variant(LENET, new) is not None
    assert new in _variant_rows(at, LENET)
    assert old not in _variant_rows(at, LENET)

    tradeoffs = open_page("app_pages/tradeoffs.py")
    assert_clean(tradeoffs)
    table = tradeoffs.dataframe[0].value
    lenet = table[table["model_id"] == LENET].set_index("variant")
    assert old not in lenet.index
    # the benchmark and the evaluation saved as int8-noise-30 now show under the new name
    row = lenet.loc[new]
    assert row["latency_ms"] > 0
    assert row["top1_pct"] > 90
    assert row["precision"] == f"INT8 · {new}"
    (point,) = [p for p in collect_points(own_copy) if p.model_id == LENET and p.variant == new]
    assert point.complete


def test_rename_refuses_a_default_name_of_another_kind(own_copy):
    own_copy.remove_variant(LENET, "fp16")
    at = open_page(PAGE, model_id=LENET)
    rename = _popover(at, f"rn-{LENET}-{NOISE_INT8}")
    rename.text_input(key=f"rn-name-{LENET}-{NOISE_INT8}").input("fp16")
    rename.button(key=f"rn-yes-{LENET}-{NOISE_INT8}").click().run()
    assert_clean(at)
    assert own_copy.variant(LENET, "fp16") is None
    assert own_copy.variant(LENET, NOISE_INT8) is not None
    assert any("fp16" in shown(e.value) for e in at.error)


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
    assert record.config["variants"] == ["fp32", "fp16"]


def test_a_text_file_named_onnx_fails_clearly_and_the_page_keeps_working(empty_ws, stop_jobs):
    from ui.services import jobs

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

    ended = jobs().wait(record.id, timeout=120)
    assert ended.state == JobState.FAILED
    assert "is not a readable ONNX model" in ended.error
    at.run()
    assert_clean(at)
    assert any(
        shown(e.value).startswith("notes.onnx is not a readable ONNX model") for e in at.error
    )  # the user's name, not the generated one
    assert not (empty_ws.models_dir / "notes-model").exists()  # nothing registered on failure

    at.segmented_control(key="models-source").set_value("bundled").run()
    assert_clean(at)
    assert at.button(key="convert-go-efficientnet-lite0")
