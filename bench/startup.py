"""Time from `streamlit run` to the first page rendered in Chromium (target: under 5 s).

Kept for the command the README names; the figure now lives in the suite (fresh private workspace,
rounds, CPU and load recorded): this runs `bench/suite.py --only startup` with the same options.
Run: .venv/bin/python bench/startup.py [--quick] [--json OUT.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--only", "startup"]
    sys.exit(main())
