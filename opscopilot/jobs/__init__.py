"""The Postgres job queue (procrastinate): its app, tasks and schedules."""
