"""The AI runtime's integration fixtures: an installed plugin package (a dist-info folder
on sys.path, found through real entry-point metadata) and an in-process worker."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from opscopilot.core.settings import Settings
from opscopilot.inference.execution import INFERENCE_QUEUE

PLUGIN_SITE = Path(__file__).parent / "plugin_site"


@pytest.fixture(autouse=True)
def plugin_installed() -> Iterator[None]:
    """Autouse, so it is in place before the app's start-up registers plugins."""
    sys.path.insert(0, str(PLUGIN_SITE))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(PLUGIN_SITE))
        importlib.invalidate_caches()


async def drain_queue(app: FastAPI, settings: Settings, timeout: float = 60.0) -> None:
    """Run a real procrastinate worker on the inference queue until it is empty."""
    from opscopilot.jobs.app import worker_options

    options = worker_options(settings, in_process=True)
    options.update(queues=[INFERENCE_QUEUE], wait=False, fetch_job_polling_interval=0.1)
    await asyncio.wait_for(app.state.oc.jobs.run_worker_async(**options), timeout)
