"""The model registry (`ai_models`): versions of each model name and their lifecycle.

A version is `registered` until first activated, `active` while it serves calls without
an explicit version (one per name, held by a partial unique index), `inactive` once
replaced, and `retired` at end of life (never run again). Rolling back re-activates the
most recently active `inactive` version. A version may also run in shadow beside the
active one. Every change is audited in the caller's transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from opscopilot.access.roles import Principal
from opscopilot.access.service import audit
from opscopilot.inference.errors import ModelNotFound, RegistryConflict
from opscopilot.inference.protocol import ExecutionHints, ModelSpec
from opscopilot.store.models.inference import AIModel

Actor = Principal | str
UpsertOutcome = Literal["inserted", "updated", "unchanged"]
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?")
# Fields that code-defined models (built-ins, plugins) own; metrics are left to recorders.
_CODE_FIELDS = (
    "kind",
    "format",
    "origin",
    "entrypoint",
    "description",
    "input_schema",
    "output_schema",
    "params",
    "execution",
)


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Semantic-version order: 1.10.0 > 1.9.0, and 2.0.0-rc1 < 2.0.0."""
    match = _SEMVER.match(version)
    if match is None:
        return (-1, -1, -1, 0, version)
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def hints_of_row(row: AIModel) -> ExecutionHints:
    return ExecutionHints.model_validate(row.execution or {})


def row_values(spec: ModelSpec, *, origin: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "version": spec.version,
        "kind": spec.kind,
        "format": spec.format,
        "origin": origin,
        "entrypoint": spec.entrypoint,
        "description": spec.description,
        "input_schema": spec.input_schema,
        "output_schema": spec.output_schema,
        "params": spec.params,
        "training_meta": spec.training_meta.model_dump(mode="json", exclude_none=True),
        "metrics": spec.metrics,
        "execution": spec.hints.model_dump(mode="json"),
    }


def light_query() -> Select[AIModel]:
    # The artifact can be hundreds of MB: it is read only to refresh a local cached copy.
    return select(AIModel).options(defer(AIModel.artifact))


async def versions_of(session: AsyncSession, *, name: str, lock: bool = False) -> list[AIModel]:
    """Every version of a name, newest first; ModelNotFound if there is none."""
    stmt = light_query().where(AIModel.name == name)
    if lock:
        stmt = stmt.with_for_update()
    rows = list((await session.scalars(stmt)).all())
    if not rows:
        raise ModelNotFound(f"no model named {name!r}", field="model")
    return sorted(rows, key=lambda r: version_key(r.version), reverse=True)


async def all_versions(session: AsyncSession) -> list[AIModel]:
    """Every version of every model: by name, newest version first."""
    rows = (await session.scalars(light_query())).all()
    newest_first = sorted(rows, key=lambda r: version_key(r.version), reverse=True)
    return sorted(newest_first, key=lambda r: r.name)  # stable: keeps the version order


def _pick(rows: list[AIModel], name: str, version: str) -> AIModel:
    for row in rows:
        if row.version == version:
            return row
    raise ModelNotFound(f"model {name!r} has no version {version!r}", field="version")


async def get_version(session: AsyncSession, *, name: str, version: str | None = None) -> AIModel:
    """An explicit version, or the active one when `version` is None."""
    stmt = light_query().where(AIModel.name == name)
    stmt = stmt.where(AIModel.version == version) if version else stmt.where(AIModel.is_active)
    row = await session.scalar(stmt)
    if row is not None:
        return row
    rows = await versions_of(session, name=name)  # ModelNotFound for an unknown name
    if version is not None:
        return _pick(rows, name, version)
    raise ModelNotFound(f"model {name!r} has no active version", field="version")


async def shadows_of(session: AsyncSession, *, name: str) -> list[AIModel]:
    stmt = light_query().where(AIModel.name == name, AIModel.is_shadow, AIModel.status != "retired")
    return list((await session.scalars(stmt)).all())


def _switch_on(row: AIModel) -> None:
    row.is_active = True
    row.is_shadow = False
    row.status = "active"
    row.activated_at = datetime.now(UTC)


def _duplicate(name: str, version: str) -> RegistryConflict:
    return RegistryConflict(
        f"model {name!r} already has version {version!r}; register a new version",
        field="version",
    )


async def ensure_new(session: AsyncSession, *, name: str, version: str) -> None:
    """RegistryConflict if the version exists: registered versions are never replaced."""
    found = await session.scalar(
        select(AIModel.id).where(AIModel.name == name, AIModel.version == version)
    )
    if found is not None:
        raise _duplicate(name, version)


async def register(
    session: AsyncSession,
    *,
    spec: ModelSpec,
    origin: str,
    actor: Actor,
    artifact: bytes | None = None,
    artifact_sha256: str | None = None,
    activate: bool | None = None,
) -> AIModel:
    """Add a version. The first version of a name becomes active unless `activate` is
    False; a later one only when `activate` is True."""
    existing = (
        await session.scalars(light_query().where(AIModel.name == spec.name).with_for_update())
    ).all()
    if any(r.version == spec.version for r in existing):
        raise _duplicate(spec.name, spec.version)
    kinds = {r.kind for r in existing}
    if kinds and spec.kind not in kinds:
        raise RegistryConflict(
            f"model {spec.name!r} is a {kinds.pop()}; a version cannot change it to {spec.kind}",
            field="kind",
        )
    row = AIModel(
        **row_values(spec, origin=origin),
        artifact=artifact,
        artifact_sha256=artifact_sha256,
        status="registered",
        is_active=False,
        is_shadow=False,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise RegistryConflict(
            f"model {spec.name!r} version {spec.version!r} was registered concurrently"
        ) from None
    await audit(
        session,
        actor=actor,
        event_type="model.registered",
        subject=f"{spec.name}@{spec.version}",
        details={"kind": spec.kind, "format": spec.format, "origin": origin},
    )
    first = not any(r.is_active for r in existing)
    if activate or (activate is None and first):
        await activate_version(session, name=spec.name, version=spec.version, actor=actor)
    return row


async def upsert_code_models(
    session: AsyncSession, *, specs: list[tuple[ModelSpec, str]]
) -> list[UpsertOutcome]:
    """Idempotent registration of models that code defines (built-ins, plugins, forecaster
    families), given as (spec, origin): each is inserted, or its code-owned fields
    refreshed, and a name with no active version gets its first non-retired one active.
    Recorded metrics and the lifecycle are never touched. Three queries when nothing
    changed: this runs at every start."""
    names = sorted({spec.name for spec, _ in specs})
    rows = (await session.scalars(light_query().where(AIModel.name.in_(names)))).all()
    existing = {(r.name, r.version): r for r in rows}
    active = {r.name for r in rows if r.is_active}
    outcomes: list[UpsertOutcome] = []
    for spec, origin in specs:
        values = row_values(spec, origin=origin)
        row = existing.get((spec.name, spec.version))
        if row is None:
            row = AIModel(**values, status="registered", is_active=False, is_shadow=False)
            session.add(row)
            existing[(spec.name, spec.version)] = row
            outcomes.append("inserted")
            continue
        changed = {k: values[k] for k in _CODE_FIELDS if getattr(row, k) != values[k]}
        for key, value in changed.items():
            setattr(row, key, value)
        outcomes.append("updated" if changed else "unchanged")
    await session.flush()
    for spec, _ in specs:
        row = existing[(spec.name, spec.version)]
        if spec.name not in active and row.status != "retired":
            await activate_version(session, name=spec.name, version=spec.version, actor="system")
            active.add(spec.name)
    return outcomes


async def activate_version(
    session: AsyncSession, *, name: str, version: str, actor: Actor
) -> AIModel:
    rows = await versions_of(session, name=name, lock=True)
    target = _pick(rows, name, version)
    if target.status == "retired":
        raise RegistryConflict(
            f"{name} {version} is retired and cannot serve again; register a new version",
            field="version",
        )
    if target.is_active:
        return target
    previous = next((r for r in rows if r.is_active), None)
    if previous is not None:
        previous.is_active = False
        previous.status = "inactive"
        # The partial unique index is checked per statement: clear the old one first.
        await session.flush()
    _switch_on(target)
    await session.flush()
    await audit(
        session,
        actor=actor,
        event_type="model.activated",
        subject=f"{name}@{version}",
        details={"previous": previous.version if previous else None},
    )
    return target


async def rollback(session: AsyncSession, *, name: str, actor: Actor) -> AIModel:
    """Re-activate the version that was active before the current one."""
    rows = await versions_of(session, name=name, lock=True)
    current = next((r for r in rows if r.is_active), None)
    candidates = [
        r
        for r in rows
        if r.status == "inactive" and r.activated_at is not None and r is not current
    ]
    if not candidates:
        raise RegistryConflict(f"model {name!r} has no previously active version to roll back to")
    target = max(candidates, key=lambda r: r.activated_at or datetime.min.replace(tzinfo=UTC))
    if current is not None:
        current.is_active = False
        current.status = "inactive"
        await session.flush()
    _switch_on(target)
    await session.flush()
    await audit(
        session,
        actor=actor,
        event_type="model.rolled_back",
        subject=f"{name}@{target.version}",
        details={"from": current.version if current else None},
    )
    return target


async def retire(session: AsyncSession, *, name: str, version: str, actor: Actor) -> AIModel:
    rows = await versions_of(session, name=name, lock=True)
    target = _pick(rows, name, version)
    if target.is_active:
        raise RegistryConflict(
            f"{name} {version} is the active version: activate another or roll back first",
            field="version",
        )
    if target.status != "retired":
        target.status = "retired"
        target.is_shadow = False
        await audit(session, actor=actor, event_type="model.retired", subject=f"{name}@{version}")
    return target


async def set_shadow(
    session: AsyncSession, *, name: str, version: str, enabled: bool, actor: Actor
) -> AIModel:
    """Run (or stop running) `version` beside the active version on the same inputs."""
    rows = await versions_of(session, name=name, lock=True)
    target = _pick(rows, name, version)
    if enabled and target.is_active:
        raise RegistryConflict(f"{name} {version} is the active version already", field="version")
    if enabled and target.status == "retired":
        raise RegistryConflict(f"{name} {version} is retired", field="version")
    if target.is_shadow != enabled:
        target.is_shadow = enabled
        await audit(
            session,
            actor=actor,
            event_type="model.shadow",
            subject=f"{name}@{version}",
            details={"enabled": enabled},
        )
    return target


async def sync_lock(session: AsyncSession) -> None:
    """Serialise start-up registration across replicas and workers starting together."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('opscopilot.models.sync'))"))
