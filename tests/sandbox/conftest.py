from collections.abc import Iterator

import pytest

from dataops.sandbox import HttpSandbox, serve


@pytest.fixture(scope="module")
def zengrc() -> Iterator[HttpSandbox]:
    """A fault-free ZenGRC sandbox at seed 0, scale 1, epoch 0, shared by a module."""
    with serve("zengrc") as sandbox:
        yield sandbox
