"""User-supplied text shown by the app stays text: no link, no image, no request to another host.

Four ways such text reaches the page: a ?model= link (shown in a toast), an uploaded model file's name
(in the Models error panel, which other sessions see), uploaded image names (Classify), and job titles
(sidebar and Jobs page). Each uses a name that markdown would otherwise turn into a link or an image.
"""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.e2e.conftest import open_app, start_server, stop_server, wait_ready

JOB_TIMEOUT = 180_000
EVIL = "www.evil.example"
LINK = (
    "[log in again](https://evil.example/login) ![x](https://evil.example/pixel.png) https://evil.example/x"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from core.convert import ConvertConfig, convert_model
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("e2e-escaping")
    ws = Workspace(root / "ws")
    convert_model(ConvertConfig("lenet5-mnist", variants=("fp32",)), workspace=ws)
    server = start_server(ws.root, root / "server.log")
    yield server
    stop_server(server)


@pytest.fixture
def watched(page):
    """The page, with every request it makes recorded."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.requests = requests
    return page


def assert_inert(page) -> None:
    """No link or image to the attacker's host, and no request to any host but the app's."""
    wait_ready(page)
    assert page.locator('a[href*="evil"]').count() == 0
    assert page.locator('img[src*="evil"]').count() == 0
    hosts = {
        urlparse(url).hostname
        for url in page.requests
        if urlparse(url).scheme in ("http", "https", "ws", "wss")
    }
    assert hosts <= {"127.0.0.1", "localhost"}, hosts


def _png(color: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_model_link_is_shown_as_text(watched, server):
    from urllib.parse import quote

    open_app(watched, server, f"classify?model={quote(LINK)}")
    toast = watched.get_by_test_id("stToast").first
    toast.wait_for()
    assert "No model named" in toast.inner_text()
    assert "evil.example" in toast.inner_text()
    assert_inert(watched)


def test_an_uploaded_model_name_in_the_error_panel_is_text(watched, server):
    open_app(watched, server, "models")
    watched.get_by_text("Upload", exact=False).last.click()
    wait_ready(watched)
    watched.get_by_text("ONNX (.onnx)").click()
    wait_ready(watched)
    name = watched.get_by_placeholder("my-classifier")
    name.fill("evil-upload")
    name.press("Enter")
    wait_ready(watched)
    uploader = watched.get_by_test_id("stFileUploader").filter(has_text="ONNX model")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": f"{EVIL}.onnx", "mimeType": "application/octet-stream", "buffer": b"not a model"}]
    )
    watched.get_by_text(re.compile(r"xample\.onnx")).first.wait_for()  # the uploader shortens long names
    watched.get_by_role("button", name=re.compile("Upload and convert")).click()
    watched.get_by_text(re.compile("is not a readable ONNX model")).first.wait_for(timeout=JOB_TIMEOUT)
    assert EVIL in watched.locator('[data-testid="stAlertContentError"]').first.inner_text().replace(
        "\u2060", ""
    )
    assert_inert(watched)


def test_uploaded_image_names_on_classify_are_text(watched, server):
    open_app(watched, server, "classify?model=lenet5-mnist")
    watched.get_by_role("tab", name=re.compile("Upload")).click()
    uploader = watched.get_by_test_id("stFileUploader").filter(has_text="Images")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": f"![x]({EVIL}) {EVIL}.png", "mimeType": "image/png", "buffer": _png(200)}]
    )
    watched.get_by_text(re.compile("1 uploaded image")).first.wait_for()
    wait_ready(watched)
    watched.get_by_role("button", name=re.compile("Classify")).click()
    watched.get_by_text("Results").first.wait_for(timeout=120_000)
    assert_inert(watched)


def test_job_titles_are_text(watched, server, tmp_path):
    archive = tmp_path / f"{EVIL}.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for i in range(12):
            handle.writestr(f"digit_{i}.png", _png(20 * i))
    open_app(watched, server, "quantize?model=lenet5-mnist")
    watched.get_by_text("Your images (.zip)").click()
    wait_ready(watched)
    uploader = watched.get_by_test_id("stFileUploader").filter(has_text="Calibration images (.zip)")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(archive))
    watched.get_by_text(re.compile(r"xample\.zip")).first.wait_for()
    watched.get_by_role("button", name=re.compile("Quantize to INT8")).click()
    watched.get_by_text(re.compile("succeeded|failed")).first.wait_for(timeout=JOB_TIMEOUT)
    open_app(watched, server, "jobs")
    watched.get_by_text(re.compile("evil")).first.wait_for()
    assert_inert(watched)
