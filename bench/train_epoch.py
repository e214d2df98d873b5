"""Seconds for one MNIST epoch of the default ConvNet (target: well under a minute on 2 cores).

One epoch = 4,230 training digits (the built-in evaluation digits minus a stratified 10 % held out),
batch 32, Adam with a one-cycle schedule, every core; the held-out evaluation after the epoch is
included, reading the images is not. Each repetition trains a fresh network from the same seed.
With --workflows it also measures the figures of docs/WORKFLOWS.md in a temporary workspace: QAT
against PTQ on LeNet5, LeNet5 pruned by 50 %, and EfficientNet-Lite0 weight compression.
Run: .venv/bin/python bench/train_epoch.py [--repeat 3] [--workflows]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import load_dataset  # noqa: E402
from core.machine import cpu_info  # noqa: E402
from core.preprocessing import MNIST  # noqa: E402
from core.registry import ModelSpec, build_empty  # noqa: E402
from core.train import DEFAULT_WIDTHS, class_list_of, decode, fit, split_holdout, training_cores  # noqa: E402
from core.workspace import Workspace  # noqa: E402


def epoch_seconds(repeat: int) -> None:
    import torch

    images = load_dataset("builtin:mnist", purpose="evaluation")
    train, heldout = split_holdout(images, 0.1, seed=0)
    classes = class_list_of(images)
    train_xy, heldout_xy = decode(train, classes, MNIST), decode(heldout, classes, MNIST)
    spec = ModelSpec(
        id="bench", title="bench", source="trained", architecture="convnet", preprocess=MNIST, labels="mnist",
        num_classes=10, arch_config={"channels": 1, "widths": list(DEFAULT_WIDTHS), "num_classes": 10},
    )  # fmt: skip
    times, accuracies = [], []
    for _ in range(repeat):
        torch.manual_seed(0)
        module = build_empty(spec)
        start = time.perf_counter()
        state = fit(module, train_xy, heldout_xy, epochs=1, lr=0.01, batch_size=32, seed=0)
        times.append(time.perf_counter() - start)
        accuracies.append(state.history[-1]["heldout_accuracy"])
    cpu = cpu_info()
    print(
        f"CPU: {cpu['brand']}, {training_cores()} cores used, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"one MNIST epoch of the default ConvNet {list(DEFAULT_WIDTHS)}: {len(train)} images, batch 32")
    print(
        f"  seconds per epoch: median {statistics.median(times):.2f}, min {min(times):.2f}, max {max(times):.2f} ({repeat} runs)"
    )
    print(f"  images per second: {len(train) / statistics.median(times):,.0f}")
    print(
        f"  held-out top-1 after the epoch: {', '.join(f'{a * 100:.2f} %' for a in accuracies)} ({len(heldout)} digits)"
    )


def workflows() -> None:
    from core.compress import CompressConfig, compress_model
    from core.convert import ConvertConfig, convert_model
    from core.prune import PruneConfig, prune_model
    from core.qat import QatConfig, run_qat
    from core.quantize import QuantizeConfig, quantize_model

    ws = Workspace(tempfile.mkdtemp(prefix="bench-train-"))
    start = time.perf_counter()
    qat = run_qat(QatConfig("lenet5-mnist", dataset="builtin:mnist", epochs=2, seconds=10), workspace=ws)
    print(f"\nQAT on LeNet5 ({time.perf_counter() - start:.0f} s):")
    for row in qat.rows:
        ci = f"{row.top1_ci95[0] * 100:.1f}-{row.top1_ci95[1] * 100:.1f} %" if row.top1_ci95 else "-"
        print(
            f"  {row.variant:<10} top-1 {row.top1 * 100:.2f} % [{ci}] on {row.count} held-out digits, {row.size_bytes / 2**20:.2f} MiB, "
            f"median {row.latency_ms or float('nan'):.3f} ms"
        )
    for sentence in qat.reading():
        print(f"  {sentence}")
    for epochs in (0, 2):
        start = time.perf_counter()
        name = f"lenet5-pruned50-ft{epochs}"
        pruned = prune_model(
            PruneConfig(
                "lenet5-mnist", ratio=0.5, epochs=epochs, dataset="builtin:mnist", name=name, seconds=10
            ),
            workspace=ws,
        )
        print(f"\nLeNet5 pruned by 50 %, {epochs} fine-tuning epochs ({time.perf_counter() - start:.0f} s):")
        for sentence in pruned.reading():
            print(f"  {sentence}")
    convert_model(ConvertConfig("efficientnet-lite0", variants=("fp32",)), workspace=ws)
    quantize_model(QuantizeConfig("efficientnet-lite0", calibration="builtin:imagenet-samples"), workspace=ws)
    for execution in ("f32", "auto"):
        start = time.perf_counter()
        compressed = compress_model(
            CompressConfig("efficientnet-lite0", seconds=10, execution=execution), workspace=ws
        )
        print(
            f"\nEfficientNet-Lite0 weight compression, execution {execution} ({time.perf_counter() - start:.0f} s):"
        )
        for variant, figures in compressed.latency.items():
            print(
                f"  {variant:<6} {compressed.sizes[variant] / 2**20:6.2f} MiB  median {figures['median_ms']:.2f} ms  {figures['execution']}"
            )
        for sentence in compressed.reading():
            print(f"  {sentence}")
    print(f"\nworkspace: {ws.root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workflows", action="store_true", help="also QAT, pruning and weight compression figures"
    )
    args = parser.parse_args()
    epoch_seconds(args.repeat)
    if args.workflows:
        workflows()


if __name__ == "__main__":
    main()
