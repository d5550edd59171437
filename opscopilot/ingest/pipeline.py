"""The apply step of a batch, inside its one transaction: stage every record by COPY,
settle duplicates, write master data with its audit trail, merge the facts set-based."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.settings import Settings
from opscopilot.ingest import batches, master, merge, processes, staging
from opscopilot.ingest.indexing import batch_index
from opscopilot.ingest.kinds import FACT_KINDS
from opscopilot.ingest.normalize import Normalizer, StageRow
from opscopilot.ingest.readers import Read
from opscopilot.ingest.values import RowError

MASTER_APPLY: tuple[tuple[str, master.MasterApply], ...] = (
    ("items", master.apply_items),
    ("processes", processes.apply_processes),
    ("costs", master.apply_costs),
)


async def apply_batch(
    session: AsyncSession,
    *,
    reads: Iterator[Read],
    normalizer: Normalizer,
    batch_id: uuid.UUID,
    actor: str,
    source_id: str,
    settings: Settings,
) -> batches.Tally:
    tally = batches.Tally()

    def rows() -> Iterator[StageRow]:
        normalize = normalizer.normalize
        for kind, row, record in reads:
            tally.received += 1
            if isinstance(record, RowError):
                tally.reject(kind, row, record)
                continue
            try:
                yield normalize(kind, record, row)
            except RowError as exc:
                tally.reject(kind, row, exc)

    await staging.create_stage(session)
    stats = staging.StageStats()
    await staging.copy_rows(session, rows(), stats)
    if stats.staged >= settings.ingest.bulk_threshold_rows:
        await staging.prepare_bulk(session)
    facts_left = sum(stats.kinds.get(k, 0) for k in FACT_KINDS)
    facts_left -= await _settle_duplicates(session, stats, tally)

    ext = normalizer.mapping.sku_system(source_id)
    system = ext[0] if ext else None
    # indexed once for the whole batch: one embedding pass, and a first load builds the
    # search graph in one go instead of growing it row by row
    to_index = batch_index(model=settings.ingest.embedding_model)
    for kind, apply in MASTER_APPLY:
        async for chunk in staging.master_chunks(session, kind):
            outcomes, written = await apply(
                session, records=chunk, actor=actor, batch_id=batch_id, external_system=system
            )
            for row, outcome in outcomes.items():
                if isinstance(outcome, RowError):
                    tally.reject(kind, row, outcome)
                else:
                    tally.count(outcome)
            to_index.add(written)
    await to_index.flush(session)

    resolution = merge.Resolution(system=system, unmapped=ext[1] if ext else "keep")
    gone = await merge.reject_unknown_items(
        session, resolution=resolution, limit=batches.MAX_STORED_ERRORS
    )
    for rkind, row, sku in gone.rows:
        why = f"unknown sku {sku!r}" + (f" (no mapping in {system})" if system else "")
        tally.reject(rkind, row, RowError("sku", why))
    tally.rejected += gone.total - len(gone.rows)
    facts_left -= gone.total
    snaps = await merge.merge_snapshots(session, resolution=resolution, batch_id=batch_id)
    facts = await merge.merge_observations(
        session, resolution=resolution, batch_id=batch_id, inventory=False
    )
    await merge.merge_observations(
        session, resolution=resolution, batch_id=batch_id, inventory=True
    )
    changed = snaps.inserted + snaps.updated + facts.inserted + facts.updated
    tally.inserted += snaps.inserted + facts.inserted
    tally.updated += snaps.updated + facts.updated
    tally.unchanged += facts_left - changed
    return tally


async def _settle_duplicates(
    session: AsyncSession, stats: staging.StageStats, tally: batches.Tally
) -> int:
    """Same key twice in one batch: identical copies count once (the rest unchanged);
    differing copies are all rejected, since no one can say which is right. Returns how
    many fact rows left the staging table."""
    groups = await staging.find_duplicates(session, staging.duplicate_hashes(stats))
    drop: list[tuple[str, int]] = []
    facts_dropped = 0
    for group in groups:
        leaving = group.rows if group.conflicting else group.rows[1:]
        for row in leaving:
            drop.append((group.rkind, row))
            if group.conflicting:
                others = ", ".join(str(r) for r in group.rows if r != row)
                reason = f"the same key appears with different values in rows {others}"
                tally.reject(group.rkind, row, RowError("key", reason))
            else:
                tally.unchanged += 1
        if group.rkind in FACT_KINDS:
            facts_dropped += len(leaving)
    await staging.drop_rows(session, drop)
    return facts_dropped
