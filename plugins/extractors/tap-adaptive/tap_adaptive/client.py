"""Adaptive's XML API: one POST per call, credentials inside, errors as success="false".

Requests are built with ElementTree (values escaped by it, never pasted into text);
answers are parsed with defusedxml, which refuses DTDs, entity declarations and
external references outright: no entity is ever expanded (no XXE, no billion laughs).
"""

from __future__ import annotations

import re
import threading
import typing as t
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as parse_untrusted
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tapkit.http import HttpApi, ThreadSessions, excerpt
from tapkit.retry import RetryableError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Mapping

AUTH_FAILURE = "error-authentication-failure"
CREDENTIALS_HINT = (
    "check the tap-adaptive `username`, `password` and `instance_code` settings "
    "(env TAP_ADAPTIVE_USERNAME, TAP_ADAPTIVE_PASSWORD, TAP_ADAPTIVE_INSTANCE_CODE)"
)
_API_VERSION = re.compile(r"v?(\d+)")


class AdaptiveError(FatalAPIError):
    """Adaptive answered success="false": the method and its messages, no retry."""


def parse_xml(body: bytes, what: str) -> ET.Element:
    """An XML document from the network, parsed with the hardened parser.

    A document declaring a DTD or entities is refused (FatalAPIError: an API never
    needs one); one that does not parse (cut off in transit) is worth a retry.
    """
    try:
        return t.cast("ET.Element", parse_untrusted(body, forbid_dtd=True))
    except DefusedXmlException as exc:
        msg = f"Adaptive {what}: answer refused, it declares a DTD or entities ({exc!r})"
        raise FatalAPIError(msg) from exc
    except ParseError as exc:
        raise RetryableError(f"{what}: unreadable XML ({exc})") from exc


def api_version(setting: object) -> str:
    """``v38`` from ``v38`` or ``38``."""
    match = _API_VERSION.fullmatch(str(setting).strip())
    if match is None:
        msg = f"tap-adaptive `api_version` must look like v38, got {setting!r}"
        raise ConfigValidationError(msg, errors=[msg])
    return f"v{match.group(1)}"


class AdaptiveClient:
    """Makes calls; shared by the streams and the plan-data workers (a session each)."""

    def __init__(self, config: Mapping[str, t.Any], logger: logging.Logger) -> None:
        base = str(config["url_base"]).rstrip("/")
        self.url = f"{base}/{api_version(config['api_version'])}"
        self._login = str(config["username"])
        self._password = str(config["password"])
        self._instance = str(config.get("instance_code") or "")
        self._caller = str(config["caller_name"])
        self._timeout = float(config["request_timeout"])
        self.api = HttpApi(
            vendor="Adaptive",
            credentials_hint=CREDENTIALS_HINT,
            address_hint="check the tap-adaptive `url_base` and `api_version` settings",
            content_type="xml",
            secrets=(self._password,),
        )
        self._retrier = self.api.retrier(config, logger)
        self._sessions = ThreadSessions()

    def request_body(self, method: str, *parts: ET.Element) -> bytes:
        call = ET.Element("call", method=method, callerName=self._caller)
        credentials = ET.SubElement(call, "credentials", login=self._login)
        credentials.set("password", self._password)
        if self._instance:
            credentials.set("instanceCode", self._instance)
        call.extend(parts)
        return t.cast("bytes", ET.tostring(call, encoding="UTF-8", xml_declaration=True))

    def call(self, method: str, *parts: ET.Element) -> ET.Element:
        """The ``<output>`` of one call, retried on 429/5xx, transport and parse failures."""
        body = self.request_body(method, *parts)

        def attempt() -> ET.Element:
            response = self._sessions.get().post(
                self.url,
                data=body,
                headers={"Content-Type": "text/xml; charset=UTF-8"},
                timeout=self._timeout,
                # The body holds the password: never re-sent to where a redirect points.
                allow_redirects=False,
            )
            return self._output(method, response)

        return self._retrier.run(method, attempt)

    def _output(self, method: str, response: requests.Response) -> ET.Element:
        """The answer's ``<output>``: the classification every tap shares
        (:meth:`HttpApi.check`), then Adaptive's own ``success="false"``."""
        root = parse_xml(self.api.check(response).content, method)
        if root.tag != "response":
            raise RetryableError(f"{method}: answer is <{root.tag}>, not <response>", response)
        if root.get("success") != "true":
            messages = [(m.get("key") or "", (m.text or "").strip()) for m in root.iter("message")]
            said = "; ".join(f"{text} [{key}]" if key else text for key, text in messages)
            text = excerpt(said, self.api.secrets) or "no message"
            if any(key == AUTH_FAILURE for key, _ in messages):
                raise AdaptiveError(
                    f"Adaptive refused the credentials ({text}): {CREDENTIALS_HINT}"
                )
            raise AdaptiveError(f"Adaptive {method} failed: {text}")
        output = root.find("output")
        if output is None:
            raise RetryableError(f"{method}: answer has no <output>", response)
        return output


class Exports:
    """The output of each metadata export call, made once per run and shared by the
    streams built from it. At the first ask, every call the selected streams need is
    made at once (each is a round trip, and streams are synced one after another)."""

    def __init__(
        self, client: AdaptiveClient, workers: int, needed: Callable[[], Iterable[str]]
    ) -> None:
        self._client = client
        self._workers = workers
        self._needed = needed
        self._outputs: dict[str, ET.Element] = {}
        self._lock = threading.Lock()
        self._prefetched = False

    def output(self, method: str) -> ET.Element:
        """The ``<output>`` of export ``method`` (``exportVersions``, …)."""
        self._prefetch()
        with self._lock:
            if method not in self._outputs:
                self._outputs[method] = self._client.call(method)
            return self._outputs[method]

    def _prefetch(self) -> None:
        with self._lock:
            if self._prefetched:
                return
            self._prefetched = True
        needed = set(self._needed())
        with ThreadPoolExecutor(self._workers, thread_name_prefix="export") as pool:
            answers = dict(zip(needed, pool.map(self._client.call, needed), strict=True))
        with self._lock:
            self._outputs.update(answers)
