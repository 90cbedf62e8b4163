"""HTTP behaviour shared by every ZenGRC collection: auth, paging, retries, errors, and
the server's clock (its `Date` header)."""

from __future__ import annotations

import json
import queue
import threading
import typing as t
import weakref
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tapkit.http import HttpApi, where
from tapkit.retry import RetryableError
from tapkit.sdk_seam import SeamRESTStream
from tapkit.versions import VersionedStream

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from singer_sdk.helpers.types import Context

BASE_URL_HINT = "expected https://<tenant>.api.zengrc.com/api/v2"

# Parsed JSON of each response, so validation, records and paging parse it once.
_payloads: weakref.WeakKeyDictionary[requests.Response, dict] = weakref.WeakKeyDictionary()


def payload_of(response: requests.Response) -> dict:
    """The response's JSON envelope (parsed and checked by `validate_response`)."""
    return _payloads[response]


class _Fetched(t.NamedTuple):
    """A page the fetching thread hands to the reading one."""

    request: requests.PreparedRequest
    response: requests.Response
    paging_error: Exception | None  # found reading its next link: raised after its records


def server_clock(response: requests.Response) -> datetime | None:
    """When the server answered, by its `Date` header; None without a readable one.

    Several `Date` lines are invalid (RFC 9110 makes it a singleton field) but happen
    when a proxy adds its own: the earliest is taken, as a clock read too early only
    makes the next sync re-read a few objects.
    """
    raw_headers = getattr(response.raw, "headers", None)  # urllib3's: one value per line
    if raw_headers is not None:
        values = raw_headers.getlist("Date")
    else:
        values = [response.headers["Date"]] if "Date" in response.headers else []
    moments = []
    for value in values:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is not None:  # RFC 9110 dates are GMT; a naive one is not one
            moments.append(moment)
    return min(moments, default=None)


class NextHrefPaginator(BaseAPIPaginator[str | None]):
    """Follows `links.next.href`, which is host-relative and already holds `/api/v2`.

    The href is joined to scheme+host of the base URL, never to the base URL itself
    (that would double `/api/v2`).
    """

    @override
    def __init__(self, base_url: str) -> None:
        super().__init__(None)
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    @override
    def get_next(self, response: requests.Response) -> str | None:
        links = payload_of(response).get("links") or {}
        next_link = links.get("next") or {}
        href = next_link.get("href")
        if not href:
            return None
        if href.startswith(("http://", "https://")):
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != self._origin:
                # Our Basic credentials go with every request: never to another host.
                msg = f"ZenGRC sent a next-page link to another host ({parts.netloc}); refusing it"
                raise FatalAPIError(msg)
            return str(href)
        return f"{self._origin}/{href.lstrip('/')}"

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """An empty page is not the end: only a null `links.next` is."""
        return True


class ZenGRCStream(VersionedStream, SeamRESTStream[str | None]):
    """One ZenGRC v2 collection over HTTP: `GET <base>/<collection>`, cursor paged.

    What a sync reads and sends is :class:`tap_zengrc.scans.CollectionStream`'s.
    """

    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "updated_at"
    # The API documents no sort order: bookmarks are only advanced at stream end.
    is_sorted = False

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["base_url"]).rstrip("/")

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        return f"/{self.name}"

    @property
    @override
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(
            username=self.config["username"], password=self.config["password"]
        )

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    @property
    @override
    def timeout(self) -> int:
        return int(self.config["request_timeout"])

    @property
    def api(self) -> HttpApi:
        """ZenGRC as the tap's errors speak of it (:meth:`HttpApi.check`)."""
        return HttpApi(
            vendor="ZenGRC",
            credentials_hint=(
                "check the tap-zengrc `username`/`password` settings (API key id and secret; "
                "env TAP_ZENGRC_USERNAME / TAP_ZENGRC_PASSWORD)."
            ),
            address_hint=(
                f"check the tap-zengrc `base_url` setting ({BASE_URL_HINT}; got {self.url_base})."
            ),
            content_type="json",
            secrets=(str(self.config["password"]),),
        )

    @override
    def get_new_paginator(self) -> NextHrefPaginator:
        return NextHrefPaginator(self.url_base)

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """First page from the collection URL, later pages from the server's href."""
        if page.next_page_token:
            return HTTPRequest(url=page.next_page_token, headers=self.http_headers)
        return HTTPRequest(url=self.get_url(page.stream_context), headers=self.http_headers)

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Classify a response (:meth:`HttpApi.check`), then read its list envelope."""
        self.api.check(response)
        try:
            payload = response.json()
        except (json.JSONDecodeError, requests.exceptions.JSONDecodeError) as exc:
            at = where(response)
            raise RetryableError(f"invalid or truncated JSON for {at}: {exc}", response) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            msg = (
                f"{where(response)} did not answer a ZenGRC list envelope ({{'data': [...], "
                f"'links': …}}): check the tap-zengrc `base_url` setting ({BASE_URL_HINT})."
            )
            raise FatalAPIError(msg)
        _payloads[response] = payload

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        yield from payload_of(response)["data"]

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        """The SDK's page loop (0.54.9), with the pages fetched ahead by a thread of their
        own: the next page is requested as soon as this one has arrived, while this
        one's records are conformed and written.

        Pages stay sequential — a cursor needs the previous page, and one request per
        collection is in flight, as before — but processing a page no longer adds to the
        wait for the next, and at most two fetched pages wait for their turn. Records come
        in the same order; a paging error (a next link to another host, a loop) is
        raised after the records of the page that carried it, a failed request after
        the pages before it, as in the SDK's loop. ZenGRC goes on past an empty page
        (`NextHrefPaginator.continue_if_empty`). When the records stop being read (the
        sync failed or was cancelled), the fetching stops after the request in flight.
        """
        paginator = self.get_new_paginator()
        decorated_request = self.request_decorator(self.send_request)
        fetched: queue.Queue[_Fetched | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def hand_over(item: _Fetched | BaseException | None) -> None:
            while not stop.is_set():
                try:
                    fetched.put(item, timeout=0.1)
                except queue.Full:  # the reader is still on the page before
                    continue
                return

        def fetch_pages() -> None:
            try:
                while not paginator.finished and not stop.is_set():
                    prepared = self.prepare_page_request(context, paginator)
                    response = decorated_request(prepared, context)
                    try:
                        paginator.advance(response)
                    except Exception as exc:  # raised after this page's records
                        hand_over(_Fetched(prepared, response, exc))
                        return
                    hand_over(_Fetched(prepared, response, None))
            except BaseException as exc:  # raised in the reading thread
                hand_over(exc)
            finally:
                hand_over(None)

        fetcher = threading.Thread(target=fetch_pages, name=f"{self.name}-pages", daemon=True)
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            fetcher.start()
            try:
                while (page := fetched.get()) is not None:
                    if isinstance(page, BaseException):
                        raise page
                    request_counter.increment()
                    self.update_sync_costs(page.request, page.response, context)
                    yield from self.parse_response(page.response)
                    if page.paging_error is not None:
                        raise page.paging_error
            finally:
                stop.set()
                fetcher.join()

    @override
    def request_decorator(self, func: Callable) -> Callable:
        """Bounded retries (tapkit's :class:`~tapkit.retry.Retrier`, as every tap's) in
        place of the SDK's backoff; a clear error once they are used up."""
        retrier = self.api.retrier(self.config, self.logger)

        def call(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            return t.cast(
                "requests.Response", retrier.run(self.name, lambda: func(*args, **kwargs))
            )

        return call
