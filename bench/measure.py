"""What every figure of the suite shares: rounds and their statistics, child processes started and
stopped by the pid recorded at start, benchmark_app, and the state of the machine (CPU, load).

Never imported by the app or the tests.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCHMARK_APP = str(Path(sys.executable).with_name("benchmark_app"))


# statistics ---------------------------------------------------------------------------------------------


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    position = (len(values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def spread(values) -> dict:
    """{'median', 'min', 'max', 'rounds'} of the per-round values."""
    kept = [v for v in values if v is not None]
    return {
        "median": median(kept),
        "min": min(kept) if kept else None,
        "max": max(kept) if kept else None,
        "rounds": [None if v is None else round(v, 6) for v in values],
    }


@dataclass
class Figure:
    """One line of the table: a value per round (a ratio, or an absolute figure), its target, and the
    two sides it is made of (their per-round values), plus whatever explains it."""

    key: str
    title: str
    target: str
    check: object  # callable(median) -> bool
    unit: str = "×"
    sides: dict[str, list] = field(default_factory=dict)  # side name -> per-round values
    side_units: dict[str, str] = field(default_factory=dict)
    values: list = field(default_factory=list)  # per round
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load: dict = field(default_factory=dict)
    error: str | None = None

    def add_round(self, value, **sides) -> None:
        self.values.append(value)
        for name, side in sides.items():
            self.sides.setdefault(name, []).append(side)

    @property
    def result(self) -> dict:
        return spread(self.values)

    @property
    def passed(self) -> bool | None:
        found = self.result["median"]
        return None if found is None else bool(self.check(found))

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "figure": self.title,
            "target": self.target,
            "unit": self.unit,
            "value": self.result,
            "passed": self.passed,
            "sides": {
                name: {"unit": self.side_units.get(name, ""), **spread(values)}
                for name, values in self.sides.items()
            },
            "details": self.details,
            "notes": self.notes,
            "load": self.load,
            "error": self.error,
        }


# the machine ---------------------------------------------------------------------------------------------


def load_now() -> dict:
    one, five, fifteen = os.getloadavg()
    return {
        "load1": round(one, 2),
        "load5": round(five, 2),
        "load15": round(fifteen, 2),
        "cpus": os.cpu_count(),
    }


def uptime_text() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: {load1}, {load5}, {load15}".format(**load_now())


def machine() -> dict:
    """The CPU and its instruction sets (core.machine), and OpenVINO's own view of the device."""
    from core.machine import cpu_info, machine_text
    from core.runtime import device_capabilities, device_name

    info = dict(cpu_info())
    info["text"] = machine_text(info)
    info["openvino_device"] = device_name("CPU")
    info["openvino_capabilities"] = device_capabilities("CPU")
    info["logical_cpus"] = os.cpu_count()
    return info


# child processes -----------------------------------------------------------------------------------------

_STARTED: dict[int, subprocess.Popen] = {}  # every child this process started, by the pid it got


def start(
    args: list[str], *, env: dict | None = None, log: Path | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    """Start a child and record its pid, so that clean-up stops exactly what this suite started."""
    out = Path(log).open("w") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps its own copy
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env or os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=False,
        )
    finally:
        if log:
            out.close()
    _STARTED[process.pid] = process
    return process


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM to the pid this suite recorded, SIGKILL to the same pid if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    _STARTED.pop(process.pid, None)


def stop_all() -> None:
    for process in list(_STARTED.values()):
        stop(process, timeout=10)


@dataclass
class Run:
    seconds: float
    code: int
    stdout: str
    stderr: str


def run(args: list[str], *, timeout: float = 1800, env: dict | None = None) -> Run:
    """Run a command to its end; wall seconds from start to exit (interpreter start and imports included)."""
    start_at = time.perf_counter()
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env or os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED[process.pid] = process
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process, timeout=5)
        raise
    finally:
        _STARTED.pop(process.pid, None)
    return Run(time.perf_counter() - start_at, process.returncode, out, err)


def run_checked(args: list[str], **kwargs) -> Run:
    found = run(args, **kwargs)
    if found.code != 0:
        msg = f"{' '.join(args[:6])} ... exited with {found.code}:\n{found.stderr[-3000:]}"
        raise RuntimeError(msg)
    return found


_THROUGHPUT = re.compile(r"Throughput:\s*([0-9.]+)\s*FPS")
_MEDIAN = re.compile(r"Median:\s*([0-9.]+)\s*(ms|us)")


def benchmark_app(xml: Path, *, hint: str, seconds: float, shape: tuple[int, ...]) -> dict:
    """OpenVINO's own benchmark_app on an IR: {'fps', 'median_ms', 'wall_s'}."""
    args = [BENCHMARK_APP, "-m", str(xml), "-d", "CPU", "-hint", hint, "-t", f"{seconds:g}",
            "-shape", "[" + ",".join(str(s) for s in shape) + "]"]  # fmt: skip
    found = run_checked(args, timeout=seconds * 10 + 120)
    fps = _THROUGHPUT.search(found.stdout)
    if fps is None:
        msg = f"benchmark_app printed no throughput:\n{found.stdout[-2000:]}"
        raise RuntimeError(msg)
    med = _MEDIAN.search(found.stdout)
    median_ms = None if med is None else float(med.group(1)) / (1000 if med.group(2) == "us" else 1)
    return {"fps": float(fps.group(1)), "median_ms": median_ms, "wall_s": found.seconds}


# /proc ---------------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> dict:
    """VmRSS and VmHWM (peak) of a process, in MB (10^6 bytes)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) * 1024 / 1e6, 1)
    return found


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def maps_mention(pid: int, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
