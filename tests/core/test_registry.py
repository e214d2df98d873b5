"""The registry: each model knows its preprocessing, labels and published accuracy; no torch to list."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import ModelNotFoundError, WeightsUnavailableError
from core.registry import TORCHVISION_WEIGHTS, build_torch_model, class_names, get_model, list_models


def test_pinned_torchvision_metadata_matches_torchvision():
    import torchvision

    for arch, (name, filename, crop, resize, interpolation, top1) in TORCHVISION_WEIGHTS.items():
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        keywords = weights.transforms.keywords
        assert str(weights) == name
        assert weights.url.endswith("/" + filename)
        assert keywords.get("crop_size", 224) == crop
        assert keywords.get("resize_size", 256) == resize
        assert str(keywords.get("interpolation", "bilinear")).lower().endswith(interpolation)
        assert weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] == top1


def test_shipped_imagenet_names_match_torchvision():
    import torchvision

    lite0 = get_model("efficientnet-lite0")
    assert class_names(lite0) == torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def test_listing_models_and_class_names_do_not_import_torch():
    code = (
        "import sys; from core.registry import list_models, class_names; "
        "[class_names(s) for s in list_models()]; print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_bundled_specs_carry_their_facts():
    lite0 = get_model("efficientnet-lite0")
    assert lite0.input_shape == (1, 3, 224, 224)
    assert lite0.preprocess.resize == 256
    assert lite0.preprocess.interpolation == "bicubic"
    assert lite0.preprocess.mean == (127.0, 127.0, 127.0)
    assert lite0.preprocess.std == (128.0, 128.0, 128.0)
    assert lite0.published_top1 == {"fp32": 75.1, "int8": 74.4}
    assert get_model("efficientnet-lite1").input_shape[-1] == 240
    lenet = get_model("lenet5-mnist")
    assert lenet.input_shape == (1, 1, 28, 28)
    assert class_names(lenet) == [str(i) for i in range(10)]
    assert len(class_names(lite0)) == 1000
    assert class_names(lite0)[281] == "tabby"


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ModelNotFoundError, match="efficientnet-lite0"):
        get_model("vgg-unknown")


def test_missing_torchvision_weights_offer_two_ways_on(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from core import registry

    registry._builtin_specs.cache_clear()
    try:
        spec = get_model("resnet50")
        assert not spec.trained
        assert spec.weights == "missing"
        with pytest.raises(WeightsUnavailableError) as error:
            build_torch_model(spec)
        assert "--weights FILE.pt" in str(error.value)
        assert "--untrained" in str(error.value)
    finally:
        registry._builtin_specs.cache_clear()


def test_every_listed_model_has_an_id_of_lowercase_words():
    for spec in list_models():
        assert spec.id == spec.id.lower()
        assert " " not in spec.id
        assert "_" not in spec.id
