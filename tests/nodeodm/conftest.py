from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.nodeodm import NodeClient

from .fakenode import FakeNode


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def client(node: FakeNode) -> Iterator[NodeClient]:
    with NodeClient("http://node.example:3000", transport=node.transport) as c:
        yield c
