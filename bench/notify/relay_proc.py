"""The notify loop as its own process (what a worker or `serve` runs), for the benchmark.

`python -m bench.notify.relay_proc CONCURRENCY`; settings come from the environment;
SIGTERM stops it after in-flight deliveries finish.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from opscopilot.core.settings import get_settings
from opscopilot.notify.runner import NotifyLoop
from opscopilot.store.engine import open_database


async def main() -> None:
    settings = get_settings()
    db = open_database(settings, application_name="bench-relay")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("relay up", flush=True)
    try:
        await NotifyLoop(db, settings, concurrency=int(sys.argv[1])).run(stop)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
