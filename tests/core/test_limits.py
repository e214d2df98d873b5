"""The limits the tool enforces are the ones the README and the in-app help list."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.limits import LIMITS, limit_rows, value

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_limit_with_its_default_and_setting():
    text = README.read_text(encoding="utf-8")
    for limit in LIMITS.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| {limit.what} |")), None)
        assert row is not None, f"README has no row for {limit.what!r}"
        assert limit.default_text in row, (limit.what, row)
        assert limit.setting in row, (limit.what, row)


def test_a_setting_changes_the_limit_and_a_bad_one_keeps_the_default(monkeypatch):
    monkeypatch.setenv("OVDASH_MAX_ASPECT_RATIO", "5")
    assert value("aspect_ratio") == 5
    monkeypatch.setenv("OVDASH_MAX_ASPECT_RATIO", "lots")
    assert value("aspect_ratio") == LIMITS["aspect_ratio"].default
    monkeypatch.setenv("OVDASH_MAX_ASPECT_RATIO", "-3")
    assert value("aspect_ratio") == LIMITS["aspect_ratio"].default


def test_the_image_decoder_follows_the_setting(monkeypatch):
    import io

    from PIL import Image

    from core.data import open_image
    from core.errors import ImageError

    buffer = io.BytesIO()
    Image.new("RGB", (400, 100)).save(buffer, format="PNG")
    assert open_image(buffer.getvalue(), name="wide.png").size == (400, 100)  # 4:1 is within the default 20:1
    monkeypatch.setenv("OVDASH_MAX_ASPECT_RATIO", "3")
    with pytest.raises(ImageError, match="3:1"):
        open_image(buffer.getvalue(), name="wide.png")


def test_the_help_table_has_a_row_per_limit():
    rows = limit_rows()
    assert len(rows) == len(LIMITS)
    assert all(row["default"] and row["setting"] and row["at the limit"] for row in rows)
