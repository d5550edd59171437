"""Search upkeep: embedding what the configured model has no vector for yet.

After the embedding model changes (settings ingest.embedding_model), items and document
chunks are embedded again in the background, in batches, beside the old model's vectors:
search keeps working on the fuzzy channel throughout and picks the new vectors up as they
land. The same job fills gaps a remote model left when it was down during a write. It
runs every ten minutes (two indexed anti-joins when nothing is missing) and on demand
(`opscopilot search reembed`), on its own `search` queue so that a bulk re-embed can be
given a worker of its own (a plain `opscopilot worker` serves every queue).
"""

from __future__ import annotations

import logging

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.jobs.runtime import runtime_of

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

REEMBED_TASK = "search.reembed"
REEMBED_CRON = "*/10 * * * *"
BATCH_SIZE = 256


@blueprint.task(
    name=REEMBED_TASK,
    queue="search",
    pass_context=True,
    queueing_lock=REEMBED_TASK,
    retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=10),
)
async def reembed(
    context: procrastinate.JobContext,
    model: str | None = None,
    batch_size: int = BATCH_SIZE,
    timestamp: int | None = None,
) -> int:
    """Embed every item and chunk lacking a vector for `model` (default: the configured
    one), one committed batch at a time, so a retried job resumes where it stopped.
    `timestamp` is the tick of a periodic run."""
    from opscopilot.store.search import reembed_all

    runtime = runtime_of(context)
    model = model or runtime.settings.ingest.embedding_model
    total = await reembed_all(runtime.database(), model=model, batch_size=batch_size)
    log.info("re-embedded", extra={"model": model, "count": total})
    return total


def schedule(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=REEMBED_CRON, periodic_id="search-reembed")(app.tasks[REEMBED_TASK])


async def defer_reembed(app: procrastinate.App, *, model: str | None = None) -> int | None:
    """Queue the re-embed job; None when one is already queued (its queueing lock)."""
    try:
        job_id: int = await app.configure_task(REEMBED_TASK).defer_async(model=model)
    except procrastinate.exceptions.AlreadyEnqueued:
        return None
    return job_id
