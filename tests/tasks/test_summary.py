from __future__ import annotations

from pathlib import Path

from PIL import Image

from tasks.summary import markdown, size_text


def test_markdown_lists_assets_with_links_and_a_thumbnail(tmp_path: Path) -> None:
    (tmp_path / "odm_orthophoto").mkdir()
    Image.new("RGBA", (800, 600), (10, 200, 30, 255)).save(tmp_path / "odm_orthophoto" / "odm_orthophoto.png")
    (tmp_path / "odm_orthophoto" / "odm_orthophoto.tif").write_bytes(b"x" * 2500)
    (tmp_path / "all.zip").write_bytes(b"z" * 10)
    text = markdown(tmp_path, "Survey A", "http://node:3000/task/u/download/")
    assert text.startswith("# Survey A")
    assert "![orthophoto](data:image/jpeg;base64," in text
    assert "| [orthophoto.tif](http://node:3000/task/u/download/orthophoto.tif) | 2.5 KB |" in text
    assert "| [all.zip](http://node:3000/task/u/download/all.zip) | 10 B |" in text


def test_sizes() -> None:
    assert size_text(999) == "999 B" and size_text(1_500_000) == "1.5 MB"
