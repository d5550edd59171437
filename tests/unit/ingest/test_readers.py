"""Streaming readers: CSV (malformed lines, bad bytes), JSON, JSONL and XLSX."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from opscopilot.core.errors import ValidationFailed
from opscopilot.ingest.mapping import load_mapping
from opscopilot.ingest.normalize import Normalizer
from opscopilot.ingest.readers import detect_format, read_records
from opscopilot.ingest.values import RowError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "ingest"


def normalizer(name: str = "generic") -> Normalizer:
    return Normalizer(mapping=load_mapping(name, mappings_dir=None), default_site="main",
                      allowed_sites=None, today=date(2024, 6, 1),
                      future_tolerance_days=2)  # fmt: skip


def read(path: Path, kind: str | None = None, mapping: str = "generic") -> list[Any]:
    return list(
        read_records(path, fmt=detect_format(path), normalizer=normalizer(mapping), kind=kind)
    )


def test_csv_guesses_kind_and_reports_malformed_lines(tmp_path: Path) -> None:
    f = tmp_path / "sales.csv"
    f.write_text(
        "sku,date,qty,order_id\n"
        "A,2024-05-01,3,SO1\n"
        "B,2024-05-01\n"
        'C,2024-05-01,"4"x,SO2\n'
        "D,2024-05-02,5,SO3\n"
    )
    rows = read(f)
    assert [(k, r) for k, r, _ in rows] == [("sales", 2), ("sales", 3), ("sales", 4),
                                            ("sales", 5)]  # fmt: skip
    assert rows[0][2]["sku"] == "A"
    assert isinstance(rows[1][2], RowError) and "expected 4 fields, got 2" in rows[1][2].reason
    assert isinstance(rows[2][2], RowError) and "malformed CSV" in rows[2][2].reason
    assert rows[3][2]["order_id"] == "SO3"


def test_non_utf8_line_is_rejected_not_fatal(tmp_path: Path) -> None:
    f = tmp_path / "stock.csv"
    f.write_bytes(
        b"sku,location,on_hand\nA,Lager S\xfcd,3\nB,W1,4\n"
    )  # a Latin-1 byte in a UTF-8 file
    rows = read(f)
    assert isinstance(rows[0][2], RowError)
    assert "not valid utf-8" in rows[0][2].reason.lower() and "encoding" in rows[0][2].reason
    assert rows[1][2] == {"sku": "B", "location": "W1", "on_hand": "4"}


def test_unknown_columns_need_a_kind(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("foo,bar\n1,2\n")
    with pytest.raises(ValidationFailed, match="--kind"):
        read(f)
    with pytest.raises(ValidationFailed, match="cannot tell the format"):
        detect_format(tmp_path / "x.parquet")


def test_json_envelope_list_and_jsonl(tmp_path: Path) -> None:
    env = tmp_path / "batch.json"
    env.write_text(json.dumps({"source_type": "erp", "data": {
        "items": [{"sku": "A", "name": "Alpha", "tags": ["x", {"y": 1}]}],
        "sales": [{"sku": "A", "date": "2024-05-01", "qty": 1}, 7],
    }}))  # fmt: skip
    rows = read(env)
    assert [(k, r) for k, r, _ in rows] == [("items", 1), ("sales", 1), ("sales", 2)]
    assert rows[0][2]["tags"] == ["x", {"y": 1}]
    assert isinstance(rows[2][2], RowError)
    plain = tmp_path / "list.json"
    plain.write_text(json.dumps([{"sku": "A", "on_hand": 3}, {"sku": "B", "on_hand": 4}]))
    assert [k for k, _, _ in read(plain)] == ["inventory", "inventory"]
    bad_kind = tmp_path / "bad.json"
    bad_kind.write_text(json.dumps({"data": {"widgets": [{"a": 1}]}}))
    with pytest.raises(ValidationFailed, match="unknown record kind 'widgets'"):
        read(bad_kind)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"sku": "A", "on_hand": 3}, {"sku": ')
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        read(broken)
    lines = tmp_path / "stock.jsonl"
    lines.write_text('{"sku": "A", "on_hand": 1}\nnot json\n\n[1]\n{"sku": "B", "on_hand": 2}\n')
    got = read(lines)
    assert [r for _, r, _ in got] == [1, 2, 4, 5]
    assert isinstance(got[1][2], RowError) and isinstance(got[2][2], RowError)


def test_xlsx_rows_and_a_file_that_is_not_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["sku", "location", "on_hand", "as_of"])
    sheet.append(["A", "W1", 3, date(2024, 5, 1)])
    sheet.append([None, None, None, None])
    sheet.append(["B", "W2", 4.5, None])
    f = tmp_path / "stock.xlsx"
    book.save(f)
    rows = read(f)
    assert [(k, r) for k, r, _ in rows] == [("inventory", 2), ("inventory", 4)]
    assert rows[1][2] == {"sku": "B", "location": "W2", "on_hand": 4.5}
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a workbook")
    with pytest.raises(ValidationFailed, match="not a readable XLSX"):
        read(fake)


def test_shipped_legacy_erp_samples_read_cleanly() -> None:
    for name, kind in (("items", "items"), ("stock", "inventory"), ("sales", "sales")):
        rows = read(EXAMPLES / f"legacy_erp_{name}.csv", mapping="legacy_erp")
        assert rows and {k for k, _, _ in rows} == {kind}
        assert not [r for _, _, r in rows if isinstance(r, RowError)]
        n = normalizer("legacy_erp")
        for k, row_no, record in rows:
            n.normalize(k, record, row_no)
