"""Streaming readers for CSV, JSON, JSONL and XLSX: one record at a time, never the file.

Each reader yields `(kind, row, record)` where `record` is a dict in our field names or a
`RowError` for a line that could not be read (malformed CSV, bytes that are not valid in
the file's encoding, a JSONL line that is not JSON). `row` is the line number for CSV and
JSONL, the spreadsheet row for XLSX and the 1-based position in its list for JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

from opscopilot.core.errors import ValidationFailed
from opscopilot.ingest.kinds import RECORD_KINDS, guess_kind
from opscopilot.ingest.normalize import Normalizer
from opscopilot.ingest.values import RowError

FORMATS = ("csv", "json", "jsonl", "xlsx")
_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
Read = tuple[str, int, dict[str, Any] | RowError]
Progress = Callable[[int], None] | None
_PROGRESS_EVERY = 5_000


def detect_format(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValidationFailed(
            f"cannot tell the format of {path.name}; use one of {', '.join(FORMATS)} "
            "(by extension: .csv .json .jsonl .xlsx)",
            field="file",
        )
    return fmt


def read_records(
    path: Path,
    *,
    fmt: str,
    normalizer: Normalizer,
    kind: str | None,
    progress: Progress = None,
) -> Iterator[Read]:
    if kind is not None and kind not in RECORD_KINDS:
        raise ValidationFailed(
            f"unknown record kind {kind!r}; valid kinds: {', '.join(RECORD_KINDS)}", field="kind"
        )
    kind = kind or normalizer.mapping.file_kind
    if fmt == "csv":
        return _read_csv(path, normalizer, kind, progress)
    if fmt == "jsonl":
        return _read_jsonl(path, normalizer, kind, progress)
    if fmt == "json":
        return _read_json(path, normalizer, kind, progress)
    if fmt == "xlsx":
        return _read_xlsx(path, normalizer, kind, progress)
    raise ValidationFailed(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _choose_kind(normalizer: Normalizer, kind: str | None, columns: Sequence[Any]) -> str:
    if kind:
        return kind
    guessed = guess_kind(lambda k: normalizer.header(k, columns))
    if guessed is None:
        raise ValidationFailed(
            "cannot tell the record kind from the columns; pass --kind "
            f"({', '.join(RECORD_KINDS)}) or set file_kind in the mapping",
            field="kind",
        )
    return guessed


def _decoded_lines(fh: IO[bytes], encoding: str, bad: dict[int, str]) -> Iterator[str]:
    """Lines decoded strictly; an undecodable line is noted in `bad` (by line number) and
    passed on decoded with replacement characters, so the CSV parser stays in step."""
    for number, raw in enumerate(fh, start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            bad[number] = (
                f"not valid {encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "set `encoding` in the mapping (e.g. cp1252)"
            )
            yield raw.decode(encoding, errors="replace")


def _read_csv(
    path: Path, normalizer: Normalizer, kind: str | None, progress: Progress
) -> Iterator[Read]:
    mapping = normalizer.mapping
    delimiter = "\t" if path.suffix.lower() == ".tsv" else mapping.delimiter
    bad: dict[int, str] = {}
    with open(path, "rb") as fh:
        encoding = (
            "utf-8-sig" if mapping.encoding.lower() in ("utf-8", "utf8") else mapping.encoding
        )
        lines = _decoded_lines(fh, encoding, bad)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValidationFailed(f"{path.name}: unreadable header line: {exc}") from exc
        if 1 in bad:
            raise ValidationFailed(f"{path.name}: header line is {bad[1]}", field="file")
        kind = _choose_kind(normalizer, kind, header)
        names = normalizer.header(kind, header)
        width = len(names)
        ignored = None in names
        last_line = 1
        count = 0
        while True:
            first_line = last_line + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                last_line = reader.line_num
                yield kind, first_line, RowError("line", f"malformed CSV: {exc}")
                continue
            last_line = reader.line_num
            if not values:
                continue
            if bad:
                broken = next((bad[n] for n in range(first_line, last_line + 1) if n in bad), None)
                if broken:
                    yield kind, first_line, RowError("line", broken)
                    continue
            if len(values) != width:
                yield (
                    kind,
                    first_line,
                    RowError("line", f"expected {width} fields, got {len(values)}"),
                )
                continue
            # Empty cells stay as "": every parser reads them as missing.
            record = dict(zip(names, values, strict=True))
            if ignored:
                record.pop(None, None)
            yield kind, first_line, cast(dict[str, Any], record)
            count += 1
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(fh.tell())
        if progress is not None:
            progress(fh.tell())


def _read_jsonl(
    path: Path, normalizer: Normalizer, kind: str | None, progress: Progress
) -> Iterator[Read]:
    bad: dict[int, str] = {}
    with open(path, "rb") as fh:
        for number, line in enumerate(_decoded_lines(fh, normalizer.mapping.encoding, bad), 1):
            if not line.strip():
                continue
            if number in bad:
                yield kind or "items", number, RowError("line", bad[number])
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield kind or "items", number, RowError("line", f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield kind or "items", number, RowError("record", "expected a JSON object")
                continue
            kind = _choose_kind(normalizer, kind, list(record))
            yield kind, number, normalizer.rename(kind, record)
            if progress is not None and number % _PROGRESS_EVERY == 0:
                progress(fh.tell())
        if progress is not None:
            progress(fh.tell())


def _read_json(
    path: Path, normalizer: Normalizer, kind: str | None, progress: Progress
) -> Iterator[Read]:
    """A list of records of one kind, or `{"data": {kind: [...]}}` / `{kind: [...]}`."""
    import ijson
    from ijson.common import ObjectBuilder

    with open(path, "rb") as fh:
        builder: ObjectBuilder | None = None
        depth = 0
        current = kind
        rows: dict[str, int] = {}
        try:
            for prefix, event, value in ijson.parse(fh, use_float=True):
                if builder is None:
                    found = _record_list(prefix)
                    if found is None:
                        continue
                    current = kind if found == "" else found
                    if event not in ("start_map", "start_array"):
                        if event in ("end_array", "map_key", "end_map"):
                            continue
                        yield _json_record(normalizer, current, value, rows)
                        continue
                    builder, depth = ObjectBuilder(), 0
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    depth += 1
                elif event in ("end_map", "end_array"):
                    depth -= 1
                if depth == 0:
                    record, builder = builder.value, None
                    read = _json_record(normalizer, current, record, rows)
                    if prefix == "item":  # a top-level list: one kind, told or guessed once
                        kind = read[0]
                    yield read
                    if progress is not None and sum(rows.values()) % _PROGRESS_EVERY == 0:
                        progress(fh.tell())
        except ijson.JSONError as exc:
            raise ValidationFailed(f"{path.name} is not valid JSON: {exc}", field="file") from exc
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"{path.name} is not valid UTF-8 (byte {exc.start})", field="file"
            ) from exc
        if progress is not None:
            progress(fh.tell())


def _record_list(prefix: str) -> str | None:
    """The record kind whose list an ijson prefix is an element of ("" for a top-level
    list), or None when the prefix is not a record."""
    parts = prefix.split(".")
    if parts == ["item"]:
        return ""
    if parts[-1] != "item" or len(parts) not in (2, 3) or (len(parts) == 3 and parts[0] != "data"):
        return None
    kind = parts[-2]
    if kind not in RECORD_KINDS:
        raise ValidationFailed(
            f"unknown record kind {kind!r}; valid kinds: {', '.join(RECORD_KINDS)}",
            field=f"data.{kind}",
        )
    return kind


def _json_record(
    normalizer: Normalizer, kind: str | None, record: Any, rows: dict[str, int]
) -> Read:
    if kind is None and isinstance(record, dict):
        kind = _choose_kind(normalizer, None, list(record))
    kind = kind or "items"
    rows[kind] = rows.get(kind, 0) + 1
    if not isinstance(record, dict):
        return kind, rows[kind], RowError("record", "expected a JSON object")
    return kind, rows[kind], normalizer.rename(kind, record)


def _read_xlsx(
    path: Path, normalizer: Normalizer, kind: str | None, progress: Progress
) -> Iterator[Read]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ValidationFailed(f"{path.name} is not a readable XLSX workbook: {exc}") from exc
    try:
        sheet_name = normalizer.mapping.sheet
        if sheet_name and sheet_name not in book.sheetnames:
            raise ValidationFailed(f"{path.name} has no sheet {sheet_name!r}", field="sheet")
        sheet = book[sheet_name] if sheet_name else book.active
        if sheet is None:
            return
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return
        kind = _choose_kind(normalizer, kind, header)
        names = normalizer.header(kind, header)
        pairs = [(i, n) for i, n in enumerate(names) if n is not None]
        total = sheet.max_row or 0
        for number, values in enumerate(rows, start=2):
            if all(v is None or v == "" for v in values):
                continue
            yield (
                kind,
                number,
                {n: values[i] for i, n in pairs if i < len(values) and values[i] not in (None, "")},
            )
            if progress is not None and number % _PROGRESS_EVERY == 0 and total:
                progress(int(path.stat().st_size * number / total))
        if progress is not None:
            progress(path.stat().st_size)
    finally:
        book.close()
