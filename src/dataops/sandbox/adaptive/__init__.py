"""Adaptive Planning (Workday Adaptive Insights) XML API simulator: ``spec`` (the API,
the objects, the calendar), ``tenant`` (the structure), ``versions`` (versions and their values),
``data`` (exportData's CSV and the ground truth), ``server`` (the HTTP API); the vendor's
facts: docs/vendors/adaptive.md."""

from dataops.sandbox.adaptive.data import generate
from dataops.sandbox.adaptive.server import make_app
from dataops.sandbox.adaptive.spec import KEY_PROPERTIES
from dataops.sandbox.vendor import HttpVendor

VENDOR = HttpVendor(
    name="adaptive",
    summary="Adaptive Planning XML API (credentials in every call, CSV in CDATA for data)",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    make_app=make_app,
)

__all__ = ["VENDOR"]
