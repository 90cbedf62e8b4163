"""Xactly Connect stand-in: a deterministic H2 database served over JDBC (not HTTP).

``spec`` (tables, keys, column types), ``data`` (the rows), ``server`` (the H2 server);
the vendor's facts: docs/vendors/xactly.md.
"""

from dataops.sandbox.vendor import JdbcVendor
from dataops.sandbox.xactly.data import generate
from dataops.sandbox.xactly.server import XactlySandbox, h2_jar
from dataops.sandbox.xactly.spec import KEY_PROPERTIES

VENDOR = JdbcVendor(
    name="xactly",
    summary="Xactly Connect (xSQL over JDBC): an H2 database, schema XACTLY, XC_* tables",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    start=XactlySandbox,
)

__all__ = ["KEY_PROPERTIES", "VENDOR", "XactlySandbox", "h2_jar"]
