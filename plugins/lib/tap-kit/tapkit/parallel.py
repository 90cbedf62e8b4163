"""Work done in parallel, results passed on in order, memory bounded."""

from __future__ import annotations

import itertools
import typing as t
from collections import deque

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Executor, Future

T = t.TypeVar("T")
R = t.TypeVar("R")


def ordered_map(
    pool: Executor, work: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``work(item)`` for each item, run in ``pool``, results yielded in item order.

    Besides the result being passed on, at most ``window`` items are in hand (queued,
    running, or done and waiting for their turn): memory stays bounded however many
    items there are, and ``items`` is read only as far as that. The next item is
    submitted before a result is passed on, so a window one more than the pool's
    workers keeps every worker busy. A failed item raises its error in turn, after
    the results before it. When the caller stops early, the items not yet started are
    cancelled.
    """
    if window < 1:
        msg = f"window must be at least 1, got {window}"
        raise ValueError(msg)
    todo = iter(items)
    pending: deque[Future[R]] = deque(
        pool.submit(work, item) for item in itertools.islice(todo, window)
    )
    try:
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(work, item) for item in itertools.islice(todo, 1))
            yield result
    finally:
        for future in pending:
            future.cancel()
