"""How one run reads a dataset: ranges split at probed boundaries, each read in keyset
pages that never end inside a key group (order and points: ``keyset.py``).

1. One query counts the rows of the window (``[start_date, end_date)`` on the
   replication key) and, given a bookmark, those at or before it.
2. Probes ``ORDER BY <point> LIMIT 8 OFFSET k`` (several at once) put a boundary every
   ``page_size`` rows: the last point before the first change of point from offset
   ``k - 1`` on. A range therefore ends with a whole key group, and how many rows it
   held when probed is known (unless its boundary group is longer than the probe).
3. A range is read in pages: the first ``page_size + 1`` rows after the last row passed
   on. When more rows follow a page, its trailing key group is held back and the next
   page starts after the rows kept; a group filling a whole page is fetched whole. A
   short answer ends the range when the rows read reach the probed count; otherwise
   (Domo's result cap cut the answer, rows were deleted meanwhile, or the count is not
   known) reading goes on after it until an answer is empty.
4. ``max_parallel_pages`` ranges are read at once (one more in flight) and their pages
   passed on in order, so the points passed on only move forward, whatever the page
   size or parallelism, and each key group arrives whole, in one page.

Rows that change while a sync reads them are read as they are when their range is read;
what that misses is for the next run's count to find (see ``streams.py``). Ranges are
disjoint and cover the window even when the data move between probes (a boundary then
may be out of order: rows are then passed twice, never lost).
"""

from __future__ import annotations

import tempfile
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
from singer_sdk.exceptions import FatalAPIError

from tap_edcast.answer import MALFORMED, Answer
from tap_edcast.client import answer_layout, decoded_json
from tapkit.parallel import ordered_map
from tapkit.retry import RetryableError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import requests

    from tap_edcast.client import AnswerLayout, DomoClient
    from tap_edcast.keyset import KeyOrder, Point
    from tap_edcast.normalise import Column

T = t.TypeVar("T")
PROBE_ROWS = 8
"""Rows a boundary probe reads: a key group as long as this makes its range's count unknown."""
PARSED_AT_ONCE = 2
"""Answers DuckDB parses at once, whatever ``max_parallel_pages``: its JSON reader takes
32 MiB of buffers each, which ``memory_limit`` must hold (each parse uses every core)."""


@dataclass(frozen=True)
class Range:
    """The rows after ``after`` (None: from the window's start) up to ``upto``, its key
    group included (None: to the window's end)."""

    after: Point | None
    upto: Point | None
    expected: int | None
    """Rows it held when probed; None when not known exactly."""


@dataclass(frozen=True)
class Page(t.Generic[T]):
    result: T
    """What the converter made of the page's rows."""
    rows: int
    last: Point
    """The point of its last row."""


@dataclass(frozen=True)
class Dataset:
    """One Domo dataset as a stream reads it."""

    stream: str
    query_path: str
    columns: list[Column]
    order: KeyOrder
    window: str
    """SQL condition: the rows this stream reads (``[start_date, end_date)``)."""


class KeysetReader:
    """Reads one dataset for one run (a context manager: a work directory, a thread pool)."""

    def __init__(
        self,
        client: DomoClient,
        dataset: Dataset,
        page_size: int,
        workers: int,
        memory_limit: str,
        check_cancelled: Callable[[], None],
    ) -> None:
        self.client = client
        self.dataset = dataset
        self.order = dataset.order
        self.page_size = page_size
        self.workers = workers
        self.memory_limit = memory_limit
        self.check_cancelled = check_cancelled
        self._exit = ExitStack()

    def __enter__(self) -> KeysetReader:
        self._workdir = Path(
            self._exit.enter_context(tempfile.TemporaryDirectory(prefix="tap-edcast-"))
        )
        self._database = self._exit.enter_context(duckdb.connect())
        self._database.execute("SET GLOBAL TimeZone = 'UTC'").fetchall()
        self._database.execute("SET GLOBAL memory_limit = ?", [self.memory_limit]).fetchall()
        spill = self._workdir / "spill"
        self._database.execute("SET GLOBAL temp_directory = ?", [str(spill)]).fetchall()
        self._database_lock = threading.Lock()
        self._parsing = threading.BoundedSemaphore(PARSED_AT_ONCE)
        self._pool = self._exit.enter_context(ThreadPoolExecutor(self.workers))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._exit.close()

    def count(self, bookmark: Point | None) -> tuple[int, int]:
        """Rows in the window, and those at or before ``bookmark`` (0 without one)."""
        counted = "COUNT(*)"
        if bookmark is not None:
            counted += f", SUM(CASE WHEN {self.order.at_or_before(bookmark)} THEN 1 ELSE 0 END)"
        sql = f"SELECT {counted} FROM table WHERE {self.dataset.window}"  # noqa: S608
        answer = self.client.call(
            "POST", self.dataset.query_path, json={"sql": sql}, accept=decoded_json
        )
        total, *below = answer["rows"][0]
        return int(total or 0), (int(below[0] or 0) if below else 0)

    def pages(
        self, after: Point | None, rows: int, convert: Callable[[Answer], T]
    ) -> Iterator[Page[T]]:
        """The pages of the window after ``after`` (about ``rows`` rows), in order."""
        ranges = self._ranges(after, rows)
        # One range more than workers in flight: memory stays bounded, order is kept.
        window = self.workers + 1
        for done in ordered_map(self._pool, lambda part: self._read(part, convert), ranges, window):
            self.check_cancelled()
            yield from done

    def _where(self, after: Point | None, upto: Point | None) -> str:
        conditions = [self.dataset.window]
        if after is not None:
            conditions.append(self.order.after(after))
        if upto is not None:
            conditions.append(self.order.at_or_before(upto))
        return " AND ".join(conditions)

    def _ranges(self, after: Point | None, rows: int) -> list[Range]:
        offsets = range(self.page_size, rows, self.page_size)
        found = list(self._pool.map(lambda offset: self._boundary(after, offset), offsets))
        ranges: list[Range] = []
        lower, below = after, t.cast("int | None", 0)
        for boundary in found:
            if boundary is None or boundary[0] == lower:
                continue  # past the end, or the same group as the boundary before
            point, upto = boundary
            expected = None if upto is None or below is None else upto - below
            ranges.append(Range(lower, point, expected))
            lower, below = point, upto
        ranges.append(Range(lower, None, None if below is None else rows - below))
        return ranges

    def _boundary(self, after: Point | None, offset: int) -> tuple[Point, int | None] | None:
        """The last point before the first change of point at or after ``offset``, with
        how many rows (after ``after``) are up to it, when known."""
        point_columns = self.order.order_by(every_column=False)
        sql = (
            f"SELECT {point_columns} FROM table WHERE {self._where(after, None)}"  # noqa: S608
            f" ORDER BY {point_columns} LIMIT {PROBE_ROWS} OFFSET {offset - 1}"
        )
        with self._answer(sql, list(self.order.key)) as answer:
            points = answer.points(self.order.names)
        if not points:
            return None
        for i in range(1, len(points)):
            if points[i] != points[i - 1]:
                return points[i - 1], offset - 1 + i
        ended = len(points) < PROBE_ROWS  # the window ends with this group
        return points[-1], (offset - 1 + len(points) if ended else None)

    def _read(self, part: Range, convert: Callable[[Answer], T]) -> list[Page[T]]:
        """Every row of one range, in keyset pages (see the module docstring)."""
        pages: list[Page[T]] = []
        after, read, size = part.after, 0, self.page_size
        order_by = self.order.order_by()
        while True:
            self.check_cancelled()
            sql = (
                f"SELECT * FROM table WHERE {self._where(after, part.upto)}"  # noqa: S608
                f" ORDER BY {order_by} LIMIT {size + 1}"
            )
            with self._answer(sql, self.dataset.columns) as answer:
                got = answer.rows
                if got == 0:
                    return pages
                done = got <= size and part.expected is not None and read + got >= part.expected
                held_back = 0 if done else answer.trailing_group(self.order.names)
                if held_back == got > size:  # one key group fills the page
                    group: Point | None = answer.last_point(self.order.names)
                else:
                    group = None
                    if 0 < held_back < got:
                        answer.keep(got - held_back)
                    page = self._page(answer, convert)
            if group is not None:
                page = self._group(group, convert)
            pages.append(page)
            read += page.rows
            if done:
                return pages
            if page.last == after:
                msg = f"tap-edcast {self.dataset.stream}: paging does not advance past {after}"
                raise FatalAPIError(msg)
            after = page.last

    def _group(self, point: Point, convert: Callable[[Answer], T]) -> Page[T]:
        """One key group, fetched whole (it is longer than a page)."""
        sql = (
            f"SELECT * FROM table WHERE {self.dataset.window}"  # noqa: S608
            f" AND {self.order.equal(point)} ORDER BY {self.order.order_by()}"
        )
        with self._answer(sql, self.dataset.columns) as answer:
            return self._page(answer, convert)

    def _page(self, answer: Answer, convert: Callable[[Answer], T]) -> Page[T]:
        return Page(convert(answer), answer.rows, answer.last_point(self.order.names))

    def _answer(self, sql: str, columns: list[Column]) -> Answer:
        """Run one query; its answer loaded (a malformed one is asked for again)."""

        def accept(response: requests.Response) -> Answer:
            layout = answer_layout(response.content)
            self._check_columns(layout, columns)
            with self._database_lock:
                connection = self._database.cursor()
            try:
                with self._parsing:
                    answer = Answer(response.content, layout, columns, self._workdir, connection)
            except duckdb.InvalidInputException as exc:
                if MALFORMED in str(exc):
                    raise RetryableError(f"unreadable query answer: {exc}", response) from exc
                raise FatalAPIError(f"{self.dataset.stream}: {exc}") from exc
            except duckdb.OutOfMemoryException as exc:
                msg = f"{self.dataset.stream}: {exc}; raise tap-edcast `memory_limit`"
                raise FatalAPIError(msg) from exc
            except duckdb.Error as exc:
                raise FatalAPIError(f"{self.dataset.stream}: {exc}") from exc
            if layout.num_rows is not None and answer.rows != layout.num_rows:
                answer.connection.close()
                msg = f"query answer with {answer.rows} rows where numRows says {layout.num_rows}"
                raise RetryableError(msg, response)
            return answer

        return self.client.call("POST", self.dataset.query_path, json={"sql": sql}, accept=accept)

    def _check_columns(self, layout: AnswerLayout, columns: list[Column]) -> None:
        """The answer's columns must be the ones asked for."""
        expected = [c.name for c in columns]
        if layout.columns != expected:
            msg = (
                f"{self.dataset.stream}: the dataset's columns changed during the sync "
                f"({layout.columns} != {expected}); run discovery again"
            )
            raise FatalAPIError(msg)
