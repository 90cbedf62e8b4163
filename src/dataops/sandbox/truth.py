"""Ground truth: what a sandbox serves, for end-to-end tests and checks."""

from __future__ import annotations

import copy
from typing import Any

from dataops.sandbox.registry import get_vendor
from dataops.sandbox.vendor import DataParams, Dataset


def records(vendor: str, seed: int = 0, scale: int = 1, epoch: int = 0) -> Dataset:
    """Every stream's objects exactly as served, sorted by key (a private copy)."""
    return copy.deepcopy(get_vendor(vendor).generate(DataParams(seed, scale, epoch)))


def truth(vendor: str, seed: int = 0, scale: int = 1, epoch: int = 0) -> dict[str, dict[str, Any]]:
    """Per stream: ``{"rows": n, "key": [key properties], "keys": [[key values], …]}``."""
    spec = get_vendor(vendor)
    params = DataParams(seed, scale, epoch)
    if spec.truth is not None:
        return spec.truth(params)
    dataset = spec.generate(params)
    result: dict[str, dict[str, Any]] = {}
    for stream, objects in dataset.items():
        key = list(spec.key_properties[stream])
        keys = sorted([obj[k] for k in key] for obj in objects)
        result[stream] = {"rows": len(objects), "key": key, "keys": keys}
    return result
