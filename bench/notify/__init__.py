"""Notify benchmark: `python -m bench.notify.run`. Notifications through the outbox (send,
commit, relay, signed webhook) to a loopback receiver, against a bare httpx loop posting to
the same receiver, measured in the same run."""
