"""Options, versions and progress, shared by the client modules."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Options", "ProgressCallback", "Progress", "options_to_json", "parse_version"]

#: Processing options: `{"name": value}`, or NodeODM's own `[{"name": ..., "value": ...}]`.
Options = Mapping[str, Any] | Sequence[Mapping[str, Any]]

#: Called with `(bytes_done, bytes_total)`; the total is None when it cannot be known up front.
ProgressCallback = Callable[[int, int | None], None]


def options_to_list(options: Options | None) -> list[dict[str, Any]]:
    if options is None:
        return []
    if isinstance(options, Mapping):
        return [{"name": str(k), "value": v} for k, v in options.items()]
    if isinstance(options, (str, bytes)):
        raise TypeError("Options must be a dict or a list of {'name', 'value'} items, not a string.")
    items: list[dict[str, Any]] = []
    for item in options:
        if not isinstance(item, Mapping) or "name" not in item or "value" not in item:
            raise TypeError(f"Option {item!r} is not a {{'name': ..., 'value': ...}} mapping.")
        items.append({"name": str(item["name"]), "value": item["value"]})
    return items


def options_to_json(options: Options | None) -> str:
    """Serialise options the way NodeODM's form fields expect them: a JSON array string."""
    return json.dumps(options_to_list(options))


def parse_version(version: str | None) -> tuple[int, ...]:
    """`"2.2.4"` → `(2, 2, 4)`, `"1.4"` → `(1, 4, 0)`; unparsable → `(0, 0, 0)`, older than any node."""
    numbers = re.match(r"\s*v?(\d+(?:\.\d+)*)", version or "")
    parts = [int(n) for n in numbers.group(1).split(".")] if numbers else []
    # Padded so that "1.4" compares equal to (1, 4, 0), not below it.
    return tuple(parts + [0] * (3 - len(parts)))


class Progress:
    """A thread-safe byte counter that reports to an optional callback."""

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self.total = total
        self.done = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._callback is not None:
                # Called under the lock so that reports never go backwards between threads.
                self._callback(self.done, self.total)
