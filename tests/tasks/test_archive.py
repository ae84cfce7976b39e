from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tasks.archive import UnsafeArchive, extract, extract_flat


def archive(path: Path, names: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in names.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("evil", ["../x.txt", "a/../../x.txt", "/abs/x.txt", "C:/x.txt", "..\\x.txt"])
def test_extract_refuses_entries_outside_the_folder(tmp_path: Path, evil: str) -> None:
    zip_path = archive(tmp_path / "seed.zip", {"ok/file.txt": "1", evil: "2"})
    with pytest.raises(UnsafeArchive):
        extract(zip_path, tmp_path / "dest")
    assert not (tmp_path / "dest" / "ok" / "file.txt").exists()  # checked before anything is written
    assert not (tmp_path / "x.txt").exists()


def test_extract_keeps_folders(tmp_path: Path) -> None:
    zip_path = archive(tmp_path / "seed.zip", {"opensfm/a.json": "1", "b.txt": "2"})
    extract(zip_path, tmp_path / "dest")
    assert (tmp_path / "dest" / "opensfm" / "a.json").read_text() == "1"


def test_extract_flat_drops_folders(tmp_path: Path) -> None:
    zip_path = archive(tmp_path / "in.zip", {"x/y/1.jpg": "1", "../../2.jpg": "2", "dir/": ""})
    written = extract_flat(zip_path, tmp_path / "images")
    assert sorted(p.name for p in written) == ["1.jpg", "2.jpg"]
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["1.jpg", "2.jpg"]
