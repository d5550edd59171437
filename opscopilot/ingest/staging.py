"""The staging table: every accepted record of a batch lands here by COPY first.

It is a temporary table dropped at commit, so a batch's rows never outlive its
transaction. Duplicates inside a batch are found from 64-bit hashes of each row's key
collected while streaming (8 bytes a row, not the rows), then checked in SQL on the few
candidate rows only.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.normalize import STAGE_COLUMNS, StageRow

STAGE = "oc_ingest_stage"

_CREATE = f"""
CREATE TEMP TABLE {STAGE} (
    row_no int4 NOT NULL, rkind text NOT NULL, site text, sku text, okind text,
    obs_date date, value float8, weight float8, natural_key text, counterparty text,
    location text, on_hand float8, allocated float8, on_order float8, as_of timestamptz,
    h int8, data jsonb, promised_date date
) ON COMMIT DROP
"""

# The identity of a row within its kind: two staged rows with the same key are the same
# fact (or the same master record) sent twice.
_KEY = """CASE
    WHEN rkind = 'inventory' THEN concat_ws('|', site, sku, location, as_of::text)
    WHEN rkind = 'items' THEN concat_ws('|', site, natural_key)
    WHEN rkind IN ('processes', 'costs') THEN natural_key
    ELSE concat_ws('|', site, okind, natural_key) END"""
_CONTENT = """md5(concat_ws('|', sku, obs_date::text, value::text, weight::text, counterparty,
    on_hand::text, allocated::text, on_order::text, data::text, promised_date::text))"""


@dataclass
class StageStats:
    staged: int = 0
    hashes: array[int] = field(default_factory=lambda: array("q"))
    kinds: dict[str, int] = field(default_factory=dict)


async def create_stage(session: AsyncSession) -> None:
    await session.execute(text(_CREATE))


async def copy_rows(session: AsyncSession, rows: Iterable[StageRow], stats: StageStats) -> None:
    """Stream rows into the staging table with binary COPY on the session's connection."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection

    async def feed() -> AsyncIterator[StageRow]:
        append = stats.hashes.append
        kinds = stats.kinds
        n = 0
        for row in rows:
            append(row[15])
            kinds[row[1]] = kinds.get(row[1], 0) + 1
            n += 1
            yield row
            if n % 20_000 == 0:
                await asyncio.sleep(0)  # let the lease heartbeat run
        stats.staged += n

    await driver.copy_records_to_table(STAGE, records=feed(), columns=list(STAGE_COLUMNS))


def duplicate_hashes(stats: StageStats) -> list[int]:
    if len(stats.hashes) < 2:
        return []
    import numpy as np

    values = np.sort(np.frombuffer(stats.hashes, dtype=np.int64))
    dup = values[1:][values[1:] == values[:-1]]
    return [int(v) for v in np.unique(dup)]


@dataclass
class DuplicateGroup:
    rkind: str
    rows: list[int]
    conflicting: bool


async def find_duplicates(session: AsyncSession, hashes: list[int]) -> list[DuplicateGroup]:
    if not hashes:
        return []
    result = await session.execute(
        text(
            f"SELECT rkind, array_agg(row_no ORDER BY row_no) AS rows, "
            f"count(DISTINCT content) > 1 AS conflicting FROM ("
            f"  SELECT rkind, row_no, {_KEY} AS k, {_CONTENT} AS content"
            f"  FROM {STAGE} WHERE h = ANY(:hashes)"
            f") c GROUP BY rkind, k HAVING count(*) > 1"
        ),
        {"hashes": hashes},
    )
    return [DuplicateGroup(r.rkind, list(r.rows), bool(r.conflicting)) for r in result]


async def drop_rows(session: AsyncSession, pairs: list[tuple[str, int]]) -> None:
    if not pairs:
        return
    await session.execute(
        text(
            f"DELETE FROM {STAGE} s USING unnest(CAST(:kinds AS text[]), CAST(:rows AS int[])) "
            "AS d(rkind, row_no) WHERE s.rkind = d.rkind AND s.row_no = d.row_no"
        ),
        {"kinds": [k for k, _ in pairs], "rows": [r for _, r in pairs]},
    )


async def prepare_bulk(session: AsyncSession) -> None:
    """For a large batch: statistics for the planner (temp tables get none on their own)
    and room for the hash joins of the merge, for this transaction only."""
    await session.execute(text("SET LOCAL work_mem = '128MB'"))
    await session.execute(text(f"ANALYZE {STAGE}"))


async def master_chunks(
    session: AsyncSession, rkind: str, size: int = 1_000
) -> AsyncIterator[list[tuple[int, str, dict[str, Any]]]]:
    """Master records of one kind in row order, a chunk at a time."""
    last = -1
    while True:
        result = await session.execute(
            text(
                f"SELECT row_no, site, data FROM {STAGE} WHERE rkind = :k AND row_no > :last "
                "ORDER BY row_no LIMIT :n"
            ),
            {"k": rkind, "last": last, "n": size},
        )
        chunk = [(r.row_no, r.site, r.data) for r in result]
        if not chunk:
            return
        yield chunk
        last = chunk[-1][0]
