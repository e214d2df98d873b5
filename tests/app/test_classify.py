"""Classify page: gallery, uploads (good and bad), per-precision results, on real converted models."""

from __future__ import annotations

import io

from PIL import Image

from tests.app.conftest import assert_clean, open_page

PAGE = "app_pages/classify.py"
RESULTS = "classify-results"
RUN = "cls-run"
CHELSEA = "cls-gal-imagenet-chelsea (cat)"
DOMESTIC_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _png() -> bytes:
    image = Image.new("RGB", (96, 64))
    image.putdata([(x * 2, y * 3, 128) for y in range(64) for x in range(96)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _results(at) -> dict:
    return at.session_state[RESULTS]


def test_empty_workspace_explains_what_to_do(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert any("No model is converted yet" in info.value for info in at.info)
    assert not at.button  # nothing to press until a model exists


def test_chelsea_gives_one_result_per_precision_and_a_cat(populated_ws):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    assert_clean(at)
    at.checkbox(key=CHELSEA).check()
    at.button(key=RUN).click().run()
    assert_clean(at)

    stored = _results(at)
    chelsea = [r for r in stored["results"] if r["image"] == "chelsea (cat)"]
    assert [r["precision"] for r in chelsea] == ["torch", "fp32", "fp16", "int8"]
    fp32 = next(r for r in chelsea if r["precision"] == "fp32")
    assert any(p["index"] in DOMESTIC_CATS for p in fp32["top"][:3]), fp32["top"][:3]
    assert all(r["ms"] > 0 for r in chelsea)

    assert [m.label for m in at.metric] == ["PyTorch", "FP32", "FP16", "INT8"]
    caption = " ".join(c.value for c in at.caption)
    assert "batch 1" in caption and "LATENCY" in caption and "compiles" in caption
    assert any(m.value.startswith(("All precisions say", "PyTorch")) for m in at.markdown)

    timings = [r["ms"] for r in chelsea]
    at.run()  # a rerun with the same inputs shows the stored results, it does not classify again
    assert [r["ms"] for r in _results(at)["results"] if r["image"] == "chelsea (cat)"] == timings


def test_uploads_bad_file_is_named_and_the_rest_is_classified(populated_ws):
    at = open_page(PAGE, model_id="efficientnet-lite0")
    at.checkbox(key=CHELSEA).uncheck()
    at.multiselect(key="cls-precisions-efficientnet-lite0").set_value(["fp32", "int8"])
    at.file_uploader(key="cls-upload").set_value(
        [("gradient.png", _png(), "image/png"), ("notes.png", b"this is text, not a picture", "image/png")]
    )
    at.run()
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "notes.png" in errors[0], errors

    at.button(key=RUN).click().run()
    assert_clean(at)
    stored = _results(at)
    assert {(r["image"], r["precision"]) for r in stored["results"]} == {
        ("gradient.png", "fp32"),
        ("gradient.png", "int8"),
    }
    assert any("notes.png" in e.value for e in at.error)  # still explained after classifying

    # changing the inputs recomputes on its own: the page never shows results for other inputs
    at.checkbox(key=CHELSEA).check().run()
    assert {r["image"] for r in _results(at)["results"]} == {"gradient.png", "chelsea (cat)"}
    assert_clean(at)


def test_digit_model_checks_digits_and_flags_photos(populated_ws):
    at = open_page(PAGE, model_id="lenet5-mnist")
    assert [c.label for c in at.checkbox if c.value] == ["mnist digit 3 (#1500)"]  # its own domain first
    at.checkbox(key="cls-gal-mnist-chelsea (cat)").check()
    at.multiselect(key="cls-precisions-lenet5-mnist").set_value(["fp32", "int8"])
    at.button(key=RUN).click().run()
    assert_clean(at)
    assert any(m.value == ":green[✓] FP32 · :green[✓] INT8" for m in at.markdown)  # true label 3, checked
    assert any("Not the kind of image this model was trained on" in c.value for c in at.caption)
