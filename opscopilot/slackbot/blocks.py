"""Block Kit the bot posts: approval requests and outcomes, feedback buttons, the App Home.

Text from the agent or the data goes through `text.escape`; the only markup built here is
mentions of Slack ids that Slack itself gave us, checked against the id format.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from opscopilot.slackbot.text import escape

APPROVE = "approval_approve"
REJECT = "approval_reject"
FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_SECTION_MAX = 3000
_FIELD_MAX = 2000

Block = dict[str, Any]


def mention(slack_user_id: str | None) -> str:
    if slack_user_id and _SLACK_USER.match(slack_user_id):
        return f"<@{slack_user_id}>"
    return "someone"


def _section(markdown: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:_SECTION_MAX]}}


def _context(markdown: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown[:_FIELD_MAX]}]}


def button(action_id: str, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _arguments(arguments: dict[str, Any]) -> str:
    shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    return escape(shown[: _FIELD_MAX - 10])


def approval_request(
    *,
    approval_id: str,
    tool: str,
    description: str,
    arguments: dict[str, Any],
    requested_by: str | None,
) -> list[Block]:
    return [
        _section(f":lock: *Approval needed*\n{escape(description)}"),
        _context(
            f"`{escape(tool)}` {_arguments(arguments)} · asked by {mention(requested_by)} · "
            "an operator can approve"
        ),
        {
            "type": "actions",
            "block_id": f"approval:{approval_id}",
            "elements": [
                button(APPROVE, "Approve", approval_id, "primary"),
                button(REJECT, "Reject", approval_id, "danger"),
            ],
        },
    ]


def approval_outcome(
    *, tool: str, description: str, approved: bool, decided_by: str, when: datetime
) -> list[Block]:
    word = "approved" if approved else "rejected"
    emoji = ":white_check_mark:" if approved else ":no_entry_sign:"
    return [
        _section(f"{emoji} *{word.capitalize()}*\n{escape(description)}"),
        _context(
            f"`{escape(tool)}` · {word} by {mention(decided_by)} at {when:%Y-%m-%d %H:%M} UTC"
        ),
    ]


def feedback(*, thread_id: str, run_id: str) -> list[Block]:
    value = json.dumps({"thread_id": thread_id, "run_id": run_id}, separators=(",", ":"))
    return [
        {
            "type": "actions",
            "block_id": "feedback",
            "elements": [
                button(FEEDBACK_UP, ":thumbsup:", value),
                button(FEEDBACK_DOWN, ":thumbsdown:", value),
            ],
        }
    ]


def notice(text: str) -> list[Block]:
    return [_section(escape(text))]
