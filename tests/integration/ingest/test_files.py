"""Files as batches: the service behind `opscopilot ingest`, and the command itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from opscopilot.core.settings import Settings
from opscopilot.ingest.service import ingest_file
from opscopilot.store.engine import Database
from tests.conftest import make_settings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "ingest"


async def _count(db: Database, sql: str) -> Any:
    async with db.session() as session:
        return (await session.execute(text(sql))).scalar()


async def _ingest(db: Database, settings: Settings, path: Path, **kw: Any) -> Any:
    args: dict[str, Any] = {"source_type": "erp", "source_id": "files", "actor": "test"}
    args.update(kw)
    return await ingest_file(db, path=path, settings=settings, **args)


async def test_legacy_erp_samples_end_to_end(settings: Settings, clean_db: Database) -> None:
    kw = {"source_id": "legacy_erp", "mapping": "legacy_erp"}
    items = await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_items.csv", **kw)
    assert (items.status, items.inserted, items.updated, items.rejected) == ("success", 4, 1, 0)
    stock = await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_stock.csv", **kw)
    assert (stock.inserted, stock.rejected) == (5, 0)
    sales = await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_sales.csv", **kw)
    assert (sales.inserted, sales.rejected) == (4, 0)
    assert await _count(clean_db, "SELECT sum(value) FROM observations WHERE kind = 'demand'") == (
        120 + 50 * 100 + 2 * 12 + 400
    )
    assert await _count(clean_db, "SELECT count(*) FROM external_mappings") == 4
    again = await _ingest(clean_db, settings, EXAMPLES / "legacy_erp_sales.csv", **kw)
    assert again.id == sales.id and again.created is False


async def test_bulk_path_resend_is_unchanged_and_duplicates_settle(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    bulk = make_settings(settings.db.url or "", ingest={"bulk_threshold_rows": 10})
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"sku": f"S{i}", "name": f"Part {i}"}) + "\n"
                             for i in range(20)))  # fmt: skip
    assert (await _ingest(clean_db, bulk, items)).inserted == 20
    sales = tmp_path / "sales.csv"
    lines = ["order_id,line,sku,date,qty"]
    lines += [f"SO{i},1,S{i % 20},2024-01-{i % 28 + 1:02d},{i % 7 + 1}" for i in range(300)]
    lines += ["SO1,1,S1,2024-01-02,2", "SO2,1,S2,2024-01-03,999", "SO999,1,S404,2024-01-04,1"]
    sales.write_text("\n".join(lines) + "\n")
    first = await _ingest(clean_db, bulk, sales, kind="sales")
    assert first.received == 303
    # SO1 sent twice identically: once unchanged; SO2 twice with different qty: both out.
    assert (first.inserted, first.unchanged, first.rejected) == (299, 1, 3)
    reasons = {(e.row, e.field): e.reason for e in first.errors}
    assert "different values" in reasons[(4, "key")] and "unknown sku 'S404'" in reasons[
        (304, "sku")]  # fmt: skip
    again = await _ingest(clean_db, bulk, sales, kind="sales", batch_reference="again")
    assert again.duplicate_of == first.id
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 300, 3)
    assert await _count(clean_db, "SELECT count(*) FROM observations") == 299


async def test_unreadable_files_fail_cleanly(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"sku": "A", "name": "A"}, {"sku": ')
    batch = await _ingest(clean_db, settings, broken, kind="items")
    assert batch.status == "failed" and "not valid JSON" in (batch.error or "")
    assert await _count(clean_db, "SELECT count(*) FROM manufacturing_items") == 0
    latin = tmp_path / "items.csv"
    latin.write_bytes("sku,name\nA,Dichtung\nB,Stra\xdfe\n".encode("latin-1"))
    batch = await _ingest(clean_db, settings, latin)
    assert (batch.status, batch.inserted, batch.rejected) == ("success", 1, 1)
    assert "utf-8" in batch.errors[0].reason.lower()


def test_cli_prints_summary_and_exit_codes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opscopilot.cli.main import app
    from opscopilot.core.settings import reset_settings

    monkeypatch.setenv("DATABASE_URL", settings.db.url or "")
    monkeypatch.setenv("OPSCOPILOT_LOG_LEVEL", "WARNING")
    reset_settings()
    runner = CliRunner()
    try:
        f = tmp_path / "items.csv"
        f.write_text("sku,name\nCLI-1,Widget\n,No sku\n")
        ok = runner.invoke(app, ["ingest", str(f), "--source-type", "erp", "--source-id",
                                 "cli-test", "-q"])  # fmt: skip
        assert ok.exit_code == 0, ok.output
        assert "success" in ok.output and "first rejected rows" in ok.output
        again = runner.invoke(app, ["ingest", str(f), "--source-type", "erp", "--source-id",
                                    "cli-test", "-q", "--json"])  # fmt: skip
        assert json.loads(again.output)["created"] is False
        bad = runner.invoke(app, ["ingest", str(f), "--source-type", "crm", "--source-id", "x"])
        assert bad.exit_code == 2 and "erp" in bad.output
        odd = tmp_path / "x.parquet"
        odd.write_text("x")
        unreadable = runner.invoke(app, ["ingest", str(odd), "--source-type", "erp",
                                         "--source-id", "x", "-q"])  # fmt: skip
        assert unreadable.exit_code == 2 and "cannot tell the format" in unreadable.output
    finally:
        reset_settings()
