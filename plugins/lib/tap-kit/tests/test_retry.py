"""Retry timing: Retry-After in both of its forms, exponential backoff, caps."""

from __future__ import annotations

import pytest
import requests

from tapkit.retry import Backoff, retry_after_seconds


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
