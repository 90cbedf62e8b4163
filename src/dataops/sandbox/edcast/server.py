"""The Domo Platform API over the EdCast datasets: OAuth, the catalogue, SQL queries,
CSV exports (the endpoints, limits and faults: docs/vendors/edcast.md).

The sandbox URL is the origin (it plays ``https://api.domo.com``). A query runs as one
SELECT on the epoch's DuckDB engine after MySQL-isms are translated (backticks, the bare
word ``table``); an ``ORDER BY … LIMIT n OFFSET k`` query is a slice of its ordered
result, sorted once and cached. With ``move_after=N`` every data request after the
first N (token requests excluded) reads epoch + 1, each epoch being its own engine.
"""

# ruff: noqa: S608 - this module runs SQL on purpose: it simulates a SQL query API
from __future__ import annotations

import io
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import TypedDict

import duckdb
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from dataops.sandbox.edcast.data import EPOCH_EVENTS_PERCENT, Engine, engine
from dataops.sandbox.edcast.spec import (
    CREDENTIALS,
    DEFAULT_MAX_RESULT_ROWS,
    DEFAULT_TOKEN_TTL_SECONDS,
    MAX_LIST_LIMIT,
    NUMERIC_TYPES,
    QUERY_PATH,
    ident,
)
from dataops.sandbox.moving import MovingData
from dataops.sandbox.vendor import (
    JSON_CONTENT_TYPE,
    DataParams,
    Request,
    Response,
    VendorFault,
    VendorOptions,
    basic_authorization,
    json_response,
    same_secret,
)


class EdCastOptions(TypedDict, total=False):
    """EdCast's own serve() options (``None``: the default)."""

    token_ttl_seconds: int | None
    """OAuth token lifetime; default 3599."""
    max_result_rows: int | None
    """Query results are silently cut to this many rows; default 1,000,000."""
    move_after: int | None
    """Answer from the next epoch after this many data requests; default never."""
    drift_at: int | None
    """From this epoch on, the users dataset's schema has drifted; default never."""
    epoch_events_percent: int | None
    """Events each epoch appends, in percent of epoch 0's; default 10."""


_OFFSET_PAGE = re.compile(
    r"(?P<base>.*\bORDER\s+BY\b.*?)\s+LIMIT\s+(?P<limit>\d+)\s+OFFSET\s+(?P<offset>\d+)",
    re.I | re.S,
)
"""An ordered query with a trailing ``LIMIT n OFFSET k``: a slice of a cached result."""
_SQL_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`([^`]*)`|\b(table)\b""", re.I)


def translate_sql(sql: str, relation: str) -> str:
    """MySQL-flavoured Domo SQL to DuckDB: backticks → double quotes, ``table`` → relation."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return ident(match.group(1))
        if match.group(2) is not None:
            return relation
        return match.group(0)

    return _SQL_TOKENS.sub(replace, sql)


def _domo_type(engine_type: str) -> str:
    """The Domo metadata type of a computed result column, from its DuckDB type."""
    if engine_type.startswith("DECIMAL"):
        return "DECIMAL"
    if engine_type in {"DOUBLE", "FLOAT"}:
        return "DOUBLE"
    if engine_type.endswith("INT") or engine_type in {"BIGINT", "HUGEINT", "UBIGINT"}:
        return "LONG"
    if engine_type == "DATE":
        return "DATE"
    if engine_type.startswith("TIMESTAMP"):
        return "DATETIME"
    return "STRING"


def _render(ref: str, domo_type: str, engine_type: str) -> str:
    """SQL of one value for ``json_array``: numeric-typed text goes out as a JSON number
    (``""`` and other non-numbers as strings)."""
    if domo_type in NUMERIC_TYPES and engine_type == "VARCHAR":
        return f"coalesce(TRY_CAST({ref} AS JSON), to_json({ref}))"
    return ref


def _joined(texts: pa.ChunkedArray) -> bytes:
    """The strings of ``texts`` joined by commas, without a Python object per string."""
    if len(texts) == 0:
        return b""
    flat = texts.combine_chunks().cast(pa.large_string())
    one_list = pa.LargeListArray.from_arrays(pa.array([0, len(flat)], pa.int64()), flat)
    joined: pa.Scalar = pa_compute.binary_join(one_list, pa.scalar(",", pa.large_string()))[0]
    return joined.as_buffer().to_pybytes()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    payload = {"status": status, "statusReason": HTTPStatus(status).phrase, "message": message}
    return json_response(status, payload, headers)


UNAUTHORIZED = "Full authentication is required to access this resource"


class EdCastApp:
    """The Domo Platform API over the engine of (seed, scale, epoch), and after
    ``move_after`` data requests over the next epoch's."""

    base_path = ""

    def __init__(
        self,
        params: DataParams,
        max_list_limit: int = MAX_LIST_LIMIT,
        token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
        max_result_rows: int = DEFAULT_MAX_RESULT_ROWS,
        move_after: int | None = None,
        drift_at: int | None = None,
        epoch_events_percent: int = EPOCH_EVENTS_PERCENT,
    ) -> None:
        for name, value in [
            ("page size", max_list_limit),
            ("token_ttl_seconds", token_ttl_seconds),
            ("max_result_rows", max_result_rows),
            ("epoch_events_percent", epoch_events_percent),
        ]:
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        following = (
            None
            if move_after is None
            else engine(replace(params, epoch=params.epoch + 1), drift_at, epoch_events_percent)
        )
        self._data = MovingData(
            engine(params, drift_at, epoch_events_percent), following, move_after
        )
        self.credentials = dict(CREDENTIALS)
        self.max_list_limit = max_list_limit
        self.token_ttl_seconds = token_ttl_seconds
        self.max_result_rows = max_result_rows
        self._basic = basic_authorization(**CREDENTIALS)
        self._tokens: dict[str, float] = {}
        """Live tokens and when (``time.monotonic()``) they expire."""
        self._tokens_lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"/v1/datasets"), self._list),
            ("POST", re.compile(re.escape(QUERY_PATH) + r"([^/]+)"), self._query),
            ("GET", re.compile(r"/v1/datasets/([^/]+)"), self._one),
            ("GET", re.compile(r"/v1/datasets/([^/]+)/data"), self._export),
        ]

    @property
    def moved(self) -> bool:
        """Whether the data moved on to the next epoch (``move_after``)."""
        return self._data.moved

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            if request.method != "GET":
                return _error(405, f"method {request.method} not allowed", {"Allow": "GET"})
            return self._token(request)
        data = self._data.for_request()
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, UNAUTHORIZED, {"WWW-Authenticate": 'Bearer realm="api"'})
        for method, pattern, view in self._routes:
            match = pattern.fullmatch(request.path)
            if match:
                if request.method != method:
                    return _error(405, f"method {request.method} not allowed", {"Allow": method})
                return view(data, request, *match.groups())
        return _error(404, f"no such resource: {request.path}")

    def _token(self, request: Request) -> Response:
        if not same_secret(request.headers.get("authorization", ""), self._basic):
            return _error(401, "Bad credentials", {"WWW-Authenticate": 'Basic realm="oauth"'})
        if request.query.get("grant_type") != ["client_credentials"]:
            return _error(400, "grant_type must be client_credentials")
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._tokens_lock:
            self._tokens = {t: until for t, until in self._tokens.items() if until > now}
            self._tokens[token] = now + self.token_ttl_seconds
        return json_response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl_seconds,
                "scope": "data",
                "customer": "sandbox",
                "role": "Admin",
                "userId": 1,
                "jti": secrets.token_hex(16),
            },
        )

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._tokens_lock:
            until = self._tokens.get(token.strip())
        return until is not None and until > time.monotonic()

    def _list(self, data: Engine, request: Request) -> Response:
        query = {name: values[-1] for name, values in request.query.items()}
        try:
            limit, offset = int(query.get("limit", MAX_LIST_LIMIT)), int(query.get("offset", 0))
        except ValueError:
            return _error(400, "limit and offset must be integers")
        if not 1 <= limit <= self.max_list_limit:
            return _error(400, f"limit must be between 1 and {self.max_list_limit}")
        if offset < 0:
            return _error(400, "offset must be >= 0")
        datasets = data.datasets
        if "nameLike" in query:
            needle = query["nameLike"].lower()
            datasets = [dataset for dataset in datasets if needle in dataset.name.lower()]
        sort = query.get("sort")
        if sort not in {None, "name", "-name"}:
            return _error(400, f"unsupported sort {sort!r}: use name or -name")
        if sort:
            datasets = sorted(datasets, key=lambda d: d.name, reverse=sort == "-name")
        return json_response(200, [d.to_json() for d in datasets[offset : offset + limit]])

    def _one(self, data: Engine, request: Request, dataset_id: str) -> Response:
        dataset = data.by_id.get(dataset_id)
        if dataset is None:
            return _error(404, f"no dataset {dataset_id}")
        return json_response(200, dataset.to_json())

    def _query(self, data: Engine, request: Request, dataset_id: str) -> Response:
        dataset = data.by_id.get(dataset_id)
        if dataset is None:
            return _error(404, f"no dataset {dataset_id}")
        try:
            sql = json.loads(request.body)["sql"]
            if not isinstance(sql, str):
                raise TypeError(sql)
        except (ValueError, TypeError, KeyError):
            return _error(400, 'the body must be JSON {"sql": "SELECT …"}')
        translated = translate_sql(sql, dataset.relation)
        cursor = data.cursor()
        try:
            statements = duckdb.extract_statements(translated)
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                return _error(400, "only one SELECT statement can be executed")
            select = re.sub(r"[\s;]+$", "", statements[0].query)
            result = cursor.sql(select)
            names, engine_types = result.columns, [str(t) for t in result.types]
            declared = dataset.declared
            types = [
                declared.get(n) or _domo_type(t) for n, t in zip(names, engine_types, strict=True)
            ]
            aliases = [f"c{i}" for i in range(len(names))]
            values = ", ".join(
                _render(a, d, e) for a, d, e in zip(aliases, types, engine_types, strict=True)
            )
            source, limit, offset = f"({select}\n)", self.max_result_rows, 0
            if paged := _OFFSET_PAGE.fullmatch(select):
                source = data.ordered_result(paged["base"])
                limit = min(limit, int(paged["limit"]))
                offset = int(paged["offset"])
            page = f"(SELECT * FROM {source} AS s LIMIT {limit} OFFSET {offset})"
            rows = (
                cursor.sql(
                    f"SELECT json_array({values})::VARCHAR FROM {page} AS q({', '.join(aliases)})"
                )
                .to_arrow_table()
                .column(0)
            )
        except duckdb.Error as error:
            return _error(400, f"Invalid SQL: {error}")
        finally:
            cursor.close()
        head = json.dumps(
            {"datasource": dataset.id, "columns": names, "metadata": [{"type": t} for t in types]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        tail = f'],"numRows":{len(rows)},"numColumns":{len(names)}}}'
        body = b"".join([head[:-1].encode(), b',"rows":[', _joined(rows), tail.encode()])
        return Response(200, body, {"Content-Type": JSON_CONTENT_TYPE})

    def _export(self, data: Engine, request: Request, dataset_id: str) -> Response:
        dataset = data.by_id.get(dataset_id)
        if dataset is None:
            return _error(404, f"no dataset {dataset_id}")
        header = request.query.get("includeHeader", ["false"])[-1].lower() == "true"
        text = ", ".join(f"{ident(c.name)}::VARCHAR AS {ident(c.name)}" for c in dataset.columns)
        cursor = data.cursor()
        try:
            table = cursor.sql(f"SELECT {text} FROM {dataset.relation}").to_arrow_table()
        finally:
            cursor.close()
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=header))
        return Response(200, buffer.getvalue(), {"Content-Type": "text/csv; charset=utf-8"})


def make_app(params: DataParams, page_size: int | None, options: VendorOptions) -> EdCastApp:
    return EdCastApp(
        params,
        page_size or MAX_LIST_LIMIT,
        options.get("token_ttl_seconds", DEFAULT_TOKEN_TTL_SECONDS),
        options.get("max_result_rows", DEFAULT_MAX_RESULT_ROWS),
        options.get("move_after"),
        options.get("drift_at"),
        options.get("epoch_events_percent", EPOCH_EVENTS_PERCENT),
    )


def is_query(request: Request) -> bool:
    """Whether ``request`` is a query (the only request the ``query-error`` fault hits)."""
    return request.method == "POST" and request.path.startswith(QUERY_PATH)


QUERY_ERROR = VendorFault(
    "HTTP 400 'Error creating query' (query endpoint only)",
    _error(400, "Error creating query"),
    is_query,
)
