"""Fixtures for agent tests: settings with short model deadlines, and a clean store."""

from __future__ import annotations

import pytest

from opscopilot.core.settings import Settings
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def agent_settings(migrated: str) -> Settings:
    return make_settings(
        migrated,
        llm={
            "call_deadline_s": 5.0,
            "idle_chunk_timeout_s": 2.0,
            "num_retries": 0,
            "max_steps": 6,
            "max_tokens_per_turn": 16_000,
        },
    )
