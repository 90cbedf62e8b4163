"""The known vendor simulators: adding a vendor is one package plus one line here."""

from __future__ import annotations

from dataops.sandbox import adaptive, edcast, xactly, zengrc
from dataops.sandbox.vendor import HttpVendor, JdbcVendor

_ALL: list[HttpVendor | JdbcVendor] = [zengrc.VENDOR, edcast.VENDOR, xactly.VENDOR, adaptive.VENDOR]
VENDORS = {vendor.name: vendor for vendor in _ALL}


class UnknownVendorError(ValueError):
    pass


def get_vendor(name: str) -> HttpVendor | JdbcVendor:
    try:
        return VENDORS[name]
    except KeyError:
        known = ", ".join(VENDORS)
        raise UnknownVendorError(f"unknown vendor {name!r}; known vendors: {known}") from None
