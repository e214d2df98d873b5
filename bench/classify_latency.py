"""Server time to classify one 512x512 JPEG with EfficientNet-Lite0 INT8, against inference alone.

Kept for the command the README names; the figure now lives in the suite (private workspace, calls
interleaved with pure inference, stage times, CPU and load recorded): this runs
`bench/suite.py --only classify` with the same options.
Run: .venv/bin/python bench/classify_latency.py [--quick] [--json OUT.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--only", "classify"]
    sys.exit(main())
