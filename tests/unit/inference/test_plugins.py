"""Entry-point plugins, through a real distribution (dist-info) put on sys.path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscopilot.inference.plugins import (
    ENTRY_POINT_GROUP,
    EntryPointLoader,
    discover_models,
    resolve_models,
)
from opscopilot.inference.runner import ModelRunner

PLUGIN_SOURCE = """
from typing import Any

SCHEMA = {"type": "object", "properties": {"temperature": {"type": "number"}},
          "required": ["temperature"]}


class ScrapRateModel:
    name = "acme-scrap-rate"
    version = "2.1.0"
    kind = "regressor"
    input_schema = SCHEMA
    output_schema = {"type": "object"}
    description = "Scrap rate from oven temperature"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"scrap_rate": round(0.001 * input["temperature"], 6)}


class _Variant(ScrapRateModel):
    def __init__(self, version: str) -> None:
        self.version = version


def variants():
    return [_Variant("3.0.0"), _Variant("3.1.0")]


class NotAModel:
    pass


class BadSchema(ScrapRateModel):
    name = "acme-bad"
    input_schema = {"type": "array"}

"""

ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
scrap = acme_models:ScrapRateModel
variants = acme_models:variants
not-a-model = acme_models:NotAModel
bad-schema = acme_models:BadSchema
missing = acme_models_gone:Model
duplicate = acme_models:ScrapRateModel

[console_scripts]
unrelated = acme_models:ScrapRateModel
"""


@pytest.fixture
def acme_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution `acme-models 2.1.0`, as pip would leave it."""
    package = tmp_path / "acme_models"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    dist_info = tmp_path / "acme_models-2.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-models\nVersion: 2.1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("acme_models", None)


def test_models_are_discovered_through_the_entry_point_group(acme_dist: Path) -> None:
    found = discover_models()
    by_key = {(p.spec.name, p.spec.version): p for p in found.models}
    assert set(by_key) == {
        ("acme-scrap-rate", "2.1.0"),
        ("acme-scrap-rate", "3.0.0"),
        ("acme-scrap-rate", "3.1.0"),
    }
    scrap = by_key[("acme-scrap-rate", "2.1.0")]
    assert scrap.distribution == "acme-models 2.1.0"
    assert scrap.spec.format == "entrypoint"
    assert scrap.spec.entrypoint == "acme_models:ScrapRateModel"
    assert scrap.spec.kind == "regressor"
    assert scrap.spec.description == "Scrap rate from oven temperature"
    assert scrap.spec.hints.isolate  # foreign code always runs in a killable process
    assert scrap.model.predict({"temperature": 180}) == {"scrap_rate": 0.18}


def test_broken_plugins_are_reported_and_do_not_stop_the_others(acme_dist: Path) -> None:
    failures = {f.entry_point: f.error for f in discover_models().failures}
    assert failures["entry point bad-schema = acme_models:BadSchema"].startswith(
        "invalid model spec: input_schema:"
    )
    assert failures["entry point missing = acme_models_gone:Model"] == (
        "ModuleNotFoundError: No module named 'acme_models_gone'"
    )
    assert (
        "gave NotAModel, not a model" in failures["entry point not-a-model = acme_models:NotAModel"]
    )
    # Entry points are taken in name order: "duplicate" comes before "scrap".
    assert failures["entry point scrap = acme_models:ScrapRateModel"] == (
        "duplicate model acme-scrap-rate 2.1.0"
    )


def test_other_groups_are_ignored(acme_dist: Path) -> None:
    assert discover_models(group="opscopilot.nothing").models == []


def test_plugin_model_runs_in_a_worker_process(acme_dist: Path) -> None:
    loader = EntryPointLoader("acme_models:variants", "acme-scrap-rate", "3.1.0")
    with ModelRunner(process_slots=1, inline_threads=1) as runner:
        result = runner.run_isolated_sync(loader, {"temperature": 200}, timeout=60)
    assert result.status == "succeeded", result.error
    assert result.output == {"scrap_rate": 0.2}


def test_resolve_models_accepts_instances_classes_and_factories(acme_dist: Path) -> None:
    module = importlib.import_module("acme_models")
    instance = module.ScrapRateModel()
    assert resolve_models(instance, origin="x") == [instance]
    assert [m.version for m in resolve_models(module.ScrapRateModel, origin="x")] == ["2.1.0"]
    assert [m.version for m in resolve_models(module.variants, origin="x")] == ["3.0.0", "3.1.0"]
