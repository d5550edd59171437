"""Period arithmetic of observation series."""

from datetime import date

from opscopilot.ingest.schemas import SeriesPoint
from opscopilot.ingest.series import fill_zeros, next_period, period_start


def test_period_starts_and_steps() -> None:
    d = date(2024, 5, 15)  # a Wednesday
    assert period_start(d, "weekly") == date(2024, 5, 13)
    assert period_start(d, "monthly") == date(2024, 5, 1)
    assert period_start(d, "quarterly") == date(2024, 4, 1)
    assert next_period(date(2024, 12, 1), "monthly") == date(2025, 1, 1)
    assert next_period(date(2024, 10, 1), "quarterly") == date(2025, 1, 1)


def test_zeros_between_facts_only() -> None:
    pts = [SeriesPoint(period_start=date(2024, 1, 1), value=5, count=1),
           SeriesPoint(period_start=date(2024, 3, 1), value=2, count=1)]  # fmt: skip
    filled = fill_zeros(pts, "monthly", None, None)
    assert [(p.period_start.month, p.value) for p in filled] == [(1, 5), (2, 0), (3, 2)]
    wider = fill_zeros(pts, "monthly", date(2023, 12, 10), date(2024, 4, 2))
    assert len(wider) == 5
    assert fill_zeros([], "monthly", None, None) == []
