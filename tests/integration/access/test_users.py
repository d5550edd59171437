"""`opscopilot users set`: a user's role, sites and Slack id, which their keys and Slack
questions then act with."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from opscopilot.access.service import create_key, set_user
from opscopilot.cli.main import app
from opscopilot.core.errors import ValidationFailed
from opscopilot.core.settings import Settings
from opscopilot.slackbot.service import principal_for
from opscopilot.store.engine import Database


def test_users_set_and_list(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from opscopilot.core.settings import reset_settings

    monkeypatch.setenv("DATABASE_URL", settings.db.url or "")
    monkeypatch.setenv("OPSCOPILOT_LOG_LEVEL", "WARNING")
    reset_settings()
    try:
        cli = CliRunner()
        args = ["users", "set", "cli-nils", "--role", "operator", "--site", "north"]
        done = cli.invoke(app, [*args, "--slack-id", "U0NILS001", "--name", "Nils"])
        assert done.exit_code == 0, done.output
        assert "cli-nils: operator of north; slack U0NILS001" in done.output
        bad = cli.invoke(app, ["users", "set", "cli-nils", "--role", "superuser"])
        assert bad.exit_code != 0
        lifted = cli.invoke(app, ["users", "set", "cli-nils", "--all-sites"])
        assert "cli-nils: operator of all sites; slack U0NILS001" in lifted.output
        listed = cli.invoke(app, ["users", "list"])
        assert "cli-nils" in listed.output and "U0NILS001" in listed.output
    finally:
        reset_settings()


async def test_a_linked_slack_user_acts_with_the_users_role_and_sites(
    clean_db: Database,
) -> None:
    async with clean_db.sessions() as session:
        await set_user(
            session, external_id="nils", role="operator", sites=["north"], slack_user_id="U0NILS001"
        )
        await session.commit()
        slack_nils = await principal_for(session, slack_user_id="U0NILS001", default_site="main")
        stranger = await principal_for(session, slack_user_id="U0OTHER01", default_site="main")
    assert (slack_nils.role, slack_nils.sites) == ("operator", ("north",))
    assert (stranger.role, stranger.sites) == ("viewer", ("main",))


async def test_a_slack_id_belongs_to_one_user(clean_db: Database) -> None:
    async with clean_db.sessions() as session:
        await set_user(session, external_id="ann", slack_user_id="U0SHARED1")
        with pytest.raises(ValidationFailed):
            await set_user(session, external_id="bob", slack_user_id="U0SHARED1")


async def test_narrowing_a_user_narrows_their_keys(
    client: httpx.AsyncClient, clean_db: Database
) -> None:
    async with clean_db.sessions() as session:
        raw = (await create_key(session, user="olga", role="viewer")).key
        await session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    seen = await client.get("/api/v1/forecasts/NOPE/demand?site=south", headers=headers)
    assert seen.status_code == 404  # every site visible: south is allowed, the item unknown
    async with clean_db.sessions() as session:
        await set_user(session, external_id="olga", sites=["north"])
        await session.commit()
    denied = await client.get("/api/v1/forecasts/NOPE/demand?site=south", headers=headers)
    assert denied.status_code == 403
