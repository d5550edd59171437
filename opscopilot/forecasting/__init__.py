"""Forecast engine: pure, deterministic functions over `ds`/`y` frames.

Nothing heavy is imported here: statsforecast, prophet and matplotlib load lazily inside the
functions that need them, so importing the package stays instant.
"""
