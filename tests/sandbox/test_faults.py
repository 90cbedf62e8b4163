"""Fault spec parsing and the seeded, capped fault decisions (no network)."""

import pytest

from dataops.sandbox.faults import KINDS, FaultInjector, FaultPlan, parse_faults


def test_parse_spec() -> None:
    assert parse_faults(" 429:0.1, 500:0.05,reset:0.02 ") == {
        "429": 0.1,
        "500": 0.05,
        "reset": 0.02,
    }
    assert parse_faults("") == {}
    assert parse_faults(",".join(f"{kind}:0.1" for kind in KINDS)) == dict.fromkeys(KINDS, 0.1)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("boom:0.1", "'boom'"),
        ("500", "'500'"),
        ("500:x", "'x'"),
        ("500:1.5", "'500:1.5'"),
        ("429:0.1,500:-0.1", "'500:-0.1'"),
        ("500:0.6,502:0.6", "sum to 1.2"),
        ("500:0.1,500:0.2", "twice"),
    ],
)
def test_bad_spec_names_the_bad_item(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_faults(spec)


def test_draws_are_seeded_and_ignore_item_order() -> None:
    plan = FaultPlan(parse_faults("429:0.2,500:0.2"), seed=1)
    reordered = FaultPlan(parse_faults("500:0.2,429:0.2"), seed=1)
    other_seed = FaultPlan(plan.rates, seed=2)
    keys = [(f"GET /api/v2/audits?cursor={n}", attempt) for n in range(200) for attempt in range(3)]
    draws = [plan.draw(key, attempt) for key, attempt in keys]
    assert draws == [reordered.draw(key, attempt) for key, attempt in keys]
    assert draws != [other_seed.draw(key, attempt) for key, attempt in keys]


def test_draw_rates_match_the_spec() -> None:
    plan = FaultPlan(parse_faults("429:0.2,reset:0.1"))
    draws = [plan.draw(f"GET /x/{n}", 0) for n in range(10_000)]
    assert 0.17 < draws.count("429") / len(draws) < 0.23
    assert 0.08 < draws.count("reset") / len(draws) < 0.12
    assert 0.67 < draws.count(None) / len(draws) < 0.73


def test_consecutive_faults_are_capped() -> None:
    injector = FaultInjector(FaultPlan({"500": 1.0}, max_consecutive=3))
    outcomes = [injector.next_fault("GET /a") for _ in range(8)]
    assert outcomes == ["500", "500", "500", None, "500", "500", "500", None]


def test_decisions_do_not_depend_on_interleaving() -> None:
    plan = FaultPlan(parse_faults("500:0.3,reset:0.2"), seed=5)
    keys = [f"GET /c/{n}" for n in range(20)]
    in_order, interleaved = FaultInjector(plan), FaultInjector(plan)
    first = {key: [in_order.next_fault(key) for _ in range(6)] for key in keys}
    second: dict[str, list[str | None]] = {key: [] for key in keys}
    for _ in range(6):
        for key in reversed(keys):
            second[key].append(interleaved.next_fault(key))
    assert first == second
