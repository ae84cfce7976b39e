"""Members of a zip are handed on while it downloads, whatever the write sizes."""

from __future__ import annotations

import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from tasks.unzip import Member, ZipTap, read_member

FILES = {"a/one.bin": os.urandom(70_000), "b/two.txt": b"hello " * 5000, "empty.txt": b"", "c/three.bin": b"x"}


class Unseekable(io.RawIOBase):
    """What a streaming zipper writes to: sizes then follow the data, in a data descriptor."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def archive(method: int, seekable: bool = True) -> bytes:
    out: io.BytesIO | Unseekable = io.BytesIO() if seekable else Unseekable()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        zf.writestr(zipfile.ZipInfo("a/"), b"")
        for name, data in FILES.items():
            zf.writestr(name, data)
    return out.getvalue() if isinstance(out, io.BytesIO) else bytes(out.data)


def feed(data: bytes, path: Path) -> tuple[ZipTap, list[Member]]:
    seen: list[Member] = []
    rng = random.Random(7)
    with open(path, "wb") as local:
        tap = ZipTap(local, seen.append)
        at = 0
        while at < len(data):
            step = rng.choice([1, 7, 29, 4096, 65536])
            tap.write(data[at : at + step])
            at += step
    return tap, seen


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_every_member_is_reported_once_complete(method: int, tmp_path: Path) -> None:
    tap, seen = feed(archive(method), tmp_path / "all.zip")
    assert [m.name for m in seen] == list(FILES)
    with open(tmp_path / "all.zip", "rb") as src:
        for member in seen:
            assert b"".join(read_member(src, member)) == FILES[member.name]
    assert not tap.streaming  # stopped at the central directory


def test_a_streamed_archive_is_left_to_the_caller(tmp_path: Path) -> None:
    tap, seen = feed(archive(zipfile.ZIP_DEFLATED, seekable=False), tmp_path / "all.zip")
    assert seen == [] and not tap.streaming
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:  # the file itself is whole
        assert zf.read("b/two.txt") == FILES["b/two.txt"]
