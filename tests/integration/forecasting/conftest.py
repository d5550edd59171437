"""Forecasting fixtures: data goes in through the ingestion service (or, for what ingestion
refuses such as returns and NaN, straight into `observations`), forecasts come out through
the API or the service."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from opscopilot.access.roles import Principal
from opscopilot.core.settings import Settings
from opscopilot.ingest.schemas import IngestRequest
from opscopilot.ingest.service import ingest_batch
from opscopilot.store.engine import Database
from opscopilot.store.models import ManufacturingItem, Observation, OutboxEvent

# A fixed end of history: forecasts asked `as_of` it do not depend on the day tests run.
AS_OF = date(2025, 6, 15)
OPERATOR = Principal(user_id=None, external_id="oscar", role="operator")
VIEWER_NORTH = Principal(user_id=None, external_id="nina", role="viewer", sites=("north",))
_batches = 0


async def ingest(db: Database, settings: Settings, site: str = "main", **data: Any) -> None:
    """One batch through the ingestion service; every record must be accepted."""
    global _batches
    _batches += 1
    batch = await ingest_batch(
        db,
        request=IngestRequest(
            source_type="erp",
            source_id="erp_test",
            batch_reference=f"b{_batches}",
            site=site,
            data=data,
        ),  # fmt: skip
        actor="tests",
        sites=None,
        settings=settings,
    )
    assert batch.status == "success", (batch.error, batch.errors)


def months_before(end: date, count: int) -> list[date]:
    """The 10th of each of the `count` months before `end`'s month, oldest first."""
    starts = pd.date_range(end=pd.Timestamp(end).replace(day=1), periods=count + 1, freq="MS")
    return [ts.date() + timedelta(days=9) for ts in starts[:-1]]


def weeks_before(end: date, count: int) -> list[date]:
    """A Wednesday in each of the `count` weeks before `end`'s week, oldest first."""
    monday = end - timedelta(days=end.weekday())
    return [monday - timedelta(weeks=count - i) + timedelta(days=2) for i in range(count)]


def recent_weeks(count: int) -> list[date]:
    """`weeks_before` today's complete weeks: on a Sunday this week is complete too."""
    today = datetime.now(UTC).date()
    return weeks_before(today + timedelta(days=1), count)


def seasonal(count: int, *, base: float = 100.0, seed: int = 0) -> list[float]:
    """Monthly demand with a yearly swing, a small trend and deterministic noise."""
    return [
        round(base + 0.5 * t + 0.25 * base * math.sin(2 * math.pi * t / 12) + ((t * 7 + seed) % 5))
        for t in range(count)
    ]


def sales(
    sku: str, days: list[date], values: list[float], prefix: str = "SO"
) -> list[dict[str, Any]]:
    return [
        {"sku": sku, "date": d.isoformat(), "qty": v, "order_id": f"{prefix}-{sku}-{i}"}
        for i, (d, v) in enumerate(zip(days, values, strict=True))
        if v
    ]


async def item(
    db: Database, settings: Settings, sku: str, *, site: str = "main", **params: Any
) -> None:
    record = {"sku": sku, "name": f"Part {sku}", "supplier_name": "Supplier X", **params}
    await ingest(db, settings, site=site, items=[record])


async def observe(
    db: Database, sku: str, kind: str, rows: list[tuple[date, float]], *, site: str = "main"
) -> None:
    """Facts ingestion refuses (returns, NaN), written straight into the fact table."""
    async with db.sessions() as session:
        found = await session.scalar(select(ManufacturingItem).where(ManufacturingItem.sku == sku))
        assert found is not None
        session.add_all(
            Observation(site=site, item_id=found.id, kind=kind, obs_date=d, value=v,
                        natural_key=f"f:{sku}:{kind}:{i}:{d.isoformat()}")
            for i, (d, v) in enumerate(rows)
        )  # fmt: skip
        await session.commit()


async def count(db: Database, model: type[Any], *where: Any) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def events(db: Database) -> list[OutboxEvent]:
    async with db.sessions() as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return list(rows.all())


@dataclass
class Seeded:
    sku: str
    values: list[float]


@pytest.fixture
async def gasket(clean_db: Database, settings: Settings) -> AsyncIterator[Seeded]:
    """Three years of monthly seasonal demand for GSK-1 at site main, ending before AS_OF."""
    values = seasonal(36)
    await item(clean_db, settings, "GSK-1")
    await ingest(clean_db, settings, sales=sales("GSK-1", months_before(AS_OF, 36), values))
    yield Seeded("GSK-1", values)


def shown_value(text: str, stored: float) -> float:
    """A quoted number back as a float (`1,234.5`, `+12%`, `37%`, `0.85`); a share is quoted
    in percent, an interval level (stored as 80) as itself."""
    number = float(re.sub(r"[^0-9.\-]", "", text))
    return number / 100 if text.endswith("%") and abs(stored) <= 10 else number


def assert_quotes_only_stored_numbers(body: dict[str, Any]) -> None:
    text, facts, components = body["explanation"], body["explanation_facts"], body["components"]
    assert facts, "an explanation quotes numbers"
    rest = text
    for key, shown in sorted(facts.items(), key=lambda kv: -len(kv[1])):
        assert shown in text, key
        value = components[key]
        if isinstance(value, str):
            assert shown == value
        else:
            digits = len(shown.split(".")[1].rstrip("%")) if "." in shown else 0
            scale = 100 if shown.endswith("%") and abs(value) <= 10 else 1
            tolerance = 0.5 * 10 ** (-digits) / scale + 1e-12
            assert shown_value(shown, value) == pytest.approx(value, abs=tolerance), key
        rest = rest.replace(shown, " ")
    assert not re.search(r"\d", rest), f"a number the forecast did not store: {rest!r}"
