"""Parallel uploads to `/task/new/upload/{uuid}`, retried the way PyODM retries them."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from ._exceptions import (
    AuthenticationFailed,
    InvalidOptions,
    NodeConnectionError,
    NodeError,
    NodeResponseError,
    NodeServerError,
    TaskNotFound,
)
from ._files import UploadFile
from ._utils import Progress

__all__ = ["is_retryable", "upload_in_parallel"]

#: Sends one batch of files in one request; the second argument counts bytes as they are read.
SendBatch = Callable[[Sequence[UploadFile], Callable[[int], None]], None]

_MAX_DELAY = 60.0


def is_retryable(error: NodeError) -> bool:
    """Whether sending the same upload again may succeed."""
    if isinstance(error, (NodeConnectionError, NodeServerError)):
        return True
    if isinstance(error, NodeResponseError):
        # PyODM retries every error body unless it says noRetry; these never heal by resending.
        return not error.no_retry and not isinstance(error, (TaskNotFound, InvalidOptions, AuthenticationFailed))
    return False


def upload_in_parallel(
    send: SendBatch,
    files: Sequence[UploadFile],
    *,
    chunk_files: int,
    parallel: int,
    max_retries: int,
    retry_delay: float,
    progress: Progress,
) -> None:
    """Send `files` in batches of `chunk_files` over `parallel` threads; raise the first failure.

    A batch that fails with a retryable error is sent again after an exponential, jittered
    back-off, up to `max_retries` times. Once any batch fails for good, the others stop
    at their next step instead of uploading files to a task that will never be committed.
    """
    if chunk_files < 1 or parallel < 1:
        raise ValueError("chunk_files and parallel_uploads must be at least 1.")
    batches = [files[i : i + chunk_files] for i in range(0, len(files), chunk_files)]
    stop = threading.Event()

    def run(batch: Sequence[UploadFile]) -> None:
        attempt = 0
        while not stop.is_set():
            sent = 0

            def count(n: int) -> None:
                nonlocal sent
                sent += n
                progress.add(n)

            try:
                send(batch, count)
                return
            except NodeError as error:
                progress.add(-sent)
                if (
                    not is_retryable(error)
                    or attempt >= max_retries
                    or not all(f.rewindable for f in batch)
                ):
                    stop.set()
                    raise
                attempt += 1
                delay = min(retry_delay * 2 ** (attempt - 1), _MAX_DELAY) * random.uniform(0.5, 1.0)
                if stop.wait(delay):
                    raise
            except BaseException:
                stop.set()
                raise

    with ThreadPoolExecutor(max_workers=min(parallel, len(batches) or 1),
                            thread_name_prefix="nodeodm-upload") as pool:
        futures = [pool.submit(run, batch) for batch in batches]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # Also reached on KeyboardInterrupt or a flow cancellation: stop the other workers.
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed or not all(f.done() for f in futures):
                stop.set()
                for future in futures:
                    future.cancel()
        if failed:
            error = failed[0].exception()
            assert error is not None
            raise error
