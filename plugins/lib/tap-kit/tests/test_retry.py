"""Retry timing (Retry-After in both of its forms, exponential backoff, caps) and the
one Retrier every tap uses."""

from __future__ import annotations

import logging
import typing as t

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from tapkit.retry import Backoff, Retrier, RetryableError, retry_after_seconds


def response_with(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_is_read_as_seconds_or_a_past_date(
    header: str | None, expected: float | None
) -> None:
    assert retry_after_seconds(response_with(header)) == expected


def test_retry_after_as_an_http_date_in_the_future() -> None:
    response = response_with("Wed, 21 Oct 2015 07:28:30 GMT")
    assert retry_after_seconds(response, now=1445412480.0) == pytest.approx(30.0)


def test_no_response_means_no_retry_after() -> None:
    assert retry_after_seconds(None) is None


def test_backoff_doubles_is_capped_and_lets_retry_after_win() -> None:
    timing = Backoff(base_seconds=1, max_seconds=10)
    assert 1 <= timing.delay(0) <= 1.1
    assert 4 <= timing.delay(2) <= 4.4
    assert 10 <= timing.delay(8) <= 11
    assert 3 <= timing.delay(5, retry_after=3) <= 3.3
    assert 10 <= timing.delay(0, retry_after=100) <= 11


class Flaky:
    """An attempt failing with ``errors`` in turn, then answering "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def retrier(tries: int = 3, **options: t.Any) -> Retrier:
    return Retrier("Vendor", tries, Backoff(0.001, 0.01), logging.getLogger("test"), **options)


def test_transient_failures_are_retried_until_an_attempt_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempt = Flaky(RetryableError("HTTP 503"), requests.ConnectionError("reset"))
    assert retrier().run("GET /things", attempt) == "done"
    assert attempt.calls == 3
    assert "Vendor GET /things: attempt 1 of 3 failed (HTTP 503); retrying in" in caplog.text
    assert "attempt 2 of 3 failed (reset)" in caplog.text


def test_retries_are_bounded_then_fail_clearly_with_the_hint() -> None:
    attempt = Flaky(*(RetryableError(f"HTTP 50{i}") for i in range(3)))
    with pytest.raises(FatalAPIError) as failed:
        retrier(hint="check `base_url`").run("GET /things", attempt)
    assert str(failed.value) == (
        "Vendor GET /things: gave up after 3 attempts: HTTP 502; check `base_url`"
    )
    assert attempt.calls == 3


def test_retry_after_sets_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("tapkit.retry.time.sleep", slept.append)
    attempt = Flaky(RetryableError("HTTP 429", response_with("7")))
    assert retrier(tries=2).run("GET /things", attempt) == "done"
    assert slept == [pytest.approx(0.01, rel=0.1)]  # 7 s asked, capped by backoff_max


def test_other_errors_and_permanent_ones_are_not_retried() -> None:
    fatal = Flaky(FatalAPIError("Vendor refused the credentials"))
    with pytest.raises(FatalAPIError, match="refused the credentials"):
        retrier().run("GET /things", fatal)
    assert fatal.calls == 1

    def permanent(error: BaseException) -> bool:
        return "syntax" in str(error)

    custom = retrier(failures=(KeyError,), is_permanent=permanent, describe=lambda e: "<hidden>")
    bad_sql = Flaky(KeyError("syntax error near pw=hunter2"))
    with pytest.raises(FatalAPIError) as failed:
        custom.run("reading T", bad_sql)
    assert str(failed.value) == "Vendor reading T: <hidden> (an error no retry can fix)"
    assert bad_sql.calls == 1
    assert custom.run("reading T", Flaky(KeyError("lost connection"))) == "done"
