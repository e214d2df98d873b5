"""Train your own: a small convolutional network trained here on a labelled image set, registered
like any other model (class names, preprocessing, a held-out set), then converted to OpenVINO.

The network is a "convnet": Conv-BatchNorm-ReLU-MaxPool blocks, global average pooling and a linear
classifier, with readable layer names (block1.conv, block1.bn, ..., classifier), built from the
model's `arch_config` by the builder this module registers. Training uses every core, Adam with a
one-cycle learning-rate schedule, and keeps the epoch with the best held-out accuracy; a cancelled
run registers that checkpoint if at least one epoch finished. The per-epoch history is rewritten to
`results/training/` after every epoch, so a page can draw live curves.

The helpers for labelled data (a stratified held-out split, decoded arrays, a held-out folder with
its `labels.csv`) and the training loop (`fit`) also serve quantization-aware training and the
fine-tuning after channel pruning.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np

from core.catalog import dataset_info
from core.data.imagesets import ImageSet
from core.errors import CoreError, DatasetError, InputError, JobCancelledError
from core.preprocessing import PreprocessSpec
from core.progress import Progress, ProgressCallback, report
from core.registry import ModelSpec, register_architecture
from core.results import need
from core.workspace import Workspace, check_model_id, utc_stamp, write_json

__all__ = [
    "DEFAULT_WIDTHS",
    "FitState",
    "TrainConfig",
    "TrainResult",
    "TrainingHistory",
    "check_labelled",
    "class_list_of",
    "convnet_layers",
    "decode",
    "default_evaluation_set",
    "fit",
    "heldout_sources",
    "labelled_split",
    "load_histories",
    "register_cli",
    "score_arrays",
    "split_holdout",
    "train_job",
    "train_model",
    "training_cores",
    "training_figure",
    "write_heldout",
    "write_images",
]

DEFAULT_WIDTHS = (16, 32, 64, 128)
MAX_BLOCKS = 6
MAX_ARRAY_BYTES = 3 * 2**30  # decoded training images kept in memory
HELDOUT_DIR = "source/heldout"
HELDOUT_CSV = "labels.csv"
STEP_POINTS = 25  # loss points recorded per epoch for the live curve
SAVE_INTERVAL_S = 2.0


def check_limit_and_seconds(limit: int | None, seconds: float) -> None:
    """The two settings every training-like job shares: how many images, and how long to measure after."""
    if limit is not None and limit < 10:
        msg = f"limit must be at least 10 images, not {limit}"
        raise InputError(msg)
    if seconds < 0:
        msg = f"seconds must be 0 (no latency measurement) or more, not {seconds}"
        raise InputError(msg)


@dataclass(frozen=True)
class TrainConfig:
    """A network to train here. `lr` is the peak of the one-cycle schedule (Adam)."""

    name: str
    dataset: str = "builtin:mnist"
    epochs: int = 1
    lr: float = 0.01
    batch_size: int = 32
    input_size: int = 28
    color: str = "L"  # "L" (grayscale) or "RGB"
    holdout: float = 0.1
    architecture: str = "convnet"
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    seed: int = 0
    limit: int | None = None  # train on at most this many images (stratified), for quick runs
    convert: bool = True  # convert to OpenVINO FP32 and FP16 afterwards (evaluated on the held-out set)
    seconds: float = 3.0  # then measure their latency (seconds per variant; 0: skip)

    def check(self) -> None:
        check_model_id(self.name)
        if self.architecture != "convnet":
            msg = f"unknown architecture {self.architecture!r}; this version trains 'convnet'"
            raise InputError(msg)
        if not 1 <= self.epochs <= 200:
            msg = f"epochs must be between 1 and 200, not {self.epochs}"
            raise InputError(msg)
        if not 0 < self.lr <= 1:
            msg = (
                f"learning rate must be above 0 and at most 1, not {self.lr}; 0.01 suits the default ConvNet"
            )
            raise InputError(msg)
        if not 2 <= self.batch_size <= 4096:
            msg = f"batch size must be between 2 and 4096, not {self.batch_size}"
            raise InputError(msg)
        if self.color not in ("L", "RGB"):
            msg = f"colour must be 'L' (grayscale) or 'RGB', not {self.color!r}"
            raise InputError(msg)
        if not 0 < self.holdout <= 0.5:
            msg = f"the held-out share must be above 0 and at most 0.5, not {self.holdout}"
            raise InputError(msg)
        if not 1 <= len(self.widths) <= MAX_BLOCKS or any(not 1 <= int(w) <= 1024 for w in self.widths):
            msg = f"widths {list(self.widths)} are not allowed; give 1-{MAX_BLOCKS} blocks of 1-1024 channels, e.g. 16 32 64 128"
            raise InputError(msg)
        if not 8 <= self.input_size <= 512:
            msg = f"input size must be between 8 and 512 pixels, not {self.input_size}"
            raise InputError(msg)
        if self.input_size >> len(self.widths) < 1:
            msg = (
                f"{len(self.widths)} blocks halve {self.input_size} px to nothing; use at least "
                f"{2 ** len(self.widths)} px or fewer blocks"
            )
            raise InputError(msg)
        check_limit_and_seconds(self.limit, self.seconds)

    @property
    def channels(self) -> int:
        return 1 if self.color == "L" else 3


# the network ------------------------------------------------------------------------------------


def convnet_layers(channels: int, widths: Sequence[int], num_classes: int, input_size: int) -> list[dict]:
    """The ConvNet's layers with their names, output shapes and parameters (no torch needed: the UI lists them)."""
    rows, size, cin = [], input_size, channels
    for number, width in enumerate(widths, start=1):
        name = f"block{number}"
        rows.append(
            {
                "name": f"{name}.conv",
                "kind": "Conv2d 3×3",
                "output": [width, size, size],
                "parameters": cin * width * 9,
            }
        )
        rows.append(
            {
                "name": f"{name}.bn",
                "kind": "BatchNorm2d",
                "output": [width, size, size],
                "parameters": 2 * width,
            }
        )
        rows.append({"name": f"{name}.relu", "kind": "ReLU", "output": [width, size, size], "parameters": 0})
        size //= 2
        rows.append(
            {"name": f"{name}.pool", "kind": "MaxPool2d 2×2", "output": [width, size, size], "parameters": 0}
        )
        cin = width
    rows.append({"name": "gap", "kind": "global average pooling", "output": [cin, 1, 1], "parameters": 0})
    rows.append({"name": "flatten", "kind": "Flatten", "output": [cin], "parameters": 0})
    rows.append(
        {
            "name": "classifier",
            "kind": "Linear",
            "output": [num_classes],
            "parameters": cin * num_classes + num_classes,
        }
    )
    return rows


@lru_cache(maxsize=1)
def _convnet_class():
    """The ConvNet module class, made on first use (torch is imported only then)."""
    from collections import OrderedDict

    from torch import nn

    class ConvNet(nn.Module):
        """Conv-BatchNorm-ReLU-MaxPool blocks (block1 ... blockN), global average pooling, a linear classifier.

        A module with its own forward rather than an nn.Sequential: NNCF's quantization-aware training adds a
        hook-storage module to the model, which a Sequential would then call as a layer.
        """

        def __init__(self, channels: int, widths: Sequence[int], num_classes: int):
            super().__init__()
            cin = channels
            for number, width in enumerate(widths, start=1):
                block = OrderedDict(
                    conv=nn.Conv2d(cin, width, 3, padding=1, bias=False),
                    bn=nn.BatchNorm2d(width),
                    relu=nn.ReLU(),
                    pool=nn.MaxPool2d(2),
                )
                self.add_module(f"block{number}", nn.Sequential(block))
                cin = width
            self.blocks = len(widths)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.classifier = nn.Linear(cin, num_classes)

        def forward(self, x):
            for number in range(1, self.blocks + 1):
                x = getattr(self, f"block{number}")(x)
            return self.classifier(self.flatten(self.gap(x)))

    return ConvNet


def _convnet(spec: ModelSpec):
    """The builder of architecture "convnet", from the spec's arch_config; layer names read block1.conv, ..., classifier."""
    config = spec.arch_config
    try:
        channels, widths, classes = (
            int(config["channels"]),
            [int(w) for w in config["widths"]],
            int(config["num_classes"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{spec.id} has no usable ConvNet description in its model.json ({exc}); train it again"
        raise InputError(msg) from exc
    return _convnet_class()(channels, widths, classes)


register_architecture("convnet", _convnet)


# labelled data --------------------------------------------------------------------------------


def _natural(label: str) -> tuple:
    text = label.strip()
    return (0, int(text), "") if text.isdigit() else (1, 0, text.casefold())


def class_list_of(images: ImageSet) -> list[str]:
    """The distinct labels of a set, numbers in numeric order, names alphabetically."""
    return sorted({s.label or "" for s in images}, key=_natural)


def check_labelled(images: ImageSet, *, min_per_class: int = 2) -> dict[str, int]:
    """Images per class of a labelled set with at least two classes, or a DatasetError saying what to do."""
    if len(images) == 0:
        msg = f"{images.name} holds no images; give a labelled set with one folder per class"
        raise DatasetError(msg)
    folders = {PurePosixPath(s.name).parent for s in images}
    if not images.labelled and len(folders) == 1 and str(next(iter(folders))) not in ("", "."):
        only = next(iter(folders)).name  # a zip of one class folder reads as a flat, unlabelled set
        msg = (
            f"{images.name} holds images of one class only (the folder {only!r}, {len(images)} images); a classifier needs "
            "at least two classes: put each class's images in its own folder, side by side"
        )
        raise DatasetError(msg)
    if not images.labelled:
        msg = f"{images.name} has unlabelled images; training needs labels: one folder per class, or a CSV of file,label rows"
        raise DatasetError(msg)
    counts: dict[str, int] = {}
    for sample in images:
        counts[sample.label or ""] = counts.get(sample.label or "", 0) + 1
    if len(counts) < 2:
        only = next(iter(counts))
        msg = (
            f"{images.name} holds images of one class only ({only!r}, {counts[only]} images); a classifier needs at "
            "least two classes: put each class's images in its own folder"
        )
        raise DatasetError(msg)
    few = sorted((label for label, n in counts.items() if n < min_per_class), key=_natural)
    if few:
        msg = (
            f"{images.name}: {len(few)} class(es) have fewer than {min_per_class} images ({', '.join(few[:5])}); "
            f"give every class at least {min_per_class} (some are held out for evaluation)"
        )
        raise DatasetError(msg)
    return counts


def split_holdout(images: ImageSet, fraction: float, *, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """(training, held-out): a stratified share `fraction` held out with a fixed seed; no image in both."""
    count = max(1, round(len(images) * fraction))
    if count >= len(images):
        msg = f"{images.name} has {len(images)} images: too few to hold {fraction:.0%} out and train on the rest"
        raise DatasetError(msg)
    heldout = images.subset(count, seed=seed)
    taken = {id(s) for s in heldout.samples}
    train = [s for s in images.samples if id(s) not in taken]
    how = f"{len(train)} for training, {count} held out (stratified by label, seed {seed})"
    return (
        ImageSet(f"{images.name}, training split", train, f"{images.description} Split: {how}.".strip()),
        ImageSet(
            f"{images.name}, held-out split", heldout.samples, f"{images.description} Split: {how}.".strip()
        ),
    )


def write_images(images: ImageSet, folder: Path, *, labels: bool = False) -> Path:
    """The images as PNG files (decoded pixels, so evaluation sees what training saw); with `labels`, a
    `labels.csv` of `file,label,source` rows beside them. Returns the CSV (or the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, sample in enumerate(images):
        name = f"{index:05d}.png"
        sample.image().save(folder / name, format="PNG")
        rows.append((name, sample.label or "", sample.name))
    if not labels:
        return folder
    path = folder / HELDOUT_CSV
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "label", "source"))
        writer.writerows(rows)
    return path


def write_heldout(images: ImageSet, folder: Path) -> Path:
    """A held-out set as PNGs plus `labels.csv`; `load_dataset(<csv>)` reads it back."""
    return write_images(images, folder, labels=True)


def heldout_sources(csv_path: Path) -> set[str]:
    """The original sample names a held-out CSV was made from (its `source` column), to keep them out of training."""
    try:
        with Path(csv_path).open(newline="", encoding="utf-8") as handle:
            return {row["source"] for row in csv.DictReader(handle) if row.get("source")}
    except (OSError, KeyError, csv.Error):
        return set()


def labelled_split(
    spec: ModelSpec, ref: str, *, workspace: Workspace, holdout: float, seed: int = 0, limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[ImageSet, ImageSet, str]:  # fmt: skip
    """(training, held-out, held-out reference) for fine-tuning `spec` on the labelled set `ref`.

    A model trained here keeps its own held-out set, and the rest of `ref` trains. Otherwise a stratified
    share of `ref` is held out and written once under `datasets/` (named by the content), so every
    comparison made from it is on exactly the same images.
    """
    from core.data import load_dataset

    report(progress, "reading the data set")
    images = load_dataset(ref, purpose="evaluation", workspace=workspace)
    if limit is not None and limit < len(images):
        images = images.subset(limit, seed=seed)
    check_labelled(images)
    own = spec.heldout_ref(workspace)
    if own and Path(own).is_file():
        heldout = load_dataset(own, purpose="evaluation", workspace=workspace)
        exclude = heldout_sources(Path(own))
        kept = [s for s in images.samples if s.name not in exclude]
        if not kept:
            msg = f"every image of {images.name} is in {spec.id}'s held-out set; give other training images"
            raise DatasetError(msg)
        how = f"{len(kept)} images; {len(images) - len(kept)} left out because they are in {spec.id}'s held-out set"
        return (
            ImageSet(f"{images.name}, training split", kept, f"{images.description} {how}.".strip()),
            heldout,
            own,
        )
    train, heldout = split_holdout(images, holdout, seed=seed)
    key = hashlib.sha256(f"{images.fingerprint()}|{holdout}|{seed}".encode()).hexdigest()[:12]
    folder = workspace.root / "datasets" / f"heldout-{spec.id}-{key}"
    if not (folder / HELDOUT_CSV).is_file():
        report(progress, "writing the held-out images")
        staging = workspace.tmp_dir()
        try:
            write_heldout(heldout, staging / "heldout")
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            (staging / "heldout").replace(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return train, heldout, str(folder / HELDOUT_CSV)


def default_evaluation_set(spec: ModelSpec, workspace: Workspace) -> str | None:
    """The labelled set a model is scored on when none is given: its own held-out set, else its domain's built-in one."""
    own = spec.heldout_ref(workspace)
    if own and Path(own).is_file():
        return own
    return {"mnist": "builtin:mnist", "imagenet": "builtin:imagenet-samples"}.get(spec.labels)


def decode(
    images: ImageSet, class_names: Sequence[str], preprocess: PreprocessSpec, *, progress: ProgressCallback | None = None,
    phase: str = "reading images",
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(x, y): the images through the model's preprocessing as float32 (N, C, H, W), labels as class indices."""
    total = len(images)
    c, h, w = preprocess.input_shape[1:]
    needed = total * c * h * w * 4
    if needed > MAX_ARRAY_BYTES:
        msg = (
            f"{images.name}: {total} images at {h}×{w}×{c} need {needed / 2**30:.1f} GiB in memory, more than the "
            f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB allowed; use a smaller input size or a limit"
        )
        raise DatasetError(msg)
    labels = np.asarray(images.label_indices(list(class_names)), dtype=np.int64)
    x = np.empty((total, c, h, w), dtype=np.float32)
    for index, sample in enumerate(images):
        x[index] = preprocess.to_array(sample.image())
        if (index + 1) % 256 == 0 or index + 1 == total:
            report(progress, phase, index + 1, total)
    return x, labels


def training_cores() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# the training loop ------------------------------------------------------------------------------


@dataclass
class FitState:
    """What `fit` has done so far; the caller still holds it when a cancel interrupts the loop."""

    history: list[dict] = field(default_factory=list)  # one row per finished epoch
    steps: list[dict] = field(
        default_factory=list
    )  # {"epoch": 0.5, "loss": ...}: the live training-loss curve
    best_state: dict | None = None
    best_epoch: int = 0
    best_accuracy: float = -1.0


def score_arrays(module, x: np.ndarray, y: np.ndarray, batch: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, top-1) of a module in eval mode."""
    import torch

    module.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            inputs, targets = (
                torch.from_numpy(x[start : start + batch]),
                torch.from_numpy(y[start : start + batch]),
            )
            logits = module(inputs)
            loss += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
            correct += int((logits.argmax(1) == targets).sum())
    return loss / max(len(x), 1), correct / max(len(x), 1)


def fit(
    module,
    train: tuple[np.ndarray, np.ndarray],
    heldout: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
    schedule: str = "one-cycle",
    keep_best: bool = True,
    freeze_bn: bool = False,
    progress: ProgressCallback | None = None,
    state: FitState | None = None,
    on_update: Callable[[FitState, bool], None] | None = None,
    phase: str = "epoch",
) -> FitState:
    """Train with Adam (one-cycle or constant learning rate), evaluating the held-out set after each epoch.

    Progress goes out per batch (a cancel raises from it); `on_update(state, epoch_ended)` is called for
    new loss points and after each epoch. With `keep_best`, the state dict of the best held-out epoch is
    kept in `state.best_state` (the caller loads it). `freeze_bn` keeps BatchNorm statistics as they are
    (fine-tuning on small sets).
    """
    import torch

    torch.set_num_threads(training_cores())
    state = state if state is not None else FitState()
    x, y = train
    total = len(x)
    steps = max(
        1, math.ceil(total / batch_size) - (1 if total % batch_size == 1 and total > batch_size else 0)
    )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    scheduler = None
    if schedule == "one-cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    every = max(1, steps // STEP_POINTS)
    bn_types = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    with torch.enable_grad():
        for epoch in range(1, epochs + 1):
            began = time.perf_counter()
            module.train()
            if freeze_bn:
                for layer in module.modules():
                    if isinstance(layer, bn_types):
                        layer.eval()
            order = rng.permutation(total)
            seen, loss_sum, correct, window = 0, 0.0, 0, []
            label = f"{phase} {epoch}/{epochs}"
            for step in range(steps):
                index = order[step * batch_size : (step + 1) * batch_size if step + 1 < steps else total]
                inputs, targets = torch.from_numpy(x[index]), torch.from_numpy(y[index])
                optimizer.zero_grad(set_to_none=True)
                logits = module(inputs)
                loss = torch.nn.functional.cross_entropy(logits, targets)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                value = float(loss.detach())
                seen += len(index)
                loss_sum += value * len(index)
                correct += int((logits.detach().argmax(1) == targets).sum())
                window.append(value)
                if (step + 1) % every == 0 or step + 1 == steps:
                    state.steps.append(
                        {
                            "epoch": round(epoch - 1 + (step + 1) / steps, 4),
                            "loss": round(sum(window) / len(window), 5),
                        }
                    )
                    window = []
                    if on_update is not None:
                        on_update(state, False)
                if progress is not None:
                    progress(Progress(label, step + 1, steps, f"loss {loss_sum / seen:.4f}"))
            row = {
                "epoch": epoch,
                "train_loss": round(loss_sum / max(seen, 1), 5),
                "train_accuracy": round(correct / max(seen, 1), 5),
                "heldout_loss": None,
                "heldout_accuracy": None,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": None,
            }
            if heldout is not None and len(heldout[0]):
                row["heldout_loss"], row["heldout_accuracy"] = (
                    round(v, 5) for v in score_arrays(module, *heldout)
                )
            row["seconds"] = round(time.perf_counter() - began, 2)
            state.history.append(row)
            score = row["heldout_accuracy"] if row["heldout_accuracy"] is not None else row["train_accuracy"]
            if keep_best and score > state.best_accuracy:
                state.best_accuracy, state.best_epoch = score, epoch
                state.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            if on_update is not None:
                on_update(state, True)
    module.eval()
    return state


# the training history file ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingHistory:
    """`results/training/<utc>-<id>.json`: rewritten while training runs, read by the page for live curves."""

    model_id: str
    created: str
    status: str  # "running" | "done" | "cancelled" | "failed"
    config: dict
    dataset: dict
    layers: tuple[dict, ...]
    epochs: tuple[dict, ...]
    steps: tuple[dict, ...] = ()
    best_epoch: int = 0
    registered: bool = False
    message: str = ""
    machine: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def total_epochs(self) -> int:
        return int(self.config.get("epochs") or 0)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = "training"
        data["layers"], data["epochs"], data["steps"] = list(self.layers), list(self.epochs), list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainingHistory:
        return cls(
            model_id=str(need(data, "model_id", str)),
            created=str(data.get("created") or ""),
            status=str(data.get("status") or "done"),
            config=dict(need(data, "config", Mapping)),
            dataset=dict(data.get("dataset") or {}),
            layers=tuple(dict(r) for r in data.get("layers") or ()),
            epochs=tuple(dict(r) for r in need(data, "epochs", list)),
            steps=tuple(dict(r) for r in data.get("steps") or ()),
            best_epoch=int(data.get("best_epoch") or 0),
            registered=bool(data.get("registered")),
            message=str(data.get("message") or ""),
            machine=dict(data.get("machine") or {}),
            path=data.get("_path") or data.get("path"),
        )


def load_histories(workspace: Workspace, model_id: str | None = None):
    """Saved training histories (oldest first) and the damaged files."""
    from core.results import load_kind

    return load_kind(workspace, "training", TrainingHistory.from_dict, model_id)


@dataclass(frozen=True)
class TrainResult:
    model_id: str
    dataset: dict
    classes: tuple[str, ...]
    epochs: int
    epochs_done: int
    best_epoch: int
    heldout_accuracy: float | None
    history: tuple[dict, ...]
    seconds: float
    history_path: str
    variants: tuple[str, ...] = ()
    evaluation: dict | None = None  # fp32 (and fp16) top-1 on the held-out set, by OpenVINO
    notes: tuple[str, ...] = ()

    @property
    def seconds_per_epoch(self) -> float | None:
        times = [row["seconds"] for row in self.history if row.get("seconds") is not None]
        return round(sum(times) / len(times), 2) if times else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            classes=list(self.classes),
            history=list(self.history),
            variants=list(self.variants),
            notes=list(self.notes),
        )
        data["seconds_per_epoch"] = self.seconds_per_epoch
        return data


class _HistoryFile:
    """The live history: rewritten after every epoch and, at most every few seconds, with new loss points."""

    def __init__(self, path: Path, base: dict):
        self.path, self.data, self._last = path, base, 0.0

    def update(self, state: FitState, epoch_ended: bool = True, **changes) -> None:
        self.data.update(
            epochs=list(state.history), steps=list(state.steps), best_epoch=state.best_epoch, **changes
        )
        now = time.monotonic()
        if epoch_ended or changes or now - self._last >= SAVE_INTERVAL_S:
            self._last = now
            write_json(self.path, {**self.data, "updated": datetime.now(UTC).isoformat(timespec="seconds")})


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Hold off SIGTERM while a cancelled run saves its checkpoint (a job worker is stopped by SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_stop(exc: BaseException) -> bool:
    """A cancel (from progress), Ctrl-C, or a stop signal: not a failure of the training itself."""
    return isinstance(exc, JobCancelledError) or not isinstance(exc, Exception)


def train_model(
    config: TrainConfig, *, workspace: Workspace, progress: ProgressCallback | None = None, log=None
) -> TrainResult:
    """Train a ConvNet, register the best epoch as a new model, convert it and evaluate it on its held-out set."""
    from core.data import load_dataset
    from core.imports import check_new_model_name
    from core.machine import cpu_info

    config.check()
    check_new_model_name(workspace, config.name)
    started = time.perf_counter()
    report(progress, "reading the data set")
    images = load_dataset(config.dataset, purpose="evaluation", workspace=workspace)
    if config.limit is not None and config.limit < len(images):
        images = images.subset(config.limit, seed=config.seed)
    check_labelled(images)
    classes = class_list_of(images)
    train_set, heldout_set = split_holdout(images, config.holdout, seed=config.seed)
    info = dataset_info(config.dataset)
    mnist = info is not None and info.ref == "builtin:mnist" and classes == [str(d) for d in range(10)]
    channels = config.channels
    preprocess = PreprocessSpec(
        size=config.input_size, resize=config.input_size, mean=(0.0,) * channels, std=(255.0,) * channels,
        color=config.color, name="trained",
    )  # fmt: skip
    arch = {
        "channels": channels, "widths": [int(w) for w in config.widths], "input_size": config.input_size,
        "num_classes": len(classes), "dataset": str(config.dataset), "holdout": config.holdout, "seed": config.seed,
    }  # fmt: skip
    dataset = {
        "ref": str(config.dataset),
        "name": images.name,
        "description": images.description,
        "size": len(images),
        "train": len(train_set),
        "heldout": len(heldout_set),
        "classes": len(classes),
    }
    spec = ModelSpec(
        id=config.name,
        title=f"{config.name} (ConvNet trained here, {len(classes)} classes)",
        source="trained",
        architecture="convnet",
        preprocess=preprocess,
        labels="mnist" if mnist else "custom",
        num_classes=len(classes),
        weights="state-dict",
        description=f"A {len(config.widths)}-block ConvNet trained here on {len(train_set)} images of {images.name}; "
        f"evaluate it on its {len(heldout_set)} held-out images (never seen in training).",
        source_file="source/weights.pt",
        batchnorm=True,
        arch_config=arch,
        class_list=tuple(classes),
        heldout=f"{HELDOUT_DIR}/{HELDOUT_CSV}",
    )
    layers = convnet_layers(channels, config.widths, len(classes), config.input_size)
    history_path = workspace.root / "results" / "training" / f"{utc_stamp()}-{config.name}.json"
    history_path.parent.mkdir(parents=True, exist_ok=True)
    config_dict = {**asdict(config), "widths": list(config.widths)}
    live = _HistoryFile(
        history_path,
        {
            "kind": "training", "model_id": config.name, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "running", "config": config_dict, "dataset": dataset, "layers": layers, "epochs": [], "steps": [],
            "best_epoch": 0, "registered": False, "message": "", "machine": cpu_info(), "path": str(history_path),
        },
    )  # fmt: skip
    state = FitState()
    live.update(state)
    try:
        _train_and_register(
            config, spec, train_set, heldout_set, classes, workspace, state, live, progress, log
        )
        notes, variants, evaluation = [], (), None
        if config.convert:
            variants, evaluation, notes = _convert_and_evaluate(spec, workspace, progress, config.seconds)
    except BaseException as exc:
        if live.data["status"] == "running":  # not recorded yet (a cancel while reading images or converting)
            how = "cancelled" if _is_stop(exc) else "failed"
            live.update(state, status=how, message=str(exc) or f"{how} ({type(exc).__name__})")
        raise
    final = state.history[state.best_epoch - 1] if state.best_epoch else {}
    live.update(state, status="done", message="; ".join(notes))
    report(progress, "done", 1, 1)
    return TrainResult(
        model_id=spec.id,
        dataset=dataset,
        classes=tuple(classes),
        epochs=config.epochs,
        epochs_done=len(state.history),
        best_epoch=state.best_epoch,
        heldout_accuracy=final.get("heldout_accuracy"),
        history=tuple(state.history),
        seconds=round(time.perf_counter() - started, 2),
        history_path=str(history_path),
        variants=variants,
        evaluation=evaluation,
        notes=tuple(notes),
    )


def _train_and_register(
    config, spec, train_set, heldout_set, classes, workspace, state, live, progress, log
) -> None:
    """Fit, then register the best epoch; a cancel after the first epoch still registers the best one so far."""
    staging = workspace.tmp_dir()
    try:
        report(progress, "writing the held-out images")
        write_heldout(heldout_set, staging / HELDOUT_DIR)
        train_xy = decode(
            train_set, classes, spec.preprocess, progress=progress, phase="reading the training images"
        )
        heldout_xy = decode(
            heldout_set, classes, spec.preprocess, progress=progress, phase="reading the held-out images"
        )
        import torch

        from core.registry import build_empty

        torch.manual_seed(config.seed)
        module = build_empty(spec)
        if log:
            log(
                f"training {spec.id} on {len(train_set)} images, {len(heldout_set)} held out, {training_cores()} cores"
            )
        try:
            fit(
                module, train_xy, heldout_xy, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                seed=config.seed, progress=progress, state=state, on_update=live.update,
            )  # fmt: skip
        except BaseException as exc:
            if not _is_stop(exc):
                raise
            with _shielded():
                if state.best_state is None:
                    live.update(
                        state,
                        status="cancelled",
                        message="stopped before the first epoch ended: nothing was kept",
                    )
                else:
                    _register(workspace, spec, state, staging)
                    live.update(
                        state, status="cancelled", registered=True,
                        message=f"stopped after {len(state.history)} of {config.epochs} epochs; the best epoch "
                        f"({state.best_epoch}) is registered as {spec.id}; convert it on the Models page",
                    )  # fmt: skip
            raise
        _register(workspace, spec, state, staging)
        live.update(state, registered=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _register(workspace: Workspace, spec: ModelSpec, state: FitState, staging: Path) -> None:
    """Save the best epoch's weights beside the held-out set and register the model (model.json last)."""
    import torch

    from core.registry import register_user_model

    source = staging / "source"
    source.mkdir(parents=True, exist_ok=True)
    torch.save(state.best_state, source / "weights.pt")
    register_user_model(workspace, spec, source=source)


def _convert_and_evaluate(spec: ModelSpec, workspace: Workspace, progress, seconds: float):
    """FP32 and FP16 IR, both scored on the held-out set and measured in one run; a failure here leaves the
    model registered (it can be converted again on the Models page)."""
    from core.benchmark import BenchmarkConfig, run_benchmark
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model

    try:
        report(progress, "converting to OpenVINO FP32 and FP16")
        made = convert_model(ConvertConfig(spec.id), workspace=workspace)
        report(progress, "evaluating FP32 and FP16 on the held-out images")
        heldout = spec.heldout_ref(workspace) or ""
        evaluation = evaluate_model(
            EvaluateConfig(spec.id, variants=("fp32", "fp16"), dataset=heldout), workspace=workspace
        )
        if seconds:
            run_benchmark(
                BenchmarkConfig(spec.id, variants=("fp32", "fp16"), seconds=seconds),
                workspace=workspace,
                progress=progress,
            )
    except CoreError as exc:
        if isinstance(exc, JobCancelledError):
            raise
        note = f"{spec.id} is registered, but converting, evaluating or measuring it failed: {exc}; convert it on the Models page"
        return (), None, [note]
    scores = {s.variant: {"top1": s.top1, "top1_ci95": list(s.top1_ci95 or [])} for s in evaluation.results}
    variants = tuple(a["variant"] for a in made.artifacts)
    return variants, {"path": evaluation.path, "size": evaluation.dataset_size, "scores": scores}, []


def train_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in (`model_id` may repeat the name, so job lists can find it), plain result out."""
    from core.jobs import config_from_dict

    train = config_from_dict(TrainConfig, config, extra=("model_id",))
    return train_model(train, workspace=workspace, progress=ctx.progress, log=ctx.log).to_dict()


# command line -----------------------------------------------------------------------------------


def _cmd_train(args, ws: Workspace):
    import sys

    from core.cli import _stderr_progress

    config = TrainConfig(
        name=args.name, dataset=args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        input_size=args.input_size, color=args.color, holdout=args.holdout, widths=tuple(args.widths), seed=args.seed,
        limit=args.limit, seconds=args.seconds,
    )  # fmt: skip
    result = train_model(
        config,
        workspace=ws,
        progress=_stderr_progress(args.json),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.json:
        return result.to_dict()
    print(format_training(result))
    return None


def format_training(result: TrainResult) -> str:
    lines = [
        f"{result.model_id}: {result.dataset['train']} training images, {result.dataset['heldout']} held out, "
        f"{len(result.classes)} classes",
        f"{'epoch':>5}{'train loss':>12}{'train acc':>11}{'held-out loss':>15}{'held-out acc':>14}{'s':>7}",
    ]
    for row in result.history:
        held = row.get("heldout_accuracy")
        lines.append(
            f"{row['epoch']:>5}{row['train_loss']:>12.4f}{row['train_accuracy'] * 100:>10.1f}%"
            f"{row.get('heldout_loss') or 0:>15.4f}{(held or 0) * 100:>13.1f}%{row['seconds']:>7.1f}"
        )
    lines.append(
        f"kept epoch {result.best_epoch}; variants: {', '.join(result.variants) or 'none'}; {result.seconds:.0f} s in all"
    )
    if result.evaluation:
        for variant, score in result.evaluation["scores"].items():
            lines.append(f"OpenVINO {variant} top-1 on the held-out images: {score['top1'] * 100:.2f} %")
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


def register_cli(add, variant_options) -> None:
    p = add(
        "train",
        _cmd_train,
        "train a small ConvNet on a labelled image set and register it as a new model",
        "Train a ConvNet (Conv-BatchNorm-ReLU-MaxPool blocks, global average pooling, a linear classifier) on a "
        "labelled set: builtin:mnist (the 4,700 evaluation digits; the 300 calibration digits stay apart), a .zip "
        "with one folder per class, a folder, or a CSV of file,label rows. A stratified share is held out and "
        "written beside the model, the best epoch by held-out accuracy is kept, and the model is converted to "
        "OpenVINO FP32 and FP16.",
    )
    p.add_argument("--name", required=True, help="id of the new model (lowercase letters, digits, . _ -)")
    p.add_argument(
        "--dataset", required=True, metavar="REF", help="builtin:mnist | FILE.zip | DIR | FILE.csv"
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--lr", type=float, default=0.01, help="peak learning rate of the one-cycle schedule (default 0.01)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--input-size", type=int, default=28, help="square input in pixels (default 28)")
    p.add_argument("--color", choices=["L", "RGB"], default="L", help="L: grayscale, RGB: colour (default L)")
    p.add_argument("--holdout", type=float, default=0.1, help="share held out for evaluation (default 0.1)")
    p.add_argument(
        "--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS), metavar="C", help="channels per block"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="train on at most this many images (stratified)")
    p.add_argument(
        "--seconds", type=float, default=3.0, help="latency measuring time per variant afterwards (0: skip)"
    )


def training_figure(history: TrainingHistory):
    """Loss (left: running training loss within epochs, training and held-out loss per epoch) and top-1
    (right: training and held-out accuracy per epoch) of one training run."""
    import html

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from core.plots import TEMPLATE

    fig = make_subplots(
        rows=1, cols=2, subplot_titles=["Loss (cross-entropy)", "Top-1 accuracy (%)"], horizontal_spacing=0.1
    )
    steps = [s for s in history.steps if s.get("loss") is not None]
    if steps:
        fig.add_trace(
            go.Scatter(
                x=[s["epoch"] for s in steps], y=[s["loss"] for s in steps], mode="lines", name="training loss (running)",
                line={"color": "#9ecae1", "width": 1.5}, hovertemplate="epoch %{x:.2f}<br>loss %{y:.4f}<extra></extra>",
            ),
            row=1, col=1,
        )  # fmt: skip
    series = (
        ("train_loss", "training loss", "#1f77b4", 1, 1.0),
        ("heldout_loss", "held-out loss", "#d62728", 1, 1.0),
        ("train_accuracy", "training top-1", "#1f77b4", 2, 100.0),
        ("heldout_accuracy", "held-out top-1", "#d62728", 2, 100.0),
    )
    for key, name, colour, col, scale in series:
        rows = [e for e in history.epochs if e.get(key) is not None]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e["epoch"] for e in rows], y=[e[key] * scale for e in rows], mode="lines+markers", name=name,
                line={"color": colour, "width": 2, "dash": "solid" if "held" in key else "dot"}, marker={"size": 9},
                hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    if history.best_epoch:
        fig.add_vline(
            x=history.best_epoch, line={"color": "#14212e", "dash": "dash", "width": 1}, row=1, col=2
        )
    total = history.total_epochs
    fig.update_xaxes(title_text="epoch", range=[0, max(total, 1) + 0.05])
    done = len(history.epochs)
    status = {"running": f"running: {done} of {total} epochs", "cancelled": f"stopped after {done} of {total} epochs",
              "failed": "failed", "done": f"{done} epochs"}.get(history.status, history.status)  # fmt: skip
    subtitle = (
        f"{history.dataset.get('train', '?')} training images, {history.dataset.get('heldout', '?')} held out · {status}"
        + (f" · kept epoch {history.best_epoch}" if history.best_epoch else "")
    )
    fig.update_layout(
        template=TEMPLATE,
        title={
            "text": f"Training {html.escape(history.model_id)}",
            "x": 0.01,
            "subtitle": {"text": html.escape(subtitle)},
        },
        height=410,
        margin={"l": 60, "r": 30, "t": 100, "b": 80},
        legend={
            "orientation": "h",
            "y": -0.25,
            "yanchor": "top",
            "x": 0,
        },  # below the axis titles, not on them
    )
    return fig
