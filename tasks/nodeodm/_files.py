"""Upload sources: local paths, open binary files, and openers such as fsspec's `OpenFile`.

Every source is streamed from its start on each attempt, so a retried upload sends the
same bytes again and no file is ever read whole into memory.
"""

from __future__ import annotations

import io
import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Union, cast

__all__ = ["FileSource", "UploadFile"]

#: A path; a binary file-like with a `name`; an object with `open()` and a `path` or `name`
#: (fsspec's `OpenFile`); or `(name, source)` where source may also be bytes or a
#: zero-argument callable returning a binary file.
FileSource = Union[str, "os.PathLike[str]", IO[bytes], Any, tuple[str, Any]]


class UploadFile:
    """One file to upload, with the name the node will store it under."""

    def __init__(self, source: FileSource, *, size: int | None = None) -> None:
        """`size` fills in what an opener cannot tell cheaply; it only feeds progress totals."""
        name: str | None = None
        if isinstance(source, tuple):
            name, source = source
        self._path: str | None = None
        self._fileobj: IO[bytes] | None = None
        self._opener: Callable[[], IO[bytes]] | None = None
        self._start: int | None = None
        self.size: int | None = None

        if isinstance(source, (str, os.PathLike)):
            self._path = os.fspath(source)
            # Fail before the node is contacted, not halfway through an upload.
            self.size = os.stat(self._path).st_size
            name = name or self._path
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._opener = lambda: io.BytesIO(data)
            self.size = len(data)
        elif hasattr(source, "read"):
            if isinstance(source, io.TextIOBase):
                raise TypeError(f"Upload sources must be opened in binary mode: {source!r}")
            self._fileobj = cast(IO[bytes], source)
            self._start = _tell(self._fileobj)
            name = name or getattr(source, "name", None) or getattr(source, "path", None)
        elif callable(getattr(source, "open", None)):
            self._opener = cast(Any, source).open
            known = getattr(source, "size", None)
            self.size = known if isinstance(known, int) else None
            name = name or getattr(source, "path", None) or getattr(source, "name", None)
        elif callable(source):
            self._opener = source
        else:
            raise TypeError(f"Cannot upload {source!r}: give a path, a binary file or an opener.")

        if size is not None:
            self.size = size
        if not name or not isinstance(name, str):
            raise ValueError(f"Upload source {source!r} has no name; pass it as a (name, source) tuple.")
        # NodeODM keeps only the base name; paths from object stores use '/' on every platform.
        self.name = posixpath.basename(name.replace("\\", "/").split("?", 1)[0]) or name
        self.content_type = mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def rewindable(self) -> bool:
        """Whether a failed upload of this source can be tried again from its first byte."""
        return self._fileobj is None or self._start is not None

    @contextmanager
    def open(self, on_read: Callable[[int], None] | None = None) -> Iterator[IO[bytes]]:
        """Yield a reader positioned at the start of the source, counting bytes through `on_read`."""
        if self._path is not None:
            with open(self._path, "rb") as local:
                yield _Reader.wrap(local, on_read)
        elif self._opener is not None:
            opened = self._opener()
            try:
                yield _Reader.wrap(opened, on_read)
            finally:
                opened.close()
        else:
            assert self._fileobj is not None
            # The caller owns this file: rewind it, but leave it open.
            if self._start is not None:
                self._fileobj.seek(self._start)
            yield _Reader.wrap(self._fileobj, on_read)


def _tell(f: IO[bytes]) -> int | None:
    try:
        return f.tell() if f.seekable() else None
    except (AttributeError, OSError):
        return None


class _Reader(io.RawIOBase):
    """A read-only view of a file from its current position, for httpx's multipart encoder.

    httpx measures a part with `tell`/`seek` and rewinds it with `seek(0)`; offsets here are
    relative to where the view starts, so a file handed over mid-way uploads from there.
    It deliberately has no `fileno`, which httpx would otherwise use to size the whole file.
    """

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None) -> None:
        super().__init__()
        self._raw = raw
        self._on_read = on_read
        self._base = _tell(raw)

    @classmethod
    def wrap(cls, raw: IO[bytes], on_read: Callable[[int], None] | None) -> IO[bytes]:
        return cast(IO[bytes], cls(raw, on_read))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._base is not None

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data and self._on_read is not None:
            self._on_read(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        if self._base is None:
            raise io.UnsupportedOperation("not seekable")
        return self._raw.tell() - self._base

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if self._base is None:
            raise io.UnsupportedOperation("not seekable")
        if whence == os.SEEK_SET:
            return self._raw.seek(self._base + offset) - self._base
        return self._raw.seek(offset, whence) - self._base
