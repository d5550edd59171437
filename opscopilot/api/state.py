"""What the running API holds: settings, the store, the job queue and background tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database


@dataclass
class AppState:
    settings: Settings
    db: Database
    jobs: procrastinate.App
    embedded: bool
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Parts later issues hang here (agent runtime, Slack app, ...), built in the lifespan.
    extras: dict[str, Any] = field(default_factory=dict)
