"""Records in a source's vocabulary -> rows of the staging table, or a reason for refusal.

One `Normalizer` per batch: the mapping is compiled once (renames, parsers, unit factors),
then every record of every kind goes through `normalize`, which returns a tuple in
`STAGE_COLUMNS` order or raises `RowError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from opscopilot.ingest.kinds import OBS_KIND_OF, RECORD_KINDS
from opscopilot.ingest.mapping import Mapping
from opscopilot.ingest.values import (
    RowError,
    date_parser,
    datetime_parser,
    json_safe,
    number_parser,
    text_value,
)

STAGE_COLUMNS = (
    "row_no",
    "rkind",
    "site",
    "sku",
    "okind",
    "obs_date",
    "value",
    "weight",
    "natural_key",
    "counterparty",
    "location",
    "on_hand",
    "allocated",
    "on_order",
    "as_of",
    "h",
    "data",
    "promised_date",
)
StageRow = tuple[Any, ...]

ITEM_FIELDS = {
    "sku": 100,
    "name": 300,
    "description": 10_000,
    "uom": 16,
    "category": 100,
    "currency": 3,
    "supplier_name": 300,
}
ITEM_PARAMS = ("lead_time_days", "lead_time_std_days", "safety_stock", "reorder_point")
# Fields of an items record that are neither master data nor attributes.
_ITEM_OTHER = {"site", "standard_cost", "qty", "on_hand", "location", "as_of", "attributes"}
PROCESS_FIELDS = {"code": 100, "name": 300, "sku": 100, "work_center": 100}
_PROCESS_OTHER = {"site", "steps", "cycle_time_minutes", "yield_pct", "attributes"}
DEFAULT_LOCATION = "default"


class Normalizer:
    def __init__(
        self,
        *,
        mapping: Mapping,
        default_site: str,
        allowed_sites: Sequence[str] | None,
        today: date,
        future_tolerance_days: int,
    ) -> None:
        self.mapping = mapping
        self.default_site = default_site
        self.allowed_sites = frozenset(allowed_sites) if allowed_sites else None
        self.max_date = today + timedelta(days=future_tolerance_days)
        self.tolerance = future_tolerance_days
        self.default_as_of = datetime.combine(today, time.min, tzinfo=UTC)
        self.num = number_parser(mapping.decimal == ",")
        self.day = date_parser(mapping.date_format)
        self.moment = datetime_parser(mapping.datetime_format, self.day)
        self.ignore = frozenset(mapping.ignore)
        self._renames = {kind: mapping.renames_for(kind) for kind in RECORD_KINDS}
        self._prepare = {kind: self._preparer(kind) for kind in RECORD_KINDS}
        self._natural = {kind: mapping.natural_key_for(kind) for kind in RECORD_KINDS}
        self._handlers: dict[str, Callable[[dict[str, Any], int], StageRow]] = {
            "items": self._items,
            "inventory": self._inventory,
            "sales": self._movement("sales", "order_id", "customer"),
            "receipts": self._movement("receipts", "po_number", "supplier"),
            "quality": self._quality,
            "costs": self._costs,
            "processes": self._processes,
        }

    # -- names ---------------------------------------------------------------------------

    def header(self, kind: str | None, columns: Sequence[Any]) -> list[str | None]:
        """Our names for a file's columns (None: ignored), renamed once per file."""
        renames = self.mapping.renames_for(kind)
        out: list[str | None] = []
        for col in columns:
            name = "" if col is None else str(col).strip().lstrip("\ufeff")
            if not name or name in self.ignore:
                out.append(None)
            else:
                out.append(renames.get(name, name))
        return out

    def rename(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        renames = self._renames[kind]
        return {renames.get(k, k): v for k, v in record.items() if k not in self.ignore}

    def _preparer(self, kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        defaults = self.mapping.defaults_for(kind)
        value_maps = self.mapping.value_maps
        if not defaults and not value_maps:
            return lambda rec: rec

        def prepare(rec: dict[str, Any]) -> dict[str, Any]:
            for key, value in defaults.items():
                if rec.get(key) in (None, ""):
                    rec[key] = value
            for key, table in value_maps.items():
                raw = rec.get(key)
                if raw is not None and str(raw).strip() in table:
                    rec[key] = table[str(raw).strip()]
            return rec

        return prepare

    # -- entry point ---------------------------------------------------------------------

    def normalize(self, kind: str, record: dict[str, Any], row_no: int) -> StageRow:
        """A record already in our field names -> a staging row; raises RowError."""
        return self._handlers[kind](self._prepare[kind](record), row_no)

    def normalize_raw(self, kind: str, record: dict[str, Any], row_no: int) -> StageRow:
        """A record in the source's field names (JSON, API) -> a staging row."""
        if not isinstance(record, dict):
            raise RowError("record", f"expected an object, got {type(record).__name__}")
        return self.normalize(kind, self.rename(kind, record), row_no)

    # -- field helpers -------------------------------------------------------------------

    def _text(self, rec: dict[str, Any], field: str, max_len: int, required: bool = False) -> Any:
        out = text_value(field, rec.get(field), max_len)
        if out is None and required:
            raise RowError(field, "is required")
        return out

    def _number(
        self,
        rec: dict[str, Any],
        field: str,
        *,
        required: bool = False,
        minimum: float | None = 0.0,
        maximum: float | None = None,
    ) -> float | None:
        value = self.num(field, rec.get(field))
        if value is None:
            if required:
                raise RowError(field, "is required")
            return None
        conv = self.mapping.units.get(field)
        if conv is not None:
            if conv.factor is not None:
                value *= conv.factor
            else:
                unit = str(rec.get(conv.unit_field or "") or "").strip()
                factor = conv.factors.get(unit)
                if factor is None:
                    known = ", ".join(conv.factors)
                    raise RowError(field, f"unknown unit {unit!r} (known: {known})")
                value *= factor
        if minimum is not None and value < minimum:
            raise RowError(field, f"must be >= {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise RowError(field, f"must be <= {maximum:g}, got {value:g}")
        return value

    def _date(self, rec: dict[str, Any], field: str, required: bool = False) -> date | None:
        value = self.day(field, rec.get(field))
        if value is None:
            if required:
                raise RowError(field, "is required")
            return None
        if value > self.max_date:
            raise RowError(
                field, f"{value.isoformat()} is more than {self.tolerance} days in the future"
            )
        return value

    def _as_of(self, rec: dict[str, Any]) -> datetime:
        value = self.moment("as_of", rec.get("as_of"))
        if value is None:
            return self.default_as_of
        if value.date() > self.max_date:
            raise RowError(
                "as_of", f"{value.date().isoformat()} is more than {self.tolerance} days ahead"
            )
        return value

    def _site(self, rec: dict[str, Any]) -> str:
        raw = rec.get("site")
        site = self.default_site if raw is None else text_value("site", raw, 64)
        site = site or self.default_site
        if self.allowed_sites is not None and site not in self.allowed_sites:
            raise RowError("site", f"site {site!r} is not among your sites")
        return site

    def _key(self, kind: str, rec: dict[str, Any], default: str) -> str:
        fields = self._natural[kind]
        if not fields:
            return default
        parts = []
        for field in fields:
            value = rec.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise RowError(field, "is needed for the natural key of the mapping")
            parts.append(str(value).strip())
        return "k:" + "|".join(parts)

    # -- kinds ---------------------------------------------------------------------------

    def _movement(
        self, kind: str, ref_field: str, party_field: str
    ) -> Callable[[dict[str, Any], int], StageRow]:
        """Sales and receipts: the bulk of every large file, so this path is kept lean
        (parsers bound once, no helper layers)."""
        okind = OBS_KIND_OF[kind]
        num, day_parse, max_date = self.num, self.day, self.max_date
        qty_units = self.mapping.units.get("qty")
        keyed = bool(self._natural[kind])
        site_of = self._site
        tolerance = self.tolerance
        # a receipt may carry its promised date: its weight is then the days it came late
        promised_field = "promised_date" if kind == "receipts" else None

        def handle(rec: dict[str, Any], row_no: int) -> StageRow:
            get = rec.get
            sku = text_value("sku", get("sku"), 100)
            if sku is None:
                raise RowError("sku", "is required")
            day = day_parse("date", get("date"))
            if day is None:
                raise RowError("date", "is required")
            if day > max_date:
                raise RowError(
                    "date", f"{day.isoformat()} is more than {tolerance} days in the future"
                )
            qty = num("qty", get("qty")) if qty_units is None else self._number(rec, "qty")
            if qty is None:
                raise RowError("qty", "is required")
            if qty < 0:
                raise RowError("qty", f"must be >= 0, got {qty:g}")
            ref = text_value(ref_field, get(ref_field), 200)
            line = text_value("line", get("line"), 50)
            location = text_value("location", get("location"), 100)
            party = text_value(party_field, get(party_field), 300)
            site = site_of(rec)
            promised = late = None
            if promised_field is not None:
                promised = day_parse(promised_field, get(promised_field))
                if promised is not None:
                    late = float((day - promised).days)
            if keyed:
                nk = self._key(kind, rec, "")
            elif ref:
                nk = f"r:{ref}:{line or sku}"
            else:
                nk = f"d:{sku}:{day.isoformat()}:{location or ''}"
            h = hash((okind, site, nk))
            return (row_no, kind, site, sku, okind, day, qty, late, nk, party, location,
                    None, None, None, None, h, None, promised)  # fmt: skip

        return handle

    def _quality(self, rec: dict[str, Any], row_no: int) -> StageRow:
        sku = self._text(rec, "sku", 100, required=True)
        day = self._date(rec, "date", required=True)
        inspected = self._number(rec, "inspected")
        defects = self._number(rec, "defects")
        if defects is None:
            rate = self._number(rec, "defect_rate", maximum=1.0)
            if rate is None:
                raise RowError("defects", "give defects (with inspected) or defect_rate")
            if inspected is None:
                raise RowError(
                    "inspected", "is required with defect_rate, so rates aggregate correctly"
                )
            defects = round(rate * inspected, 6)
        if inspected is None:
            raise RowError("inspected", "is required: a defect count needs its sample size")
        if defects > inspected:
            raise RowError("defects", f"{defects:g} defects exceed {inspected:g} inspected")
        lot = self._text(rec, "lot", 200)
        location = self._text(rec, "location", 100)
        site = self._site(rec)
        assert day is not None
        default = f"l:{lot}" if lot else f"d:{sku}:{day.isoformat()}:{location or ''}"
        nk = self._key("quality", rec, default)
        return (row_no, "quality", site, sku, "quality", day, defects, inspected, nk, None,
                location, None, None, None, None, hash(("quality", site, nk)), None,
                None)  # fmt: skip

    def _inventory(self, rec: dict[str, Any], row_no: int) -> StageRow:
        sku = self._text(rec, "sku", 100, required=True)
        on_hand = self._number(rec, "on_hand", required=True)
        allocated = self._number(rec, "allocated") or 0.0
        on_order = self._number(rec, "on_order") or 0.0
        location = self._text(rec, "location", 100) or DEFAULT_LOCATION
        as_of = self._as_of(rec)
        site = self._site(rec)
        day = as_of.date()
        nk = self._key("inventory", rec, f"d:{sku}:{day.isoformat()}:{location}")
        h = hash(("inventory", site, sku, location, as_of))
        return (row_no, "inventory", site, sku, "inventory", day, on_hand, None, nk, location,
                location, on_hand, allocated, on_order, as_of, h, None, None)  # fmt: skip

    def _items(self, rec: dict[str, Any], row_no: int) -> StageRow:
        data: dict[str, Any] = {}
        for field, max_len in ITEM_FIELDS.items():
            value = self._text(rec, field, max_len, required=field == "sku")
            if value is not None:
                data[field] = value.upper() if field == "currency" else value
        cost = self._number(rec, "standard_cost")
        if cost is not None:
            data["standard_cost"] = cost
        params = {f: v for f in ITEM_PARAMS if (v := self._number(rec, f)) is not None}
        if params:
            data["params"] = params
        on_hand = self._number(rec, "on_hand")
        if on_hand is None:
            on_hand = self._number(rec, "qty")
        if on_hand is not None:
            data["snapshot"] = {
                "on_hand": on_hand,
                "location": self._text(rec, "location", 100) or DEFAULT_LOCATION,
                "as_of": self._as_of(rec).isoformat(),
            }
        attributes = self._attributes(rec, set(ITEM_FIELDS) | set(ITEM_PARAMS) | _ITEM_OTHER)
        if attributes:
            data["attributes"] = attributes
        site = self._site(rec)
        sku = data["sku"]
        return (row_no, "items", site, sku, None, None, None, None, sku, None, None,
                None, None, None, None, hash(("items", site, sku)), _dumps(data), None)  # fmt: skip

    def _attributes(self, rec: dict[str, Any], known: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        given = rec.get("attributes")
        if given is not None:
            if not isinstance(given, dict):
                raise RowError("attributes", "expected an object")
            out.update(json_safe(given))
        for key, value in rec.items():
            if key not in known and value not in (None, ""):
                out[key] = json_safe(value)
        return out

    def _costs(self, rec: dict[str, Any], row_no: int) -> StageRow:
        sku = self._text(rec, "sku", 100, required=True)
        cost = self._number(rec, "standard_cost", required=True)
        currency = self._text(rec, "currency", 3)
        effective = self._date(rec, "effective_date") or self.default_as_of.date()
        data = {
            "sku": sku,
            "standard_cost": cost,
            "effective_date": effective.isoformat(),
            **({"currency": currency.upper()} if currency else {}),
        }
        key = f"{sku}|{effective.isoformat()}"
        return (row_no, "costs", self.default_site, sku, None, None, None, None, key, None,
                None, None, None, None, None, hash(("costs", key)), _dumps(data), None)  # fmt: skip

    def _processes(self, rec: dict[str, Any], row_no: int) -> StageRow:
        data: dict[str, Any] = {}
        for field, max_len in PROCESS_FIELDS.items():
            value = self._text(rec, field, max_len, required=field == "code")
            if value is not None:
                data[field] = value
        steps = rec.get("steps")
        if isinstance(steps, str):
            steps = [s.strip() for s in steps.replace(">", ";").split(";") if s.strip()]
        if steps is not None:
            if not isinstance(steps, list):
                raise RowError("steps", "expected a list of steps or text like 'cut; weld'")
            data["steps"] = json_safe(steps)
        cycle = self._number(rec, "cycle_time_minutes")
        if cycle is not None:
            data["cycle_time_minutes"] = cycle
        yield_pct = self._number(rec, "yield_pct", maximum=100.0)
        if yield_pct is not None:
            data["yield_pct"] = yield_pct
        attributes = self._attributes(rec, set(PROCESS_FIELDS) | _PROCESS_OTHER)
        if attributes:
            data["attributes"] = attributes
        site = self._site(rec)
        code = data["code"]
        return (row_no, "processes", site, data.get("sku"), None, None, None, None, code, None,
                None, None, None, None, None, hash(("processes", code)), _dumps(data),
                None)  # fmt: skip


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
