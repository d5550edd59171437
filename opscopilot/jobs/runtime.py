"""What a task needs at run time: settings and the store, created once per worker process."""

from __future__ import annotations

from dataclasses import dataclass, field

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database


@dataclass
class JobsRuntime:
    settings: Settings
    url: str
    _db: Database | None = field(default=None, repr=False)
    _owned: bool = True

    def database(self) -> Database:
        if self._db is None:
            from sqlalchemy.ext.asyncio import async_sessionmaker

            from opscopilot.store.engine import make_engine

            engine = make_engine(self.url, self.settings, application_name="worker")
            self._db = Database(
                url=self.url,
                engine=engine,
                sessions=async_sessionmaker(engine, expire_on_commit=False),
            )
        return self._db

    def attach(self, db: Database) -> None:
        """Share a process's existing store (the API's in-process worker)."""
        self._db = db
        self._owned = False

    async def close(self) -> None:
        if self._db is not None and self._owned:
            await self._db.dispose()
        self._db = None


def runtime_of(context: procrastinate.JobContext) -> JobsRuntime:
    runtime: JobsRuntime = context.app.oc  # type: ignore[attr-defined]
    return runtime
