"""Fault plans: which injected failure (if any) a sandbox request gets.

A fault spec is ``kind:rate,kind:rate`` (e.g. ``429:0.1,500:0.05,reset:0.02``). Decisions
are seeded and reproducible: the n-th attempt of one exact request (method, path and
query, plus a digest of the body if any) always gets the same fault for a given seed,
however requests interleave. Vendors may add their own kinds (``Vendor.faults``): they
are drawn after the shared ones, in name order.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

KINDS: dict[str, str] = {
    "429": "HTTP 429 with a Retry-After header",
    "429-bare": "HTTP 429 without Retry-After",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "reset": "TCP connection reset (RST) without an answer",
    "stall": "no answer for stall_seconds, then the connection is closed",
    "truncate": "HTTP 200 whose body stops before its Content-Length, then close",
    "html": "HTTP 200 text/html gateway error page",
}


def parse_faults(spec: str, extra_kinds: Iterable[str] = ()) -> dict[str, float]:
    """Parse ``kind:rate,…`` into ``{kind: rate}``; raise ValueError naming the bad item.

    ``extra_kinds`` are the vendor's own fault kinds, allowed besides the shared ``KINDS``.
    """
    known = [*KINDS, *sorted(extra_kinds)]
    rates: dict[str, float] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        kind, sep, rate_text = item.partition(":")
        kind = kind.strip()
        if not sep:
            raise ValueError(f"fault item {item!r}: expected kind:rate, e.g. 429:0.1")
        if kind not in known:
            raise ValueError(
                f"fault item {item!r}: unknown kind {kind!r}; known: {', '.join(known)}"
            )
        if kind in rates:
            raise ValueError(f"fault item {item!r}: kind {kind!r} given twice")
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError(f"fault item {item!r}: rate {rate_text!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault item {item!r}: rate must be between 0 and 1")
        rates[kind] = rate
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault spec {spec!r}: rates sum to {total:g}, more than 1")
    return rates


@dataclass(frozen=True)
class FaultPlan:
    """Fault rates plus the knobs of the individual fault kinds."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    max_consecutive: int = 3
    retry_after: int = 1
    stall_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_consecutive", "retry_after", "stall_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def draw(self, request_key: str, attempt: int) -> str | None:
        """The fault drawn for this attempt of this request, before the consecutive cap."""
        digest = hashlib.blake2b(
            f"{self.seed}\0{request_key}\0{attempt}".encode(), digest_size=8
        ).digest()
        point = int.from_bytes(digest, "big") / 2**64
        cumulative = 0.0
        extra = sorted(kind for kind in self.rates if kind not in KINDS)
        for kind in [*KINDS, *extra]:  # canonical order: the spec's item order does not matter
            cumulative += self.rates.get(kind, 0.0)
            if point < cumulative:
                return kind
        return None


class FaultInjector:
    """Tracks attempts per exact request and applies the plan with its consecutive cap."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._streaks: dict[str, int] = {}

    def next_fault(self, request_key: str, excluded: Collection[str] = ()) -> str | None:
        """The fault of this attempt; a drawn kind in ``excluded`` (not applicable) is none."""
        if not self.plan.rates:
            return None
        with self._lock:
            attempt = self._attempts.get(request_key, 0)
            self._attempts[request_key] = attempt + 1
            streak = self._streaks.get(request_key, 0)
            kind = self.plan.draw(request_key, attempt)
            if streak >= self.plan.max_consecutive or kind in excluded:
                kind = None
            self._streaks[request_key] = streak + 1 if kind else 0
            return kind
