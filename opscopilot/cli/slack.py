"""`opscopilot slack`: the Slack bot in Socket Mode, one per workspace."""

from __future__ import annotations

import asyncio
import signal

import typer


def slack() -> None:
    """Run the Slack bot in Socket Mode (OPSCOPILOT_SLACK__BOT_TOKEN and __APP_TOKEN)."""
    from opscopilot.core.errors import ServiceUnavailable

    try:
        asyncio.run(_serve())
    except ServiceUnavailable as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


async def _serve() -> None:
    from opscopilot.agent.runtime import build_runner
    from opscopilot.cli.runtime import bootstrap
    from opscopilot.core.errors import ServiceUnavailable
    from opscopilot.core.settings import get_settings
    from opscopilot.slackbot.bot import create_bot
    from opscopilot.slackbot.socket import SocketModeConnection

    slack = get_settings().slack
    if slack.bot_token is None or slack.app_token is None:
        raise ServiceUnavailable(
            "Socket Mode needs OPSCOPILOT_SLACK__BOT_TOKEN (xoxb-…) and "
            "OPSCOPILOT_SLACK__APP_TOKEN (xapp-…)"
        )
    settings, db = await asyncio.to_thread(bootstrap, application_name="slack")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_runner(settings, db) as runner:
            bot = create_bot(settings=settings, db=db, runner=runner, mode="socket")
            connection = SocketModeConnection(bot)
            await connection.connect()
            await stop.wait()
            await connection.close(grace_s=settings.jobs.shutdown_timeout_s)
    finally:
        await db.dispose()
