"""`python -m core`: every dashboard action from a command line, for scripts and CI.

Forms and `--json` shapes are stable: scripts rely on them (new keys are added, none removed). A
failure exits non-zero with a clear message on stderr and no traceback (add `--debug` for one).
With `--json`, stdout holds only the JSON document; library chatter goes to stderr. Accuracy inputs
are in percent everywhere (`--min-top1 70`, `--max-drop 1` for one point), as on the pages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

from core.errors import CoreError, InputError
from core.progress import Progress
from core.workspace import ENV_VAR, Workspace, default_workspace

__all__ = ["build_parser", "main"]

EPILOG = (
    f"Workspace: ${ENV_VAR} or ./workspace. Every command takes --json and --workspace DIR. "
    "Variants: torch (PyTorch), fp32 / fp16 / int8 (OpenVINO), ort-fp32 / ort-int8 (ONNX Runtime), or any "
    "named variant (`models` lists them)."
)
VARIANT_NAMES = {"torch", "fp32", "fp16", "int8", "ort-fp32", "ort-int8"}


def _stderr_progress(quiet: bool):
    """Phase names as they change, and counted progress in quarters, on stderr."""
    state = {"phase": None, "quarter": -1}

    def show(progress: Progress) -> None:
        if quiet:
            return
        if progress.phase != state["phase"]:
            state["phase"], state["quarter"] = progress.phase, -1
            print(f"… {progress.phase}", file=sys.stderr)
        fraction = progress.fraction
        if fraction is not None and int(fraction * 4) > state["quarter"]:
            state["quarter"] = int(fraction * 4)
            done = f"{progress.done:g}" if isinstance(progress.done, float) else progress.done
            total = f"{progress.total:g}" if isinstance(progress.total, float) else progress.total
            print(f"  {done}/{total}", file=sys.stderr)

    return show


def _words(values: list[str] | None) -> list[str]:
    out = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def _variants(args, default: list[str]) -> list[str]:
    """--variant, with --precision as its older synonym; the default when neither is given."""
    chosen = _words(getattr(args, "variant", None)) + _words(getattr(args, "precision", None))
    return list(dict.fromkeys(chosen)) or default


def _percent(value: float | None, what: str, example: str = "70 for 70 %") -> float | None:
    """A percentage from the command line as a fraction; refuses values outside 0-100."""
    if value is None:
        return None
    if not 0 <= value <= 100:  # also refuses nan
        msg = f"{what} is in percent (0-100), not {value:g}; e.g. {example}"
        raise InputError(msg)
    return value / 100


def _warn_damaged(found: list[tuple[str, str, str]]) -> None:
    """Variant folders whose manifest cannot be read, on stderr: named, never silently left out."""
    for model_id, name, why in found:
        print(
            f"warning: {model_id} {name} is damaged and left out: its {why}; make it again or delete it "
            f"(`python -m core variants delete --model {model_id} --variant {name} --yes`)",
            file=sys.stderr,
        )


def cmd_models(args, ws: Workspace):
    from core.registry import list_models
    from core.variants import model_variants

    rows = []
    for spec in list_models(ws):
        variants = model_variants(spec, ws)
        stored = [v for v in variants if not v.is_reference]
        rows.append(
            {
                "id": spec.id,
                "title": spec.title,
                "source": spec.source,
                "input_size": list(spec.input_shape[1:]),
                "precisions": [v.id for v in stored if v.id in ("fp32", "fp16", "int8")],
                "variants": [v.describe() for v in variants],
                "trained": spec.trained,
                "weights": spec.weights,
                "published_top1": spec.published_top1,
                "damaged": [{"variant": name, "why": why} for name, why in ws.damaged_variants(spec.id)],
            }
        )
    _warn_damaged([(r["id"], d["variant"], d["why"]) for r in rows for d in r["damaged"]])
    if args.json:
        return rows
    width = max(len(r["id"]) for r in rows)
    print(f"{'id':<{width}}  {'source':<11} {'input':<10} {'variants':<34} title")
    for r in rows:
        size = "x".join(str(v) for v in r["input_size"])
        names = ",".join(v["variant"] for v in r["variants"] if v["variant"] != "torch") or "-"
        flag = "" if r["trained"] else "  [untrained or weights missing]"
        print(f"{r['id']:<{width}}  {r['source']:<11} {size:<10} {names:<34} {r['title']}{flag}")
    if args.model_details:
        return None
    return None


def cmd_variants(args, ws: Workspace):
    """List, rename or delete the variants of one model."""
    from core.registry import get_model
    from core.variants import model_variants

    spec = get_model(args.model, ws)
    if args.action == "rename":
        if not args.variant or not args.to:
            msg = "rename needs --variant OLD and --to NEW"
            raise InputError(msg)
        renamed = ws.rename_variant(spec.id, args.variant, args.to)
        if args.json:
            return renamed.describe()
        print(f"{spec.id}: {args.variant} is now {renamed.id}")
        return None
    if args.action == "delete":
        if not args.variant:
            msg = "delete needs --variant NAME"
            raise InputError(msg)
        if not args.yes:
            if not sys.stdin.isatty() or args.json:
                msg = (
                    f"deleting {spec.id} {args.variant} moves it to the model's history; add --yes to confirm"
                )
                raise InputError(msg)
            answer = input(
                f"Move {spec.id} {args.variant} to history? Other variants are not touched. [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                msg = "not deleted"
                raise InputError(msg)
        ws.remove_variant(spec.id, args.variant)
        if args.json:
            return {"model_id": spec.id, "deleted": args.variant}
        print(f"{spec.id}: {args.variant} moved to history; every other variant is untouched")
        return None
    variants = model_variants(spec, ws)
    _warn_damaged([(spec.id, name, why) for name, why in ws.damaged_variants(spec.id)])
    if args.json:
        return [v.describe() for v in variants]
    for v in variants:
        size = f"{v.size_bytes / 2**20:8.2f} MiB" if v.folder is not None else "   (reference)"
        print(f"{v.id:<24} {v.backend.value:<12} {v.format.value:<13} {size}  {v.recipe.summary()}")
    return None


def _torchvision_variant(args, ws: Workspace) -> str:
    """Turn --untrained / --weights on a torchvision id into a user model, once."""
    from core.imports import ImportConfig, import_model
    from core.registry import get_model

    if not (args.untrained or args.weights):
        return args.model
    base = get_model(args.model)
    if base.source != "torchvision":
        msg = f"--untrained and --weights apply to torchvision architectures, not {args.model}"
        raise InputError(msg)
    name = args.name or f"{base.id}-{'untrained' if args.untrained else 'custom'}"
    if args.untrained and name in ws.model_ids():
        return name
    config = ImportConfig(
        name=name,
        files=(args.weights,) if args.weights else (),
        architecture=base.architecture,
        untrained=bool(args.untrained),
    )
    return import_model(config, workspace=ws).id


def cmd_convert(args, ws: Workspace):
    from core.convert import ConvertConfig, convert_model

    model_id = _torchvision_variant(args, ws)
    config = ConvertConfig(model_id, variants=tuple(_variants(args, ["fp32", "fp16"])), route=args.route)
    result = convert_model(config, workspace=ws, progress=_stderr_progress(args.json))
    if args.json:
        return result.to_dict()
    for a in result.artifacts:
        print(f"{model_id} {a['variant']}: {a['size_bytes'] / 2**20:.1f} MiB  {a['path']}")
    print(f"converted by the {result.route} route in {result.seconds:.1f} s")
    return None


def cmd_import(args, ws: Workspace):
    from core.convert import ConvertConfig, convert_model
    from core.imports import ImportConfig, import_model, unregister_failed_import

    spec = import_model(
        ImportConfig(
            name=args.name,
            files=tuple(args.files),
            architecture=args.architecture,
            labels=args.labels,
            preprocess=args.preprocess,
        ),
        workspace=ws,
    )
    try:
        result = convert_model(ConvertConfig(spec.id), workspace=ws, progress=_stderr_progress(args.json))
    except BaseException:
        unregister_failed_import(ws, spec.id)
        raise
    if args.json:
        return {"model": spec.to_dict(), "convert": result.to_dict()}
    print(f"imported {spec.id} ({spec.architecture}); FP32 and FP16 IR saved")
    return None


def cmd_quantize(args, ws: Workspace):
    from core.quantize import QuantizeConfig, quantize_model

    max_drop = _percent(args.max_drop, "--max-drop", "1 for a drop of at most 1 point")
    config = QuantizeConfig(
        model_id=args.model,
        calibration=args.calibration,
        subset_size=args.subset_size,
        preset=args.preset,
        fast_bias_correction=not args.no_fast_bias_correction,
        model_type=args.model_type,
        ignored_scope=tuple(args.ignore or ()),
        max_drop=max_drop,
        drop_type=args.drop_type,
        validation=args.validation,
        validation_size=args.validation_size,
        backend=args.backend,
        name=args.name,
        replace=args.replace,
    )
    result = quantize_model(config, workspace=ws, progress=_stderr_progress(args.json))
    if args.json:
        return result.to_dict()
    print(result)
    for note in result.notes:
        print(f"note: {note}")
    return None


def _split_variants_and_images(args) -> None:
    """`--variant torch fp32 IMAGE...` is a documented form: hand words that are files to the images."""
    words = _words(args.variant) + _words(args.precision)

    def is_image(word: str) -> bool:  # a path (even a folder, refused by name later), not a variant name
        return word not in VARIANT_NAMES and (bool(Path(word).suffix) or Path(word).exists())

    args.variant = [w for w in words if not is_image(w)]
    args.precision = []
    args.images = [w for w in words if is_image(w)] + list(args.images)
    if not args.images:
        msg = "no image given; name one or more image files after the options"
        raise InputError(msg)


def cmd_classify(args, ws: Workspace):
    from core.data import load_dataset, open_image
    from core.inference import classify_images

    if args.limit is not None and args.limit < 1:
        msg = f"--limit is how many images of the set to classify (1 or more), not {args.limit}"
        raise InputError(msg)
    if args.dataset:
        words = _words(args.variant) + _words(args.precision)
        args.variant, args.precision, args.images = words, [], list(args.images)
        picked = load_dataset(args.dataset, workspace=ws, count=args.limit or 3)
        images = [(s.name, s.image()) for s in list(picked)[: args.limit or 3]]
        images += [(Path(p).name, open_image(Path(p), name=Path(p).name)) for p in args.images]
    else:
        _split_variants_and_images(args)
        images = [(Path(p).name, open_image(Path(p), name=Path(p).name)) for p in args.images]
    variants = _variants(args, ["torch", "fp32", "fp16", "int8"])
    results = classify_images(args.model, images, variants, workspace=ws, top_k=args.top, exact=args.exact)
    if args.json:
        return [r.to_dict() for r in results]
    for r in results:
        tops = ", ".join(f"{p.label} {p.probability:.1%}" for p in r.top[:3])
        print(f"{r.image:<28} {r.variant:<16} {r.ms:7.1f} ms  {tops}")
    print(
        "ms: inference time for one image at batch 1, compilation and a warm-up call excluded; "
        "`benchmark` gives steady-state figures",
        file=sys.stderr,
    )
    return None


def cmd_evaluate(args, ws: Workspace):
    from core.evaluate import EvaluateConfig, evaluate_model

    config = EvaluateConfig(
        model_id=args.model,
        variants=tuple(_variants(args, ["fp32", "int8"])),
        dataset=args.dataset,
        limit=args.limit,
    )
    result = evaluate_model(config, workspace=ws, progress=_stderr_progress(args.json))
    data = result.to_dict()
    if args.json:
        keys = ("precision", "variant", "backend", "top1", "top5", "count", "top1_ci95", "top5_ci95")
        return {
            "model_id": data["model_id"],
            "dataset": data["dataset"],
            "results": [{k: r.get(k) for k in keys} for r in data["results"]],
            "agreement": data["agreement"],
            "path": data.get("path"),
        }
    print(result)
    return None


def cmd_benchmark(args, ws: Workspace):
    from core.benchmark import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(
        model_id=args.model,
        variants=tuple(_variants(args, ["torch", "fp32", "int8"])),
        device=args.device,
        hint=args.hint,
        batch=args.batch,
        seconds=args.seconds,
        streams=args.streams,
        threads=args.threads,
        rounds=args.rounds,
        execution=args.execution,
    )
    result = run_benchmark(config, workspace=ws, progress=_stderr_progress(args.json))
    if args.json:
        return result.to_dict()["runs"]
    print(result)
    return None


def cmd_report(args, ws: Workspace):
    from core.report import build_report, points_csv, results_json
    from core.tradeoffs import collect_points

    out = Path(args.out)
    kind = out.suffix.lower()
    if out.is_dir() or not out.parent.is_dir():
        msg = f"--out {out}: {'that is a folder' if out.is_dir() else 'its folder does not exist'}; give a file path"
        raise InputError(msg)
    if kind not in (".html", ".htm", ".csv", ".json"):
        msg = f"--out {out.name} names no report kind; end it in .html (the report), .csv (points) or .json (results)"
        raise InputError(msg)
    if not (math.isfinite(args.within) and args.within >= 0):
        msg = f"--within is points below the best (0 or more), not {args.within:g}"
        raise InputError(msg)
    if args.max_latency is not None and not (math.isfinite(args.max_latency) and args.max_latency > 0):
        msg = f"--max-latency is a budget in ms (more than 0), not {args.max_latency:g}"
        raise InputError(msg)
    if kind == ".csv":
        text = points_csv(collect_points(ws))
    elif kind == ".json":
        text = results_json(ws)
    else:
        text = build_report(
            ws,
            min_top1=_percent(args.min_top1, "--min-top1"),
            max_latency_ms=args.max_latency,
            within_points=args.within,
        )
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write {out}: {exc.strerror}; choose another path"
        raise InputError(msg) from None
    from core.tradeoffs import collect

    for damaged in collect(ws).damaged:  # named in the report too; said here so a script's log shows it
        print(f"warning: skipped {damaged.path.name}: {damaged.reason}", file=sys.stderr)
    if args.json:
        return {"path": str(out.resolve()), "bytes": out.stat().st_size}
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return None


EXTRA_COMMANDS: list = []  # functions (sub, add) that register more commands (study, train, ...)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
    common.add_argument(
        "--workspace", metavar="DIR", help=f"workspace folder (default ${ENV_VAR} or ./workspace)"
    )
    common.add_argument("--debug", action="store_true", help="show a traceback on failure")

    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Convert, quantize, classify, evaluate and benchmark image classifiers with OpenVINO, "
        "ONNX Runtime and PyTorch side by side.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text, description=None):
        p = sub.add_parser(
            name, parents=[common], help=help_text, description=description or help_text, epilog=EPILOG
        )
        p.set_defaults(func=func)
        return p

    def variant_options(p, default: list[str]) -> None:
        p.add_argument(
            "--variant", nargs="+", metavar="V", help=f"variants to use (default: {' '.join(default)})"
        )
        p.add_argument("--precision", nargs="+", metavar="V", help="older synonym of --variant")

    p = add("models", cmd_models, "list models and their variants (backend, format, recipe)")
    p.add_argument("--model-details", action="store_true", help=argparse.SUPPRESS)

    p = add(
        "variants",
        cmd_variants,
        "list, rename or delete the variants of one model",
        "List a model's variants with their recipes; `rename` gives one another name (results saved under the "
        "old name still find it); `delete` moves one to the model's history (never touches another variant).",
    )
    p.add_argument("action", nargs="?", choices=["list", "rename", "delete"], default="list")
    p.add_argument("--model", required=True)
    p.add_argument("--variant", help="the variant to rename or delete")
    p.add_argument("--to", help="the new name (rename)")
    p.add_argument("--yes", action="store_true", help="confirm a delete without asking")

    p = add(
        "convert",
        cmd_convert,
        "convert a model to OpenVINO FP32/FP16 IR and ONNX Runtime FP32",
        "Convert a model: fp32 and fp16 are OpenVINO IR, ort-fp32 the ONNX export for ONNX Runtime. torchvision "
        "architectures without cached pretrained weights need --weights FILE.pt (your state dict) or --untrained "
        "(random weights, latency only).",
    )
    p.add_argument("--model", required=True, help="model id, e.g. efficientnet-lite0 (see `models`)")
    variant_options(p, ["fp32", "fp16"])
    p.add_argument(
        "--route", choices=["direct", "onnx"], default="direct", help="ov.convert_model directly, or via ONNX"
    )
    p.add_argument(
        "--weights",
        metavar="FILE.pt",
        help="a state dict for a torchvision architecture (loaded weights_only)",
    )
    p.add_argument(
        "--untrained", action="store_true", help="random weights: latency only, never any accuracy"
    )
    p.add_argument("--name", help="id for the new model made by --weights/--untrained")

    p = add("import", cmd_import, "import a model file (state dict, ONNX or IR) and convert it")
    p.add_argument("files", nargs="+", help="weights.pt | model.onnx | model.xml model.bin")
    p.add_argument("--name", required=True, help="id for the new model (lowercase, digits, . _ -)")
    p.add_argument("--architecture", help="for a state dict: resnet18, resnet50, mobilenet_v2, ...")
    p.add_argument("--labels", choices=["imagenet", "mnist", "indices"], default="imagenet")
    p.add_argument(
        "--preprocess",
        choices=["imagenet-torchvision", "imagenet-tf-lite", "mnist"],
        default="imagenet-torchvision",
        help="for ONNX/IR: how images are prepared",
    )

    p = add(
        "quantize",
        cmd_quantize,
        "make an INT8 variant: NNCF post-training quantization, or ONNX Runtime static quantization",
        "Quantize to a new INT8 variant. The first one is int8 (ort-int8 with --backend onnxruntime); later ones "
        "are named after their recipe (int8-noise-300) unless --name says otherwise; the same recipe again "
        "refreshes its own variant. Calibration: builtin:imagenet-samples (47 built-in photos and random crops "
        "of them, kept apart from the 20 evaluation images), builtin:photos (the same photos), builtin:mnist "
        "(300 digits apart from the evaluation ones), builtin:fractal, builtin:distilled (BatchNorm models), "
        "noise, a .zip of images, or a folder.",
    )
    p.add_argument("--model", required=True)
    p.add_argument(
        "--calibration",
        required=True,
        help="builtin:imagenet-samples | builtin:photos | builtin:mnist | builtin:fractal | builtin:distilled | "
        "noise | FILE.zip | DIR",
    )
    p.add_argument("--subset-size", type=int, default=300, help="calibration images (default 300)")
    p.add_argument("--backend", choices=["openvino", "onnxruntime"], default="openvino")
    p.add_argument("--name", help="name of the new variant (default: int8, then named after the recipe)")
    p.add_argument("--replace", action="store_true", help="with --name: replace a variant of that name")
    p.add_argument("--preset", choices=["performance", "mixed"], default="performance")
    p.add_argument(
        "--no-fast-bias-correction", action="store_true", help="use the slower, fuller bias correction"
    )
    p.add_argument("--model-type", choices=["transformer"], help="NNCF model type, for transformer models")
    p.add_argument(
        "--ignore", nargs="+", metavar="NODE", help="ignored scope: node names, re:<regex> or type:<OpType>"
    )
    p.add_argument(
        "--max-drop", type=float, help="accuracy control: largest accepted drop, in points (1 = one point)"
    )
    p.add_argument("--drop-type", choices=["absolute", "relative"], default="absolute")
    p.add_argument(
        "--validation", help="labelled set for accuracy control: builtin:mnist | FILE.zip | DIR | FILE.csv"
    )
    p.add_argument("--validation-size", type=int, default=1000, help="validation images used (default 1000)")

    p = add("classify", cmd_classify, "classify images with several variants side by side")
    p.add_argument("--model", required=True)
    variant_options(p, ["torch", "fp32", "fp16", "int8"])
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    p.add_argument(
        "--dataset",
        metavar="REF",
        help="classify images of a set instead of (or besides) files, e.g. builtin:imagenet-samples",
    )
    p.add_argument("--limit", type=int, help="with --dataset: how many of its images (default 3)")
    p.add_argument(
        "--exact",
        action="store_true",
        help="the model's own resize filter on the full image (slower; default: fast)",
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (JPEG, PNG, BMP, GIF, TIFF, WEBP)")

    p = add("evaluate", cmd_evaluate, "top-1/top-5 accuracy per variant on a labelled set, and agreement")
    p.add_argument("--model", required=True)
    variant_options(p, ["fp32", "int8"])
    p.add_argument(
        "--dataset",
        required=True,
        help="builtin:mnist | builtin:imagenet-samples | FILE.zip | DIR | FILE.csv",
    )
    p.add_argument("--limit", type=int, help="evaluate at most this many images")

    p = add(
        "benchmark",
        cmd_benchmark,
        "latency and throughput the way benchmark_app measures, every variant in one interleaved run",
        "Warm-up and first inference reported apart; the variants take turns in rounds; synchronous latency "
        "(median, IQR, min, max, p90) and throughput (OpenVINO: AsyncInferQueue). FP32 runs with "
        "INFERENCE_PRECISION_HINT=f32. A variant with too few iterations or too wide a spread is marked unstable.",
    )
    p.add_argument("--model", required=True)
    variant_options(p, ["torch", "fp32", "int8"])
    p.add_argument("--hint", choices=["latency", "throughput"], default="latency")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--seconds", type=float, default=10.0, help="time per variant, over all rounds (default 10)"
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--streams", type=int, help="NUM_STREAMS (default: chosen by the hint)")
    p.add_argument("--threads", type=int, help="inference threads (default: all cores)")
    p.add_argument(
        "--execution",
        choices=["auto", "f32", "bf16", "f16"],
        default="auto",
        help="precision FP16/INT8 variants execute in (INFERENCE_PRECISION_HINT; FP32 always runs f32)",
    )
    p.add_argument("--device", default="CPU", help="CPU, another device OpenVINO reports here, or AUTO")

    p = add("report", cmd_report, "export the trade-off report (.html), or the results (.csv / .json)")
    p.add_argument("--out", required=True, help="report.html | results.csv | results.json")
    p.add_argument(
        "--min-top1", type=float, help="accuracy floor for the recommendation, in percent (e.g. 70)"
    )
    p.add_argument(
        "--within",
        type=float,
        default=1.0,
        help="without --min-top1: stay within this many points of the best (default 1)",
    )
    p.add_argument("--max-latency", type=float, help="latency budget in ms for the recommendation")

    for register in EXTRA_COMMANDS:
        register(add, variant_options)
    return parser


def _load_extra_commands() -> None:
    """Commands of the feature modules (study, train, ...), registered by importing their CLI parts."""
    import importlib

    for name in ("core.study", "core.train", "core.qat", "core.prune", "core.compress"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register = getattr(module, "register_cli", None)
        if register is not None and register not in EXTRA_COMMANDS:
            EXTRA_COMMANDS.append(register)


def main(argv: list[str] | None = None) -> int:
    _load_extra_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    real_stdout = sys.stdout
    try:
        ws = Workspace(args.workspace) if args.workspace else default_workspace()
        redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
        with redirect:
            payload = args.func(args, ws)
    except CoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (run again with --debug for details)",
            file=sys.stderr,
        )
        return 1
    if args.json:
        real_stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    return 0
