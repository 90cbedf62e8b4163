"""The Singer SDK's standard tap tests, against the Adaptive simulator."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from dataops.sandbox import serve
from dataops.testing.tap_tests import connection
from tap_adaptive.tap import TapAdaptive

# One sandbox for the whole module: the SDK builds the test class at import time.
SANDBOX = serve("adaptive", seed=6)

TestTapAdaptive = get_tap_test_class(
    tap_class=TapAdaptive,
    config={**connection("adaptive", SANDBOX), "end_period": "2026-12"},
)
