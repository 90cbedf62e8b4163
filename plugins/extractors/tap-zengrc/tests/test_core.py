"""The Singer SDK's standard tap tests, against the ZenGRC sandbox."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from dataops.sandbox import serve
from dataops.testing.tap_tests import connection
from tap_zengrc.tap import TapZenGRC

# One sandbox for the whole module: the SDK builds the test class at import time.
SANDBOX = serve("zengrc", seed=11)

TestTapZenGRC = get_tap_test_class(
    tap_class=TapZenGRC,
    config=connection("zengrc", SANDBOX),
)
