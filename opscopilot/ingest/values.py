"""Fast, forgiving-but-strict value parsers for incoming records.

A file of a million rows passes through here, so the common cases (ISO dates, plain numbers,
repeated date strings) take short paths; every refusal raises `RowError` with a reason a
person can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any


class RowError(Exception):
    """One field of one record is unusable; the record is rejected with this reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def text_value(field: str, value: Any, max_len: int) -> str | None:
    """A trimmed string; numbers are accepted (ERP exports write item numbers as numbers)."""
    if value.__class__ is str:  # the common case first: a million rows pass here
        out = value.strip()
    elif value is None:
        return None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(field, f"expected text, got {type(value).__name__} {_short(value)}")
    elif isinstance(value, float) and value.is_integer():
        out = str(int(value))
    else:
        out = str(value)
    if not out:
        return None
    if len(out) > max_len:
        raise RowError(field, f"longer than {max_len} characters")
    return out


def number_parser(decimal_comma: bool) -> Callable[[str, Any], float | None]:
    """A parser for numbers written either way: `1234.5` or, with a decimal comma, `1.234,5`."""

    def parse(field: str, value: Any) -> float | None:
        if value.__class__ is str and not decimal_comma:
            try:
                out = float(value)
            except ValueError:
                pass  # blanks, spaces, words: the careful path below says what is wrong
            else:
                if out - out == 0.0:  # finite
                    return out
        if value is None:
            return None
        if isinstance(value, bool):
            raise RowError(field, f"expected a number, got {_short(value)}")
        if isinstance(value, int | float):
            out = float(value)
        elif isinstance(value, str):
            raw = value.strip()
            if not raw:
                return None
            if decimal_comma:
                raw = raw.replace(".", "").replace(",", ".")
            try:
                out = float(raw)
            except ValueError:
                raise RowError(field, f"not a number: {_short(value)}") from None
        else:
            raise RowError(field, f"expected a number, got {type(value).__name__}")
        if out != out or out in (float("inf"), float("-inf")):
            raise RowError(field, "not a finite number")
        return out

    return parse


def _fast_dotted(fmt: str) -> Callable[[str], date] | None:
    """Split-based parsers for the day-first and month-first formats ERPs write."""
    orders = {
        "%d.%m.%Y": (".", 0, 1, 2),
        "%d/%m/%Y": ("/", 0, 1, 2),
        "%d-%m-%Y": ("-", 0, 1, 2),
        "%m/%d/%Y": ("/", 1, 0, 2),
        "%Y/%m/%d": ("/", 2, 1, 0),
    }
    spec = orders.get(fmt)
    if spec is None:
        return None
    sep, di, mi, yi = spec

    def parse(raw: str) -> date:
        parts = raw.split(sep)
        if len(parts) != 3 or len(parts[yi]) != 4:
            raise ValueError(raw)
        return date(int(parts[yi]), int(parts[mi]), int(parts[di]))

    return parse


def date_parser(fmt: str | None) -> Callable[[str, Any], date | None]:
    """Dates as `date`/`datetime` objects (XLSX), ISO strings, or the mapping's format.

    Parsed strings are cached: a file repeats the same few hundred dates a million times.
    """
    custom = _fast_dotted(fmt) if fmt else None
    cache: dict[str, date] = {}

    def from_text(raw: str) -> date:
        if custom is not None:
            return custom(raw)
        if fmt:
            return datetime.strptime(raw, fmt).date()
        if len(raw) > 10:  # an ISO timestamp where a date was asked for
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        return date.fromisoformat(raw)

    def parse(field: str, value: Any) -> date | None:
        hit = cache.get(value) if value.__class__ is str else None
        if hit is not None:
            return hit
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise RowError(field, f"expected a date, got {type(value).__name__} {_short(value)}")
        raw = value.strip()
        if not raw:
            return None
        hit = cache.get(raw)
        if hit is not None:
            return hit
        try:
            out = from_text(raw)
        except ValueError:
            expected = fmt or "YYYY-MM-DD"
            raise RowError(field, f"not a date in the form {expected}: {_short(value)}") from None
        if len(cache) < 10_000:
            cache[raw] = out
        return out

    return parse


def datetime_parser(
    fmt: str | None, date_parse: Callable[[str, Any], date | None]
) -> Callable[[str, Any], datetime | None]:
    """Timestamps (naive ones are UTC); a bare date means midnight UTC of that day."""

    def parse(field: str, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            raw = value.strip()
            if not raw:
                return None
            try:
                if fmt:
                    out = datetime.strptime(raw, fmt)
                else:
                    out = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                return out if out.tzinfo else out.replace(tzinfo=UTC)
            except ValueError:
                pass  # maybe a plain date in the date format
        day = date_parse(field, value)
        return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)

    return parse


def json_safe(value: Any) -> Any:
    """Extra fields become item attributes (JSONB): dates as ISO text, the rest as given."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
