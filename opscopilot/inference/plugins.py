"""Custom models from installed packages, through the `opscopilot.models` entry point group.

A plant's package declares, in its own pyproject.toml:

    [project.entry-points."opscopilot.models"]
    scrap-rate = "acme_models:ScrapRateModel"

The target is a model instance, a model class (called with no arguments), or a factory
returning a model or a list of models. Plugin code is trusted enough to be installed but
not to be well-behaved, so its models always run isolated in a killable process.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from pydantic import ValidationError

from opscopilot.inference.errors import PluginLoadError
from opscopilot.inference.protocol import Model, ModelSpec, hints_of, spec_of
from opscopilot.inference.scrub import describe_exception

ENTRY_POINT_GROUP = "opscopilot.models"


def resolve_models(target: object, *, origin: str) -> list[Model]:
    """The models an entry point's target stands for."""
    # A class has the protocol's attributes too, so test for a class first.
    if isinstance(target, type) or (callable(target) and not isinstance(target, Model)):
        target = target()
    candidates = list(target) if isinstance(target, list | tuple) else [target]
    models: list[Model] = []
    for candidate in candidates:
        if isinstance(candidate, type) or not isinstance(candidate, Model):
            raise PluginLoadError(
                f"{origin} gave {type(candidate).__name__}, not a model (needs name, version, "
                "kind, input_schema, output_schema and predict)"
            )
        models.append(candidate)
    if not models:
        raise PluginLoadError(f"{origin} gave no models")
    return models


def import_target(reference: str) -> object:
    """`package.module:attr.sub` -> the object (what EntryPoint.load does, for workers)."""
    module_name, _, attrs = reference.partition(":")
    target: object = importlib.import_module(module_name)
    for attr in attrs.split(".") if attrs else []:
        target = getattr(target, attr)
    return target


def plugin_spec(model: Model, *, entrypoint: str) -> ModelSpec:
    spec = spec_of(model, format="entrypoint", entrypoint=entrypoint)
    return spec.model_copy(update={"hints": hints_of(model).model_copy(update={"isolate": True})})


@dataclass(frozen=True)
class PluginModel:
    model: Model
    spec: ModelSpec
    distribution: str | None


@dataclass(frozen=True)
class PluginFailure:
    entry_point: str
    distribution: str | None
    error: str


@dataclass
class Discovery:
    models: list[PluginModel] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)


def _distribution(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else f"{dist.name} {dist.version}"


def discover_models(*, group: str = ENTRY_POINT_GROUP) -> Discovery:
    """Load every model of the group. A broken plugin is reported in `failures` (scrubbed)
    and does not stop the others: one plant package must not take down the registry."""
    found = Discovery()
    seen: set[tuple[str, str]] = set()
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        origin = f"entry point {ep.name} = {ep.value}"
        try:
            models = resolve_models(ep.load(), origin=origin)
            specs = [plugin_spec(m, entrypoint=ep.value) for m in models]
        except (PluginLoadError, ValidationError) as exc:
            found.failures.append(PluginFailure(origin, _distribution(ep), _reason(exc)))
            continue
        except Exception as exc:  # third-party import code can raise anything
            found.failures.append(PluginFailure(origin, _distribution(ep), describe_exception(exc)))
            continue
        for model, spec in zip(models, specs, strict=True):
            key = (spec.name, spec.version)
            if key in seen:
                found.failures.append(
                    PluginFailure(origin, _distribution(ep), f"duplicate model {key[0]} {key[1]}")
                )
                continue
            seen.add(key)
            found.models.append(PluginModel(model, spec, _distribution(ep)))
    return found


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        return f"invalid model spec: {where}: {first['msg']}"
    return str(exc)


@dataclass(frozen=True)
class EntryPointLoader:
    """Rebuilds an entry-point model inside a worker process (picklable, by reference)."""

    entrypoint: str
    name: str
    version: str

    @property
    def key(self) -> str:
        return f"entrypoint:{self.entrypoint}:{self.name}:{self.version}"

    def load(self) -> Model:
        origin = f"entry point {self.entrypoint}"
        for model in resolve_models(import_target(self.entrypoint), origin=origin):
            if model.name == self.name and model.version == self.version:
                return model
        raise PluginLoadError(f"{origin} has no model {self.name} {self.version}")
