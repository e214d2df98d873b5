"""The app opens in a real browser on an empty workspace and every page renders."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import open_app, start_server, stop_server, wait_ready

PAGES = ("models", "classify", "quantize", "study", "train", "benchmark", "accuracy", "tradeoffs", "jobs")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e-smoke")
    server = start_server(root / "ws", root / "server.log")
    yield server
    stop_server(server)


def test_cold_direct_visit_runs_through_the_router(page, server):
    """The very first request of a fresh server goes straight to a page (a bookmark, a shared link)."""
    open_app(page, server, "quantize")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("This machine").wait_for()
    assert sidebar.get_by_text("Trade-offs", exact=True).count() == 1  # our navigation, not the legacy list


def test_home_opens_with_navigation_and_sidebar(page, server):
    open_app(page, server)
    page.get_by_role("heading", name="OpenVINO Optimizer").first.wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    for name in ("Home", "Models", "Classify", "Quantize", "Benchmark", "Accuracy", "Trade-offs", "Jobs"):
        assert sidebar.get_by_text(name, exact=True).count() >= 1, name
    assert sidebar.get_by_text("This machine").count() >= 1  # the CPU a figure would come from is shown
    assert sidebar.get_by_text("cores").count() >= 1


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_an_exception(page, server, path):
    open_app(page, server, path)
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("h1").count() >= 1
