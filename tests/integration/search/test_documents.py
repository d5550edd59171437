"""SOPs and manuals: loaded into chunks with references, replaced when changed, found by
questions; and the `opscopilot ingest-docs` command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from opscopilot.core.settings import reset_settings
from opscopilot.ingest.documents import ingest_document, ingest_documents
from opscopilot.store.engine import Database
from opscopilot.store.models import Document, DocumentChunk, Embedding
from opscopilot.store.search import search_documents
from tests.fixtures.pdf import text_pdf

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "docs"


async def test_sample_sops_answer_questions_with_their_references(clean_db: Database) -> None:
    async with clean_db.transaction() as s:
        loads = await ingest_documents(s, paths=[EXAMPLES])
    assert len(loads) == 4 and {load.status for load in loads} == {"new"}
    async with clean_db.session() as s:
        hold = await search_documents(s, query="who can release a quality hold", limit=3)
        shelf = await search_documents(s, query="shelf life of EPDM o-rings", limit=3)
        freight = await search_documents(s, query="premium freight approval expedite", limit=3)
    assert hold[0].title == "SOP-QA-007 Quality Hold and Release of Material"
    assert hold[0].heading == "5. Release"
    assert "Only Quality may release" in hold[0].text
    assert hold[0].reference == "SOP-QA-007 Quality Hold and Release of Material · 5. Release"
    assert shelf[0].heading == "2. Storage > 2.2 Shelf life"
    assert freight[0].title.startswith("SOP-SCM-021")
    assert hold[0].path.endswith("sop-quality-hold.md") and hold[0].page is None


async def test_reloading_replaces_a_changed_file_and_skips_an_unchanged_one(
    clean_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "sop.md"
    shutil.copy(EXAMPLES / "sop-gasket-handling.md", path)
    async with clean_db.transaction() as s:
        first = await ingest_document(s, path=path)
    async with clean_db.transaction() as s:
        again = await ingest_document(s, path=path)
    assert (first.status, again.status, again.chunks) == ("new", "unchanged", first.chunks)
    path.write_text("# SOP-MNT-014 Gaskets\n\n## Torque\n\nUse the cross pattern, three passes.\n")
    async with clean_db.transaction() as s:
        changed = await ingest_document(s, path=path)
    assert (changed.status, changed.chunks) == ("changed", 1)
    async with clean_db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Document)) == 1
        assert await s.scalar(select(func.count()).select_from(DocumentChunk)) == 1
        # the old chunks' vectors went with them
        assert (
            await s.scalar(
                select(func.count()).select_from(Embedding).where(Embedding.entity_type == "chunk")
            )
            == 1
        )
        (hit,) = await search_documents(s, query="shelf life", limit=1)
    assert (hit.title, hit.heading) == ("SOP-MNT-014 Gaskets", "Torque")


async def test_pdf_pages_and_sites(clean_db: Database, tmp_path: Path) -> None:
    pdf = tmp_path / "pump-manual.pdf"
    pdf.write_bytes(text_pdf(["Start-up checklist for pump P-101.",
                              "Regrease the pump bearings every 2000 operating hours."],
                             title="Pump P-101 manual"))  # fmt: skip
    local = tmp_path / "north-only.md"
    local.write_text("# North plant pump rules\n\nRegrease pump bearings weekly in the north.\n")
    async with clean_db.transaction() as s:
        await ingest_document(s, path=pdf)
        await ingest_document(s, path=local, site="north")
    async with clean_db.session() as s:
        south = await search_documents(s, query="how often regrease pump bearings", site="south")
        north = await search_documents(s, query="how often regrease pump bearings", site="north")
    assert [(h.title, h.page) for h in south] == [("Pump P-101 manual", 2),
                                                  ("Pump P-101 manual", 1)]  # fmt: skip
    assert {h.title for h in north} == {"Pump P-101 manual", "North plant pump rules"}


def test_the_ingest_docs_command(
    clean_db: Database, migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opscopilot.cli.main import EXTRA_COMMAND_MODULES, app

    for module in EXTRA_COMMAND_MODULES:
        __import__(module, fromlist=["register"]).register(app)
    monkeypatch.setenv("OPSCOPILOT_DB__URL", migrated)
    monkeypatch.setenv("OPSCOPILOT_DB__AUTO_UPGRADE", "false")
    monkeypatch.setenv("OPSCOPILOT_LOG_JSON", "false")
    reset_settings()
    broken = tmp_path / "scan.pdf"
    broken.write_bytes(b"%PDF-1.4 scanned, no text")
    try:
        runner = CliRunner()
        ok = runner.invoke(app, ["ingest-docs", str(EXAMPLES)])
        assert ok.exit_code == 0, ok.output
        assert ok.output.count("new") == 4
        bad = runner.invoke(app, ["ingest-docs", str(EXAMPLES / "sop-quality-hold.md"),
                                  str(broken)])  # fmt: skip
        assert bad.exit_code == 1
        assert "unchanged" in bad.output and "skipped" in bad.output
        found = runner.invoke(app, ["search", "docs", "quarantine location for held stock"])
        assert found.exit_code == 0 and "SOP-QA-007" in found.output
    finally:
        reset_settings()
