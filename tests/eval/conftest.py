"""The evaluation runs over one demo plant loaded once per module, on the offline model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opscopilot.agent.demo_data import load_demo_plant
from opscopilot.agent.eval.harness import Evaluator
from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.registry import ToolRegistry, build_registry
from tests.conftest import make_settings, truncate_all


@pytest.fixture(scope="module")
def eval_settings(migrated: str) -> Settings:
    return make_settings(migrated, llm={"max_steps": 6})


@pytest.fixture(scope="module")
async def demo_db(
    db: Database, eval_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Database:
    await truncate_all(db)
    export_dir: Path = tmp_path_factory.mktemp("erp-exports")
    await load_demo_plant(db, eval_settings, export_dir=str(export_dir))
    return db


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return build_registry()


@pytest.fixture(scope="module")
async def offline_runner(
    eval_settings: Settings, demo_db: Database, registry: ToolRegistry
) -> AsyncIterator[GraphAgentRunner]:
    async with GraphAgentRunner(eval_settings, demo_db, registry=registry) as runner:
        yield runner


@pytest.fixture(scope="module")
def evaluator(
    offline_runner: GraphAgentRunner, demo_db: Database, registry: ToolRegistry
) -> Evaluator:
    return Evaluator(
        offline_runner, demo_db, registry, offline=True, today=datetime.now(UTC).date()
    )
