"""Synthetic calibration sources: fractals and noise as real images, distillation on the real models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.data.synthetic import (
    distill_images,
    fractal_image,
    fractal_images,
    has_batchnorm,
    noise_image,
)
from core.errors import DatasetError
from core.registry import build_torch_model, get_model


@pytest.fixture(scope="module")
def lite0():
    spec = get_model("efficientnet-lite0")
    return build_torch_model(spec), spec.preprocess


@pytest.fixture(scope="module")
def lenet():
    spec = get_model("lenet5-mnist")
    return build_torch_model(spec), spec.preprocess


def test_fractal_is_deterministic_and_independent_of_call_order():
    first = fractal_image(3, 64, seed=1)
    assert first.tobytes() == fractal_image(3, 64, seed=1).tobytes()
    assert fractal_images(5, 64, seed=1)[3].tobytes() == first.tobytes()
    assert fractal_image(3, 64, seed=2).tobytes() != first.tobytes()


@pytest.mark.parametrize(("size", "color", "channels"), [(224, "RGB", 3), (28, "L", 1)])
def test_fractals_differ_fill_part_of_the_frame_and_are_not_saturated(size, color, channels):
    images = fractal_images(8, size, color)
    assert len(images) == 8
    for image in images:
        assert image.size == (size, size)
        assert image.mode == color
        pixels = np.asarray(image).reshape(size, size, channels)
        lit = pixels.max(axis=2) > 0
        assert 0.02 < lit.mean() < 0.9, "a fractal should cover part of the frame, not none or all of it"
        assert (pixels == 255).all(axis=2).mean() < 0.05, "a fractal should not be a saturated blob"
        assert len(np.unique(pixels)) > 8, "a fractal should have shading, not a few flat values"
    for a, b in itertools.combinations(images, 2):
        assert a.tobytes() != b.tobytes()


def test_fractal_rgb_is_coloured():
    pixels = np.asarray(fractal_image(0, 128), dtype=np.int16)
    lit = pixels.max(axis=2) > 0
    spread = (pixels.max(axis=2) - pixels.min(axis=2))[lit]
    assert spread.mean() > 30


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fractal_images(0, 64), "count"),
        (lambda: fractal_image(0, 4), "too small"),
        (lambda: fractal_image(0, 64, "CMYK"), "'RGB' or 'L'"),
        (lambda: fractal_image(-1, 64), "negative"),
        (lambda: noise_image(0, 64, "RGBA"), "'RGB' or 'L'"),
        (lambda: noise_image(0, 2), "too small"),
    ],
)
def test_bad_arguments_are_refused_with_a_way_out(call, message):
    with pytest.raises(DatasetError, match=message):
        call()


def test_noise_is_deterministic_with_the_right_size_and_mode():
    rgb = noise_image(5, 224)
    assert (rgb.size, rgb.mode) == ((224, 224), "RGB")
    assert rgb.tobytes() == noise_image(5, 224).tobytes()
    assert rgb.tobytes() != noise_image(6, 224).tobytes()
    assert rgb.tobytes() != noise_image(5, 224, seed=1).tobytes()
    gray = noise_image(0, 28, "L")
    assert (gray.size, gray.mode) == ((28, 28), "L")
    assert gray.tobytes() == noise_image(0, 28, "L").tobytes()
    assert np.asarray(rgb).std() > 50


def test_has_batchnorm(lite0, lenet):
    assert has_batchnorm(lite0[0])
    assert not has_batchnorm(lenet[0])


def test_distill_on_lenet_is_refused(lenet):
    module, pre = lenet
    with pytest.raises(DatasetError, match="no BatchNorm layers"):
        distill_images(
            module, count=2, size=pre.size, channels=pre.channels, mean=pre.mean, std=pre.std, steps=2
        )


def test_distill_lowers_the_loss_on_efficientnet_lite0(lite0):
    module, pre = lite0
    calls: list[tuple[int, int, float]] = []
    result = distill_images(
        module,
        count=2,
        size=pre.size,
        channels=pre.channels,
        mean=pre.mean,
        std=pre.std,
        steps=4,
        batch_size=2,
        progress=lambda done, total, loss: calls.append((done, total, loss)),
    )
    assert result.complete
    assert result.steps == 4
    assert len(result.losses) == 4
    assert result.initial_loss == result.losses[0]
    assert result.final_loss == result.losses[-1]
    assert result.final_loss < result.initial_loss
    assert [c[:2] for c in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [c[2] for c in calls] == result.losses
    assert len(result.images) == 2
    for image in result.images:
        assert (image.size, image.mode) == ((pre.size, pre.size), "RGB")
    assert result.images[0].tobytes() != result.images[1].tobytes()
    assert result.seconds > 0
    # The model is left as it was found: eval mode, parameters unchanged in their gradient flags.
    assert not module.training
    assert all(p.requires_grad for p in module.parameters())


def test_distill_stopped_after_the_first_batch_keeps_that_batch(lite0):
    module, pre = lite0
    done: list[int] = []
    result = distill_images(
        module,
        count=4,
        size=pre.size,
        channels=pre.channels,
        mean=pre.mean,
        std=pre.std,
        steps=2,
        batch_size=2,
        progress=lambda step, total, loss: done.append(step),
        should_stop=lambda: len(done) >= 2,
    )
    assert not result.complete
    assert len(result.images) == 2
    assert len(result.losses) == 2
    assert math.isfinite(result.initial_loss)
    assert math.isfinite(result.final_loss)
