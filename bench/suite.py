"""Measure the issue's performance figures in one command and print them as one table.

Each ratio is measured in interleaved rounds (A B, A B, ...) and shown as median, min–max over
rounds, both sides' medians and pass/fail, with the CPU it ran on and the machine's load.

Models: EfficientNet-Lite0, ResNet-50 (random weights) and LeNet5, made once in a private workspace
in a temporary folder (never the user's). Child processes are stopped by the pid recorded at start.

Run: .venv/bin/python bench/suite.py [--quick] [--json OUT.json] [--only classify,evaluate,...]
     [--workspace DIR (reuse a private bench workspace)] [--keep]
Figures: classify, evaluate, benchmark, click, startup, memory, quantize, load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ORDER = ("classify", "evaluate", "benchmark", "click", "startup", "memory", "quantize", "load")


@dataclass(frozen=True)
class Plan:
    """How long each figure measures; `--quick` shortens everything."""

    rounds: int  # cheap in-process figures
    rounds_heavy: int  # figures that start processes or run for seconds per side
    rounds_load: int
    classify_calls: int  # per side per round
    lite0_eval_images: int
    bench_seconds: float
    hints: tuple[str, ...]
    idle_seconds: float
    load_images: int  # calibration images of the quantization job that loads the machine
    quantize_images: int
    startup_runs: int
    setup_calibration: int
    resnet_calibration: int
    try_alternatives: bool = False  # alternatives run anyway when the load figure misses its target


QUICK = Plan(rounds=3, rounds_heavy=2, rounds_load=1, classify_calls=40, lite0_eval_images=100, bench_seconds=4,
             hints=("throughput",), idle_seconds=8, load_images=100, quantize_images=100, startup_runs=1,
             setup_calibration=100, resnet_calibration=30)  # fmt: skip
FULL = Plan(rounds=7, rounds_heavy=3, rounds_load=2, classify_calls=150, lite0_eval_images=200, bench_seconds=10,
            hints=("throughput", "latency"), idle_seconds=20, load_images=300, quantize_images=300, startup_runs=3,
            setup_calibration=300, resnet_calibration=300)  # fmt: skip


@dataclass
class Context:
    workspace: object  # core.workspace.Workspace
    plan: Plan
    quick: bool
    scratch: Path
    services: list = field(default_factory=list)


def _cli(*args: str) -> None:
    from bench.measure import PYTHON, run_checked

    run_checked(
        [PYTHON, "-m", "core", *args, "--json", "--workspace", os.environ["OVDASH_WORKSPACE"]], timeout=3600
    )


NEEDS = {  # the models each figure runs (startup runs on an empty workspace)
    "classify": {"lite0"},
    "evaluate": {"lite0", "lenet"},
    "benchmark": {"lite0", "lenet", "resnet"},
    "click": {"lite0"},
    "startup": set(),
    "memory": {"lite0"},
    "quantize": {"lite0"},
    "load": {"lite0"},
}


def setup(ws, plan: Plan, figures: list[str]) -> dict:
    """The variants the chosen figures need, made through the CLI (PyTorch never loads in this process)."""
    needed = set().union(*(NEEDS[f] for f in figures))
    made, t = [], time.perf_counter()
    if "lite0" in needed:
        if ws.variant("efficientnet-lite0", "fp16") is None:
            _cli("convert", "--model", "efficientnet-lite0", "--variant", "fp32", "fp16")
            made.append("efficientnet-lite0 fp32 fp16")
        if ws.variant("efficientnet-lite0", "int8") is None:
            _cli("quantize", "--model", "efficientnet-lite0", "--calibration", "builtin:photos",
                 "--subset-size", str(plan.setup_calibration))  # fmt: skip
            made.append("efficientnet-lite0 int8")
    if "lenet" in needed:
        if ws.variant("lenet5-mnist", "fp32") is None:
            _cli("convert", "--model", "lenet5-mnist", "--variant", "fp32")
            made.append("lenet5-mnist fp32")
        if ws.variant("lenet5-mnist", "int8") is None:
            _cli(
                "quantize",
                "--model",
                "lenet5-mnist",
                "--calibration",
                "builtin:mnist",
                "--subset-size",
                "300",
            )
            made.append("lenet5-mnist int8")
    if "resnet" in needed:
        if (
            not ws.model_dir("resnet50-untrained").is_dir()
            or ws.variant("resnet50-untrained", "fp32") is None
        ):
            _cli("convert", "--model", "resnet50", "--untrained", "--variant", "fp32")
            made.append("resnet50-untrained fp32")
        if ws.variant("resnet50-untrained", "int8") is None:
            _cli("quantize", "--model", "resnet50-untrained", "--calibration", "builtin:photos",
                 "--subset-size", str(plan.resnet_calibration))  # fmt: skip
            made.append("resnet50-untrained int8")
    return {"made": made, "seconds": round(time.perf_counter() - t, 1)}


def _figure_functions():
    from bench import figures

    return {
        "classify": figures.classify_latency,
        "evaluate": figures.evaluation_throughput,
        "benchmark": figures.app_benchmark,
        "click": figures.click_to_results,
        "startup": figures.server_startup,
        "memory": figures.server_memory,
        "quantize": figures.quantize_overhead,
        "load": figures.classify_under_load,
    }


def _fmt(value, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "×":
        return f"{value:.2f}×"
    if unit in ("ms", "MB", "img/s", "FPS"):
        if value < 1:
            return f"{value:.3f} {unit}"
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.3g} {unit}"


def table(report: dict) -> str:
    rows = [("figure", "target", "median (min–max)", "side A (median)", "side B (median)", "")]
    for fig in report["figures"]:
        if fig.get("error"):
            rows.append(
                (fig["figure"], fig["target"], "ERROR", fig["error"].splitlines()[-1][:60], "", "error")
            )
            continue
        v, unit = fig["value"], fig["unit"]
        value = f"{_fmt(v['median'], unit)} ({_fmt(v['min'], unit)}–{_fmt(v['max'], unit)})"
        sides = [f"{name} {_fmt(s['median'], s['unit'])}" for name, s in fig["sides"].items()][:2]
        sides += [""] * (2 - len(sides))
        verdict = {True: "pass", False: "FAIL", None: "?"}[fig["passed"]]
        rows.append((fig["figure"], fig["target"], value, sides[0], sides[1], verdict))
    widths = [min(max(len(r[i]) for r in rows), 92 if i == 0 else 40) for i in range(6)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(" | ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def _details_text(report: dict) -> str:
    """What explains each figure: stage times, fixed costs, the fixes tried in the bench."""
    out = []
    for fig in report["figures"]:
        if fig.get("error"):
            out.append(f"- {fig['key']}: ERROR {fig['error'][-1500:]}")
            continue
        if not (fig["details"] or fig["notes"]):
            continue
        out.append(f"- {fig['key']}:")
        for name, value in fig["details"].items():
            if name == "alternatives":
                for alt in value:
                    if "error" in alt:
                        out.append(f"    alternative {alt['change']}: ERROR {alt['error']}")
                        continue
                    out.append(f"    alternative {alt['change']}: {alt['ratio']:.2f}× (p90 {alt['p90_loaded']:.0f} / "
                               f"{alt['p90_idle']:.0f} ms), quantization {alt['job_s_loaded']:.0f} s loaded, "
                               f"{alt['job_s_alone']:.0f} s alone")  # fmt: skip
                continue
            out.append(f"    {name}: {_short(value)[:400]}")
        out += [f"    note: {n}" for n in fig["notes"]]
        load = fig.get("load") or {}
        if load:
            out.append("    load average: " + ", ".join(f"{k} {v.get('load1')}" for k, v in load.items()))
    return "\n".join(out)


def _worker(args) -> int:
    """A figure that must run in a process of its own (like a server)."""
    from bench import figures

    if args.worker == "click":
        data = figures.click_worker(args.workspace, args.quick)
    else:
        msg = f"unknown worker {args.worker}"
        raise SystemExit(msg)
    Path(args.part).write_text(json.dumps(data))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter times (a few minutes)")
    parser.add_argument("--json", metavar="OUT.json", help="write the table, details, CPU and load as JSON")
    parser.add_argument("--only", help=f"comma-separated figures among {', '.join(ORDER)}")
    parser.add_argument(
        "--workspace", help="a private bench workspace to reuse (made if missing); never the user's"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--alternatives", action="store_true", help="try the load alternatives even if it passes"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        os.environ["OVDASH_WORKSPACE"] = args.workspace
        return _worker(args)

    user_default = (Path.cwd() / "workspace").resolve()
    users = {user_default, Path(os.environ.get("OVDASH_WORKSPACE") or user_default).resolve()}
    if args.workspace and Path(args.workspace).resolve() in users:
        parser.error("--workspace must be a bench workspace, not the user's")
    wanted = [f.strip() for f in args.only.split(",")] if args.only else list(ORDER)
    unknown = set(wanted) - set(ORDER)
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(sorted(unknown))}; choose among {', '.join(ORDER)}")
    scratch = Path(tempfile.mkdtemp(prefix="ovdash-bench-"))
    ws_root = Path(args.workspace).resolve() if args.workspace else scratch / "ws"
    os.environ["OVDASH_WORKSPACE"] = str(ws_root)  # every child and every default_workspace() uses it

    from bench import measure
    from core.workspace import Workspace

    plan = QUICK if args.quick else FULL
    if args.alternatives:
        plan = type(plan)(**{**plan.__dict__, "try_alternatives": True})
    ctx = Context(Workspace(ws_root), plan, args.quick, scratch)
    began = time.perf_counter()
    report = {
        "command": " ".join([".venv/bin/python", "bench/suite.py", *sys.argv[1:]]),
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "uptime_start": measure.uptime_text(),
        "workspace": str(ws_root),
        "figures": [],
    }
    print(f"bench workspace {ws_root} ({report['mode']} run); {report['uptime_start']}", file=sys.stderr)
    try:
        report["machine"] = measure.machine()
        report["setup"] = setup(ctx.workspace, plan, wanted)
        functions = _figure_functions()
        for name in ORDER:
            if name not in wanted:
                continue
            t = time.perf_counter()
            print(f"[{time.perf_counter() - began:6.0f} s] {name} …", file=sys.stderr)
            try:
                found = functions[name](ctx)
                report["figures"] += [f.to_dict() for f in found]
            except Exception as exc:  # noqa: BLE001 - one figure failing must not lose the others
                report["figures"].append({"key": name, "figure": name, "target": "", "error":
                                          f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"})  # fmt: skip
            report.setdefault("figure_seconds", {})[name] = round(time.perf_counter() - t, 1)
    finally:
        for service in ctx.services:
            service.shutdown()  # stops the workers it started (by their process), marks jobs interrupted
        measure.stop_all()
        report["seconds"] = round(time.perf_counter() - began, 1)
        report["uptime_end"] = measure.uptime_text()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    text = table(report)
    machine = report.get("machine", {})
    print()
    print(f"CPU: {machine.get('text')} · OpenVINO sees {machine.get('openvino_device')} "
          f"[{', '.join(machine.get('openvino_capabilities') or [])}]")  # fmt: skip
    print(f"load: start {report['uptime_start']}\n      end   {report['uptime_end']}")
    print(
        f"{report['mode']} run, {report['seconds'] / 60:.1f} min; workspace {'kept at ' + str(scratch) if args.keep else 'removed'}"
    )
    print()
    print(text)
    print()
    print(_details_text(report))
    if args.json:
        report["table"] = text
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
