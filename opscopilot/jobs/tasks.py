"""The domains' task blueprints, registered with the jobs app when it is built."""

from opscopilot.jobs import search
from opscopilot.jobs.app import register_blueprint

register_blueprint(search.blueprint, schedule=search.schedule)
