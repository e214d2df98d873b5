"""Time from `streamlit run` to the first page rendered in Chromium (target: under 5 s).

Starts the app on a free port with a fresh workspace, polls /_stcore/health, then loads the home
page in headless Chromium and waits for Streamlit's "script not running" signal.
Run: .venv/bin/python bench/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import APP_READY, CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402


def one_run(browser) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    server = start_server(root / "ws", root / "server.log")
    healthy = time.perf_counter() - start
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector(APP_READY, timeout=60_000)
        page.locator("h1").first.wait_for()
        rendered = time.perf_counter() - start
        page.close()
    finally:
        stop_server(server)
    return healthy, rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = [one_run(browser) for _ in range(args.repeat)]
        browser.close()
    for i, (healthy, rendered) in enumerate(runs, 1):
        print(f"run {i}: healthy after {healthy:.2f} s, first page rendered after {rendered:.2f} s")
    print(
        f"median first render {statistics.median(r for _, r in runs):.2f} s over {len(runs)} runs "
        "(target < 5 s; includes Python start-up and the server's imports)"
    )


if __name__ == "__main__":
    main()
