"""Take a PNG of every page into docs/screenshots/ (for the README), from a running app.

Usage: .venv/bin/python scripts/screenshots.py http://127.0.0.1:8501 [--out docs/screenshots]
Populate the workspace first (the Home page's demo does it) so the pages have something to show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import APP_READY, CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# a page's path, with a query where the page should open on a model other than the current one
PAGES = ("", "models", "classify", "quantize", "study?model=lenet5-mnist", "train", "benchmark", "accuracy",
         "tradeoffs", "jobs")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 2600})
        for path in args.pages:
            page.goto(f"{args.url}/{path}")
            page.wait_for_selector(APP_READY, timeout=90_000)
            name = path.partition("?")[0]
            if name == "classify":  # show results, not only the inputs
                page.get_by_role("button", name="Classify").click()
                page.get_by_text("Results").first.wait_for(timeout=120_000)
                page.wait_for_selector(APP_READY, timeout=90_000)
            page.wait_for_timeout(1500)  # let Plotly finish drawing; a screenshot, not a test
            target = out / f"{name or 'home'}.png"
            page.screenshot(path=str(target))
            print(target)
        browser.close()


if __name__ == "__main__":
    main()
