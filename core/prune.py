"""Channel pruning that really removes channels, so the dense CPU model gets smaller and faster.

NNCF 3.4's `nncf.prune` is unstructured magnitude pruning: it writes zeros inside dense tensors, so
the model is no smaller and dense CPU kernels are no faster. This module uses torch-pruning's
dependency-graph pruning instead: whole output channels of each convolution and linear layer go
(with the matching inputs of the layers that consume them), and the network is rebuilt smaller.

A pruned network is a new model (`<base>-pruned50`, architecture "pruned"). Its builder rebuilds the
base network and runs the same torch-pruning step (same ratio, same layers kept whole): the channel
counts depend on the ratio only, so the pruned (and fine-tuned) state dict always fits; no module is
ever pickled. Before and after are reported side by side: parameters (torch), MACs (the OpenVINO
model at batch 1), FP32 size, latency of both FP32 models in one interleaved run, and top-1 of both
on the same images.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from core.errors import InputError, ModelFileError
from core.progress import ProgressCallback, report
from core.registry import ModelSpec, register_architecture
from core.results import need
from core.workspace import JOB_SPACE_MB, Workspace, check_model_id

__all__ = [
    "WHY_NOT_NNCF",
    "IMPORTANCE",
    "PruneConfig",
    "PruneFigures",
    "PruneResult",
    "count_macs",
    "known_layers",
    "load_prune_results",
    "prunable_layers",
    "prune_job",
    "prune_model",
    "prune_network",
    "register_cli",
]

IMPORTANCE = "magnitude-l2"  # torch-pruning's MagnitudeImportance(p=2), per layer (not global)
WHY_NOT_NNCF = (
    "NNCF 3.4's nncf.prune is unstructured magnitude pruning: it writes zeros inside dense tensors, so the model "
    "keeps its size and dense CPU kernels run no faster. Channel pruning (torch-pruning) removes whole channels: "
    "the network itself gets smaller."
)
_LENET5_LAYERS = ("conv1", "conv2", "linear1", "linear2")


@dataclass(frozen=True)
class PruneConfig:
    """Prune `ratio` of the output channels of every convolution and linear layer except those in `keep`
    (and the classifier, always kept whole); optionally fine-tune `epochs` on the labelled `dataset`."""

    model_id: str
    ratio: float = 0.5
    keep: tuple[str, ...] = ()
    epochs: int = 0
    dataset: str | None = (
        None  # labelled: fine-tuning and the comparison (without epochs: the comparison only)
    )
    lr: float = 1e-3
    batch_size: int = 32
    holdout: float = 0.1
    name: str | None = None  # the new model's id; default <base>-pruned<percent>
    seconds: float = 5.0  # latency measuring time per model, interleaved
    seed: int = 0
    limit: int | None = None

    def check(self) -> None:
        if not 0.05 <= self.ratio <= 0.95:
            msg = f"the pruning ratio must be between 0.05 and 0.95, not {self.ratio}; 0.5 removes half the channels"
            raise InputError(msg)
        if not 0 <= self.epochs <= 100:
            msg = f"fine-tuning epochs must be between 0 and 100, not {self.epochs}"
            raise InputError(msg)
        if self.epochs and not self.dataset:
            msg = "fine-tuning needs a labelled data set: give --dataset (e.g. builtin:mnist or a .zip with one folder per class)"
            raise InputError(msg)
        if not 0 < self.lr <= 1:
            msg = f"learning rate must be above 0 and at most 1, not {self.lr}"
            raise InputError(msg)
        if not 2 <= self.batch_size <= 4096:
            msg = f"batch size must be between 2 and 4096, not {self.batch_size}"
            raise InputError(msg)
        if not 0 < self.holdout <= 0.5:
            msg = f"the held-out share must be above 0 and at most 0.5, not {self.holdout}"
            raise InputError(msg)
        if not self.seconds > 0:
            msg = f"seconds must be positive, not {self.seconds}"
            raise InputError(msg)
        if self.name is not None:
            check_model_id(self.name)

    def target(self) -> str:
        return self.name or f"{self.model_id}-pruned{round(self.ratio * 100)}"[:64]


# the pruning step ---------------------------------------------------------------------------------


def _layer_names(module) -> list[str]:
    from torch import nn

    return [name for name, layer in module.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)]


def _classifier(module, num_classes: int) -> str:
    """The output layer (kept whole: its channels are the classes)."""
    from torch import nn

    linear = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    for name, layer in reversed(linear):
        if getattr(layer, "out_features", getattr(layer, "out_channels", None)) == num_classes:
            return name
    if not linear:
        msg = "this network has no convolution or linear layer to prune"
        raise ModelFileError(msg)
    return linear[-1][0]


def prune_network(module, input_shape: Sequence[int], *, ratio: float, keep: Sequence[str]) -> None:
    """torch-pruning's magnitude pruning (L2, per layer) in place; the layers named in `keep` keep their outputs."""
    import torch
    import torch_pruning as tp

    named = dict(module.named_modules())
    with torch.enable_grad():  # the dependency graph is traced through autograd
        pruner = tp.pruner.MagnitudePruner(
            module,
            torch.zeros(tuple(input_shape)),
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=ratio,
            ignored_layers=[named[name] for name in keep],
        )
        pruner.step()


def _pruned(spec: ModelSpec):
    """The builder of architecture "pruned": the base network, pruned the same way (weights come later)."""
    import torch

    from core.registry import build_empty

    config = spec.arch_config
    try:
        base = ModelSpec.from_dict(config["base_spec"])
        ratio, keep = float(config["ratio"]), [str(k) for k in config["keep"]]
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{spec.id} has no usable pruning description in its model.json ({exc}); prune its base again"
        raise ModelFileError(msg) from exc
    torch.manual_seed(0)
    module = build_empty(base)
    prune_network(module, base.input_shape, ratio=ratio, keep=keep)
    return module


register_architecture("pruned", _pruned)


def prunable_layers(spec: ModelSpec) -> list[str] | None:
    """Convolution and linear layers of a model, known without torch (a ConvNet, LeNet5, a pruned one); else None."""
    if spec.architecture == "convnet":
        from core.train import convnet_layers

        c = spec.arch_config
        rows = convnet_layers(
            int(c.get("channels", 1)), c.get("widths", ()), spec.num_classes, int(c.get("input_size", 28))
        )
        return [r["name"] for r in rows if r["kind"].startswith(("Conv2d", "Linear"))]
    if spec.architecture == "lenet5":
        return list(_LENET5_LAYERS)
    if spec.architecture == "pruned" and spec.arch_config.get("base_spec"):
        return prunable_layers(ModelSpec.from_dict(spec.arch_config["base_spec"]))
    return None


def known_layers(spec: ModelSpec, workspace: Workspace) -> list[str] | None:
    """`prunable_layers`, or the list an earlier pruning of this model recorded (EfficientNet and the like)."""
    found = prunable_layers(spec)
    if found is not None:
        return found
    for result in reversed(load_prune_results(workspace).items):
        if result.base_id == spec.id and result.layers:
            return list(result.layers)
    return None


def count_macs(xml: Path, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one image: Convolution, GroupConvolution and MatMul of the IR at batch 1.

    Counted on the OpenVINO model (torch-pruning's counter misses EfficientNet-Lite's same-padding convs).
    """
    import openvino as ov

    from core.runtime import get_core

    model = get_core().read_model(xml)
    model.reshape(ov.PartialShape([1, *list(input_shape)[1:]]))

    def product(values) -> int:
        total = 1
        for v in values:
            total *= int(v)
        return total

    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Convolution":
            macs += product(op.get_output_shape(0)) * product(list(op.get_input_shape(1))[1:])
        elif kind == "GroupConvolution":
            macs += product(op.get_output_shape(0)) * product(list(op.get_input_shape(1))[2:])
        elif kind == "MatMul":
            first = list(op.get_input_shape(0))
            transposed = bool(op.get_attributes().get("transpose_a"))
            inner = first[-2] if transposed and len(first) > 1 else first[-1]
            macs += product(op.get_output_shape(0)) * int(inner)
    return macs


# results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneFigures:
    """One side of the comparison (the base network or the pruned one)."""

    model_id: str
    parameters: int
    macs: int | None = None
    size_bytes: int = 0
    latency_ms: float | None = None
    latency_stable: bool | None = None
    top1: float | None = None
    top1_ci95: tuple[float, float] | None = None

    @classmethod
    def from_dict(cls, data: Mapping) -> PruneFigures:
        ci = data.get("top1_ci95")
        return cls(
            model_id=str(need(data, "model_id", str)),
            parameters=int(need(data, "parameters")),
            macs=data.get("macs"),
            size_bytes=int(data.get("size_bytes") or 0),
            latency_ms=data.get("latency_ms"),
            latency_stable=data.get("latency_stable"),
            top1=data.get("top1"),
            top1_ci95=(float(ci[0]), float(ci[1])) if isinstance(ci, list | tuple) and len(ci) == 2 else None,
        )


@dataclass(frozen=True)
class PruneResult:
    model_id: str  # the pruned model
    base_id: str
    created: str
    ratio: float
    keep: tuple[str, ...]  # layers kept whole, the classifier included
    layers: tuple[str, ...]  # every convolution and linear layer of the base network
    before: PruneFigures
    after: PruneFigures
    fine_tuning: dict  # epochs, dataset, history
    evaluation: dict | None  # ref, name, size: the images both were scored on
    benchmark: dict | None  # created, rounds, seconds, device
    seconds: float
    notes: tuple[str, ...] = ()
    machine: dict = field(default_factory=dict)
    path: str | None = None

    def change(self, key: str) -> float | None:
        """after / before of one figure (parameters, macs, size_bytes, latency_ms)."""
        a, b = getattr(self.before, key), getattr(self.after, key)
        return b / a if a and b is not None else None

    def reading(self) -> list[str]:
        """What the figures say, computed from them."""
        b, a = self.before, self.after
        text = [
            f"Parameters {b.parameters:,} → {a.parameters:,} ({(1 - a.parameters / b.parameters) * 100:.1f} % fewer)."
        ]
        if b.macs and a.macs:
            text.append(
                f"Multiply-accumulates per image {b.macs / 1e6:,.2f} M → {a.macs / 1e6:,.2f} M ({(1 - a.macs / b.macs) * 100:.1f} % fewer)."
            )
        if b.size_bytes and a.size_bytes:
            text.append(f"FP32 model {b.size_bytes / 2**20:.2f} MiB → {a.size_bytes / 2**20:.2f} MiB.")
        if b.latency_ms and a.latency_ms:
            ratio = b.latency_ms / a.latency_ms
            how = f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"
            stable = (
                ""
                if b.latency_stable and a.latency_stable
                else " (the run was unstable: the machine was busy; measure again)"
            )
            text.append(
                f"FP32 latency at batch 1 {b.latency_ms:.2f} ms → {a.latency_ms:.2f} ms, {how}, measured in one interleaved run{stable}."
            )
        if b.top1 is not None and a.top1 is not None and self.evaluation:
            drop = (b.top1 - a.top1) * 100
            text.append(
                f"Top-1 on {self.evaluation.get('size')} images of {self.evaluation.get('name')}: {b.top1 * 100:.2f} % → "
                f"{a.top1 * 100:.2f} % ({-drop:+.2f} points)."
            )
            if drop > 5 and not self.fine_tuning.get("epochs"):
                text.append(
                    "Pruning without fine-tuning cost a lot of accuracy: fine-tune a few epochs on labelled images, or prune less."
                )
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            kind="pruning",
            keep=list(self.keep),
            layers=list(self.layers),
            notes=list(self.notes),
            reading=self.reading(),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> PruneResult:
        return cls(
            model_id=str(need(data, "model_id", str)),
            base_id=str(need(data, "base_id", str)),
            created=str(data.get("created") or ""),
            ratio=float(need(data, "ratio")),
            keep=tuple(data.get("keep") or ()),
            layers=tuple(data.get("layers") or ()),
            before=PruneFigures.from_dict(need(data, "before", Mapping)),
            after=PruneFigures.from_dict(need(data, "after", Mapping)),
            fine_tuning=dict(data.get("fine_tuning") or {}),
            evaluation=dict(data["evaluation"]) if data.get("evaluation") else None,
            benchmark=dict(data["benchmark"]) if data.get("benchmark") else None,
            seconds=float(data.get("seconds") or 0.0),
            notes=tuple(data.get("notes") or ()),
            machine=dict(data.get("machine") or {}),
            path=data.get("_path") or data.get("path"),
        )


def load_prune_results(workspace: Workspace, model_id: str | None = None):
    """Saved pruning results (filed under the pruned model's id), oldest first."""
    from core.results import load_kind

    return load_kind(workspace, "pruning", PruneResult.from_dict, model_id)


# the job ------------------------------------------------------------------------------------------


def _parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def prune_model(
    config: PruneConfig, *, workspace: Workspace, progress: ProgressCallback | None = None, log=None
) -> PruneResult:
    """Prune a model's channels into a new model, fine-tune it if asked, convert it, and compare it with its base."""
    import torch

    from core.imports import check_new_model_name
    from core.registry import build_torch_model, class_names, get_model, register_user_model
    from core.train import HELDOUT_CSV, FitState, decode, fit, labelled_split, score_arrays, training_cores

    config.check()
    started = time.perf_counter()
    base = get_model(config.model_id, workspace)
    if not base.has_torch:
        msg = (
            f"{base.id} was uploaded as {base.architecture.upper()}: channel pruning rebuilds the PyTorch network, "
            "and it has none"
        )
        raise ModelFileError(msg)
    if config.epochs and not base.trained:
        msg = f"{base.id} has random weights: there is nothing to fine-tune; prune it without epochs"
        raise InputError(msg)
    name = check_new_model_name(workspace, config.target())
    workspace.check_free_space(JOB_SPACE_MB, f"pruning {base.id}")
    torch.set_num_threads(training_cores())
    report(progress, f"building {base.short_title}")
    module = build_torch_model(base, workspace)
    layers = _layer_names(module)
    unknown = [k for k in config.keep if k not in layers]
    if unknown:
        msg = (
            f"{base.short_title} has no convolution or linear layer named {', '.join(map(repr, unknown))}; "
            f"its layers are {', '.join(layers[:12])}{' …' if len(layers) > 12 else ''}"
        )
        raise InputError(msg)
    keep = list(dict.fromkeys([*config.keep, _classifier(module, base.num_classes)]))
    before_params = _parameters(module)
    names = class_names(base)
    train_xy = heldout_xy = heldout_ref = None
    notes: list[str] = []
    if config.epochs:
        train_set, heldout_set, heldout_ref = labelled_split(
            base, str(config.dataset), workspace=workspace, holdout=config.holdout, seed=config.seed, limit=config.limit,
            progress=progress,
        )  # fmt: skip
        train_xy = decode(
            train_set, names, base.preprocess, progress=progress, phase="reading the training images"
        )
        heldout_xy = decode(
            heldout_set, names, base.preprocess, progress=progress, phase="reading the held-out images"
        )
    elif base.heldout_ref(workspace) and Path(base.heldout_ref(workspace) or "").is_file():
        heldout_ref = base.heldout_ref(workspace)
    report(progress, f"pruning {config.ratio:.0%} of the channels")
    prune_network(module, base.input_shape, ratio=config.ratio, keep=keep)
    after_params = _parameters(module)
    history: list[dict] = []
    if config.epochs:
        loss, accuracy = score_arrays(module, *heldout_xy)
        state = FitState(history=[{"epoch": 0, "train_loss": None, "train_accuracy": None, "heldout_loss": round(loss, 5),
                                   "heldout_accuracy": round(accuracy, 5), "lr": 0.0, "seconds": 0.0}])  # fmt: skip
        fit(
            module, train_xy, heldout_xy, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
            seed=config.seed, progress=progress, state=state, phase="fine-tuning epoch",
        )  # fmt: skip
        best = state.best_state
        if best is not None:
            module.load_state_dict(best)
        history = state.history
        notes.append(
            f"fine-tuned {config.epochs} epoch(s); kept epoch {state.best_epoch} (best held-out top-1)"
        )
    pct = round(config.ratio * 100)
    paren = base.title.split(" (", 1)[1].rstrip(")") if " (" in base.title else ""
    spec = ModelSpec(
        id=name,
        title=f"{base.short_title} pruned {pct}%" + (f" ({paren})" if paren else ""),
        source="pruned",
        architecture="pruned",
        preprocess=base.preprocess,
        labels=base.labels,
        num_classes=base.num_classes,
        trained=base.trained,
        weights="state-dict",
        description=f"{base.short_title} with {pct} % of the output channels of each convolution and linear layer removed "
        f"by torch-pruning (L2 magnitude; kept whole: {', '.join(keep)})"
        + (
            f", fine-tuned {config.epochs} epoch(s) on {config.dataset}"
            if config.epochs
            else ", not fine-tuned"
        )
        + ".",
        license=base.license,
        source_file="source/weights.pt",
        batchnorm=base.batchnorm,
        arch_config={
            "base": base.id,
            "base_spec": base.to_dict(),
            "ratio": config.ratio,
            "keep": keep,
            "importance": IMPORTANCE,
            "global": False,
            "torch_pruning": _version("torch-pruning"),
        },  # fmt: skip
        class_list=base.class_list,
        heldout=f"source/heldout/{HELDOUT_CSV}" if heldout_ref else "",
    )
    staging = workspace.tmp_dir()
    try:
        source = staging / "source"
        source.mkdir()
        torch.save({k: v.detach().clone() for k, v in module.state_dict().items()}, source / "weights.pt")
        if heldout_ref:
            shutil.copytree(Path(heldout_ref).parent, source / "heldout")
        register_user_model(workspace, spec, source=source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if log:
        log(f"registered {spec.id}: {before_params:,} → {after_params:,} parameters")
    result = _compare(
        config, base, spec, workspace, before_params, after_params, heldout_ref, progress, notes
    )
    result = replace(
        result,
        layers=tuple(layers),
        keep=tuple(keep),
        fine_tuning={"epochs": config.epochs, "dataset": config.dataset, "lr": config.lr, "history": history},
        seconds=round(time.perf_counter() - started, 2),
    )
    path = workspace.save_result("pruning", spec.id, result.to_dict())
    report(progress, "done", 1, 1)
    return replace(result, path=str(path))


def _compare(
    config, base, spec, workspace, before_params, after_params, heldout_ref, progress, notes
) -> PruneResult:
    """Convert both, count MACs, measure latency in one interleaved run, score both on the same images."""
    from core.benchmark import BenchmarkConfig, measure
    from core.convert import ConvertConfig, convert_model
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.machine import cpu_info
    from core.results import BenchmarkResult
    from core.runtime import device_name
    from core.train import default_evaluation_set

    if workspace.variant(base.id, "fp32") is None:
        report(progress, f"converting {base.short_title} to FP32")
        convert_model(ConvertConfig(base.id, variants=("fp32",)), workspace=workspace)
    report(progress, "converting the pruned network to FP32 and FP16")
    convert_model(ConvertConfig(spec.id), workspace=workspace)
    base_fp32, pruned_fp32 = (
        workspace.require_variant(base.id, "fp32"),
        workspace.require_variant(spec.id, "fp32"),
    )
    report(progress, "counting multiply-accumulates")
    before = PruneFigures(
        base.id, before_params, count_macs(base_fp32.xml, base.input_shape), base_fp32.size_bytes
    )
    after = PruneFigures(
        spec.id, after_params, count_macs(pruned_fp32.xml, spec.input_shape), pruned_fp32.size_bytes
    )
    bench = BenchmarkConfig(spec.id, variants=("fp32",), seconds=config.seconds)
    runs = measure([(base, base_fp32), (spec, pruned_fp32)], bench, workspace=workspace, progress=progress)
    created = runs[-1].created
    saved = BenchmarkResult(
        model_id=spec.id, created=created, config=bench.to_dict(), device_name=device_name(bench.device), runs=(runs[-1],),
        skipped=(), machine=cpu_info(), rounds=bench.rounds,
    )  # fmt: skip
    workspace.save_result("benchmark", spec.id, saved.to_dict())
    before = replace(before, latency_ms=runs[0].median_ms, latency_stable=runs[0].stable)
    after = replace(after, latency_ms=runs[-1].median_ms, latency_stable=runs[-1].stable)
    evaluation = None
    dataset = heldout_ref or config.dataset or default_evaluation_set(base, workspace)
    if not base.trained:
        notes.append(f"{base.id} has random weights: no accuracy is measured")
    elif dataset:
        report(progress, "scoring both networks on the same images")
        scores = []
        for model_id in (base.id, spec.id):
            scored = evaluate_model(
                EvaluateConfig(model_id, variants=("fp32",), dataset=dataset), workspace=workspace
            )
            scores.append(scored.score("fp32"))
        before = replace(before, top1=scores[0].top1, top1_ci95=scores[0].top1_ci95)
        after = replace(after, top1=scores[1].top1, top1_ci95=scores[1].top1_ci95)
        label = "the held-out split" if heldout_ref else scored.dataset_name
        evaluation = {"ref": dataset, "name": label, "size": scored.dataset_size}
    else:
        notes.append("no labelled evaluation set was given: accuracy is not compared; give --dataset")
    return PruneResult(
        model_id=spec.id,
        base_id=base.id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        ratio=config.ratio,
        keep=(),
        layers=(),
        before=before,
        after=after,
        fine_tuning={},
        evaluation=evaluation,
        benchmark={
            "created": created,
            "rounds": bench.rounds,
            "seconds_per_model": config.seconds,
            "device": bench.device,
        },
        seconds=0.0,
        notes=tuple(notes),
        machine=cpu_info(),
    )


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def prune_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in, the before/after comparison out."""
    from core.jobs import config_from_dict

    prune = config_from_dict(PruneConfig, config)
    return prune_model(prune, workspace=workspace, progress=ctx.progress, log=ctx.log).to_dict()


def _cmd_prune(args, ws: Workspace):
    import sys

    from core.cli import _stderr_progress

    config = PruneConfig(
        model_id=args.model, ratio=args.ratio, keep=tuple(args.keep or ()), epochs=args.epochs, dataset=args.dataset,
        lr=args.lr, batch_size=args.batch_size, name=args.name, seconds=args.seconds, limit=args.limit,
    )  # fmt: skip
    result = prune_model(
        config,
        workspace=ws,
        progress=_stderr_progress(args.json),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.json:
        return result.to_dict()
    print(
        f"{result.base_id} → {result.model_id} ({result.ratio:.0%} of the channels; kept whole: {', '.join(result.keep)})"
    )
    for sentence in result.reading():
        print(sentence)
    for note in result.notes:
        print(f"note: {note}")
    return None


def register_cli(add, variant_options) -> None:
    p = add(
        "prune",
        _cmd_prune,
        "channel pruning (torch-pruning): a smaller, faster network as a new model, compared with its base",
        "Remove a share of the output channels of every convolution and linear layer (L2 magnitude, per layer; the "
        "classifier and the layers named by --keep keep theirs), optionally fine-tune, register the result as a new "
        "model (<model>-pruned<percent>) and convert it. Reports parameters, MACs, FP32 size, latency (one "
        f"interleaved run) and top-1 before and after. {WHY_NOT_NNCF}",
    )
    p.add_argument("--model", required=True)
    p.add_argument(
        "--ratio",
        type=float,
        default=0.5,
        help="share of each layer's output channels to remove (default 0.5)",
    )
    p.add_argument(
        "--keep", nargs="+", metavar="LAYER", help="layers whose output channels stay whole (module names)"
    )
    p.add_argument("--epochs", type=int, default=0, help="fine-tuning epochs on --dataset (default 0)")
    p.add_argument(
        "--dataset",
        metavar="REF",
        help="labelled set for fine-tuning and the comparison (builtin:mnist, a .zip, ...)",
    )
    p.add_argument(
        "--lr", type=float, default=1e-3, help="peak learning rate of the fine-tuning (default 1e-3)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--name", help="id of the pruned model (default <model>-pruned<percent>)")
    p.add_argument("--seconds", type=float, default=5.0, help="latency measuring time per model (default 5)")
    p.add_argument("--limit", type=int, help="fine-tune on at most this many images (stratified)")
