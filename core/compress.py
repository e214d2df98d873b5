"""Weight compression: INT8 weights with floating-point activations (`nncf.compress_weights`), one
more number format (`int8-weights`, variant `int8w`) beside FP32, FP16 and full INT8.

Weight-only INT8 stores each convolution and matmul weight as 8-bit integers with a per-channel
scale and zero point; OpenVINO turns them back into floating point when it runs them, so the model
is about four times smaller on disk and in memory, while the computation stays floating point.
On a CPU that often brings no speed (it helps where memory bandwidth limits, as in large language
models). The result says which layers were compressed, and measures the size and the latency
against FP32 and full INT8 in one interleaved run, saying plainly whether it was faster.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from core.catalog import Backend, NumberFormat, RecipeMethod
from core.errors import InputError
from core.progress import ProgressCallback, report
from core.results import need
from core.variants import Recipe, check_new_variant_id
from core.workspace import JOB_SPACE_MB, Workspace, library_versions

__all__ = [
    "MODES",
    "CompressConfig",
    "CompressResult",
    "compress_job",
    "compress_model",
    "compressed_layers",
    "load_compress_results",
    "register_cli",
]

MODES = ("int8_asym", "int8_sym")
WEIGHT_LAYERS = ("Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData")
CLEAR_MARGIN = 0.05  # a speed ratio counts as faster or slower only if every round's ratio is 5 % beyond 1


@dataclass(frozen=True)
class CompressConfig:
    model_id: str
    mode: str = "int8_asym"  # NNCF's CompressWeightsMode: INT8_ASYM (default, per channel) or INT8_SYM
    name: str = "int8w"
    benchmark: bool = True  # measure fp32, int8 (when it exists) and this variant in one run
    dataset: str | None = (
        None  # labelled set to score FP32 and this variant on (default: the model's usual one)
    )
    seconds: float = 5.0  # per variant
    execution: str = "f32"  # INFERENCE_PRECISION_HINT of all compared variants ("f32": like for like)

    def check(self) -> None:
        check_new_variant_id(self.name)
        if self.execution not in ("f32", "auto"):
            msg = f"execution must be 'f32' (like for like) or 'auto' (the CPU plugin's choice), not {self.execution!r}"
            raise InputError(msg)
        if self.mode not in MODES:
            msg = f"unknown weight compression mode {self.mode!r}; choose {' or '.join(MODES)}"
            raise InputError(msg)
        if not self.seconds > 0:
            msg = f"seconds must be positive, not {self.seconds}"
            raise InputError(msg)


def compressed_layers(model) -> list[str]:
    """Convolution / MatMul nodes whose weights come from an 8-bit constant (through Convert, Subtract, Multiply)."""
    found = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in WEIGHT_LAYERS:
            continue
        for value in list(op.inputs())[1:]:
            node = value.get_source_output().get_node()
            for _ in range(8):
                if node.get_type_name() == "Constant" or not node.inputs():
                    break
                node = node.input(0).get_source_output().get_node()
            if node.get_type_name() == "Constant" and str(node.get_output_element_type(0)) in (
                "<Type: 'uint8_t'>",
                "<Type: 'int8_t'>",
            ):
                found.append(op.get_friendly_name())
                break
    return found


def _weight_layers(model) -> int:
    return sum(1 for op in model.get_ordered_ops() if op.get_type_name() in WEIGHT_LAYERS)


@dataclass(frozen=True)
class CompressResult:
    model_id: str
    variant: str
    created: str
    mode: str
    layers: tuple[str, ...]  # the compressed layers
    layers_total: int  # convolution / matmul layers in the model
    sizes: dict  # variant -> bytes (fp32, int8 if any, this one)
    latency: dict  # variant -> {"median_ms", "stable"}
    speed: dict  # "fp32" / "int8" -> {"ratio", "low", "high", "verdict"}: how this variant compares
    seconds: float
    benchmark_path: str | None = None
    execution: str | None = None  # the precision OpenVINO executed this variant in
    accuracy: dict | None = None  # {"dataset": {ref, name, size}, "top1": {variant: ...}, "agreement": rate}
    machine: dict = field(default_factory=dict)
    path: str | None = None

    def reading(self) -> list[str]:
        """Size and speed in words, from the figures; honest when weight-only INT8 brings no speed."""
        text = [
            f"{len(self.layers)} of {self.layers_total} convolution and matmul layers have INT8 weights ({self.mode})."
        ]
        own, fp32 = self.sizes.get(self.variant), self.sizes.get("fp32")
        if own and fp32:
            text.append(
                f"Size {fp32 / 2**20:.2f} MiB (FP32) → {own / 2**20:.2f} MiB: {own / fp32:.0%} of FP32."
            )
        if self.sizes.get("int8") and own:
            text.append(f"Full INT8 (weights and activations) is {self.sizes['int8'] / 2**20:.2f} MiB.")
        for parent, words in (("fp32", "FP32"), ("int8", "full INT8")):
            comparison = self.speed.get(parent)
            if comparison:
                text.append(f"Against {words}: {comparison['verdict']}.")
        if self.speed.get("fp32") and self.speed["fp32"]["verdict"].startswith("no clear"):
            text.append(
                "Weight-only INT8 saves disk and memory, but the computation stays floating point: no clear "
                "speed-up on this CPU in this run. Full INT8 quantization is the way to a faster model."
            )
        if self.accuracy and self.accuracy.get("top1"):
            top1, data = self.accuracy["top1"], self.accuracy.get("dataset") or {}
            scores = ", ".join(f"{v} {t * 100:.2f} %" for v, t in top1.items() if t is not None)
            agree = self.accuracy.get("agreement")
            text.append(
                f"Top-1 on {data.get('size')} images of {data.get('name')}: {scores}"
                + (f"; the same top-1 as FP32 on {agree * 100:.1f} % of them." if agree is not None else ".")
            )
        if self.execution and not self.execution.startswith("f32"):
            text.append(
                f"OpenVINO executed it in {self.execution} and FP32 in f32: a speed-up then comes mostly from the "
                "lower-precision arithmetic, not from the INT8 weights; measure with f32 execution to see their effect."
            )
        elif self.execution:
            text.append(
                "Every variant ran with INFERENCE_PRECISION_HINT=f32, so only the weight format differs."
            )
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(kind="compress", layers=list(self.layers), reading=self.reading())
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> CompressResult:
        return cls(
            model_id=str(need(data, "model_id", str)),
            variant=str(need(data, "variant", str)),
            created=str(data.get("created") or ""),
            mode=str(data.get("mode") or "int8_asym"),
            layers=tuple(need(data, "layers", list)),
            layers_total=int(data.get("layers_total") or 0),
            sizes=dict(data.get("sizes") or {}),
            latency=dict(data.get("latency") or {}),
            speed=dict(data.get("speed") or {}),
            seconds=float(data.get("seconds") or 0.0),
            benchmark_path=data.get("benchmark_path"),
            execution=data.get("execution"),
            accuracy=dict(data["accuracy"]) if data.get("accuracy") else None,
            machine=dict(data.get("machine") or {}),
            path=data.get("_path") or data.get("path"),
        )


def load_compress_results(workspace: Workspace, model_id: str | None = None):
    from core.results import load_kind

    return load_kind(workspace, "compress", CompressResult.from_dict, model_id)


def _verdict(comparison) -> dict:
    """'1.3× faster', '1.2× slower' or 'no clear difference', from the ratio and its range over the rounds."""
    ratio, low, high = comparison.ratio, comparison.low, comparison.high
    spread = f" (rounds {low:.2f}–{high:.2f}×)" if low != high else ""
    if low >= 1 + CLEAR_MARGIN:
        verdict = f"{ratio:.2f}× faster{spread}"
    elif high <= 1 - CLEAR_MARGIN:
        verdict = f"{1 / ratio:.2f}× slower{spread}"
    else:
        verdict = f"no clear difference in speed: {ratio:.2f}× the speed{spread}"
    if not comparison.stable:
        verdict += "; the run was unstable (the machine was busy): measure again"
    return {"ratio": round(ratio, 4), "low": round(low, 4), "high": round(high, 4), "verdict": verdict}


def compress_model(
    config: CompressConfig, *, workspace: Workspace, progress: ProgressCallback | None = None
) -> CompressResult:
    """Compress the FP32 IR's weights to INT8 into a variant, then compare size and latency with FP32 and INT8."""
    from core.registry import get_model

    config.check()
    started = time.perf_counter()
    spec = get_model(config.model_id, workspace)
    workspace.check_free_space(JOB_SPACE_MB, f"compressing the weights of {spec.id}")
    parent = workspace.variant(spec.id, "fp32")
    if parent is None:
        from core.convert import ConvertConfig, convert_model

        report(progress, "converting to FP32 first")
        convert_model(ConvertConfig(spec.id, variants=("fp32",)), workspace=workspace)
        parent = workspace.require_variant(spec.id, "fp32")
    variant = _compress_and_save(config, spec, parent, workspace, progress)
    gc.collect()
    stored = {v.id: v for v in workspace.variants(spec.id)}
    compared = [v for v in ("fp32", "int8") if v in stored]
    sizes = {v: stored[v].size_bytes for v in (*compared, variant.id)}
    latency, speed, bench_path, execution = {}, {}, None, None
    if config.benchmark:
        from core.benchmark import BenchmarkConfig, run_benchmark

        bench = run_benchmark(
            BenchmarkConfig(
                spec.id, variants=(*compared, variant.id), seconds=config.seconds, execution=config.execution
            ),
            workspace=workspace,
            progress=progress,
        )
        bench_path = bench.path
        for run in bench.runs:
            latency[run.variant] = {
                "median_ms": run.median_ms,
                "stable": run.stable,
                "execution": run.execution,
            }
        own = bench.run(variant.id)
        execution = own.execution if own else None
        for comparison in bench.comparisons("fp32"):
            if comparison.variant == variant.id:
                speed["fp32"] = _verdict(comparison)
        if "int8" in compared:
            for comparison in bench.comparisons("int8"):
                if comparison.variant == variant.id:
                    speed["int8"] = _verdict(comparison)
    accuracy = _accuracy(spec, variant.id, config.dataset, workspace, progress)
    from core.machine import cpu_info

    result = CompressResult(
        model_id=spec.id,
        variant=variant.id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        mode=config.mode,
        layers=tuple(variant.manifest.get("compressed_layers") or ()),
        layers_total=int(variant.manifest.get("weight_layers") or 0),
        sizes=sizes,
        latency=latency,
        speed=speed,
        seconds=round(time.perf_counter() - started, 2),
        benchmark_path=bench_path,
        execution=execution,
        accuracy=accuracy,
        machine=cpu_info(),
    )
    path = workspace.save_result("compress", spec.id, result.to_dict())
    report(progress, "done", 1, 1)
    return CompressResult.from_dict({**result.to_dict(), "path": str(path)})


def _compress_and_save(config: CompressConfig, spec, parent, workspace: Workspace, progress):
    """nncf.compress_weights on the FP32 IR, saved as a variant; returns the Variant.

    Its own function, so NNCF's in-memory models are released before anything is compiled.
    """
    from core.runtime import disable_telemetry, get_core

    disable_telemetry()
    import nncf
    import openvino as ov

    report(progress, "compressing weights to INT8 (nncf.compress_weights)")
    model = get_core().read_model(parent.xml)
    began = time.perf_counter()
    compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode(config.mode))
    seconds = time.perf_counter() - began
    layers = compressed_layers(compressed)
    total = _weight_layers(compressed)
    settings = {"mode": config.mode, "per_channel": True, "parent_sha256": parent.fingerprint}
    manifest = {
        "backend": Backend.OPENVINO.value,
        "format": NumberFormat.INT8_WEIGHTS.value,
        "precision": NumberFormat.INT8_WEIGHTS.value,
        "source": {"model": spec.id, "from": parent.id, "fp32_sha256": parent.fingerprint},
        "preprocess": spec.preprocess.to_dict(),
        "trained": spec.trained,
        "input_shape": list(spec.input_shape),
        "compressed_layers": layers,
        "compressed_count": len(layers),
        "weight_layers": total,
        "recipe": Recipe(
            RecipeMethod.COMPRESS_WEIGHTS,
            parent=parent.id,
            settings=settings,
            versions=library_versions(),
            seconds=round(seconds, 2),
            notes=(f"{len(layers)} of {total} convolution / matmul layers with INT8 weights",),
        ).to_dict(),  # fmt: skip
    }
    saved: list = []
    report(progress, "saving the weight-compressed IR")
    with workspace.write_variant(
        spec.id, config.name, manifest, on_conflict="replace", result=saved
    ) as folder:
        ov.save_model(compressed, folder / "model.xml", compress_to_fp16=False)
    del compressed, model
    return saved[0]


def _accuracy(spec, variant: str, dataset: str | None, workspace: Workspace, progress) -> dict | None:
    """FP32 and the compressed variant scored together on a labelled set (None for an untrained model or no set)."""
    from core.evaluate import EvaluateConfig, evaluate_model
    from core.train import default_evaluation_set

    ref = dataset or default_evaluation_set(spec, workspace)
    if not spec.trained or not ref:
        return None
    report(progress, "scoring FP32 and INT8-W on the same images")
    # serial (one stream): measured here, OpenVINO 2026.4's CPU plugin sometimes ran EfficientNet-Lite0 with
    # INT8-compressed weights wrongly when compiled for two or more streams (the THROUGHPUT hint of the
    # pipelined evaluation): top-1 0-12 % instead of 90 %, in some compilations of the same file
    config = EvaluateConfig(spec.id, variants=("fp32", variant), dataset=ref, pipelined=False)
    evaluation = evaluate_model(config, workspace=workspace)
    if not evaluation.labelled:
        return None
    agree = evaluation.agreement_of("fp32", variant)
    return {
        "dataset": {"ref": ref, "name": evaluation.dataset_name, "size": evaluation.dataset_size},
        "top1": {s.variant: s.top1 for s in evaluation.results},
        "agreement": agree.rate if agree else None,
        "path": evaluation.path,
    }


def compress_job(config: dict, workspace: Workspace, ctx) -> dict:
    """Job entry: plain settings in, the compression result out."""
    from core.jobs import config_from_dict

    compress = config_from_dict(CompressConfig, config)
    return compress_model(compress, workspace=workspace, progress=ctx.progress).to_dict()


def _cmd_compress(args, ws: Workspace):
    from core.cli import _stderr_progress

    config = CompressConfig(
        model_id=args.model, mode=args.mode, name=args.name, benchmark=not args.no_benchmark, seconds=args.seconds,
        execution=args.execution, dataset=args.dataset,
    )  # fmt: skip
    result = compress_model(config, workspace=ws, progress=_stderr_progress(args.json))
    if args.json:
        return result.to_dict()
    for sentence in result.reading():
        print(sentence)
    return None


def register_cli(add, variant_options) -> None:
    p = add(
        "compress",
        _cmd_compress,
        "weight compression: INT8 weights, floating-point activations (nncf.compress_weights), as variant int8w",
        "Compress the weights of the FP32 IR to INT8 (per channel, asymmetric by default) into the variant int8w "
        "(format int8-weights), list the layers compressed, score FP32 and INT8-W on the same labelled images, and "
        "measure size and latency against FP32 and full INT8 in one interleaved run. Weight-only INT8 saves disk and "
        "memory; the computation stays floating point, so on a CPU it is often no faster.",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=list(MODES), default="int8_asym")
    p.add_argument(
        "--name", default="int8w", help="name of the variant (default int8w; made again, it is replaced)"
    )
    p.add_argument(
        "--seconds", type=float, default=5.0, help="latency measuring time per variant (default 5)"
    )
    p.add_argument(
        "--execution", choices=["f32", "auto"], default="f32",
        help="precision the compared variants execute in: f32 (like for like, default) or auto (bf16 where the CPU has it)",
    )  # fmt: skip
    p.add_argument(
        "--dataset",
        metavar="REF",
        help="labelled set to score FP32 and INT8-W on (default: the model's usual one)",
    )
    p.add_argument(
        "--no-benchmark", action="store_true", help="compress only; measure later on the Benchmark page"
    )
