"""tapkit.http: the one classification of HTTP responses every HTTP tap uses."""

from __future__ import annotations

import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from dataops.testing import tap_tests
from tapkit.http import HttpApi, excerpt
from tapkit.retry import RetryableError

API = HttpApi(
    vendor="Acme",
    credentials_hint="check the tap-acme `token` setting",
    address_hint="check the tap-acme `base_url` setting",
    content_type="json",
    secrets=("s3cret",),
)


def answer(
    status: int, body: str = "{}", content_type: str = "application/json"
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    response.headers["Content-Type"] = content_type
    response._content = body.encode()
    response.request = requests.Request("GET", "https://acme.test/api/things?key=abc").prepare()
    return response


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_timeouts_rate_limits_and_server_errors_are_worth_a_retry(status: int) -> None:
    response = answer(status)
    with pytest.raises(RetryableError, match=f"HTTP {status} Reason for GET /api/things$") as got:
        API.check(response)
    assert got.value.response is response  # so that its Retry-After is honoured


def test_a_body_of_another_type_is_a_gateways_page_worth_a_retry() -> None:
    with pytest.raises(RetryableError, match="expected JSON, got text/html for GET /api/things"):
        API.check(answer(200, "<html>", "text/html"))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Acme refused the credentials (HTTP 401) for GET /api/things: check the tap-acme"),
        (403, "Acme refused the credentials (HTTP 403) for GET /api/things: check the tap-acme"),
        (404, "Acme answered 404 for GET /api/things: check the tap-acme `base_url` setting"),
    ],
)
def test_refused_credentials_and_wrong_addresses_fail_saying_what_to_check(
    status: int, message: str
) -> None:
    with pytest.raises(FatalAPIError) as failed:
        API.check(answer(status, "secret body s3cret"))
    assert str(failed.value).startswith(message)
    assert "s3cret" not in str(failed.value)
    assert "key=abc" not in str(failed.value)  # no query string


def test_other_client_errors_show_a_short_sanitised_excerpt() -> None:
    body = "<h1>Bad\nrequest</h1>\t\x00 token=s3cret " + "x" * 500
    with pytest.raises(FatalAPIError) as failed:
        API.check(answer(400, body, "text/html"))
    message = str(failed.value)
    assert message.startswith("Acme answered HTTP 400 for GET /api/things: <h1>Bad request</h1> ")
    assert "token=*** " in message
    assert "s3cret" not in message
    assert "\n" not in message
    assert len(message) < 260


def test_a_good_answer_is_returned_as_it_is() -> None:
    response = answer(200, '{"data": []}', "application/json; charset=utf-8")
    assert API.check(response) is response


def test_an_excerpt_is_printable_folded_and_short() -> None:
    assert excerpt("a \n\n b\x07c", ["b"], limit=10) == "a *** c"
    assert excerpt("y" * 30, limit=10) == "y" * 9 + "…"


URL_SETTINGS = {"zengrc": "base_url", "edcast": "url_base", "adaptive": "url_base"}


@pytest.mark.parametrize("vendor", sorted(URL_SETTINGS))
@pytest.mark.parametrize(
    "url", ["http://api.example.com/api", "http://127.0.0.1.example.com/api", "ftp://x/api"]
)
def test_an_api_address_without_https_is_refused_before_any_request(
    tmp_path: Path, vendor: str, url: str
) -> None:
    """Credentials go with every request: never over plain HTTP across a network."""
    setting = URL_SETTINGS[vendor]
    config = {setting: url, "username": "user", "password": "not-shown-anywhere"}
    done = tap_tests.run_tap(vendor, tmp_path, config)
    assert done.returncode == 1, done.stderr[-2000:]
    assert (
        f"tap-{vendor} `{setting}` must be an https:// URL (plain http:// only to 127.0.0.1 "
        f"or localhost), got '{url}'"
    ) in done.stderr
    assert "not-shown-anywhere" not in done.stderr


class Redirecting(BaseHTTPRequestHandler):
    """Answers every POST with a 307 to another address, which must never be asked."""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.server.elsewhere)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: t.Any) -> None:
        """Quiet."""


class Recording(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))  # type: ignore[attr-defined]
        self.send_response(500)
        self.end_headers()

    def log_message(self, format: str, *args: t.Any) -> None:
        """Quiet."""


def test_a_redirect_never_carries_adaptives_password_elsewhere(tmp_path: Path) -> None:
    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    elsewhere.bodies = []  # type: ignore[attr-defined]
    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    redirecting.elsewhere = f"http://127.0.0.1:{elsewhere.server_port}/api"  # type: ignore[attr-defined]
    for server in (elsewhere, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {
            "url_base": f"http://127.0.0.1:{redirecting.server_port}/api",
            "username": "user",
            "password": "the-password",
            **tap_tests.FAST_RETRIES,
        }
        done = tap_tests.run_tap("adaptive", tmp_path, config)
    finally:
        for server in (elsewhere, redirecting):
            server.shutdown()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "redirected" in done.stderr
    assert f"to 127.0.0.1:{elsewhere.server_port} (HTTP 307)" in done.stderr
    assert elsewhere.bodies == []  # type: ignore[attr-defined]
    assert "the-password" not in done.stderr
