"""Per-source mappings: how one system's field names, units, dates and ids become ours.

A mapping is a YAML (or JSON) file named after the source (`<source_id>.yaml`) or after a
vocabulary (`legacy_erp.yaml`), looked up in `settings.ingest.mappings_dir` first and then
in the folder shipped with the package, so a new ERP export needs a file, not a release.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from opscopilot.core.errors import NotFoundError, ValidationFailed
from opscopilot.ingest.kinds import RECORD_KINDS

GENERIC = "generic"


class UnitConversion(BaseModel):
    """Either one factor for the whole source, or a factor per unit named in another field."""

    model_config = ConfigDict(extra="forbid")

    factor: float | None = None
    unit_field: str | None = None
    factors: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way(self) -> UnitConversion:
        if (self.factor is None) == (self.unit_field is None):
            raise ValueError("give either `factor` or `unit_field` with `factors`")
        if self.unit_field is not None and not self.factors:
            raise ValueError("`unit_field` needs `factors`")
        return self


class ExternalId(BaseModel):
    """A field that holds another system's id for one of our entities (only items for now)."""

    model_config = ConfigDict(extra="forbid")

    entity: Literal["item"] = "item"
    system: str | None = None
    # keep: an id with no mapping is taken as our sku; reject: the row is refused and the
    # id is listed as unmapped until someone maps it.
    unmapped: Literal["keep", "reject"] = "keep"


class KindMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rename: dict[str, str] = Field(default_factory=dict)
    natural_key: list[str] | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = GENERIC
    description: str | None = None
    # File reading
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    sheet: str | None = None
    file_kind: str | None = None
    # Values
    decimal: Literal[".", ","] = "."
    date_format: str | None = None
    datetime_format: str | None = None
    rename: dict[str, str] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    defaults: dict[str, Any] = Field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    units: dict[str, UnitConversion] = Field(default_factory=dict)
    external_ids: dict[str, ExternalId] = Field(default_factory=dict)
    kinds: dict[str, KindMapping] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kinds(self) -> Mapping:
        for kind in [*self.kinds, *([self.file_kind] if self.file_kind else [])]:
            if kind not in RECORD_KINDS:
                raise ValueError(
                    f"unknown record kind {kind!r}; valid kinds: {', '.join(RECORD_KINDS)}"
                )
        for field in self.external_ids:
            if field != "sku":
                raise ValueError("external ids are supported for the `sku` field only")
        return self

    def renames_for(self, kind: str | None) -> dict[str, str]:
        out = dict(self.rename)
        if kind and kind in self.kinds:
            out.update(self.kinds[kind].rename)
        return out

    def defaults_for(self, kind: str) -> dict[str, Any]:
        out = dict(self.defaults)
        if kind in self.kinds:
            out.update(self.kinds[kind].defaults)
        return out

    def natural_key_for(self, kind: str) -> list[str] | None:
        km = self.kinds.get(kind)
        return km.natural_key if km else None

    def sku_system(self, source_id: str) -> tuple[str, str] | None:
        """(system, unmapped policy) when skus of this source are external ids."""
        ext = self.external_ids.get("sku")
        if ext is None:
            return None
        return ext.system or source_id, ext.unmapped


def shipped_dir() -> Path:
    return Path(str(resources.files("opscopilot.ingest") / "mappings"))


def _candidates(name: str, mappings_dir: Path | None) -> list[Path]:
    dirs = [d for d in (mappings_dir, shipped_dir()) if d is not None]
    return [d / f"{name}{ext}" for d in dirs for ext in (".yaml", ".yml", ".json")]


def parse_mapping(text: str, *, origin: str) -> Mapping:
    try:
        raw = json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"mapping {origin} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValidationFailed(f"mapping {origin} must be a mapping of settings")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mapping"
        raise ValidationFailed(
            f"mapping {origin}: {where}: {first['msg']}", field="mapping"
        ) from exc


def load_mapping(name_or_path: str, *, mappings_dir: Path | None) -> Mapping:
    """A mapping by name (searched in the settings' folder, then the shipped one) or path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") and path.exists():
        return parse_mapping(path.read_text(encoding="utf-8"), origin=str(path))
    for candidate in _candidates(name_or_path, mappings_dir):
        if candidate.exists():
            return parse_mapping(candidate.read_text(encoding="utf-8"), origin=candidate.name)
    raise NotFoundError(f"no mapping named {name_or_path!r}", field="mapping")


def resolve_mapping(
    *, source_id: str, explicit: str | None, registered: str | None, mappings_dir: Path | None
) -> Mapping:
    """The explicit mapping, else the source's registered one, else `<source_id>.yaml`, else
    the generic one (our own field names)."""
    if explicit:
        return load_mapping(explicit, mappings_dir=mappings_dir)
    if registered:
        return load_mapping(registered, mappings_dir=mappings_dir)
    if any(c.exists() for c in _candidates(source_id, mappings_dir)):
        return load_mapping(source_id, mappings_dir=mappings_dir)
    return load_mapping(GENERIC, mappings_dir=mappings_dir)


def available_mappings(mappings_dir: Path | None) -> list[str]:
    names: set[str] = set()
    for d in (mappings_dir, shipped_dir()):
        if d is not None and d.is_dir():
            names.update(p.stem for p in d.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    return sorted(names)
