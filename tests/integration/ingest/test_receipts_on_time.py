"""Receipts keep their promised date and days late, so the supplier on-time KPI has data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

from opscopilot.core.settings import Settings
from opscopilot.ingest.service import ingest_file
from opscopilot.store.engine import Database
from opscopilot.tools.kpis import supplier_on_time

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "ingest"


async def _ingest(db: Database, settings: Settings, path: Path, **kw: Any) -> Any:
    args: dict[str, Any] = {"source_type": "erp", "source_id": "legacy_erp", "actor": "test"}
    args.update(kw)
    return await ingest_file(db, path=path, settings=settings, **args)


async def test_erp_receipts_store_promised_dates_and_feed_the_on_time_rate(
    settings: Settings, clean_db: Database
) -> None:
    kw = {"mapping": "legacy_erp"}
    await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_items.csv", **kw)
    got = await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_receipts.csv", **kw)
    assert (got.status, got.inserted, got.rejected) == ("success", 5, 0)
    async with clean_db.session() as session:
        rows = await session.execute(
            text(
                "SELECT natural_key, promised_date, weight FROM observations "
                "WHERE kind = 'supply' ORDER BY natural_key"
            )
        )
        late = {r.natural_key: (r.promised_date, r.weight) for r in rows}
        assert late["k:4700001|10"] == (date(2024, 1, 5), 3.0)
        assert late["k:4700001|20"] == (date(2024, 1, 5), 0.0)
        assert late["k:4700002|10"] == (date(2024, 1, 15), -3.0)  # early
        kpi = await supplier_on_time(session, site="main", today=date(2024, 2, 1), days=60)
    rates = {s["supplier"]: (s["receipts"], s["on_time"]) for s in kpi["suppliers"]}
    assert rates == {"Acme Seals GmbH": (2, 1), "Kugel AG": (1, 1), "Schraub & Co": (1, 0)}
    assert kpi["rate_pct"] == 50.0


async def test_a_changed_promised_date_updates_the_receipt_and_a_resend_is_unchanged(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"sku": "GSK-1", "name": "Gasket"}) + "\n")
    await _ingest(clean_db, settings, items, source_id="generic_src")

    def receipts(promised: str) -> Path:
        path = tmp_path / f"receipts-{promised}.jsonl"
        rows = [
            {"sku": "GSK-1", "date": "2024-03-10", "qty": 100, "po": "PO-1", "po_line": 1,
             "supplier": "ACME", "promised": promised},
            {"sku": "GSK-1", "date": "2024-03-12", "qty": 50, "po": "PO-2", "po_line": 1,
             "supplier": "ACME"},
        ]  # fmt: skip
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    kw = {"source_id": "generic_src", "kind": "receipts"}
    first = await _ingest(clean_db, settings, receipts("2024-03-08"), **kw)
    assert (first.inserted, first.rejected) == (2, 0)
    again = await _ingest(clean_db, settings, receipts("2024-03-08"), batch_reference="b", **kw)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    moved = await _ingest(clean_db, settings, receipts("2024-03-10"), **kw)
    assert (moved.inserted, moved.updated, moved.unchanged) == (0, 1, 1)
    async with clean_db.session() as session:
        rows = await session.execute(
            text("SELECT natural_key, promised_date, weight FROM observations ORDER BY 1")
        )
        assert [tuple(r) for r in rows] == [
            ("r:PO-1:1", date(2024, 3, 10), 0.0),
            ("r:PO-2:1", None, None),  # no promise: lateness unknown, not counted on time
        ]
        kpi = await supplier_on_time(session, site="main", today=date(2024, 3, 31), days=60)
    assert (kpi["receipts"], kpi["rate_pct"]) == (1, 100.0)


async def test_a_malformed_promised_date_is_a_row_error(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"sku": "GSK-1", "name": "Gasket"}) + "\n")
    await _ingest(clean_db, settings, items, source_id="generic_src")
    path = tmp_path / "receipts.jsonl"
    path.write_text(json.dumps({"sku": "GSK-1", "date": "2024-03-10", "qty": 1,
                                "po_number": "PO-9", "promised_date": "soon"}) + "\n")  # fmt: skip
    got = await _ingest(clean_db, settings, path, source_id="generic_src", kind="receipts")
    assert got.rejected == 1
    assert [(e.field, e.row) for e in got.errors] == [("promised_date", 1)]
