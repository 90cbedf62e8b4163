"""ZenGRC API v2 simulator: ``spec`` (paths, collections), ``data`` (the objects and the
server's clock), ``server`` (the HTTP API); the vendor's facts: docs/vendors/zengrc.md."""

from dataops.sandbox.vendor import HttpVendor
from dataops.sandbox.zengrc.data import clock, generate
from dataops.sandbox.zengrc.server import ZenGRCOptions, make_app
from dataops.sandbox.zengrc.spec import CREDENTIALS, KEY_PROPERTIES

VENDOR = HttpVendor(
    name="zengrc",
    summary="ZenGRC API v2 (HTTP Basic, JSON, cursor paging)",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    options=ZenGRCOptions.__optional_keys__,
    make_app=make_app,
)

__all__ = ["CREDENTIALS", "VENDOR", "clock"]
