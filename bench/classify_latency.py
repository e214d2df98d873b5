"""Server time to classify one 512x512 image with EfficientNet-Lite0 INT8 (target: under 100 ms).

Server time = decode the uploaded bytes + preprocess + inference + top-5, as the Classify page does
it once the model is compiled (compilation happens once per server and is reported apart).
Run: .venv/bin/python bench/classify_latency.py [--runs 50]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.convert import ConvertConfig, convert_model  # noqa: E402
from core.data import load_dataset, open_image  # noqa: E402
from core.inference import classify_images  # noqa: E402
from core.quantize import QuantizeConfig, quantize_model  # noqa: E402
from core.runtime import device_name  # noqa: E402
from core.workspace import Workspace, default_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--fresh", action="store_true", help="use a new temporary workspace")
    args = parser.parse_args()
    ws = Workspace(tempfile.mkdtemp()) if args.fresh else default_workspace()
    if ws.artifact("efficientnet-lite0", "int8") is None:
        print("preparing EfficientNet-Lite0 INT8 (once)…", file=sys.stderr)
        convert_model(ConvertConfig("efficientnet-lite0", precisions=("fp32",)), workspace=ws)
        quantize_model(
            QuantizeConfig("efficientnet-lite0", calibration="builtin:imagenet-samples"), workspace=ws
        )

    sample = load_dataset("builtin:imagenet-samples").samples[0]
    buffer = io.BytesIO()
    sample.image().save(buffer, format="JPEG", quality=92)
    payload = buffer.getvalue()
    width, height = sample.image().size

    start = time.perf_counter()
    classify_images(
        "efficientnet-lite0", [("warm-up", open_image(payload, name="x.jpg"))], ["int8"], workspace=ws
    )
    first_ms = (time.perf_counter() - start) * 1e3

    totals, inference = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        image = open_image(payload, name="upload.jpg")
        (result,) = classify_images("efficientnet-lite0", [("upload.jpg", image)], ["int8"], workspace=ws)
        totals.append((time.perf_counter() - start) * 1e3)
        inference.append(result.ms)
    totals.sort()
    print(
        f"device: {device_name()} | image {width}x{height} JPEG | batch 1 | LATENCY hint | {args.runs} runs"
    )
    print(f"first call (includes compile or cache load): {first_ms:.1f} ms")
    print(
        f"server time per image: median {statistics.median(totals):.1f} ms, "
        f"p90 {totals[int(0.9 * (len(totals) - 1))]:.1f} ms, max {totals[-1]:.1f} ms (target < 100 ms)"
    )
    print(f"of which inference: median {statistics.median(inference):.1f} ms")


if __name__ == "__main__":
    main()
