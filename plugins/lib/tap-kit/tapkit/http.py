"""The taps' one classification of HTTP responses, and their per-thread sessions.

:meth:`HttpApi.check` sorts every response into one of three:

- worth another attempt (:class:`~tapkit.retry.RetryableError`, carrying the response
  so that :class:`~tapkit.retry.Retrier` honours its ``Retry-After``): timeouts, rate
  limits (429), server and gateway errors, and a body of the wrong type (a gateway's or
  proxy's HTML page);
- fatal, with a message saying what to check (:class:`FatalAPIError`): credentials
  refused (401, 403), nothing at that address (404), any other 4xx — with at most a
  short excerpt of the vendor's body, whitespace folded and secrets blanked out;
- good: returned as it is, for the tap's own parsing.

A vendor's own rules (a Domo token to refresh, Adaptive's ``success="false"``) come
before or after it, in the tap's client.
"""

from __future__ import annotations

import re
import threading
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tapkit.retry import Retrier, RetryableError, retry_settings
from tapkit.settings import HTTPS_URL

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt: timeouts, rate limits, server and gateway errors."""
EXCERPT_CHARS = 200
_SPACES = re.compile(r"\s+")


def excerpt(text: str, secrets: t.Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """A vendor's text fit for a log line: printable, white space folded, secrets
    blanked out, at most ``limit`` characters."""
    folded = _SPACES.sub(" ", "".join(c if c.isprintable() else " " for c in text)).strip()
    for secret in secrets:
        if secret:
            folded = folded.replace(secret, "***")
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def where(response: requests.Response) -> str:
    """``METHOD /path`` of the request a response answers (no query string: it may
    carry what a log should not)."""
    request = response.request
    return f"{request.method} {urlsplit(request.path_url).path}"


def api_url_setting(name: str, *, default: str | None = None, description: str = "") -> th.Property:
    """The vendor API's address: HTTPS only (credentials travel with every request);
    plain HTTP only to this machine, where the sandboxes run."""
    return th.Property(
        name,
        th.StringType(pattern=HTTPS_URL),
        required=default is None,
        default=default,
        description=f"{description} HTTPS only (http:// to 127.0.0.1 or localhost only).".strip(),
    )


def http_settings(timeout_seconds: int, what: str = "request") -> list[th.Property]:
    """An HTTP tap's settings: ``request_timeout``, then :func:`retry_settings`."""
    timeout = th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=timeout_seconds,
        description="Seconds to wait for one HTTP response before retrying.",
    )
    return [timeout, *retry_settings(what=what)]


@dataclass(frozen=True)
class HttpApi:
    """One vendor API as a tap's messages speak of it."""

    vendor: str
    """The vendor's name, first word of every message ("ZenGRC")."""
    credentials_hint: str
    """What to check when the credentials are refused: the settings and their env."""
    address_hint: str
    """What to check when nothing answers at an address: the URL setting and its form."""
    content_type: str
    """The body type every good answer has ("json", "xml")."""
    secrets: tuple[str, ...] = ()
    """Values no message may show (a password the vendor might echo)."""

    def check(self, response: requests.Response) -> requests.Response:
        """The response when it is a good answer; else the error it is (see the module)."""
        status, at = response.status_code, where(response)
        if status in RETRYABLE_STATUSES:
            raise RetryableError(
                f"HTTP {status} {response.reason or ''} for {at}".strip(), response
            )
        if status in (401, 403):
            msg = (
                f"{self.vendor} refused the credentials (HTTP {status}) for {at}: "
                f"{self.credentials_hint}"
            )
            raise FatalAPIError(msg)
        if status == 404:
            raise FatalAPIError(f"{self.vendor} answered 404 for {at}: {self.address_hint}")
        if 300 <= status < 400:
            # Seen only where redirects are not followed (credentials in the body).
            target = urlsplit(response.headers.get("Location", "")).netloc or "elsewhere"
            msg = (
                f"{self.vendor} redirected {at} to {target} (HTTP {status}); the request is "
                f"not sent again there: {self.address_hint}"
            )
            raise FatalAPIError(msg)
        if status >= 400:
            body = excerpt(response.text, self.secrets)
            raise FatalAPIError(f"{self.vendor} answered HTTP {status} for {at}: {body}")
        content_type = response.headers.get("Content-Type") or "no content type"
        if self.content_type not in content_type:
            msg = f"expected {self.content_type.upper()}, got {content_type} for {at}"
            raise RetryableError(msg, response)
        return response

    def retrier(self, config: Mapping[str, t.Any], logger: logging.Logger) -> Retrier:
        """Retries per the tap's retry settings; giving up names the address to check."""
        return Retrier.from_config(self.vendor, config, logger, hint=self.address_hint)


class ThreadSessions:
    """One ``requests.Session`` per thread (a session is not safe to share)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
