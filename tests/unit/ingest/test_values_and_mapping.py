"""Value parsers and mapping files: the rules every incoming record meets first."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from opscopilot.core.errors import NotFoundError, ValidationFailed
from opscopilot.ingest.mapping import available_mappings, load_mapping, resolve_mapping
from opscopilot.ingest.values import (
    RowError,
    date_parser,
    datetime_parser,
    number_parser,
    text_value,
)


def test_numbers_either_way() -> None:
    dot, comma = number_parser(False), number_parser(True)
    assert dot("qty", "12.5") == 12.5
    assert dot("qty", 3) == 3.0
    assert dot("qty", "") is None
    assert comma("qty", "1.234,5") == 1234.5
    assert comma("qty", "5.000") == 5000.0
    for bad in ("abc", "nan", True, [1]):
        with pytest.raises(RowError) as err:
            dot("qty", bad)
        assert err.value.field == "qty"


def test_dates_iso_dotted_and_refusals() -> None:
    iso, dotted = date_parser(None), date_parser("%d.%m.%Y")
    assert iso("date", "2024-01-31") == date(2024, 1, 31)
    assert iso("date", "2024-01-31T10:00:00Z") == date(2024, 1, 31)
    assert iso("date", datetime(2024, 1, 31, 9)) == date(2024, 1, 31)
    assert dotted("date", "31.01.2024") == date(2024, 1, 31)
    assert date_parser("%Y%m%d")("date", "20240131") == date(2024, 1, 31)
    with pytest.raises(RowError, match="DD|%d.%m.%Y"):
        dotted("date", "2024-01-31")
    with pytest.raises(RowError, match="YYYY-MM-DD"):
        iso("date", "31/01/2024")
    with pytest.raises(RowError):
        iso("date", 20240131)
    moment = datetime_parser(None, iso)
    assert moment("as_of", "2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert moment("as_of", "2024-01-31T08:30:00").tzinfo is UTC  # type: ignore[union-attr]


def test_text_values() -> None:
    assert text_value("sku", "  A-1 ", 10) == "A-1"
    assert text_value("sku", 1001.0, 10) == "1001"
    assert text_value("sku", "", 10) is None
    with pytest.raises(RowError, match="longer than 3"):
        text_value("sku", "ABCD", 3)
    with pytest.raises(RowError, match="expected text"):
        text_value("sku", {"a": 1}, 10)


def test_shipped_mappings_load() -> None:
    assert {"generic", "legacy_erp"} <= set(available_mappings(None))
    erp = load_mapping("legacy_erp", mappings_dir=None)
    assert erp.delimiter == ";" and erp.decimal == ","
    assert erp.renames_for("inventory")["QtyOnHand"] == "on_hand"
    assert erp.sku_system("whatever") == ("legacy_erp", "keep")


def test_mapping_lookup_order(tmp_path: Path) -> None:
    (tmp_path / "erp_9.yaml").write_text("name: erp_9\nrename: {Art: sku}\n")
    found = resolve_mapping(source_id="erp_9", explicit=None, registered=None,
                            mappings_dir=tmp_path)  # fmt: skip
    assert found.name == "erp_9"
    fallback = resolve_mapping(source_id="other", explicit=None, registered=None,
                               mappings_dir=tmp_path)  # fmt: skip
    assert fallback.name == "generic"
    with pytest.raises(NotFoundError):
        resolve_mapping(source_id="x", explicit="missing", registered=None, mappings_dir=None)


def test_bad_mapping_files_say_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kinds: {widgets: {rename: {}}}\n")
    with pytest.raises(ValidationFailed, match="unknown record kind 'widgets'"):
        load_mapping("a", mappings_dir=tmp_path)
    (tmp_path / "b.yaml").write_text("units: {qty: {unit_field: U}}\n")
    with pytest.raises(ValidationFailed, match="factors"):
        load_mapping("b", mappings_dir=tmp_path)
    (tmp_path / "c.yaml").write_text("rename: [a, b\n")
    with pytest.raises(ValidationFailed, match="not valid"):
        load_mapping("c", mappings_dir=tmp_path)
