"""Unpacking a zip while it downloads: each member is handed on as soon as its bytes are in.

A zip names and sizes each member in a local header just before its data, so a writer that
sees the archive in order can tell when a member is complete, long before the central
directory at the end arrives. `ZipTap` wraps the local file a download writes to and calls
back with each finished member's place in that file. Archives written by streaming zippers
(sizes in a trailing data descriptor) cannot be read this way; the tap then stops calling
back, and the caller unpacks the rest from the finished file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

__all__ = ["Member", "ZipTap", "read_member"]

_LOCAL = b"PK\x03\x04"
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class Member:
    """A complete member: its name and where its (possibly deflated) bytes lie in the archive."""

    name: str
    offset: int
    size: int
    method: int


class ZipTap:
    """A writable binary file that passes bytes to `out` and reports members as they complete."""

    def __init__(self, out: IO[bytes], on_member: Callable[[Member], None]) -> None:
        self._out = out
        self._on_member = on_member
        self._written = 0
        self._buf = bytearray()  # bytes from absolute offset `_buf_at` on, kept while headers are read
        self._buf_at = 0
        self._pending: Member | None = None
        self.streaming = True  # False once the archive cannot be followed: the caller finishes the job

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._written += len(data)
        if self.streaming:
            self._buf += data
            self._advance()
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def _advance(self) -> None:
        while self.streaming:
            if self._pending is not None:
                member = self._pending
                end = member.offset + member.size
                self._drop(min(end, self._written))
                if self._written < end:
                    return
                self._pending = None
                if not member.name.endswith("/"):
                    self._out.flush()  # the callback reads the member back from the file
                    self._on_member(member)
                continue
            if not self._header():
                return

    def _header(self) -> bool:
        """Read the local header at the start of the buffer; False when more bytes are needed."""
        if len(self._buf) < 30:
            return False
        if bytes(self._buf[:4]) != _LOCAL:
            self.streaming = False  # the central directory, or something this reader does not know
            return False
        flags, method = struct.unpack("<HH", self._buf[6:10])
        size, _ = struct.unpack("<II", self._buf[18:26])
        name_len, extra_len = struct.unpack("<HH", self._buf[26:30])
        if flags & 0x08 or method not in (_STORED, _DEFLATED) or flags & 0x01:
            self.streaming = False  # sizes come after the data, or the data is encrypted
            return False
        if len(self._buf) < 30 + name_len + extra_len:
            return False
        raw = bytes(self._buf[30 : 30 + name_len])
        name = raw.decode("utf-8" if flags & 0x800 else "cp437")
        if size == 0xFFFFFFFF:
            size = _zip64_size(bytes(self._buf[30 + name_len : 30 + name_len + extra_len]))
        start = self._buf_at + 30 + name_len + extra_len
        self._pending = Member(name, start, size, method)
        return True

    def _drop(self, upto: int) -> None:
        if upto > self._buf_at:
            del self._buf[: upto - self._buf_at]
            self._buf_at = upto


def _zip64_size(extra: bytes) -> int:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[at : at + 4])
        if tag == 0x0001:
            # Uncompressed then compressed size, each present only where the header says 0xFFFFFFFF;
            # a local header carries both.
            return int(struct.unpack("<Q", extra[at + 12 : at + 20])[0])
        at += 4 + length
    raise ValueError("A zip64 member without its zip64 sizes.")


def read_member(archive: IO[bytes], member: Member, chunk: int = 8 * 1024 * 1024) -> Iterator[bytes]:
    """The member's uncompressed bytes, read from an archive file opened for reading."""
    archive.seek(member.offset)
    left = member.size
    inflate = zlib.decompressobj(-15) if member.method == _DEFLATED else None
    while left > 0:
        data = archive.read(min(chunk, left))
        if not data:
            raise EOFError(f"The archive ends inside {member.name}.")
        left -= len(data)
        yield inflate.decompress(data) if inflate else data
    if inflate:
        yield inflate.flush()
