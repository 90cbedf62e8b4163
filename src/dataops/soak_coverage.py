"""What a soak's trials covered: per vendor, how many trials had each kind of change,
fault and kill, and how many ended exact (the table `dataops soak` prints, and its
markdown for docs/reliability.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from dataops.soak import Outcome

LATE_COMMITS = frozenset({"xactly"})
"""Vendors whose sandbox commits rows late (with an older MODIFIED_DATE) from epoch 2."""
DELETIONS_FROM_EPOCH = 2
"""Sandboxes delete objects from this epoch on."""

COVERAGE = (
    "trials",
    "exact",
    "duckdb",
    "postgres",
    "updates",
    "deletions",
    "late commits",
    "moving data",
    "faults",
    "kills",
    "largest scale",
)


def coverage(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per vendor (and in all): how many trials exercised each kind of change, fault and
    kill (a trial counts once per kind), and how many ended exact."""
    rows: dict[str, dict[str, int]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.trial.vendor):
        trial = outcome.trial
        epochs = [s.epoch for s in trial.steps] + [s.epoch + 1 for s in trial.steps if s.move_after]
        seen = {
            "trials": 1,
            "exact": int(outcome.exact),
            "duckdb": int(trial.loader == "duckdb"),
            "postgres": int(trial.loader == "postgres"),
            "updates": int(max(epochs) >= 1),
            "deletions": int(max(epochs) >= DELETIONS_FROM_EPOCH),
            "late commits": int(trial.vendor in LATE_COMMITS and max(epochs) >= 2),
            "moving data": int(outcome.moves > 0),
            "faults": int(bool(trial.faults)),
            "kills": int(outcome.kills > 0),
        }
        for row in (trial.vendor, "all"):
            counts = rows.setdefault(row, dict.fromkeys(COVERAGE, 0))
            for name, value in seen.items():
                counts[name] += value
            counts["largest scale"] = max(counts["largest scale"], trial.scale)
    return rows


def table(outcomes: list[Outcome]) -> Table:
    table = Table(title="What the trials covered (trials per vendor that had each)")
    table.add_column("vendor")
    for name in COVERAGE:
        table.add_column(name, justify="right")
    for vendor, counts in coverage(outcomes).items():
        table.add_row(vendor, *(str(counts[name]) for name in COVERAGE))
    return table


def markdown(outcomes: list[Outcome], seed: int) -> str:
    """The coverage table and the result, for docs/reliability.md."""
    exact = sum(o.exact for o in outcomes)
    lines = [
        "| vendor | " + " | ".join(COVERAGE) + " |",
        "|---|" + "---:|" * len(COVERAGE),
        *(
            f"| {vendor} | " + " | ".join(str(counts[name]) for name in COVERAGE) + " |"
            for vendor, counts in coverage(outcomes).items()
        ),
        "",
        f"Seed {seed}: {len(outcomes)} trials, {exact} exact, {len(outcomes) - exact} diverged.",
    ]
    return "\n".join(lines) + "\n"
