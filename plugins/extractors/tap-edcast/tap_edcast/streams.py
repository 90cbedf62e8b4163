"""tap-edcast streams: the Domo dataset catalogue, and one stream per configured dataset."""

from __future__ import annotations

import itertools
import tempfile
import typing as t
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import duckdb
import pyarrow as pa
import requests
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers._batch import BaseBatchFileEncoding, JSONLinesEncoding, ParquetEncoding
from singer_sdk.helpers._typing import to_json_compatible

from tap_edcast.client import answer_columns, decoded_json
from tap_edcast.normalise import Column, sql_ident, sql_literal, typed_page_sql
from tapkit.retry import RetryableError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_edcast.client import DomoClient
    from tap_edcast.tap import TapEdCast

CATALOGUE_PAGE = 50  # the API's maximum `limit`

# Turns one saved query answer (its path) into (rows in it, what the page yields).
Converter = t.Callable[[str], tuple[int, t.Any]]


class DatasetsStream(Stream):
    """The Domo dataset catalogue (`GET /v1/datasets`, offset paging)."""

    name = "datasets"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("rows", th.IntegerType),
        th.Property("columns", th.IntegerType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
        th.Property("dataCurrentAt", th.DateTimeType),
        th.Property("pdpEnabled", th.BooleanType),
        th.Property(
            "owner",
            th.ObjectType(th.Property("id", th.IntegerType), th.Property("name", th.StringType)),
        ),
    ).to_dict()

    def __init__(self, tap: TapEdCast) -> None:
        super().__init__(tap)
        self.client: DomoClient = tap.client

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        yield from catalogue(self.client)


def catalogue(client: DomoClient, name_like: str | None = None) -> Iterator[dict[str, t.Any]]:
    """Every dataset object, page by page, until an empty page."""
    offset = 0
    while True:
        params: dict[str, t.Any] = {"sort": "name", "limit": CATALOGUE_PAGE, "offset": offset}
        if name_like:
            params["nameLike"] = name_like
        page = client.get_json("/v1/datasets", params)
        if not page:
            return
        yield from page
        offset += len(page)


@dataclass(frozen=True)
class DatasetSpec:
    """One configured dataset: which Domo dataset, as which stream, keyed how."""

    name: str
    stream: str
    replication_key: str
    primary_keys: list[str]


@dataclass(frozen=True)
class Page:
    offset: int
    expected: int


class DatasetStream(Stream):
    """The rows of one Domo dataset, read with SQL in `[bookmark or start_date, end_date)`.

    Rows come ordered by the replication key, then by every column (so a key that
    repeats always ends on the same row, and the merge downstream is deterministic).
    The row count of the window is asked first, then pages of `page_size` rows are
    fetched `max_parallel_pages` at a time and passed on in order. A page answering
    fewer rows than asked (Domo's result cap) is completed from where it stopped.
    """

    is_sorted = True

    def __init__(
        self, tap: TapEdCast, spec: DatasetSpec, dataset_id: str, columns: list[Column]
    ) -> None:
        self.spec = spec
        self.dataset_id = dataset_id
        self.columns = columns
        names = [c.name for c in columns]
        missing = [k for k in [spec.replication_key, *spec.primary_keys] if k not in names]
        if missing:
            msg = (
                f"tap-edcast `datasets` entry {spec.name!r}: columns {missing} are not in the "
                f"dataset (it has {names}); fix its replication_key / primary_keys"
            )
            raise ConfigValidationError(msg, errors=[msg])
        schema = {"type": "object", "properties": {c.name: c.json_schema for c in columns}}
        super().__init__(tap, schema=schema, name=spec.stream)
        self.primary_keys = spec.primary_keys
        self.replication_key = spec.replication_key
        self.client: DomoClient = tap.client

    @property
    def _query_path(self) -> str:
        return f"/v1/datasets/query/execute/{self.dataset_id}"

    def _window(self, context: Context | None) -> str:
        """WHERE clause of this run: `[bookmark or start_date, end_date)` on the key."""
        start = self.get_starting_replication_key_value(context) or self.config["start_date"]
        key = _backticked(self.spec.replication_key)
        return (
            f"WHERE {key} >= {sql_literal(_domo_datetime(start))}"
            f" AND {key} < {sql_literal(_domo_datetime(self.config['end_date']))}"
        )

    def _select(self, where: str, offset: int, limit: int) -> str:
        order = [self.spec.replication_key, *(c.name for c in self.columns)]
        order_by = ", ".join(map(_backticked, order))
        return f"SELECT * FROM table {where} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}"

    def _count(self, where: str) -> int:
        answer = self.client.call(
            "POST",
            self._query_path,
            json={"sql": f"SELECT COUNT(*) FROM table {where}"},
            accept=decoded_json,
        )
        return int(answer["rows"][0][0])

    def _fetch(self, where: str, page: Page, workdir: Path, convert: Converter) -> list[t.Any]:
        """Fetch one page (completing it if Domo capped the answer); convert each answer.

        Saving and converting happen inside the retried call: an answer DuckDB finds
        malformed (a body cut short) is fetched again.
        """
        converted = []
        offset, wanted = page.offset, page.expected
        while wanted > 0:

            def accept(
                response: requests.Response, offset: int = offset, wanted: int = wanted
            ) -> tuple[int, t.Any]:
                self._check_columns(response.content)
                path = workdir / f"{uuid.uuid4().hex}.json"
                path.write_bytes(response.content)
                try:
                    rows, result = convert(str(path))
                except duckdb.InvalidInputException as exc:
                    if "Malformed JSON" in str(exc):
                        raise RetryableError(f"unreadable query answer: {exc}", response) from exc
                    raise FatalAPIError(f"{self.name}: {exc}") from exc
                except duckdb.Error as exc:
                    raise FatalAPIError(f"{self.name}: {exc}") from exc
                finally:
                    path.unlink(missing_ok=True)
                if rows == 0:
                    # Rows were counted here: skipping them would put them below the
                    # bookmark for good. Ask again; fail the sync if it persists.
                    msg = f"no rows at offset {offset} where {wanted} were counted"
                    raise RetryableError(msg, response)
                return rows, result

            sql = self._select(where, offset, wanted)
            got, result = self.client.call(
                "POST", self._query_path, json={"sql": sql}, accept=accept
            )
            converted.append(result)
            offset, wanted = offset + got, wanted - got
        return converted

    def _check_columns(self, body: bytes) -> None:
        """The answer's columns must be the ones discovered (read from its head only)."""
        expected = [c.name for c in self.columns]
        found = answer_columns(body)
        if found != expected:
            msg = (
                f"{self.name}: the dataset's columns changed during the sync "
                f"({found} != {expected}); run discovery again"
            )
            raise FatalAPIError(msg)

    def _pages(self, context: Context | None, convert: Converter) -> Iterator[t.Any]:
        """Converted pages of this run's window, in order, fetched several at a time."""
        where = self._window(context)
        total = self._count(where)
        size = int(self.config["page_size"])
        pages = iter([Page(offset, min(size, total - offset)) for offset in range(0, total, size)])
        self.logger.info("%s: %d rows to read (%s)", self.name, total, where)
        workers = max(1, int(self.config["max_parallel_pages"]))
        with (
            tempfile.TemporaryDirectory(prefix="tap-edcast-") as tmp,
            ThreadPoolExecutor(workers) as pool,
        ):

            def submit(page: Page) -> Future[list[t.Any]]:
                return pool.submit(self._fetch, where, page, Path(tmp), convert)

            # One page more than workers in flight: memory stays bounded, order is kept.
            pending = deque(submit(page) for page in itertools.islice(pages, workers + 1))
            while pending:
                done = pending.popleft().result()
                pending.extend(submit(page) for page in itertools.islice(pages, 1))
                yield from done

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        def to_arrow(path: str) -> tuple[int, pa.Table]:
            with duckdb.connect() as con:
                table = con.sql(typed_page_sql(path, self.columns)).to_arrow_table()
            return table.num_rows, table

        for table in self._pages(context, to_arrow):
            yield from table.to_pylist()

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """One BATCH file per page, written by DuckDB straight from Domo's answer."""
        encoding = batch_config.encoding
        if encoding.format not in ("parquet", "jsonl"):
            msg = f"tap-edcast writes parquet or jsonl BATCH files, not {encoding.format!r}"
            raise ConfigValidationError(msg, errors=[msg])
        parquet = encoding.format == "parquet"
        gzip = encoding.compression == "gzip"
        root = _local_dir(batch_config.storage.root)
        prefix = batch_config.storage.prefix or ""
        suffix = ("parquet" if parquet else "jsonl") + (".gz" if gzip and not parquet else "")
        codec = "gzip" if gzip else ("snappy" if parquet else "none")
        options = f"FORMAT {'parquet' if parquet else 'json'}, COMPRESSION {codec}"
        key = sql_ident(self.spec.replication_key)

        def to_file(path: str) -> tuple[int, tuple[str, int, t.Any]]:
            target = root / f"{prefix}{self.name}-{uuid.uuid4().hex}.{suffix}"
            with duckdb.connect() as con:
                con.execute("SET TimeZone = 'UTC'")
                con.execute(f"CREATE TEMP TABLE page AS {typed_page_sql(path, self.columns)}")
                con.execute(f"COPY page TO {sql_literal(str(target))} ({options})")
                rows, newest = con.execute(f"SELECT count(*), max({key}) FROM page").fetchone()  # type: ignore[misc]
            if not rows:
                target.unlink()
            return rows, (target.as_uri(), rows, newest)

        # Declares the codec really used (a Parquet file also names its own).
        file_encoding: BaseBatchFileEncoding = (
            ParquetEncoding(compression=codec) if parquet else JSONLinesEncoding(compression=codec)
        )
        # The SDK's batch path skips this (its record path does it): without it the
        # bookmark would be ignored and every batch run would start at start_date.
        self._write_starting_replication_value(context)
        with self.get_record_counter() as counter:
            for url, rows, newest in self._pages(context, to_file):
                counter.increment(rows)
                if newest is not None:
                    # Written as the record path writes it, so runs can switch modes.
                    bookmark = to_json_compatible(newest)
                    self._increment_stream_state(
                        {self.spec.replication_key: bookmark}, context=context
                    )
                yield file_encoding, [url]


def _backticked(name: str) -> str:
    """A Domo SQL identifier (MySQL style)."""
    return "`" + name.replace("`", "``") + "`"


def _domo_datetime(value: t.Any) -> str:
    """A bookmark or setting as Domo's DATETIME text, UTC (validated: it goes into SQL)."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="seconds")


def _local_dir(root: str) -> Path:
    parsed = urlparse(root)
    if parsed.scheme not in ("", "file"):
        msg = f"tap-edcast writes BATCH files to local storage only, not {root!r}"
        raise ConfigValidationError(msg, errors=[msg])
    path = Path(url2pathname(parsed.path) if parsed.scheme else root)
    path.mkdir(parents=True, exist_ok=True)
    return path
