"""Small models for the runner tests; importable by name so a worker process can load them."""

from __future__ import annotations

import os
import time
from typing import Any

from opscopilot.inference.protocol import ModelKind

_OBJECT = {"type": "object"}


class _Base:
    version = "1.0.0"
    kind: ModelKind = "regressor"
    input_schema: dict[str, Any] = _OBJECT
    output_schema: dict[str, Any] = _OBJECT


class Doubler(_Base):
    name = "doubler"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"y": 2 * input["x"], "pid": os.getpid()}


class Sleeper(_Base):
    """Finishes, but slowly: stands for a healthy job sharing the pool with a hung one."""

    name = "sleeper"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        time.sleep(float(input["seconds"]))
        return {"slept": input["seconds"], "pid": os.getpid()}


class Hanging(_Base):
    name = "hanging"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        with open(input["pid_file"], "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(0.05)


class Raising(_Base):
    name = "raising"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError(
            "could not connect to postgresql://ops:hunter2@db.plant.internal:5432/mes "
            "while reading /srv/models/secret/weights.bin from host=10.1.2.3"
        )


class Crashing(_Base):
    name = "crashing"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        os._exit(3)


class NotAnObject(_Base):
    name = "not-an-object"

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        return [1, 2, 3]  # type: ignore[return-value]
