"""The Domo Platform API as tap-edcast uses it: OAuth tokens, bounded retries, clear errors.

One client is shared by every stream and page worker: the token is refreshed under a
lock (before it expires and on a 401), each thread has its own HTTP session.
"""

from __future__ import annotations

import threading
import time
import typing as t
from dataclasses import dataclass

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError

from tapkit.http import HttpApi, ThreadSessions, where
from tapkit.retry import RetryableError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

# Domo fails some queries now and then with this message: retrying works.
TRANSIENT_QUERY_ERROR = "Error creating query"
# Refresh a token when less than this share of its lifetime is left.
REFRESH_MARGIN = 0.1

T = t.TypeVar("T")


CREDENTIALS_HINT = (
    "check the tap-edcast `username`/`password` settings (Domo client id and secret; "
    "env TAP_EDCAST_USERNAME / TAP_EDCAST_PASSWORD)."
)


class DomoClient:
    def __init__(self, config: Mapping[str, t.Any], logger: logging.Logger) -> None:
        self.url_base = str(config["url_base"]).rstrip("/")
        self._credentials = (str(config["username"]), str(config["password"]))
        self._timeout = float(config["request_timeout"])
        self.api = HttpApi(
            vendor="Domo",
            credentials_hint=CREDENTIALS_HINT,
            address_hint=(
                "check the tap-edcast `url_base` setting (expected https://api.domo.com; "
                f"got {self.url_base})."
            ),
            content_type="json",
            secrets=(self._credentials[1],),
        )
        self._retrier = self.api.retrier(config, logger)
        self._logger = logger
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._sessions = ThreadSessions()

    def get_json(self, path: str, params: Mapping[str, t.Any] | None = None) -> t.Any:
        """GET an API path, answer decoded from JSON."""
        return self.call("GET", path, params=params, accept=decoded_json)

    def call(
        self,
        method: str,
        path: str,
        *,
        accept: Callable[[requests.Response], T],
        params: Mapping[str, t.Any] | None = None,
        json: t.Any = None,
    ) -> T:
        """One API call with a bearer token, retried on transient failures.

        `accept` turns the response into the result and may raise RetryableError
        (e.g. a body that does not parse): the call is then tried again.
        """
        url = f"{self.url_base}{path}"
        return self._retrier.run(
            f"{method} {path}",
            lambda: accept(
                self._checked(
                    self._sessions.get().request(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers={"Authorization": f"Bearer {self._bearer()}"},
                        timeout=self._timeout,
                    )
                )
            ),
        )

    def _bearer(self) -> str:
        """A token valid for a while yet: fetched or refreshed as needed."""
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires_at:
                self._token, lifetime = self._new_token()
                self._token_expires_at = time.monotonic() + lifetime * (1 - REFRESH_MARGIN)
                self._logger.info("Domo access token obtained, valid for %.0f s", lifetime)
            return self._token

    def _forget_token(self, rejected: str) -> None:
        with self._token_lock:
            if self._token == rejected:
                self._token = None

    def _new_token(self) -> tuple[str, float]:
        def fetch() -> tuple[str, float]:
            response = self._sessions.get().get(
                f"{self.url_base}/oauth/token",
                params={"grant_type": "client_credentials", "scope": "data"},
                auth=self._credentials,
                timeout=self._timeout,
            )
            if response.status_code in (400, 401, 403):
                status = response.status_code
                msg = f"Domo refused the client credentials (HTTP {status}): {CREDENTIALS_HINT}"
                raise FatalAPIError(msg)
            token = decoded_json(self._checked(response))
            return str(token["access_token"]), float(token.get("expires_in") or 3600)

        return self._retrier.run("GET /oauth/token", fetch)

    def _checked(self, response: requests.Response) -> requests.Response:
        """Domo's own cases first (a token to refresh, a query to try again), then the
        classification every tap shares (:meth:`HttpApi.check`)."""
        status = response.status_code
        if status == 401 and "Authorization" in response.request.headers:
            # Expired or revoked mid-sync: drop it, the retry fetches a new one.
            sent = str(response.request.headers["Authorization"]).removeprefix("Bearer ")
            self._forget_token(sent)
            raise RetryableError(f"HTTP 401 for {where(response)}: token refreshed", response)
        if status == 400 and TRANSIENT_QUERY_ERROR in response.text:
            raise RetryableError(f"{TRANSIENT_QUERY_ERROR} for {where(response)}", response)
        return self.api.check(response)


def decoded_json(response: requests.Response) -> t.Any:
    return decoded_json_bytes(response.content, response)


def decoded_json_bytes(body: bytes, response: requests.Response | None = None) -> t.Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise RetryableError(f"invalid or truncated JSON: {exc}", response) from exc


ROWS_MEMBER = b',"rows":'
TAIL_SCAN = 65536
"""Bytes at the end of an answer searched for the end of its ``rows`` array: what
follows it (``numRows``, ``numColumns``) is a few small members."""


@dataclass(frozen=True)
class AnswerLayout:
    """Where a query answer's parts are, found without parsing its ``rows``."""

    columns: list[str]
    rows: slice | None
    """The bytes of the ``rows`` array, when the answer is laid out as Domo sends it
    (``columns`` and ``metadata`` before ``rows``, small members after it); None
    otherwise: the answer is then read whole."""
    num_rows: int | None
    """``numRows``, when the answer gives it."""


def answer_layout(body: bytes) -> AnswerLayout:
    """The `columns` of a query answer and where its `rows` are. The part before `rows`
    is decoded to read `columns`; the big `rows` array is parsed once, by DuckDB.

    A `,"rows":` outside a JSON string is a member name (a quote inside a string is
    escaped), and it is the top-level one when what precedes it closes into an object.
    """
    cut = body.find(ROWS_MEMBER)
    head = _object(body[:cut] + b"}") if cut > 0 else None
    if head is None or "columns" not in head:
        whole = decoded_json_bytes(body)
        return AnswerLayout(list(whole["columns"]), None, _num_rows(whole))
    start = cut + len(ROWS_MEMBER)
    end = body.rfind(b"]", max(start, len(body) - TAIL_SCAN))
    while end > start:
        tail = _object(b'{"rows":0' + body[end + 1 :])
        if tail is not None:
            return AnswerLayout(list(head["columns"]), slice(start, end + 1), _num_rows(tail))
        end = body.rfind(b"]", max(start, len(body) - TAIL_SCAN), end)
    return AnswerLayout(list(head["columns"]), None, None)


def _num_rows(members: dict[str, t.Any]) -> int | None:
    found = members.get("numRows")
    return found if isinstance(found, int) else None


def _object(text: bytes) -> dict[str, t.Any] | None:
    """``text`` decoded, when it is one JSON object."""
    try:
        found = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return found if isinstance(found, dict) else None
