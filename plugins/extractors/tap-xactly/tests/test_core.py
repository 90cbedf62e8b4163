"""The Singer SDK's standard tap tests, against the Xactly stand-in (H2 over JDBC)."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from dataops.sandbox import serve
from dataops.testing.tap_tests import connection
from tap_xactly.tap import TapXactly

# One sandbox for the whole module: the SDK builds the test class at import time.
SANDBOX = serve("xactly", seed=5)

TestTapXactly = get_tap_test_class(
    tap_class=TapXactly,
    config={**connection("xactly", SANDBOX), "page_size": 150},
)
