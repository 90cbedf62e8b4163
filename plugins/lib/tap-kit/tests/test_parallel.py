"""tapkit.parallel.ordered_map: results in item order, a bounded window, errors in turn."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tapkit.parallel import ordered_map


class Tracked:
    """Work that sleeps a random while and records how many items were in hand at once
    (submitted and not yet passed on) and which items it started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_hand = 0
        self.most_in_hand = 0
        self.started: list[int] = []

    def submitted(self, item: int) -> int:
        with self.lock:
            self.in_hand += 1
            self.most_in_hand = max(self.most_in_hand, self.in_hand)
        return item

    def work(self, item: int) -> int:
        with self.lock:
            self.started.append(item)
        time.sleep(random.uniform(0, 0.005))
        return item * item

    def passed_on(self) -> None:
        with self.lock:
            self.in_hand -= 1


@pytest.mark.parametrize(("workers", "window"), [(1, 1), (1, 2), (4, 5), (8, 3)])
def test_results_come_in_order_with_the_window_in_hand_beside_the_one_passed_on(
    workers: int, window: int
) -> None:
    tracked = Tracked()
    items = (tracked.submitted(i) for i in range(60))
    got = []
    with ThreadPoolExecutor(workers) as pool:
        for result in ordered_map(pool, tracked.work, items, window):
            got.append(result)
            tracked.passed_on()
    assert got == [i * i for i in range(60)]
    assert tracked.most_in_hand == window + 1


def test_items_are_read_only_as_far_as_the_window() -> None:
    read: list[int] = []

    def items() -> object:
        for i in range(100):
            read.append(i)
            yield i

    with ThreadPoolExecutor(2) as pool:
        results = ordered_map(pool, lambda i: i, items(), 3)
        assert next(results) == 0
        assert read == [0, 1, 2, 3]  # three in the window, one more once the first left
        results.close()


def test_a_failure_is_raised_after_the_results_before_it() -> None:
    def work(item: int) -> int:
        if item == 3:
            raise ValueError("item 3")
        return item

    got = []
    with ThreadPoolExecutor(4) as pool, pytest.raises(ValueError, match="item 3"):
        got.extend(ordered_map(pool, work, range(10), 5))
    assert got == [0, 1, 2]


def test_stopping_early_cancels_the_items_not_started() -> None:
    tracked = Tracked()
    gate = threading.Event()

    def work(item: int) -> int:
        if item > 0:
            gate.wait(5)
        return tracked.work(item)

    with ThreadPoolExecutor(1) as pool:
        results = ordered_map(pool, work, range(10), 4)
        assert next(results) == 0
        results.close()  # item 1 is running (the only worker), 2 to 4 are queued
        gate.set()
    assert tracked.started == [0, 1]


def test_a_window_below_one_is_refused() -> None:
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="at least 1"):
        next(ordered_map(pool, str, [1], 0))
