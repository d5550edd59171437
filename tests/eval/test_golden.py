"""Every golden question, in every phrasing, on the offline model: all must pass."""

from __future__ import annotations

import pytest

from opscopilot.agent.eval.harness import Case, Evaluator, load_suite

CASES, _ = load_suite()


def test_the_suite_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert all(len(c.ask) >= 1 for c in CASES)
    assert sum(len(c.ask) >= 2 for c in CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_golden_case(case: Case, evaluator: Evaluator) -> None:
    if not evaluator.available(case):
        missing = set(case.must_call) - evaluator.registry.names
        pytest.skip(f"tools not available yet: {', '.join(sorted(missing))}")
    outcomes = await evaluator.run_case(case)
    failures = [
        f"{o.question!r}: called {o.called}, approval {o.asked_approval}, "
        f"missing {o.missing}, error {o.error}\n  answer: {o.answer[:400]!r}"
        for o in outcomes
        if not o.ok
    ]
    assert not failures, "\n".join(failures)
