"""The bare NNCF path the `core quantize` figure is compared with: read the FP32 IR, decode the same
calibration images with the model's own preprocessing, nncf.quantize, save. Prints its phase times
as one JSON line.

Run: .venv/bin/python bench/bare_quantize.py FP32.xml OUT.xml [COUNT]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

began = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nncf  # noqa: E402
import openvino as ov  # noqa: E402

from core.data import load_dataset  # noqa: E402
from core.preprocessing import tf_efficientnet_lite  # noqa: E402
from core.runtime import disable_telemetry  # noqa: E402

disable_telemetry()  # as core does: no network here, and the comparison is about the work itself


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    phases = {"imports": time.perf_counter() - began}
    t = time.perf_counter()
    model = ov.Core().read_model(source)
    spec = tf_efficientnet_lite(224)  # EfficientNet-Lite0's preprocessing, as its ModelSpec has it
    samples = load_dataset("builtin:photos", purpose="calibration", count=count)
    arrays = [spec.to_array(sample.image())[None] for sample in samples]
    phases["read and decode"] = time.perf_counter() - t
    t = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(arrays), subset_size=count)
    phases["nncf.quantize"] = time.perf_counter() - t
    t = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, target, compress_to_fp16=False)
    phases["save"] = time.perf_counter() - t
    phases["total in process"] = time.perf_counter() - began
    print(json.dumps({k: round(v, 3) for k, v in phases.items()}))


if __name__ == "__main__":
    main()
