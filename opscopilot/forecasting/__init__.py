"""Forecast engine: pure, deterministic functions over `ds`/`y` frames.

Nothing heavy is imported here: statsforecast, prophet and matplotlib load lazily inside the
functions that need them, so importing the package stays instant.

`ENGINE_VERSION` (semver) is stored with every forecast (`components.engine_version`) and every
bulk run, and keys the model registry's forecaster entries: when a forecast changes because the
engine changed (candidates, selection, intervals), the explanation says so. Bump it with any
change that can move a forecast for the same history.
"""

ENGINE_VERSION = "2.1.0"
