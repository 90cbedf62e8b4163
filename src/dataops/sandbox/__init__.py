"""Local simulators of the vendor APIs, with a shared latency and fault layer.

``serve(vendor, …)`` runs one on loopback; ``truth``/``records`` give what it serves.
"""

from dataops.sandbox.registry import VENDORS, UnknownVendorError, get_vendor
from dataops.sandbox.server import Sandbox, serve
from dataops.sandbox.truth import records, truth

__all__ = ["VENDORS", "Sandbox", "UnknownVendorError", "get_vendor", "records", "serve", "truth"]
