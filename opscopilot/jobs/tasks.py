"""The domains' task blueprints, registered with the jobs app when it is built."""

from opscopilot.ingest import tasks as ingest_tasks
from opscopilot.jobs import briefing, schedules, search
from opscopilot.jobs.app import register_blueprint

register_blueprint(search.blueprint, schedule=search.schedule)
register_blueprint(schedules.blueprint, schedule=schedules.attach_schedules)
register_blueprint(briefing.blueprint, schedule=briefing.attach_schedules)
register_blueprint(ingest_tasks.blueprint, schedule=ingest_tasks.schedule)
