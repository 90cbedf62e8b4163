"""Local simulators of the vendor APIs, with a shared latency and fault layer.

``serve(vendor, …)`` runs one on loopback; ``truth``/``records`` give what it serves.
"""

from dataops.sandbox.http_server import HttpSandbox
from dataops.sandbox.registry import VENDORS, UnknownVendorError, get_vendor
from dataops.sandbox.serving import serve
from dataops.sandbox.truth import records, truth
from dataops.sandbox.xactly.server import XactlySandbox

__all__ = [
    "VENDORS",
    "HttpSandbox",
    "UnknownVendorError",
    "XactlySandbox",
    "get_vendor",
    "records",
    "serve",
    "truth",
]
