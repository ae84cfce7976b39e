"""Asset downloads: one stream, or parallel HTTP Range requests where the server honours them.

The first request asks for the first chunk only. A 206 answer proves that ranges work
(whatever `Accept-Ranges` says) and gives the total size; the remaining chunks are then
fetched in parallel and written in order, so `dest` may be any writable binary file,
such as an fsspec file on object storage. A 200 answer is streamed as it comes, which is
what a real NodeODM does. Redirects, such as a 302 to a pre-signed URL, are followed, and
the ranges are asked of the final URL.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

import httpx

from ._exceptions import NodeServerError
from ._utils import Progress

if TYPE_CHECKING:
    from ._base import BaseClient

__all__ = ["Destination", "download_asset"]

#: Where a download goes: a file path (written atomically) or a writable binary file.
Destination = Union[str, "os.PathLike[str]", IO[bytes]]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_IDENTITY = {"Accept-Encoding": "identity"}  # byte offsets must refer to the stored bytes


def download_asset(
    client: BaseClient, path: str, dest: Destination, *, parallel: int, chunk_size: int, progress: Progress
) -> int:
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1 byte.")
    with _open_destination(dest) as out:
        headers = dict(_IDENTITY)
        if parallel > 1:
            headers["Range"] = f"bytes=0-{chunk_size - 1}"
        with client._stream(path, headers) as first:
            if first.status_code == 416:
                # Some stores refuse any range of an empty object.
                headers.pop("Range")
                first.close()
                with client._stream(path, headers) as plain:
                    progress.total = _length(plain)
                    return _copy(client, plain, out, progress, progress.total)
            if first.status_code != 206:
                progress.total = _length(first)
                return _copy(client, first, out, progress, progress.total)
            start, end, total = _content_range(first)
            progress.total = total
            written = _copy(client, first, out, progress, end - start + 1)
            final_url = str(first.url)
        if total is None:
            with client._stream(final_url, {**_IDENTITY, "Range": f"bytes={written}-"}, with_token=False) as rest:
                if rest.status_code != 206:
                    raise _range_error(rest, f"bytes={written}-")
                return written + _copy(client, rest, out, progress, None)
        return written + _fetch_ranges(client, final_url, out, written, total, parallel, chunk_size, progress)


def _fetch_ranges(
    client: BaseClient, url: str, out: IO[bytes], start: int, total: int,
    parallel: int, chunk_size: int, progress: Progress,
) -> int:
    ranges = iter([(a, min(a + chunk_size, total) - 1) for a in range(start, total, chunk_size)])
    written = 0
    # At most `parallel` chunks are held in memory while they wait for their turn to be written.
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="nodeodm-download") as pool:
        window: deque[Future[bytes]] = deque()
        try:
            for first, last in ranges:
                window.append(pool.submit(_fetch_range, client, url, first, last))
                if len(window) >= parallel:
                    break
            while window:
                data = window.popleft().result()
                out.write(data)
                written += len(data)
                progress.add(len(data))
                following = next(ranges, None)
                if following is not None:
                    window.append(pool.submit(_fetch_range, client, url, *following))
        finally:
            for future in window:
                future.cancel()
    return written


def _fetch_range(client: BaseClient, url: str, first: int, last: int) -> bytes:
    spec = f"bytes={first}-{last}"
    with client._stream(url, {**_IDENTITY, "Range": spec}, with_token=False) as response:
        if response.status_code != 206:
            raise _range_error(response, spec)
        with client._errors(url):
            data = response.read()
    if len(data) != last - first + 1:
        raise NodeServerError(
            f"{spec} of {url.split('?', 1)[0]} returned {len(data)} bytes; download again.", url=url
        )
    return data


def _copy(
    client: BaseClient, response: httpx.Response, out: IO[bytes], progress: Progress, expected: int | None
) -> int:
    written = 0
    with client._errors(str(response.url)):
        for piece in response.iter_bytes(1024 * 1024):
            out.write(piece)
            written += len(piece)
            progress.add(len(piece))
    if expected is not None and written != expected:
        raise NodeServerError(
            f"Expected {expected} bytes from {response.url.copy_with(query=None)}, got {written}; "
            "download again.",
            url=str(response.url),
        )
    return written


def _length(response: httpx.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity") != "identity":
        return None  # the length counts encoded bytes, iter_bytes yields decoded ones
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _content_range(response: httpx.Response) -> tuple[int, int, int | None]:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None or int(match.group(1)) != 0:
        raise _range_error(response, "bytes=0-")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _range_error(response: httpx.Response, spec: str) -> NodeServerError:
    return NodeServerError(
        f"{response.url.copy_with(query=None)} answered HTTP {response.status_code} "
        f"(Content-Range {response.headers.get('Content-Range')!r}) to Range {spec}; "
        "download again with parallel=1.",
        url=str(response.url),
        status_code=response.status_code,
    )


@contextmanager
def _open_destination(dest: Destination) -> Iterator[IO[bytes]]:
    if not isinstance(dest, (str, os.PathLike)):
        yield dest
        return
    target = Path(dest)
    # Write beside the target and rename, so a crash never leaves a partial file under its name.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
