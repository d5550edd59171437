"""The Slack bot: mentions, DMs and threads answered by the agent, streamed replies,
approval and alert buttons, the /copilot command, the App Home tab and feedback.

Built by `slackbot.bot.create_bot` (nothing at import); served in Socket Mode by
`opscopilot slack` and over HTTP at `/slack/events` of the API.
"""
