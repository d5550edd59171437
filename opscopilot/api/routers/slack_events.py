"""`POST /slack/events`: Slack's Events API, interactivity and slash commands over HTTP.

Off (404) unless a signing secret and a bot token are configured; Bolt answers 401 to a
bad signature or a timestamp older than 5 minutes before any listener runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from opscopilot.api.deps import State

router = APIRouter(tags=["slack"])


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request, state: State) -> Response:
    from opscopilot.slackbot.http import slack_http

    handler = await slack_http(state).handler()
    return await handler.handle(request)
