"""Classify page: gallery, uploads (good and bad), per-variant results, on real converted models."""

from __future__ import annotations

import io

from PIL import Image

from tests.app.conftest import LENET, LITE0, assert_clean, open_page, shown

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


def _card(at, image: str) -> str:
    """All text of the result card of one image (the smallest container that names it)."""
    head = f"**{image}**"
    cards = [b for b in at.get("container") if any(shown(m.value) == head for m in b.markdown)]
    assert cards, f"no result card for {image}"
    card = min(cards, key=lambda b: len(b.markdown) + len(b.caption))
    return "\n".join(shown(e.value) for e in (*card.markdown, *card.caption))


def test_empty_workspace_explains_what_to_do(empty_ws):
    at = open_page(PAGE)
    assert_clean(at)
    assert any("No model is converted yet" in info.value for info in at.info)
    assert not at.button  # nothing to press until a model exists


def test_chelsea_gives_one_result_per_variant_and_a_cat(populated_ws):
    at = open_page(PAGE, model_id=LITE0)
    assert_clean(at)
    assert at.multiselect(key=f"cls-variants-{LITE0}").value == ["torch", "fp32", "fp16", "int8"]  # all
    at.checkbox(key=CHELSEA).check()
    at.button(key=RUN).click().run()
    assert_clean(at)

    stored = _results(at)
    chelsea = [r for r in stored["results"] if r["image"] == "chelsea (cat)"]
    assert [r["variant"] for r in chelsea] == ["torch", "fp32", "fp16", "int8"]
    fp32 = next(r for r in chelsea if r["variant"] == "fp32")
    assert any(p["index"] in DOMESTIC_CATS for p in fp32["top"][:3]), fp32["top"][:3]
    assert all(r["ms"] > 0 for r in chelsea)

    assert [m.label for m in at.metric] == ["PyTorch", "FP32", "FP16", "INT8"]
    assert at.metric[0].delta == "reference"
    assert all("× vs PyTorch" in m.delta for m in at.metric[1:])
    caption = shown(" ".join(c.value for c in at.caption))
    assert "batch 1" in caption
    assert "LATENCY" in caption
    assert "compiled or loaded before the clock" in caption
    card = _card(at, "chelsea (cat)")  # one card per image: what each variant says, and how fast
    assert "variants agree" in card or "variants disagree" in card
    titles = {v["id"]: v["title"] for v in stored["variants"]}
    for result in chelsea:
        title, best = titles[result["variant"]], result["top"][0]
        assert f"{title}: **{best['label']}** {best['probability']:.0%} · {result['ms']:.1f} ms" in card

    timings = [r["ms"] for r in chelsea]
    at.run()  # a rerun with the same inputs shows the stored results, it does not classify again
    assert [r["ms"] for r in _results(at)["results"] if r["image"] == "chelsea (cat)"] == timings


def test_uploads_bad_file_is_named_and_the_rest_is_classified(populated_ws):
    at = open_page(PAGE, model_id=LITE0)
    at.checkbox(key=CHELSEA).uncheck()
    at.multiselect(key=f"cls-variants-{LITE0}").set_value(["fp32", "int8"])
    at.file_uploader(key="cls-upload").set_value(
        [("gradient.png", _png(), "image/png"), ("notes.png", b"this is text, not a picture", "image/png")]
    )
    at.run()
    assert_clean(at)
    errors = [shown(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith("**notes.png** was skipped: notes.png is not an image"), errors

    at.button(key=RUN).click().run()
    assert_clean(at)
    stored = _results(at)
    assert {(r["image"], r["variant"]) for r in stored["results"]} == {
        ("gradient.png", "fp32"),
        ("gradient.png", "int8"),
    }
    assert any("notes.png" in shown(e.value) for e in at.error)  # still explained after classifying

    # changing the inputs recomputes on its own: the page never shows results for other inputs
    at.checkbox(key=CHELSEA).check().run()
    assert {r["image"] for r in _results(at)["results"]} == {"gradient.png", "chelsea (cat)"}
    assert _card(at, "gradient.png")
    assert _card(at, "chelsea (cat)")
    assert_clean(at)


def test_digit_model_checks_digits_and_flags_photos(populated_ws):
    at = open_page(PAGE, model_id=LENET)
    assert [c.label for c in at.checkbox if c.value] == ["mnist digit 3 (#1500)"]  # its own domain first
    at.checkbox(key="cls-gal-mnist-chelsea (cat)").check()
    at.multiselect(key=f"cls-variants-{LENET}").set_value(["fp32", "int8", "int8-noise-30"])
    at.button(key=RUN).click().run()
    assert_clean(at)
    digit = _card(at, "mnist digit 3 (#1500)")
    assert "true label: 3" in digit  # the true label, and each variant checked against it
    for title in ("FP32", "INT8", "INT8 · int8-noise-30"):
        (line,) = [line for line in digit.splitlines() if line.startswith(f"{title}: ")]
        assert line.startswith(f"{title}: **3** "), line
        assert ":green[✓]" in line, line
    photo = _card(at, "chelsea (cat)")
    assert "not the kind of image this model was trained on" in photo
    assert "true label" not in photo
