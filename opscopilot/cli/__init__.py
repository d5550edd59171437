"""The `opscopilot` command."""
