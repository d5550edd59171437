"""Settings for the operations tests: short model deadlines, no rate limits, and a job queue
count that is never cached (each scrape reads it)."""

from __future__ import annotations

import pytest

from opscopilot.core.settings import Settings
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def ops_settings(migrated: str) -> Settings:
    return make_settings(
        migrated,
        llm={"call_deadline_s": 5.0, "idle_chunk_timeout_s": 2.0, "num_retries": 0, "max_steps": 6},
        api={"rate_limit_chat_per_min": 0, "rate_limit_write_per_min": 0},
        metrics={"queue_depth_cache_s": 0.0, "queue_depth_timeout_s": 2.0},
    )
