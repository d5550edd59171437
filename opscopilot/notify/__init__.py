"""Notifications: channels, preferences, templates and outbox delivery."""
