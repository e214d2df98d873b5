"""Calibration images that need no real data: fractals, noise and images distilled from a model.

The calibration study asks whether INT8 quantization depends on the images it is calibrated on;
these are the non-real sources it compares with real images. Fractals follow FractalDB (random
contractive iterated function systems rendered with the chaos game); distilled images follow
ZeroQ (noise optimised until every BatchNorm layer sees the statistics it was trained with).
torch is imported only inside the functions that need it: a web server imports this module.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.errors import DatasetError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DistillResult",
    "distill_images",
    "fractal_image",
    "fractal_images",
    "has_batchnorm",
    "noise_image",
]

MIN_SIZE = 8
COLORS = ("RGB", "L")

_MAX_SINGULAR_VALUE = 0.95  # strictly contractive, so the attractor is compact and quickly reached
_MIN_SINGULAR_RATIO = 0.2  # maps that squash much harder one way than the other draw needles
_MAX_AREA_SUM = 1.2  # the maps' images overlap less than they would if they tiled a filled blob
_FILL_GRID = 64
_FILL_RANGE = (0.05, 0.60)
_ITERATIONS = 140
_BURN_IN = 20
_POINTS_PER_PIXEL = 10
_MIN_POINTS = 20_000
_MAX_DRAWS = 500


def _check_common(index: int, size: int, color: str, seed: int) -> None:
    if index < 0 or seed < 0:
        msg = f"index {index} and seed {seed} must not be negative; use 0 or more"
        raise DatasetError(msg)
    if size < MIN_SIZE:
        msg = f"image size {size} px is too small; use at least {MIN_SIZE} px"
        raise DatasetError(msg)
    if color not in COLORS:
        msg = f"colour mode {color!r} is not supported; use 'RGB' or 'L' (grayscale)"
        raise DatasetError(msg)


def _check_count(count: int) -> None:
    if count < 1:
        msg = f"asked for {count} images; choose a count of 1 or more"
        raise DatasetError(msg)


def _random_map(rng: np.random.Generator) -> np.ndarray:
    """One contractive affine map as [a, b, c, d, e, f] (FractalDB's parameters, uniform in [-1, 1])."""
    while True:
        params = rng.uniform(-1.0, 1.0, 6)
        linear = params[:4].reshape(2, 2)
        singular = np.linalg.svd(linear, compute_uv=False)
        if singular[0] < _MAX_SINGULAR_VALUE and singular[1] > _MIN_SINGULAR_RATIO * singular[0]:
            return params


def _chaos_game(
    maps: np.ndarray, rng: np.random.Generator, points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the attractor (x, y) and the map that placed each one, from many walkers at once."""
    linear = maps[:, :4].reshape(-1, 2, 2)
    shift = maps[:, 4:]
    dets = np.abs(np.linalg.det(linear))
    thresholds = np.cumsum(dets / dets.sum())[:-1]
    walkers = max(256, math.ceil(points / (_ITERATIONS - _BURN_IN)))
    uniform = rng.random((_ITERATIONS, walkers))
    choice = np.zeros((_ITERATIONS, walkers), dtype=np.intp)
    for threshold in thresholds:
        choice += uniform > threshold
    # Start every walker on a map's fixed point, which lies on the attractor.
    fixed = np.linalg.solve(np.eye(2)[None] - linear, shift[:, :, None])[:, :, 0]
    start = fixed[rng.integers(0, len(maps), walkers)]
    x, y = start[:, 0].copy(), start[:, 1].copy()
    coefficients = maps[choice]  # (iterations, walkers, 6): one gather instead of six per step
    kept = _ITERATIONS - _BURN_IN
    xs = np.empty((kept, walkers))
    ys = np.empty((kept, walkers))
    for step in range(_ITERATIONS):
        a, b, c, d, e, f = coefficients[step].T
        x, y = a * x + b * y + e, c * x + d * y + f
        if step >= _BURN_IN:
            xs[step - _BURN_IN], ys[step - _BURN_IN] = x, y
    return xs.ravel(), ys.ravel(), choice[_BURN_IN:].ravel()


def _pixel_indices(x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Flat pixel index of every point, the attractor scaled to fit with a small margin, aspect kept."""
    x_low, x_high, y_low, y_high = x.min(), x.max(), y.min(), y.max()
    extent = max(float(x_high - x_low), float(y_high - y_low), 1e-12)
    scale = (size * 0.92 - 1) / extent
    column = (x - x_low) * scale + (size - 1 - (x_high - x_low) * scale) / 2
    row = (y_high - y) * scale + (size - 1 - (y_high - y_low) * scale) / 2
    column = np.clip(np.rint(column), 0, size - 1).astype(np.intp)
    row = np.clip(np.rint(row), 0, size - 1).astype(np.intp)
    return row * size + column


def _fill_rate(x: np.ndarray, y: np.ndarray) -> float:
    covered = np.bincount(_pixel_indices(x, y, _FILL_GRID), minlength=_FILL_GRID**2) > 0
    return float(covered.mean())


def _bright_colors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Saturated, bright RGB colours (0..1) with well separated hues."""
    hues = (rng.random() + np.arange(count) / count + rng.uniform(-0.08, 0.08, count)) % 1.0
    saturation = rng.uniform(0.55, 1.0, count)
    h6 = hues * 6
    channel = np.stack([np.clip(np.abs(h6 - 3) - 1, 0, 1), np.clip(2 - np.abs(h6 - 2), 0, 1)], axis=1)
    blue = np.clip(2 - np.abs(h6 - 4), 0, 1)
    pure = np.concatenate([channel, blue[:, None]], axis=1)
    return 1 - saturation[:, None] * (1 - pure)


def _fractal_system(rng: np.random.Generator) -> np.ndarray:
    """2 to 4 contractive maps whose attractor neither nearly vanishes nor nearly fills the frame."""
    for _ in range(_MAX_DRAWS):
        count = int(rng.integers(2, 5))
        maps = np.stack([_random_map(rng) for _ in range(count)])
        if np.abs(np.linalg.det(maps[:, :4].reshape(-1, 2, 2))).sum() > _MAX_AREA_SUM:
            continue
        x, y, _ = _chaos_game(maps, rng, 8_000)
        if _FILL_RANGE[0] <= _fill_rate(x, y) <= _FILL_RANGE[1]:
            return maps
    return maps  # practically unreachable: 1.6 draws on average, at most 7 in the first 300


def fractal_image(index: int, size: int, color: str = "RGB", *, seed: int = 0) -> Image.Image:
    """One FractalDB-style fractal, the same for the same (seed, index, size, color) in any call order.

    The shape depends only on (seed, index), so the RGB and grayscale versions and all sizes show the
    same fractal.
    """
    _check_common(index, size, color, seed)
    rng = np.random.default_rng([seed, index])
    maps = _fractal_system(rng)
    colors = _bright_colors(rng, len(maps))
    x, y, placed_by = _chaos_game(maps, rng, max(_MIN_POINTS, _POINTS_PER_PIXEL * size * size))
    flat = _pixel_indices(x, y, size)
    hits = np.bincount(flat, minlength=size * size).astype(np.float64)
    covered = hits > 0
    # Log density, normalised at a high percentile so a few dense pixels do not darken the rest.
    density = np.log1p(hits)
    top = float(np.percentile(density[covered], 99)) if covered.any() else 1.0
    intensity = np.clip(0.35 + 0.65 * density / max(top, 1e-12), 0, 1) * covered
    if color == "L":
        pixels = np.rint(intensity * 255).astype(np.uint8).reshape(size, size)
        return Image.fromarray(pixels, "L")
    rgb = np.stack(
        [np.bincount(flat, weights=colors[placed_by, ch], minlength=size * size) for ch in range(3)], axis=1
    )
    rgb /= np.maximum(hits, 1)[:, None]
    pixels = np.rint(rgb * intensity[:, None] * 255).astype(np.uint8).reshape(size, size, 3)
    return Image.fromarray(pixels, "RGB")


def fractal_images(count: int, size: int, color: str = "RGB", *, seed: int = 0) -> list[Image.Image]:
    """`count` different fractals (indices 0 .. count - 1)."""
    _check_count(count)
    return [fractal_image(i, size, color, seed=seed) for i in range(count)]


def noise_image(index: int, size: int, color: str = "RGB", *, seed: int = 0) -> Image.Image:
    """Uniform random pixels 0..255, deterministic per (seed, index): the no-information baseline."""
    _check_common(index, size, color, seed)
    rng = np.random.default_rng([seed, index])
    shape = (size, size) if color == "L" else (size, size, 3)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), color)


def has_batchnorm(module: torch.nn.Module) -> bool:
    """Whether the model has BatchNorm layers, whose running statistics distillation can match."""
    from torch.nn.modules.batchnorm import _BatchNorm

    return any(isinstance(layer, _BatchNorm) for layer in module.modules())


@dataclass(frozen=True)
class DistillResult:
    """Distilled images and how the optimisation went.

    `losses` holds the loss of every step run, in order across batches; `initial_loss` and
    `final_loss` are the means over the finished batches of their first and last step's loss (NaN
    when no batch finished). `steps` is the number of steps per batch asked for. `complete` is False
    when the run was stopped early: `images` then holds only the batches that finished.
    """

    images: list[Image.Image]
    losses: list[float]
    initial_loss: float
    final_loss: float
    steps: int
    seconds: float
    complete: bool


def _per_channel(values: tuple[float, ...], channels: int, what: str) -> np.ndarray:
    if len(values) not in (1, channels):
        msg = (
            f"the preprocessing {what} has {len(values)} values for {channels} channels; "
            f"give one value or one per channel"
        )
        raise DatasetError(msg)
    array = np.broadcast_to(np.asarray(values, dtype=np.float32), (channels,))
    if what == "std" and np.any(array == 0):
        msg = "the preprocessing std contains 0; use the model's real standard deviation"
        raise DatasetError(msg)
    return array


def _to_images(batch: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[Image.Image]:
    """Normalised (N, C, H, W) inputs back to 0..255 pixels, undoing (pixel - mean) / std."""
    pixels = batch * std[None, :, None, None] + mean[None, :, None, None]
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    if pixels.shape[1] == 1:
        return [Image.fromarray(p[0], "L") for p in pixels]
    return [Image.fromarray(p.transpose(1, 2, 0), "RGB") for p in pixels]


def distill_images(
    module: torch.nn.Module,
    *,
    count: int,
    size: int,
    channels: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    steps: int = 200,
    batch_size: int = 8,
    lr: float = 0.2,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DistillResult:
    """Data-free calibration images (ZeroQ): noise optimised so each BatchNorm layer's input has the
    batch mean and standard deviation of its running statistics.

    The model stays in eval mode with frozen parameters; only the input batch is optimised with Adam,
    and kept within the pixel range 0..255 after every step so the saved images are what was optimised.
    `progress(done_steps, total_steps, loss)` is called after every step; when `should_stop()` returns
    True the run ends and returns the finished batches, with `complete` False.
    """
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    _check_count(count)
    if size < MIN_SIZE:
        msg = f"image size {size} px is too small; use at least {MIN_SIZE} px"
        raise DatasetError(msg)
    if channels not in (1, 3):
        msg = f"{channels} input channels are not supported; use 1 (grayscale) or 3 (RGB)"
        raise DatasetError(msg)
    if seed < 0:
        msg = f"seed {seed} must not be negative; use 0 or more"
        raise DatasetError(msg)
    if steps < 1 or batch_size < 1:
        msg = f"steps ({steps}) and batch size ({batch_size}) must be 1 or more"
        raise DatasetError(msg)
    if not lr > 0:
        msg = f"learning rate {lr} must be positive; 0.2 is a good start"
        raise DatasetError(msg)
    mean_arr, std_arr = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    layers = [
        layer
        for layer in module.modules()
        if isinstance(layer, _BatchNorm) and layer.running_mean is not None and layer.running_var is not None
    ]
    if not layers:
        msg = (
            f"{type(module).__name__} has no BatchNorm layers, so there are no statistics to match; "
            "use real images, fractal images or noise"
        )
        raise DatasetError(msg)

    batches = math.ceil(count / batch_size)
    total_steps = batches * steps
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    was_training = module.training
    grad_flags = [(p, p.requires_grad) for p in module.parameters()]
    terms: list[torch.Tensor] = []

    def match_statistics(layer: _BatchNorm, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        x = inputs[0]
        dims = [d for d in range(x.dim()) if d != 1]
        batch_mean = x.mean(dim=dims)
        batch_std = torch.sqrt(x.var(dim=dims, unbiased=False) + layer.eps)
        terms.append(
            torch.linalg.vector_norm(batch_mean - layer.running_mean)
            + torch.linalg.vector_norm(batch_std - torch.sqrt(layer.running_var + layer.eps))
        )

    hooks = []
    images: list[Image.Image] = []
    losses: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    complete = True
    try:
        torch.set_num_threads(os.cpu_count() or 1)
        module.eval()
        for parameter, _ in grad_flags:
            parameter.requires_grad_(False)
        hooks = [layer.register_forward_hook(match_statistics) for layer in layers]
        generator = torch.Generator().manual_seed(seed)
        # Keep the input inside the pixel range 0..255: otherwise clipping on the way back to
        # pixels undoes a good part of the optimisation (measured on Lite0: loss 1525 -> 1813).
        low = torch.from_numpy((0 - mean_arr) / std_arr).reshape(1, channels, 1, 1)
        high = torch.from_numpy((255 - mean_arr) / std_arr).reshape(1, channels, 1, 1)
        done = 0
        with torch.enable_grad():
            for batch in range(batches):
                n = min(batch_size, count - batch * batch_size)
                x = torch.randn((n, channels, size, size), generator=generator)
                x = torch.clamp(x, low, high).requires_grad_(True)
                optimizer = torch.optim.Adam([x], lr=lr)
                batch_losses: list[float] = []
                for _ in range(steps):
                    if should_stop is not None and should_stop():
                        complete = False
                        break
                    terms.clear()
                    optimizer.zero_grad(set_to_none=True)
                    module(x)
                    loss = torch.stack(terms).sum()
                    loss.backward()
                    optimizer.step()
                    with torch.no_grad():
                        x.clamp_(low, high)
                    value = float(loss.detach())
                    batch_losses.append(value)
                    losses.append(value)
                    done += 1
                    if progress is not None:
                        progress(done, total_steps, value)
                terms.clear()
                if not complete:
                    break
                firsts.append(batch_losses[0])
                lasts.append(batch_losses[-1])
                images.extend(_to_images(x.detach().numpy(), mean_arr, std_arr))
    finally:
        for hook in hooks:
            hook.remove()
        terms.clear()
        for parameter, flag in grad_flags:
            parameter.requires_grad_(flag)
        module.train(was_training)
        torch.set_num_threads(previous_threads)

    return DistillResult(
        images=images,
        losses=losses,
        initial_loss=float(np.mean(firsts)) if firsts else math.nan,
        final_loss=float(np.mean(lasts)) if lasts else math.nan,
        steps=steps,
        seconds=time.perf_counter() - started,
        complete=complete,
    )
