"""ZenGRC API v2 served over HTTP: Basic auth, the list envelope, cursor paging.

Every answer carries an HTTP ``Date``: the clock of the epoch served (``data.clock``).
With ``move_after=N`` the app answers from epoch ``e + 1`` after N answers (any answer
of the app: the faults the server injects never reach it), while a sync is reading it;
a cursor (the last id of the previous page) stays valid across the move. Choices where
the spec is silent: docs/vendors/zengrc.md.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import format_datetime
from typing import TypedDict

from dataops.sandbox.moving import MovingData
from dataops.sandbox.vendor import (
    JSON_CONTENT_TYPE,
    DataParams,
    Request,
    Response,
    VendorOptions,
    basic_authorization,
    json_response,
    same_secret,
)
from dataops.sandbox.zengrc.data import clock, generate
from dataops.sandbox.zengrc.spec import BASE_PATH, CREDENTIALS, DEFAULT_PAGE_SIZE


class ZenGRCOptions(TypedDict, total=False):
    """ZenGRC's own serve() options."""

    move_after: int | None
    """Answer from the next epoch after this many answers (default: never)."""


def _cursor(collection: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{collection}:{last_id}".encode()).decode().rstrip("=")


def _after_id(collection: str, cursor: str) -> int | None:
    """The last id of the previous page, or None if the cursor is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, _, last_id = text.partition(":")
    if name != collection or not last_id.isdigit():
        return None
    return int(last_id)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": status, "message": message}}, headers)


@dataclass(frozen=True)
class _Snapshot:
    """One epoch as served: ids and ready-encoded objects per collection, and the clock."""

    ids: dict[str, list[int]]
    encoded: dict[str, list[bytes]]
    date: str
    """The HTTP ``Date`` of every answer at this epoch."""


def _snapshot(params: DataParams) -> _Snapshot:
    dataset = generate(params)
    # Objects are encoded once; a page is then a join of ready-made bytes.
    return _Snapshot(
        ids={name: [obj["id"] for obj in objs] for name, objs in dataset.items()},
        encoded={
            name: [
                json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() for obj in objs
            ]
            for name, objs in dataset.items()
        },
        date=format_datetime(clock(params.epoch), usegmt=True),
    )


class ZenGRCApp:
    """Serves one epoch with the v2 list envelope, cursor paging and Basic auth; with
    ``move_after`` it moves on to the next epoch after that many answers."""

    base_path = BASE_PATH

    def __init__(
        self,
        params: DataParams,
        page_size: int = DEFAULT_PAGE_SIZE,
        move_after: int | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page size must be >= 1, got {page_size}")
        self.page_size = page_size
        self.credentials = dict(CREDENTIALS)
        self._expected_auth = basic_authorization(**CREDENTIALS)
        following = (
            _snapshot(replace(params, epoch=params.epoch + 1)) if move_after is not None else None
        )
        self._data = MovingData(_snapshot(params), following, move_after)
        self._routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(rf"{BASE_PATH}/([a-z_]+)"), self._list),
            (re.compile(rf"{BASE_PATH}/([a-z_]+)/(\d+)"), self._one),
        ]

    @property
    def moved(self) -> bool:
        """Whether the data moved on to the next epoch (``move_after``)."""
        return self._data.moved

    def handle(self, request: Request) -> Response:
        served = self._data.for_request()
        response = self._answer(served, request)
        return replace(response, headers={**response.headers, "Date": served.date})

    def _answer(self, served: _Snapshot, request: Request) -> Response:
        if not same_secret(request.headers.get("authorization") or "", self._expected_auth):
            return _error(
                401, "invalid or missing credentials", {"WWW-Authenticate": 'Basic realm="ZenGRC"'}
            )
        for pattern, view in self._routes:
            match = pattern.fullmatch(request.path)
            if match and match.group(1) in served.ids:
                if request.method != "GET":
                    return _error(405, f"method {request.method} not allowed", {"Allow": "GET"})
                return view(served, request, *match.groups())
        return _error(404, f"no such resource: {request.path}")

    def _list(self, served: _Snapshot, request: Request, collection: str) -> Response:
        ids, encoded = served.ids[collection], served.encoded[collection]
        start = 0
        if "cursor" in request.query:
            after = _after_id(collection, request.query["cursor"][0])
            if after is None:
                return _error(400, "invalid cursor")
            start = bisect.bisect_right(ids, after)
        end = start + self.page_size
        next_link = b"null"
        if end < len(ids):
            href = f"{BASE_PATH}/{collection}?cursor={_cursor(collection, ids[end - 1])}"
            next_link = json.dumps({"href": href}).encode()
        body = (
            b'{"data":[' + b",".join(encoded[start:end]) + b'],"links":{"next":' + next_link + b"}}"
        )
        return Response(200, body, {"Content-Type": JSON_CONTENT_TYPE})

    def _one(
        self, served: _Snapshot, request: Request, collection: str, object_id: str
    ) -> Response:
        ids = served.ids[collection]
        index = bisect.bisect_left(ids, int(object_id))
        if index == len(ids) or ids[index] != int(object_id):
            return _error(404, f"no {collection} object with id {object_id}")
        body = b'{"data":' + served.encoded[collection][index] + b"}"
        return Response(200, body, {"Content-Type": JSON_CONTENT_TYPE})


def make_app(params: DataParams, page_size: int | None, options: VendorOptions) -> ZenGRCApp:
    return ZenGRCApp(params, page_size or DEFAULT_PAGE_SIZE, options.get("move_after"))
