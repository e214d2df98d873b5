"""Quantization-aware training: recover the accuracy post-training quantization loses, by fine-tuning
the model with NNCF's trainable fake-quantizers in place, then exporting an OpenVINO INT8 variant.

For any model with PyTorch weights and a labelled training set: a stratified share is held out (a
model trained here keeps its own held-out set), a post-training INT8 variant is made on training
images for the comparison, `nncf.quantize` on the torch module inserts fake-quantizers initialised
from the same images, a few epochs of Adam at a small learning rate adapt the weights to them, and
`ov.convert_model` turns the result into an IR whose FakeQuantize nodes OpenVINO runs in INT8. One
evaluation then scores FP32, PTQ INT8 and QAT INT8 on the same held-out images, with intervals.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from core.catalog import Backend, NumberFormat, RecipeMethod
from core.errors import InputError, ModelFileError, UntrainedModelError
from core.progress import ProgressCallback, report
from core.results import need
from core.variants import Recipe, check_new_variant_id
from core.workspace import JOB_SPACE_MB, Workspace, library_versions

__all__ = ["QatRow", "QatConfig", "QatResult", "load_qat_results", "qat_job", "register_cli", "run_qat"]


@dataclass(frozen=True)
class QatConfig:
    """QAT of one model on a labelled set; `lr` is Adam's constant learning rate while fine-tuning."""

    model_id: str
    dataset: str
    epochs: int = 2
    lr: float = 1e-5
    batch_size: int = 32
    subset_size: int = 300  # calibration images (training split) for both the PTQ and the QAT start
    holdout: float = 0.1
    name: str = "int8-qat"
    seed: int = 0
    limit: int | None = None  # use at most this many images of the data set (stratified)
    seconds: float = 3.0  # latency of FP32, PTQ and QAT in one run afterwards, seconds per variant (0: skip)

    def check(self) -> None:
        check_new_variant_id(self.name)
        if not 1 <= self.epochs <= 100:
            msg = f"epochs must be between 1 and 100, not {self.epochs}; QAT needs only a few"
            raise InputError(msg)
        if not 0 < self.lr <= 0.1:
            msg = f"learning rate must be above 0 and at most 0.1, not {self.lr}; QAT fine-tunes with about 1e-5"
            raise InputError(msg)
        if not 2 <= self.batch_size <= 4096:
            msg = f"batch size must be between 2 and 4096, not {self.batch_size}"
            raise InputError(msg)
        if not 1 <= self.subset_size <= 10_000:
            msg = f"subset size must be 1-10000 calibration images, not {self.subset_size}"
            raise InputError(msg)
        if not 0 < self.holdout <= 0.5:
            msg = f"the held-out share must be above 0 and at most 0.5, not {self.holdout}"
            raise InputError(msg)
        from core.train import check_limit_and_seconds

        check_limit_and_seconds(self.limit, self.seconds)

    @property
    def ptq_name(self) -> str:
        """The post-training variant made for the comparison: int8-qat -> int8-ptq."""
        return self.name.replace("qat", "ptq") if "qat" in self.name else f"{self.name}-ptq"[:48]


@dataclass(frozen=True)
class QatRow:
    """One variant on the held-out set."""

    variant: str
    title: str
    top1: float | None
    top1_ci95: tuple[float, float] | None
    top5: float | None
    agreement: float | None  # same top-1 as FP32
    size_bytes: int
    count: int
    latency_ms: float | None = None  # median at batch 1, the three measured in one interleaved run

    @classmethod
    def from_dict(cls, data: Mapping) -> QatRow:
        ci = data.get("top1_ci95")
        return cls(
            variant=str(need(data, "variant", str)),
            title=str(data.get("title") or data["variant"]),
            top1=data.get("top1"),
            top1_ci95=(float(ci[0]), float(ci[1])) if isinstance(ci, list | tuple) and len(ci) == 2 else None,
            top5=data.get("top5"),
            agreement=data.get("agreement"),
            size_bytes=int(data.get("size_bytes") or 0),
            count=int(data.get("count") or 0),
            latency_ms=data.get("latency_ms"),
        )


@dataclass(frozen=True)
class QatResult:
    model_id: str
    created: str
    ptq_variant: str
    qat_variant: str
    dataset: dict  # ref, name, train, heldout (reference), heldout_size
    rows: tuple[QatRow, ...]  # fp32, PTQ, QAT on the same held-out images
    history: tuple[dict, ...]  # per fine-tuning epoch (epoch 0: fake-quantized before fine-tuning)
    settings: dict
    seconds: float
    evaluation_path: str | None = None
    int8_layers: int = 0
    machine: dict = field(default_factory=dict)
    path: str | None = None

    def row(self, variant: str) -> QatRow | None:
        return next((r for r in self.rows if r.variant == variant), None)

    def reading(self) -> list[str]:
        """What the table says, computed from it."""
        fp32, ptq, qat = self.row("fp32"), self.row(self.ptq_variant), self.row(self.qat_variant)
        if not (fp32 and ptq and qat) or None in (fp32.top1, ptq.top1, qat.top1):
            return ["The comparison is incomplete: evaluate FP32, PTQ and QAT together on the Accuracy page."]
        n = qat.count
        gain = (qat.top1 - ptq.top1) * 100
        text = [
            f"On {n} held-out images: FP32 {fp32.top1 * 100:.2f} %, post-training INT8 {ptq.top1 * 100:.2f} %, "
            f"quantization-aware INT8 {qat.top1 * 100:.2f} % ({gain:+.2f} points against post-training)."
        ]
        step = 100 / n if n else float("inf")
        if abs(gain) <= step + 1e-9:
            text.append(
                f"The difference is at most one image ({step:.2f} points): QAT and PTQ are equally good here."
            )
        elif (
            ptq.top1_ci95
            and qat.top1_ci95
            and ptq.top1_ci95[0] <= qat.top1_ci95[1]
            and qat.top1_ci95[0] <= ptq.top1_ci95[1]
        ):
            text.append(
                "The two 95 % intervals overlap: the difference alone is not evidence; a larger held-out set would tell."
            )
        if fp32.top1 - ptq.top1 < 0.005:
            text.append(
                "Post-training quantization already stays within half a point of FP32: QAT has little to recover here."
            )
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            kind="qat",
            rows=[asdict(r) for r in self.rows],
            history=list(self.history),
            reading=self.reading(),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> QatResult:
        return cls(
            model_id=str(need(data, "model_id", str)),
            created=str(data.get("created") or ""),
            ptq_variant=str(need(data, "ptq_variant", str)),
            qat_variant=str(need(data, "qat_variant", str)),
            dataset=dict(data.get("dataset") or {}),
            rows=tuple(QatRow.from_dict(r) for r in need(data, "rows", list)),
            history=tuple(dict(r) for r in data.get("history") or ()),
            settings=dict(data.get("settings") or {}),
            seconds=float(data.get("seconds") or 0.0),
            evaluation_path=data.get("evaluation_path"),
            int8_layers=int(data.get("int8_layers") or 0),
            machine=dict(data.get("machine") or {}),
            path=data.get("_path") or data.get("path"),
        )


def load_qat_results(workspace: Workspace, model_id: str | None = None):
    from core.results import load_kind

    return load_kind(workspace, "qat", QatResult.from_dict, model_id)


def _check_model(spec) -> None:
    if not spec.has_torch:
        msg = (
            f"{spec.id} was uploaded as {spec.architecture.upper()}: QAT fine-tunes PyTorch weights, and it has none; "
            "use post-training quantization (Quantize page)"
        )
        raise ModelFileError(msg)
    if not spec.trained:
        msg = f"{spec.id} has random weights: there is no accuracy for QAT to recover"
        raise UntrainedModelError(msg)


def run_qat(
    config: QatConfig, *, workspace: Workspace, progress: ProgressCallback | None = None, log=None
) -> QatResult:
    """PTQ INT8 for comparison, NNCF QAT fine-tuning, an OpenVINO INT8 variant, one evaluation of all three."""
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.machine import cpu_info
    from core.quantize import QuantizeConfig, quantize_model
    from core.registry import class_names, get_model
    from core.train import decode, labelled_split, write_images

    config.check()
    started = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    _check_model(spec)
    workspace.check_free_space(JOB_SPACE_MB, f"quantization-aware training of {spec.id}")
    names = class_names(spec)
    train_set, heldout_set, heldout_ref = labelled_split(
        spec, config.dataset, workspace=workspace, holdout=config.holdout, seed=config.seed, limit=config.limit,
        progress=progress,
    )  # fmt: skip
    calibration = train_set.subset(min(config.subset_size, len(train_set)), seed=config.seed)
    staging = workspace.tmp_dir()
    try:
        report(progress, "post-training INT8 for the comparison")
        folder = write_images(calibration, staging / "calibration")
        ptq = quantize_model(
            QuantizeConfig(
                spec.id,
                calibration=str(folder),
                subset_size=len(calibration),
                name=config.ptq_name,
                replace=True,
            ),
            workspace=workspace,
            progress=progress,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if log:
        log(f"post-training INT8 saved as {ptq.variant}")
    calib_x, _ = decode(
        calibration, names, spec.preprocess, progress=progress, phase="reading the calibration images"
    )
    train_xy = decode(
        train_set, names, spec.preprocess, progress=progress, phase="reading the training images"
    )
    heldout_xy = decode(
        heldout_set, names, spec.preprocess, progress=progress, phase="reading the held-out images"
    )
    module, history, qat_seconds = _train(spec, workspace, config, calib_x, train_xy, heldout_xy, progress)
    calibration_info = {
        "ref": str(config.dataset),
        "name": calibration.name,
        "description": f"{len(calibration)} images of the training split (the same for PTQ and the QAT start). "
        f"{calibration.description}",
        "size": len(calibration),
        "fingerprint": ptq.calibration.get("fingerprint"),
    }
    settings = {
        "epochs": config.epochs, "lr": config.lr, "optimizer": "Adam", "batch_size": config.batch_size,
        "subset_size": len(calibration), "holdout": config.holdout, "seed": config.seed, "train_images": len(train_set),
        "heldout": heldout_ref, "preset": "performance", "freeze_batchnorm": True,
    }  # fmt: skip
    variant = _save(spec, workspace, config.name, module, settings, calibration_info, qat_seconds, progress)
    report(progress, "evaluating FP32, PTQ INT8 and QAT INT8 on the held-out images")
    evaluation = evaluate_model(
        EvaluateConfig(spec.id, variants=("fp32", ptq.variant, variant.id), dataset=heldout_ref),
        workspace=workspace,
    )
    latency = {}
    if config.seconds:
        from core.benchmark import BenchmarkConfig, run_benchmark

        bench = run_benchmark(
            BenchmarkConfig(spec.id, variants=("fp32", ptq.variant, variant.id), seconds=config.seconds),
            workspace=workspace,
            progress=progress,
        )
        latency = {run.variant: run.median_ms for run in bench.runs}
    sizes = {v.id: v.size_bytes for v in workspace.variants(spec.id)}
    rows = []
    for score in evaluation.results:
        agree = evaluation.agreement_of("fp32", score.variant) if score.variant != "fp32" else None
        rows.append(
            QatRow(
                variant=score.variant,
                title=score.title,
                top1=score.top1,
                top1_ci95=score.top1_ci95,
                top5=score.top5,
                agreement=agree.rate if agree else (1.0 if score.variant == "fp32" else None),
                size_bytes=sizes.get(score.variant, 0),
                count=score.count,
                latency_ms=latency.get(score.variant),
            )
        )
    result = QatResult(
        model_id=spec.id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        ptq_variant=ptq.variant,
        qat_variant=variant.id,
        dataset={
            "ref": str(config.dataset),
            "name": train_set.name,
            "train": len(train_set),
            "heldout": heldout_ref,
            "heldout_size": len(heldout_set),
        },  # fmt: skip
        rows=tuple(rows),
        history=tuple(history),
        settings=settings,
        seconds=round(time.perf_counter() - started, 2),
        evaluation_path=evaluation.path,
        int8_layers=int(variant.manifest.get("int8_layers") or 0),
        machine=cpu_info(),
    )
    path = workspace.save_result("qat", spec.id, result.to_dict())
    report(progress, "done", 1, 1)
    return QatResult.from_dict({**result.to_dict(), "path": str(path)})


def _train(spec, workspace, config: QatConfig, calib_x, train_xy, heldout_xy, progress):
    """NNCF's fake-quantizers on the torch module, initialised on the calibration images, then fine-tuned."""
    import torch

    from core.registry import build_torch_model
    from core.runtime import disable_telemetry
    from core.train import FitState, fit, score_arrays, training_cores

    disable_telemetry()
    import nncf

    torch.set_num_threads(training_cores())
    began = time.perf_counter()
    module = build_torch_model(spec, workspace)
    total = len(calib_x)
    calls = {"n": 0}

    def transform(index: int):
        calls["n"] += 1
        if calls["n"] <= total:
            report(progress, "QAT: collecting statistics for the fake-quantizers", calls["n"], total)
        return torch.from_numpy(calib_x[index : index + 1])

    with torch.enable_grad():  # NNCF traces the module; build_torch_model switched gradients off
        quantized = nncf.quantize(module, nncf.Dataset(list(range(total)), transform), subset_size=total)
    loss, accuracy = score_arrays(quantized, *heldout_xy)
    state = FitState(history=[{"epoch": 0, "train_loss": None, "train_accuracy": None, "heldout_loss": round(loss, 5),
                               "heldout_accuracy": round(accuracy, 5), "lr": 0.0, "seconds": 0.0}])  # fmt: skip
    fit(
        quantized, train_xy, heldout_xy, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=config.seed,
        schedule="constant", keep_best=False, freeze_bn=True, progress=progress, state=state, phase="QAT epoch",
    )  # fmt: skip
    quantized.eval()
    return quantized, state.history, time.perf_counter() - began


def _save(
    spec, workspace: Workspace, name: str, module, settings: dict, calibration: dict, seconds: float, progress
):
    """The fine-tuned module as an OpenVINO INT8 IR (FakeQuantize nodes), saved as a variant with its recipe."""
    import openvino as ov
    import torch

    report(progress, "exporting the INT8 model to OpenVINO")
    shape = ov.PartialShape([-1, *spec.input_shape[1:]])
    with torch.no_grad():
        model = ov.convert_model(module, example_input=torch.zeros(spec.input_shape), input=[shape])
    layers = sum(1 for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize")
    parent = workspace.require_variant(spec.id, "fp32")
    manifest = {
        "backend": Backend.OPENVINO.value,
        "format": NumberFormat.INT8.value,
        "precision": "int8",
        "source": {"model": spec.id, "from": "torch", "fp32_sha256": parent.fingerprint},
        "preprocess": spec.preprocess.to_dict(),
        "trained": spec.trained,
        "input_shape": list(spec.input_shape),
        "int8_layers": layers,
        "calibration": calibration,
        "recipe": Recipe(
            RecipeMethod.QAT,
            parent="fp32",
            settings=settings,
            calibration=calibration,
            versions=library_versions(),
            seconds=round(seconds, 2),
            notes=(
                f"fine-tuned {settings['epochs']} epoch(s) on {settings['train_images']} images with NNCF's fake-quantizers",
            ),
        ).to_dict(),  # fmt: skip
    }
    saved: list = []
    with workspace.write_variant(spec.id, name, manifest, on_conflict="replace", result=saved) as folder:
        ov.save_model(model, folder / "model.xml", compress_to_fp16=False)
    return saved[0]


def qat_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in, the QAT result out."""
    from core.jobs import config_from_dict

    qat = config_from_dict(QatConfig, config)
    return run_qat(qat, workspace=workspace, progress=ctx.progress, log=ctx.log).to_dict()


def _cmd_qat(args, ws: Workspace):
    import sys

    from core.cli import _stderr_progress

    config = QatConfig(
        model_id=args.model, dataset=args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        subset_size=args.subset_size, holdout=args.holdout, name=args.name, limit=args.limit, seconds=args.seconds,
    )  # fmt: skip
    result = run_qat(
        config,
        workspace=ws,
        progress=_stderr_progress(args.json),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.json:
        return result.to_dict()
    print(f"{'variant':<16}{'top-1':>9}{'95 % interval':>20}{'same as FP32':>14}{'MiB':>8}")
    for row in result.rows:
        ci = f"{row.top1_ci95[0] * 100:.1f}-{row.top1_ci95[1] * 100:.1f} %" if row.top1_ci95 else "-"
        agree = f"{row.agreement * 100:.1f} %" if row.agreement is not None else "-"
        print(
            f"{row.variant:<16}{(row.top1 or 0) * 100:>8.2f}%{ci:>20}{agree:>14}{row.size_bytes / 2**20:>8.2f}"
        )
    for sentence in result.reading():
        print(sentence)
    return None


def register_cli(add, variant_options) -> None:
    p = add(
        "qat",
        _cmd_qat,
        "quantization-aware training: fine-tune with NNCF's fake-quantizers, export an OpenVINO INT8 variant",
        "For a model with PyTorch weights and a labelled training set: hold a stratified share out (a model trained "
        "here keeps its own held-out set), make a post-training INT8 variant on training images for comparison, "
        "insert NNCF's trainable fake-quantizers, fine-tune a few epochs at a small learning rate, and save the "
        "result as an OpenVINO INT8 variant (int8-qat). FP32, PTQ INT8 and QAT INT8 are evaluated together on the "
        "held-out images.",
    )
    p.add_argument("--model", required=True)
    p.add_argument(
        "--dataset",
        required=True,
        metavar="REF",
        help="labelled set: builtin:mnist | FILE.zip | DIR | FILE.csv",
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument(
        "--lr", type=float, default=1e-5, help="Adam learning rate while fine-tuning (default 1e-5)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--subset-size",
        type=int,
        default=300,
        help="calibration images from the training split (default 300)",
    )
    p.add_argument(
        "--holdout", type=float, default=0.1, help="share held out for the comparison (default 0.1)"
    )
    p.add_argument(
        "--name",
        default="int8-qat",
        help="name of the QAT variant (default int8-qat; the PTQ one is int8-ptq)",
    )
    p.add_argument("--limit", type=int, help="use at most this many images of the data set (stratified)")
    p.add_argument(
        "--seconds", type=float, default=3.0, help="latency measuring time per variant afterwards (0: skip)"
    )
