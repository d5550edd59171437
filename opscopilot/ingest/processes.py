"""Manufacturing processes: create or update by code, with an audit row for every change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.master import (
    MasterRecord,
    Outcome,
    audit_row,
    ours,
    resolve_external_skus,
    waves,
)
from opscopilot.ingest.values import RowError
from opscopilot.store.models import ManufacturingItem, ManufacturingProcess

PROCESS_COLUMNS = ("code", "name", "work_center", "steps", "cycle_time_minutes", "yield_pct")


def _sku_of(skus: dict[uuid.UUID, str], proc: ManufacturingProcess) -> str | None:
    return skus.get(proc.item_id) if proc.item_id is not None else None


def process_state(proc: ManufacturingProcess, sku: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {c: getattr(proc, c) for c in PROCESS_COLUMNS}
    out.update(sku=sku, site=proc.site, attributes=dict(proc.attributes or {}))
    return out


async def apply_processes(
    session: AsyncSession,
    *,
    records: Sequence[MasterRecord],
    actor: str,
    batch_id: uuid.UUID | None,
    external_system: str | None = None,
) -> tuple[dict[int, Outcome], list[ManufacturingItem]]:
    outcomes: dict[int, Outcome] = {}
    wanted = [d["sku"] for _, _, d in records if d.get("sku")]
    translated = await resolve_external_skus(session, skus=wanted, system=external_system)
    skus = {ours(translated, s) for s in wanted}
    found = await session.execute(
        select(ManufacturingItem.sku, ManufacturingItem.id).where(ManufacturingItem.sku.in_(skus))
    )
    items: dict[str, uuid.UUID] = {sku: iid for sku, iid in found}
    sku_of = {v: k for k, v in items.items()}
    for wave in waves(records, "code"):
        codes = [d["code"] for _, _, d in wave]
        existing = {
            p.code: p
            for p in (
                await session.scalars(
                    select(ManufacturingProcess)
                    .where(ManufacturingProcess.code.in_(codes))
                    .with_for_update()
                )
            ).all()
        }
        for row, site, data in wave:
            item_id = None
            if data.get("sku"):
                item_id = items.get(ours(translated, data["sku"]))
                if item_id is None:
                    outcomes[row] = RowError("sku", f"unknown sku {data['sku']!r}")
                    continue
            proc = existing.get(data["code"])
            before = None if proc is None else process_state(proc, _sku_of(sku_of, proc))
            if proc is None:
                if not data.get("name"):
                    outcomes[row] = RowError("name", "is required for a new process")
                    continue
                proc = ManufacturingProcess(id=uuid.uuid4(), code=data["code"], steps=[],
                                            attributes={})  # fmt: skip
                session.add(proc)
                existing[proc.code] = proc
            for name in PROCESS_COLUMNS[1:]:
                if name in data:
                    setattr(proc, name, data[name])
            proc.site = site
            if item_id is not None:
                proc.item_id = item_id
            if data.get("attributes"):
                proc.attributes = {**(proc.attributes or {}), **data["attributes"]}
            after = process_state(proc, _sku_of(sku_of, proc))
            if before == after:
                outcomes[row] = "unchanged"
                continue
            await session.flush()
            session.add(
                audit_row(entity_type="process", entity_id=proc.id, key=proc.code, before=before,
                       after=_jsonable(after), actor=actor, batch_id=batch_id)
            )  # fmt: skip
            outcomes[row] = "inserted" if before is None else "updated"
    await session.flush()
    return outcomes, []


def _jsonable(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in state.items()}
