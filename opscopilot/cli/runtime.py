"""Process bootstrap shared by the commands that need the store."""

from __future__ import annotations

import asyncio
import logging

from opscopilot.core.logging import configure_logging
from opscopilot.core.settings import Settings, get_settings
from opscopilot.store.engine import Database, open_database

log = logging.getLogger(__name__)


def bootstrap(*, application_name: str, upgrade: bool = True) -> tuple[Settings, Database]:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    db = open_database(settings, application_name=application_name)
    if upgrade and settings.db.auto_upgrade:
        from opscopilot.store import migrate

        if migrate.upgrade_if_behind(db.url):
            log.info("database upgraded to head")
    return settings, db


async def run_worker(concurrency: int | None) -> None:
    from opscopilot.jobs.app import build_app, worker_options

    settings, db = await asyncio.to_thread(bootstrap, application_name="worker")
    app = build_app(db.libpq_url, settings)
    options = worker_options(settings)
    if concurrency:
        options["concurrency"] = concurrency
    await db.dispose()  # tasks open their own engine through the jobs runtime
    async with app.open_async():
        try:
            await app.run_worker_async(**options)
        finally:
            await app.oc.close()  # type: ignore[attr-defined]
