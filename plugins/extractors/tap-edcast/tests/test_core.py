"""The Singer SDK's standard tap tests, against the Domo (EdCast) sandbox."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from dataops.sandbox import serve
from dataops.testing.tap_tests import connection
from tap_edcast.tap import TapEdCast

# One sandbox for the whole module: the SDK builds the test class at import time.
SANDBOX = serve("edcast", seed=4)

TestTapEdCast = get_tap_test_class(
    tap_class=TapEdCast,
    config={**connection("edcast", SANDBOX), "page_size": 700},
)
