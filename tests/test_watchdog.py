"""The alert webhook takes alerts over HTTPS only (plain HTTP to loopback only, for
local runs and these tests)."""

from __future__ import annotations

from typing import Any

import pytest

from dataops import watchdog


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/services/T0/B0", "ftp://hooks.example.com/x", "hooks.example.com"],
)
def test_an_alert_is_never_sent_over_a_plain_or_unknown_scheme(url: str) -> None:
    with pytest.raises(watchdog.WebhookError, match="is not an https:// URL") as raised:
        watchdog.post(url, "sync failed")
    assert url not in str(raised.value)  # the URL may hold a token


def test_loopback_http_still_takes_alerts(webhook: tuple[str, list[tuple[str, Any]]]) -> None:
    url, received = webhook
    assert url.startswith("http://127.0.0.1:")
    watchdog.post(url, "sync failed")
    assert received == [("application/json", {"text": "sync failed"})]
