"""AI runtime: model registry with versions, inference jobs and their metrics."""
