"""tap-edcast streams: the Domo dataset catalogue, and one stream per configured dataset."""

from __future__ import annotations

import os
import tempfile
import typing as t
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyarrow.parquet as pq
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from typing_extensions import override

from tap_edcast.keyset import KeyOrder, backticked, domo_datetime
from tap_edcast.normalise import sql_literal
from tap_edcast.paging import Dataset, KeysetReader
from tapkit.backfill import backfill_from, instant
from tapkit.concurrency import SYNC_LOCK
from tapkit.sdk_seam import BaseBatchFileEncoding, JSONLinesEncoding, ParquetEncoding
from tapkit.versions import VersionedStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers import types
    from singer_sdk.helpers.types import Context

    from tap_edcast.answer import Answer
    from tap_edcast.client import DomoClient
    from tap_edcast.keyset import Point
    from tap_edcast.normalise import Column
    from tap_edcast.paging import Page
    from tap_edcast.tap import TapEdCast
    from tapkit.sdk_seam import BatchConfig

CATALOGUE_PAGE = 50  # the API's maximum `limit`
CATALOGUE_ATTEMPTS = 3
REPLICATION_KEY_VALUE = "replication_key_value"
"""State key (the SDK's): the replication key value of the bookmark point."""
LAST_KEY = "last_primary_key"
"""State key: the key column values of the bookmark point, in ``primary_keys`` order."""
ROWS_HELD = "rows_up_to_bookmark"
"""State key: source rows at or before the bookmark point that the warehouse holds."""
TABLE_VERSION_COLUMN = "_sdc_table_version"


class DatasetsStream(VersionedStream):
    """The Domo dataset catalogue (`GET /v1/datasets`), read whole every run and ended
    with ACTIVATE_VERSION: datasets deleted in Domo leave the warehouse."""

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

    @override
    def __init__(self, tap: TapEdCast) -> None:
        super().__init__(tap)
        self.client: DomoClient = tap.client

    @override
    def get_batch_config(self, config: t.Mapping[str, t.Any]) -> BatchConfig | None:
        """Always records (a few hundred objects): so each carries its table version."""
        return None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self.begin_read(context, full=True)
        yield from catalogue(self.client)
        self.finish_read(context)


def catalogue(client: DomoClient, name_like: str | None = None) -> list[dict[str, t.Any]]:
    """Every dataset object, sorted by name, in pages of 50.

    Pages overlap by one object: when a page does not start with the last object of
    the page before, datasets were added or deleted while the catalogue was listed (an
    offset would skip or repeat one), and the listing starts again.
    """
    for _ in range(CATALOGUE_ATTEMPTS):
        listed: list[dict[str, t.Any]] = []
        while True:
            offset = max(len(listed) - 1, 0)
            params: dict[str, t.Any] = {"sort": "name", "limit": CATALOGUE_PAGE, "offset": offset}
            if name_like:
                params["nameLike"] = name_like
            page = client.get_json("/v1/datasets", params)
            first = not listed
            if not first and (not page or page[0]["id"] != listed[-1]["id"]):
                break  # changed while listed
            listed.extend(page if first else page[1:])
            if len(page) <= (0 if first else 1):
                return listed
    msg = f"the Domo catalogue changed during each of {CATALOGUE_ATTEMPTS} listings; run again"
    raise FatalAPIError(msg)


@dataclass(frozen=True)
class DatasetSpec:
    """One configured dataset: which Domo dataset, as which stream, keyed how."""

    name: str
    stream: str
    replication_key: str
    primary_keys: list[str]


@dataclass(frozen=True)
class Read:
    """What this run reads of a dataset."""

    full: bool
    """Every row, ending with ACTIVATE_VERSION."""
    after: Point | None
    """Read the rows after this point (None: from the window's start)."""
    rows: int
    """How many there were when counted."""
    since: datetime | None = None
    """A backfill's start: the rows read are those of the window from here on."""


class DatasetStream(VersionedStream):
    """The rows of one Domo dataset, read in keyset pages (``paging.py``).

    State: the bookmark is the point (replication key value, ``last_primary_key``) of
    the last row passed on, and ``rows_up_to_bookmark`` how many source rows at or
    before it the warehouse holds (rows passed on, summed over runs); all three change
    together when a page has been passed on, and a STATE follows each page. A run
    counts the source rows at or before the bookmark: the same number → it reads the
    rows after the bookmark; another (rows replaced away, or inserted below it) or no
    bookmark → a full read from ``start_date``, stamped with a new table version and
    ended with ACTIVATE_VERSION, which deletes downstream what the source no longer
    has. A run that did not finish (killed, failed) leaves ``unfinished_read_version``
    in the state, and the next run is a full read: the loader may hold rows it sent
    after its last STATE, and one the source deleted since would be seen by no count.

    A backfill (``tapkit.backfill``) from a moment before the bookmark, in a run that
    would read incrementally, reads the rows from that moment on instead; the rows
    before it count as held (the count just matched), so the three keys agree again
    once the first page is passed on.
    """

    is_sorted = True

    @override
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
        self.order = KeyOrder.of(columns, spec.replication_key, spec.primary_keys)
        schema = {"type": "object", "properties": {c.name: c.json_schema for c in columns}}
        super().__init__(tap, schema=schema, name=spec.stream)
        self.primary_keys = spec.primary_keys
        self.replication_key = spec.replication_key
        self.client: DomoClient = tap.client

    @override
    def advances_bookmark(self, record: types.Record, context: Context | None) -> bool:
        """Never per record: the bookmark moves when a whole page was passed on."""
        return False

    def _reader(self, since: datetime | None = None) -> KeysetReader:
        """A reader of the window ``[start_date, end_date)``, or from ``since`` on."""
        key = backticked(self.spec.replication_key)
        start = str(self.config["start_date"])
        floor = instant(start)
        if since is not None and floor is not None and since > floor:
            start = since.isoformat()
        window = (
            f"{key} >= {sql_literal(domo_datetime(start))}"
            f" AND {key} < {sql_literal(domo_datetime(self.config['end_date']))}"
        )
        dataset = Dataset(
            self.name,
            f"/v1/datasets/query/execute/{self.dataset_id}",
            self.columns,
            self.order,
            window,
        )
        return KeysetReader(
            self.client,
            dataset,
            int(self.config["page_size"]),
            int(self.config["max_parallel_pages"]),
            str(self.config["memory_limit"]),
            self.check_cancelled,
        )

    def _bookmark(self, state: dict[str, t.Any]) -> Point | None:
        """The point of the last row passed on, when the state has all of it."""
        value, keys = state.get(REPLICATION_KEY_VALUE), state.get(LAST_KEY)
        if value is None or keys is None or ROWS_HELD not in state:
            return None
        if len(keys) != len(self.spec.primary_keys):
            return None  # the keys were configured otherwise: start afresh
        values = dict(zip(self.spec.primary_keys, keys, strict=True))
        values[self.spec.replication_key] = value
        return tuple(values[name] for name in self.order.names)

    def _start(self, context: Context | None, reader: KeysetReader) -> Read:
        """Decide this run's read (see the class docstring) and begin it."""
        state = self.get_context_state(context)
        unfinished = self.last_read_unfinished(context)
        bookmark = None if unfinished else self._bookmark(state)
        total, below = reader.count(bookmark)
        held = state.get(ROWS_HELD)
        unchanged = bookmark is not None and below == held
        full = self.begin_read(context, full=not unchanged)
        if full:
            with SYNC_LOCK:
                # None, not removed: Meltano merges partial states onto stored ones.
                state[REPLICATION_KEY_VALUE] = None
                state[LAST_KEY] = None
                state[ROWS_HELD] = 0
        if not full:
            since = backfill_from(self.config)
            marked = instant(state.get(REPLICATION_KEY_VALUE))
            if since is None or marked is None or since >= marked:
                return Read(full=False, after=bookmark, rows=total - below)
            with self._reader(since) as window:
                rows, _ = window.count(None)
            with SYNC_LOCK:
                state[REPLICATION_KEY_VALUE] = None
                state[LAST_KEY] = None
                state[ROWS_HELD] = total - rows  # the rows before `since`, held
            self.logger.info("%s: backfill: reading the %d rows from %s on", self.name, rows, since)
            return Read(full=False, after=None, rows=rows, since=since)
        if unfinished:
            reason = "the last run did not finish"
        elif bookmark is None:
            reason = "no bookmark yet"
        else:
            reason = f"{below} source rows up to the bookmark where {held} were passed on"
        self.logger.info("%s: reading every row (%s)", self.name, reason)
        return Read(full=True, after=None, rows=total)

    @contextmanager
    def _read(self, context: Context | None) -> Iterator[tuple[KeysetReader, Read]]:
        """This run's read (:meth:`_start`) and the reader of its window."""
        with self._reader() as reader:
            read = self._start(context, reader)
            if read.since is None:
                yield reader, read
                return
        with self._reader(read.since) as reader:
            yield reader, read

    def _passed_on(self, context: Context | None, page: Page[t.Any]) -> None:
        """A page's rows have all been sent: the bookmark moves to its last row."""
        values = dict(zip(self.order.names, page.last, strict=True))
        with SYNC_LOCK:
            state = self.get_context_state(context)
            state["replication_key"] = self.spec.replication_key
            state[REPLICATION_KEY_VALUE] = values[self.spec.replication_key]
            state[LAST_KEY] = [values[name] for name in self.spec.primary_keys]
            state[ROWS_HELD] = int(state[ROWS_HELD]) + page.rows
            self.state_manager.is_flushed = False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The rows page by page. Each page waits in a local Parquet file (pages read
        ahead cost no memory) and is read back a thousand rows at a time."""
        with tempfile.TemporaryDirectory(prefix="tap-edcast-pages-") as pages:

            def to_file(answer: Answer) -> Path:
                path = Path(pages) / f"{uuid.uuid4().hex}.parquet"
                answer.write(path, "FORMAT parquet, COMPRESSION uncompressed")
                return path

            with self._read(context) as (reader, read):
                for page in reader.pages(read.after, read.rows, to_file):
                    for rows in pq.ParquetFile(page.result).iter_batches(batch_size=1000):
                        yield from rows.to_pylist()
                    page.result.unlink()
                    self._passed_on(context, page)
                    self.write_state()
        self.finish_read(context)

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """One BATCH file per page, written by DuckDB straight from Domo's answer, each
        row with its ``_sdc_table_version`` (a row without would be older than any full
        read: its activation would delete it)."""
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

        def to_file(answer: Answer) -> str:
            target = root / f"{prefix}{self.name}-{uuid.uuid4().hex}.{suffix}"
            answer.add_constant(TABLE_VERSION_COLUMN, self.table_version)
            answer.write(target, options)
            return target.as_uri()

        # Declares the codec really used (a Parquet file also names its own).
        file_encoding: BaseBatchFileEncoding = (
            ParquetEncoding(compression=codec) if parquet else JSONLinesEncoding(compression=codec)
        )
        with self._read(context) as (reader, read), self.get_record_counter() as counter:
            for page in reader.pages(read.after, read.rows, to_file):
                counter.increment(page.rows)
                self._passed_on(context, page)
                yield file_encoding, [page.result]
        self.finish_read(context)
        self.write_state()  # the SDK writes none after the last batch


def _local_dir(root: str) -> Path:
    """The directory of ``batch_config.storage.root``: a ``file://`` URL or a path; a
    relative path is relative to the Meltano project when Meltano runs the tap
    (``MELTANO_PROJECT_ROOT``: a schedule's ``env`` cannot expand variables inside a
    JSON value), else to the working directory."""
    parsed = urlparse(root)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        msg = f"tap-edcast writes BATCH files to local storage only, not {root!r}"
        raise ConfigValidationError(msg, errors=[msg])
    path = Path(url2pathname(parsed.path) if parsed.scheme else root)
    path = (Path(os.environ.get("MELTANO_PROJECT_ROOT", ".")) / path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
