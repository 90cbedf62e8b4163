"""The known vendor simulators: adding a vendor is one module plus one line here."""

from __future__ import annotations

from dataops.sandbox import adaptive, edcast, xactly, zengrc
from dataops.sandbox.vendor import Vendor

VENDORS: dict[str, Vendor] = {
    vendor.name: vendor for vendor in [zengrc.VENDOR, edcast.VENDOR, xactly.VENDOR, adaptive.VENDOR]
}


class UnknownVendorError(ValueError):
    pass


def get_vendor(name: str) -> Vendor:
    try:
        return VENDORS[name]
    except KeyError:
        known = ", ".join(VENDORS)
        raise UnknownVendorError(f"unknown vendor {name!r}; known vendors: {known}") from None
