"""A site-limited user's REST calls see their own site's data only (items, inventory,
forecasts, alerts), whether the limit is on the key or on the user it belongs to."""

from __future__ import annotations

import json

import httpx

from opscopilot.access.service import create_key, get_or_create_user
from opscopilot.store.engine import Database
from tests.integration.access.sites import ON_HAND, SKU, seed_two_plants


async def _user_limited_key(db: Database) -> dict[str, str]:
    """A key made without sites for a user limited to north: the user's limit applies."""
    async with db.sessions() as session:
        await get_or_create_user(session, external_id="nils", role="operator", sites=["north"])
        created = await create_key(session, user="nils", role="operator")
        await session.commit()
    return {"Authorization": f"Bearer {created.key}"}


async def test_a_north_key_sees_nothing_of_south(
    client: httpx.AsyncClient, clean_db: Database, key_factory, admin_headers: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    plants = await seed_two_plants(clean_db)
    for north in (
        await key_factory("viewer", "nora", ["north"]),
        await _user_limited_key(clean_db),
    ):
        item = (await client.get(f"/api/v1/items/{SKU}", headers=north)).json()
        assert [p["site"] for p in item["sites"]] == ["north"]

        inv = await client.get(f"/api/v1/inventory/{SKU}", headers=north)
        assert inv.status_code == 200
        assert inv.json()["on_hand"] == ON_HAND["north"]
        assert str(ON_HAND["south"]) not in json.dumps(inv.json())
        denied = await client.get(f"/api/v1/inventory/{SKU}?site=south", headers=north)
        assert denied.status_code == 403

        fc = await client.get(f"/api/v1/forecasts/{SKU}/demand", headers=north)
        assert fc.status_code == 200 and fc.json()["site"] == "north"
        denied = await client.get(f"/api/v1/forecasts/{SKU}/demand?site=south", headers=north)
        assert denied.status_code == 403

        active = (await client.get("/api/v1/alerts/active", headers=north)).json()
        assert {a["site"] for a in active["alerts"]} == {"north"}
        south_only = (await client.get("/api/v1/alerts/active?site=south", headers=north)).json()
        assert south_only["count"] == 0
        south_alert = plants.alerts["south"]
        assert (await client.get(f"/api/v1/alerts/{south_alert}", headers=north)).status_code == 404

    # The control: an unlimited key does see south.
    inv = (await client.get(f"/api/v1/inventory/{SKU}", headers=admin_headers)).json()
    assert inv["on_hand"] == ON_HAND["north"] + ON_HAND["south"]
    active = (await client.get("/api/v1/alerts/active", headers=admin_headers)).json()
    assert {a["site"] for a in active["alerts"]} == {"north", "south"}


async def test_a_north_operator_cannot_act_on_a_south_alert(
    client: httpx.AsyncClient, clean_db: Database
) -> None:
    plants = await seed_two_plants(clean_db)
    north = await _user_limited_key(clean_db)
    south_alert = plants.alerts["south"]
    res = await client.post(f"/api/v1/alerts/{south_alert}/acknowledge", headers=north)
    assert res.status_code == 404
    ok = await client.post(f"/api/v1/alerts/{plants.alerts['north']}/acknowledge", headers=north)
    assert ok.status_code == 200


async def test_a_key_cannot_widen_its_users_sites(clean_db: Database) -> None:
    import pytest

    from opscopilot.core.errors import ValidationFailed

    async with clean_db.sessions() as session:
        await get_or_create_user(session, external_id="sam", role="viewer", sites=["north"])
        with pytest.raises(ValidationFailed):
            await create_key(session, user="sam", role="viewer", sites=["south"])


async def test_a_key_outside_its_narrowed_user_is_refused(
    client: httpx.AsyncClient, clean_db: Database, key_factory
) -> None:  # type: ignore[no-untyped-def]
    from opscopilot.access.service import set_user

    headers = await key_factory("viewer", "sue", ["south"])
    assert (await client.get("/api/v1/alerts/active", headers=headers)).status_code == 200
    # through the service, as an admin does: this process forgets the keys it remembered
    async with clean_db.transaction() as session:
        await set_user(session, external_id="sue", sites=["north"])
    assert (await client.get("/api/v1/alerts/active", headers=headers)).status_code == 401
