"""The FastAPI app, built in a factory; everything heavy starts in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from opscopilot import __version__
from opscopilot.api.errors import ERROR_RESPONSES, install_error_handlers
from opscopilot.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from opscopilot.api.routers import ROUTERS
from opscopilot.api.state import AppState
from opscopilot.core.heap import collect_young_after, freeze_heap
from opscopilot.core.logging import configure_logging
from opscopilot.core.metrics import process_exiting
from opscopilot.core.settings import Settings, get_settings
from opscopilot.store.engine import Database, open_database

log = logging.getLogger(__name__)

# Hooks later parts register to start with the app (e.g. the notification relay, Slack).
STARTUP_HOOKS: list[str] = [
    "opscopilot.notify.tasks:start_in_process",
    "opscopilot.inference.startup:start_in_api",
]


async def start_state(settings: Settings, database: Database | None = None) -> AppState:
    from opscopilot.jobs.app import build_app, run_worker_until_cancelled
    from opscopilot.store import migrate

    embedded = settings.db.url is None
    db = database
    if db is None:
        db = await asyncio.to_thread(open_database, settings, application_name="api")
    if settings.db.auto_upgrade and await asyncio.to_thread(migrate.upgrade_if_behind, db.url):
        log.info("database upgraded to head")
    jobs = build_app(db.libpq_url, settings)
    jobs.oc.attach(db)  # type: ignore[attr-defined]
    await jobs.open_async()
    state = AppState(settings=settings, db=db, jobs=jobs, embedded=embedded)
    in_process = settings.jobs.in_process_worker
    if in_process or (in_process is None and embedded):
        state.tasks.append(
            asyncio.create_task(run_worker_until_cancelled(jobs, settings), name="worker")
        )
    for hook in STARTUP_HOOKS:
        module, _, func = hook.partition(":")
        await getattr(importlib.import_module(module), func)(state)
    return state


async def stop_state(state: AppState, *, own_db: bool) -> None:
    for task in state.tasks:
        task.cancel()
    for task in state.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await state.jobs.close_async()
    if own_db:
        await state.db.dispose()


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the API. `database` lets tests share one store with the app."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await start_state(settings, database)
        app.state.oc = state
        # everything is imported and connected now: what is alive stays, out of the
        # collector's way (opscopilot.core.heap)
        collect_young_after(settings.api.gc_young_threshold)
        freeze_heap(after="api")
        try:
            yield
        finally:
            await stop_state(state, own_db=database is None)
            process_exiting()

    app = FastAPI(
        title="OpsCopilot",
        version=__version__,
        description="Manufacturing operations copilot API.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    for module in ROUTERS:
        app.include_router(importlib.import_module(module).router)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory opscopilot.api.app:app_from_env`."""
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)
