"""EdCast analytics read through the Domo Platform API: ``spec`` (datasets, keys,
columns), ``data`` (the DuckDB engine and the ground truth), ``server`` (the HTTP API);
the vendor's facts: docs/vendors/edcast.md."""

from dataops.sandbox.edcast.data import generate, truth, truth_table, wire_table
from dataops.sandbox.edcast.server import QUERY_ERROR, EdCastOptions, make_app
from dataops.sandbox.edcast.spec import CREDENTIALS, DATASETS_STREAM, KEY_PROPERTIES
from dataops.sandbox.vendor import HttpVendor, RateLimit

VENDOR = HttpVendor(
    name="edcast",
    summary="EdCast datasets in the Domo Platform API (OAuth2, SQL query, CSV export)",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    truth=truth,
    options=EdCastOptions.__optional_keys__,
    make_app=make_app,
    faults={"query-error": QUERY_ERROR},
    rate_limit=RateLimit(10, 10.0),
)

__all__ = [
    "CREDENTIALS",
    "DATASETS_STREAM",
    "KEY_PROPERTIES",
    "VENDOR",
    "truth",
    "truth_table",
    "wire_table",
]
