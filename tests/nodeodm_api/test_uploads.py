from __future__ import annotations

from pathlib import Path

from nodeodm_api.node import count_images, js_int, output_slice
from nodeodm_api.uploads import safe_name, unique_name


def test_safe_name_keeps_the_base_name_only() -> None:
    assert safe_name("../../x.jpg") == "x.jpg"
    assert safe_name("..\\..\\y.jpg") == "y.jpg"
    assert safe_name("a/b/") == "file"
    assert safe_name("..") == "file"
    assert safe_name("ok\x00.jpg") == "ok.jpg"


def test_unique_name_follows_nodeodm(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"1")
    (tmp_path / "a_.jpg").write_bytes(b"2")
    (tmp_path / "noext").write_bytes(b"3")
    assert unique_name(tmp_path, "a.jpg", set()) == "a__.jpg"
    assert unique_name(tmp_path, "a.jpg", {"a.jpg"}) == "a.jpg"  # same request overwrites
    assert unique_name(tmp_path, "noext", set()) == "noext_"
    retry = tmp_path / ".part"
    retry.write_bytes(b"2")
    assert unique_name(tmp_path, "a.jpg", set(), retry) == "a_.jpg"  # identical bytes: the earlier copy


def test_line_slices_and_js_integers() -> None:
    lines = [str(i) for i in range(10)]
    assert output_slice(lines, None) == lines
    assert output_slice(lines, "-3") == ["7", "8", "9"]
    assert output_slice(lines, "abc") == lines
    assert output_slice(lines, "2.7") == lines[2:]
    assert output_slice(lines, "50") == []
    assert js_int("12abc", 0) == 12 and js_int("x", 7) == 7


def test_count_images_ignores_side_files() -> None:
    names = ["a.jpg", "b.JPG", "geo.txt", "seed.zip", "align.laz", "c.tif"]
    assert count_images([Path(n) for n in names]) == 3
