"""SOPs and manuals into chunks with heading paths and page numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscopilot.ingest.documents import (
    MAX_CHUNK_CHARS,
    UnreadableDocument,
    collect_files,
    parse_file,
    parse_markdown,
)
from tests.fixtures.pdf import text_pdf

SOP = """---
owner: QA
---
# SOP-QA-007 Quality Hold

Intro paragraph.

## 1. Placing a hold

Move the stock to QH.

### 1.1 Labels

Red HOLD labels on every pallet.

```
# not a heading: a comment in a code block
```

## 2. Release

Only Quality may release.
"""


def test_markdown_chunks_carry_the_heading_path() -> None:
    doc = parse_markdown(SOP, fallback_title="x")
    assert doc.title == "SOP-QA-007 Quality Hold"
    by_heading = {c.heading: c.text for c in doc.chunks}
    assert by_heading[None] == "Intro paragraph."
    assert by_heading["1. Placing a hold"] == "Move the stock to QH."
    assert by_heading["1. Placing a hold > 1.1 Labels"].startswith("Red HOLD labels")
    assert "# not a heading" in by_heading["1. Placing a hold > 1.1 Labels"]
    assert by_heading["2. Release"] == "Only Quality may release."
    assert "owner: QA" not in " ".join(by_heading.values())


def test_long_sections_are_cut_at_sentences_within_the_limit() -> None:
    sentence = "Tighten the bolts in a star pattern in three passes. "
    doc = parse_markdown("# T\n\n## Torque\n\n" + sentence * 80, fallback_title="x")
    assert len(doc.chunks) > 2
    assert all(len(c.text) <= MAX_CHUNK_CHARS for c in doc.chunks)
    assert all(c.heading == "Torque" for c in doc.chunks)
    assert all(c.text.endswith("passes.") for c in doc.chunks)


def test_pdf_chunks_carry_their_page(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    raw = text_pdf(["Pump P-101 start-up checklist.", "Bearing lubrication every 2000 h."],
                   title="Pump manual")  # fmt: skip
    path.write_bytes(raw)
    doc = parse_file(path, raw)
    assert doc.title == "Pump manual"
    assert [(c.page, c.text) for c in doc.chunks] == [
        (1, "Pump P-101 start-up checklist."),
        (2, "Bearing lubrication every 2000 h."),
    ]


def test_text_files_and_windows_encodings(tmp_path: Path) -> None:
    path = tmp_path / "lockout_tagout.txt"
    raw = "Lockout procedure\n\nIsolate at 400 V \u2013 verify zero energy.".encode("cp1252")
    path.write_bytes(raw)
    doc = parse_file(path, raw)
    assert doc.title == "Lockout procedure"
    assert "verify zero energy" in doc.chunks[-1].text


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    with pytest.raises(UnreadableDocument):
        parse_file(broken, broken.read_bytes())
    empty = tmp_path / "empty.md"
    empty.write_text("\n\n")
    with pytest.raises(UnreadableDocument, match="no text"):
        parse_file(empty, b"\n\n")


def test_collect_files_walks_folders_and_keeps_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.md", "sub/b.PDF", "sub/c.txt", "d.docx", "sub/e.png"):
        (tmp_path / name).write_bytes(b"x")
    found = [p.name for p in collect_files([tmp_path, tmp_path / "a.md"])]
    assert found == ["a.md", "b.PDF", "c.txt"]
